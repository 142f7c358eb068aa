"""The tail benchmark (scripts/bench_tail.py) still runs memspy's own sample, on a real
target, and counts every tick in some band of CPU time."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from interpreters import INTERPRETERS

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "bench_tail.py"


@pytest.mark.parametrize("version", ["2.7", "3.12"])
def test_bench_tail_puts_every_tick_in_a_band(version: str) -> None:
    if not any(i.present and i.id == version for i in INTERPRETERS):
        pytest.skip(f"Python {version} is not installed here")
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--python", version, "--workload", "shallow",
         "--rate", "200", "--ticks", "60"],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    rows = re.findall(r"^\| [^|]*\d[^|]* \| (\d+) \| \d+% \| (\d+) \(", run.stdout, re.M)
    assert sum(int(samples) for samples, _ in rows) == 60, run.stdout
    assert all(int(waited) <= int(samples) for samples, waited in rows)
    assert "CPU per sample: mean" in run.stdout
