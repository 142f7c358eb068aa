"""Bad input to `memspy dump`: one line on stderr, a documented exit code, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

MEMSPY = [sys.executable, "-m", "memspy"]
NOBODY = 65534


def as_nobody(command: list) -> list:
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]


def dump(*args: str, prefix: tuple = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, *MEMSPY, "dump", *args], capture_output=True, text=True, timeout=60
    )


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("memspy: error: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_no_such_pid():
    pid = 4_000_000  # above the kernel's pid_max
    assert_one_line_error(dump("-p", str(pid)), 3, f"no process with PID {pid}")


def test_not_a_python_process():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert_one_line_error(dump("-p", str(sleeper.pid)), 5, "sleep", "not a Python process")
    finally:
        sleeper.kill()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a target as another user")
def test_permission_denied_says_what_to_do():
    # A target of another user, and memspy without CAP_SYS_PTRACE: what a normal user meets.
    # (The target runs Debian's python: pyenv's under /root is not reachable as nobody.)
    python = "/usr/bin/python3.11" if os.path.exists("/usr/bin/python3.11") else sys.executable
    target = subprocess.Popen(as_nobody([python, "-c", "import time; time.sleep(60)"]))
    try:
        time.sleep(0.3)
        result = dump("-p", str(target.pid), prefix=("setpriv", "--bounding-set=-sys_ptrace"))
        assert_one_line_error(result, 4, "permission denied", "CAP_SYS_PTRACE", "ptrace_scope")
    finally:
        target.kill()


def test_a_process_that_just_started_is_waited_for():
    # Attach the moment the process exists: memspy must wait for the interpreter to start
    # (documented: up to 3 s) rather than fail.
    target = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.01)"])
    try:
        result = dump("-p", str(target.pid), "--json")
        assert result.returncode == 0, result.stderr
        assert '"<module>"' in result.stdout
    finally:
        target.kill()


def test_the_target_exiting_is_a_clear_error_not_a_traceback():
    # The target exits at some point while memspy starts; whatever the timing, the outcome
    # is a stack or one clear line.
    for delay in (0.0, 0.01, 0.03, 0.06, 0.1):
        target = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({delay})"])
        result = dump("-p", str(target.pid))
        target.wait()
        assert "Traceback" not in result.stderr, result.stderr
        if result.returncode:
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert result.returncode in (3, 5, 7), result.stderr


def test_a_target_that_exits_between_attaching_and_reading_is_exit_7(capsys):
    """Deterministic: attached (interpreter found, layout read), then the target is killed
    and reaped, then the read: "the target exited", exit 7, one line."""
    from memspy.cli.common import fail
    from memspy.errors import MemspyError, TargetExited
    from memspy.interpreter.process import PythonProcess

    target = subprocess.Popen(
        [sys.executable, "-c", "import time\nprint('ready', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE,
    )
    assert target.stdout is not None and target.stdout.readline() == b"ready\n"
    with PythonProcess(target.pid) as process:
        target.kill()
        target.wait()
        with pytest.raises(MemspyError) as raised:
            process.sample()
    assert isinstance(raised.value, TargetExited), raised.value
    with pytest.raises(SystemExit) as exited:
        fail(raised.value)
    assert exited.value.code == 7
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("memspy: error: "), err


def test_an_unsupported_version_is_named():
    from memspy.errors import UnsupportedVersion
    from memspy.offsets import load_layout

    with pytest.raises(UnsupportedVersion) as error:
        load_layout(3, 14)
    assert "CPython 3.14 is not supported" in error.value.message
    assert "3.13" in (error.value.hint or "")


def test_help_and_version_are_clear():
    for args in (["--help"], ["dump", "--help"], ["record", "--help"]):
        result = subprocess.run(MEMSPY + args, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0
        assert "Usage:" in result.stdout
    version = subprocess.run(MEMSPY + ["--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.startswith("memspy, version ")


def test_patch_releases_with_another_layout_are_refused():
    from memspy.errors import UnsupportedVersion
    from memspy.offsets import load_layout

    with pytest.raises(UnsupportedVersion, match=r"3\.7\.3 is not supported"):
        load_layout(3, 7, 3)
    assert load_layout(3, 7, 4).version == (3, 7)
