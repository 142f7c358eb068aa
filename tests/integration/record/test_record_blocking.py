"""``record --blocking`` pauses the target for each sample and never leaves it stopped:
not after Ctrl-C, not when the command exits, not when memspy itself is SIGKILLed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from recorder import DEMO, record, start_record, state
from schema import speedscope_errors


def _cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _assert_running(pid: int) -> None:
    """Not in a stop ('t' traced, 'T' stopped), and still getting CPU time."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(s in "tT" for s in state(pid)):
        time.sleep(0.05)  # the kernel lets go of the tracee as memspy's exit completes
    assert not any(s in "tT" for s in state(pid)), state(pid)
    before = _cpu_ticks(pid)
    deadline = time.monotonic() + 10  # a busy machine may give it no CPU for a while
    while _cpu_ticks(pid) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _cpu_ticks(pid) > before, "the target no longer runs"


def _demo() -> subprocess.Popen:
    demo = subprocess.Popen([sys.executable, str(DEMO), "--seconds", "60"],
                            stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    return demo


def test_sigkill_of_memspy_never_leaves_the_target_stopped(tmp_path: Path):
    demo = _demo()
    try:
        for attempt in range(5):  # kill at different points of the pause/resume cycle
            memspy = start_record(["-p", str(demo.pid), "--blocking", "--rate", "500",
                                   "-o", str(tmp_path / f"k{attempt}.speedscope.json")])
            assert "sampling process" in memspy.stderr.readline()
            time.sleep(0.3 + attempt * 0.013)
            memspy.send_signal(signal.SIGKILL)
            memspy.wait(timeout=30)
            memspy.stderr.close()
            _assert_running(demo.pid)
        assert demo.poll() is None
    finally:
        demo.kill()
        demo.wait()


def test_ctrl_c_with_blocking_writes_the_profile_and_lets_go(tmp_path: Path):
    demo = _demo()
    out = tmp_path / "b.speedscope.json"
    try:
        memspy = start_record(["-p", str(demo.pid), "--blocking", "-o", str(out)])
        assert "sampling process" in memspy.stderr.readline()
        time.sleep(1.0)
        memspy.send_signal(signal.SIGINT)
        _, stderr = memspy.communicate(timeout=30)
        assert memspy.returncode == 0, stderr
        document = json.loads(out.read_text())
        assert speedscope_errors(document) == []
        names = {frame["name"] for frame in document["shared"]["frames"]}
        assert {"heavy", "light"} <= names
        _assert_running(demo.pid)
        tracer = Path(f"/proc/{demo.pid}/status").read_text().split("TracerPid:")[1].split()[0]
        assert tracer == "0", "memspy must detach from the target"
    finally:
        demo.kill()
        demo.wait()


def test_blocking_command_keeps_its_exit_status(tmp_path: Path):
    """Pausing uses waitpid on the command's threads; it must not reap the command and
    lose its status."""
    script = (
        "import threading, time\n"
        "def spinning():\n"
        "    end = time.time() + 1\n"
        "    while time.time() < end:\n"
        "        pass\n"
        "threading.Thread(target=spinning).start()\n"
        "spinning()\n"
        "raise SystemExit(5)\n"
    )
    out = tmp_path / "s.speedscope.json"
    result = record(["--blocking", "-o", str(out), "--", sys.executable, "-c", script])
    assert result.returncode == 5, result.stderr
    document = json.loads(out.read_text())
    assert speedscope_errors(document) == []
    assert any(frame["name"] == "spinning" for frame in document["shared"]["frames"])


def test_blocking_ends_when_the_command_exits_with_a_thread_blocked(tmp_path: Path):
    """The command exits while a second thread sits in a read that never returns: the
    main thread's exit is then reported only after that thread's, which the pause must
    reap first. Waiting for the main thread first once hung for ever."""
    script = (
        "import os, threading, time\n"
        "r, w = os.pipe()\n"
        "threading.Thread(target=os.read, args=(r, 1), daemon=True).start()\n"
        "end = time.time() + 1\n"
        "while time.time() < end:\n"
        "    pass\n"
        "raise SystemExit(3)\n"
    )
    out = tmp_path / "b.folded"
    for _ in range(3):  # the exit lands between two samples at a different place each time
        result = record(["--blocking", "-r", "200", "-o", str(out), "--", sys.executable, "-c",
                         script], timeout=60)
        assert result.returncode == 3, result.stderr
        assert "stopped: the target exited" in result.stderr
