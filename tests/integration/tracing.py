"""What the USDT tests share: whether bpftrace can run here, and interpreters that can be
traced (Debian's 3.11 with its own probes; every 3.12+ build, in a venv with pyusdt)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import pytest
from interpreters import INTERPRETERS, Interpreter

from memspy.usdt.runner import TRACEFS

PYUSDT = "pyusdt==0.1.1"
# Interpreters `memspy trace` reads: CPython's probes on Debian's 3.11, pyusdt's on 3.12+.
TRACEABLE = [i for i in INTERPRETERS if i.origin == "debian" or i.version >= (3, 12)]


def bpftrace_unusable() -> Optional[str]:
    if shutil.which("bpftrace") is None:
        return "bpftrace is not installed (apt-get install bpftrace)"
    if os.geteuid() != 0:
        return "bpftrace needs root"
    if not any(os.path.exists(os.path.join(p, "uprobe_events")) for p in TRACEFS):
        return "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)"
    return None


needs_bpftrace = pytest.mark.skipif(
    bpftrace_unusable() is not None, reason=str(bpftrace_unusable())
)


def _cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "memspy-tests" / PYUSDT.replace("==", "-")


def _has_pyusdt(python: Path) -> bool:
    check = "import importlib.util, sys; sys.exit(importlib.util.find_spec('libpyusdt') is None)"
    return python.exists() and subprocess.run([str(python), "-c", check]).returncode == 0


def pyusdt_python(base: Interpreter) -> Path:
    """A venv of ``base`` with pyusdt installed, built once and kept in the user's cache;
    skips when pyusdt cannot be installed there."""
    home = _cache() / base.id
    python = home / "bin" / "python"
    if _has_pyusdt(python):
        return python
    building = home.with_name(f"{home.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    steps = (
        [str(base.path), "-m", "venv", str(building)],
        [str(building / "bin" / "python"), "-m", "pip", "install", "-q",
         "--disable-pip-version-check", PYUSDT],
    )  # fmt: skip
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            why = (done.stderr.strip().splitlines() or ["no message"])[-1]
            pytest.skip(f"cannot install {PYUSDT} for {base.path}: {why}")
    shutil.rmtree(home, ignore_errors=True)
    building.rename(home)
    return python


def traced_python(base: Interpreter) -> Path:
    """The interpreter to run a traced target with: its own probes, else pyusdt's."""
    base.require()
    return base.path if base.origin == "debian" else pyusdt_python(base)
