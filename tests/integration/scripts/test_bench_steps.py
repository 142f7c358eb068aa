"""The per-step benchmark (scripts/bench_steps.py) still runs against the code it times:
it wraps memspy's own functions by name, so a renamed or moved step must fail here, not
the next time someone measures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from interpreters import INTERPRETERS

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "bench_steps.py"
STEADY = "answered from the bytes (steady: the echo, or thread by thread)"
ROWS = ("whole sample", "read (the system call)", STEADY, "thread list (whole walks)",
        "thread states from /proc", "writer (collapsed)")


@pytest.mark.parametrize("version", ["2.7", "3.12"])
def test_bench_steps_times_every_step(version: str) -> None:
    if not any(i.present and i.id == version for i in INTERPRETERS):
        pytest.skip(f"Python {version} is not installed here")
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--python", version, "--samples", "40", "--rounds", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for row in ROWS:
        assert f"| {row} |" in run.stdout or f"|   {row} |" in run.stdout, row
    # A steady sample's answer is timed where it is made (every sample here is steady).
    steady = next(line for line in run.stdout.splitlines() if STEADY in line)
    assert float(steady.split("|")[2]) > 0, steady
