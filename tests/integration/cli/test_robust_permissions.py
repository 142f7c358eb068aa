"""Who may profile what, and what memspy leaves behind under sudo.

memspy reads memory with process_vm_readv, which needs ptrace access: this kernel has no
Yama (/proc/sys/kernel/yama is absent), so an unprivileged user may read its own
processes, its children among them, and no one else's; root (CAP_SYS_PTRACE) reads any.
The unprivileged cases run memspy as nobody (setpriv) under Debian's python3.11 with a
copy of memspy and its dependencies that nobody can read (pyenv lives under /root).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator, List

import pytest
from robust import MEMSPY, TARGETS, end, load_profile, start

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3.11"
PACKAGES = ("memspy", "elftools", "psutil", "click")


def _ptrace_scope() -> int:
    """Yama's ptrace_scope, 0 where there is no Yama (this machine)."""
    try:
        return int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text())
    except (OSError, ValueError):
        return 0


@pytest.fixture(scope="module")
def as_nobody() -> Iterator[List[str]]:
    """A command prefix running memspy as nobody:nogroup with no supplementary groups."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to become nobody")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"{SYSTEM_PYTHON} is not installed")
    if _ptrace_scope() >= 2:
        pytest.skip("Yama's ptrace_scope >= 2: only CAP_SYS_PTRACE may read any process")
    home = Path(tempfile.mkdtemp(prefix="memspy-nobody-"))
    try:
        for name in PACKAGES:
            source = Path(importlib.import_module(name).__path__[0])
            shutil.copytree(source, home / name, ignore=shutil.ignore_patterns("__pycache__"))
        for path in [home, *home.rglob("*")]:
            path.chmod(0o777 if path.is_dir() else 0o644)
        (home / "churn.py").write_bytes((TARGETS / "churn.py").read_bytes())
        prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        yield [*prefix, "env", f"PYTHONPATH={home}", f"HOME={home}", SYSTEM_PYTHON, "-m"]
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _workdir(as_nobody: List[str]) -> Path:
    return Path(as_nobody[5].split("=", 1)[1])


def test_another_users_process_is_refused(as_nobody: List[str]) -> None:
    target = start("churn.py", "1")  # root's
    try:
        for command in (["dump"], ["record", "-d", "1", "-o", "/tmp/never.json"]):
            result = subprocess.run(
                [*as_nobody, "memspy", *command, "-p", str(target.pid)],
                capture_output=True, text=True, timeout=60,
                cwd=_workdir(as_nobody),
            )
            assert result.returncode == 4, result.stderr
            assert result.stderr.startswith("memspy: error: permission denied"), result.stderr
            assert result.stderr.count("\n") == 1, result.stderr
            for remedy in ("same user", "root", "CAP_SYS_PTRACE", "ptrace_scope"):
                assert remedy in result.stderr, result.stderr  # says what to do
    finally:
        end(target)
    assert not os.path.exists("/tmp/never.json")


def test_an_unprivileged_user_profiles_its_own_child(
    as_nobody: List[str], speedscope_errors
) -> None:
    workdir = _workdir(as_nobody)
    out = workdir / "child.speedscope.json"
    result = subprocess.run(
        [*as_nobody, "memspy", "record", "-o", str(out), "-r", "200", "--",
         SYSTEM_PYTHON, str(workdir / "churn.py"), "1", "2"],
        capture_output=True, text=True, timeout=120, cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    assert "permission" not in result.stderr
    assert out.stat().st_uid == NOBODY
    document = load_profile(out, speedscope_errors)
    names = {frame["name"] for frame in document["shared"]["frames"]}
    assert {"recurse", "spin"} <= names, names


def test_files_written_under_sudo_belong_to_the_invoking_user(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    out, summary = tmp_path / "p.speedscope.json", tmp_path / "p.md"
    env = dict(os.environ, SUDO_UID=str(NOBODY), SUDO_GID=str(NOBODY))
    result = subprocess.run(
        [*MEMSPY, "record", "-o", str(out), "--summary", str(summary), "-r", "100", "--",
         sys.executable, str(TARGETS / "churn.py"), "1", "1"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stderr
    for path in (out, summary):
        assert (path.stat().st_uid, path.stat().st_gid) == (NOBODY, NOBODY), path
