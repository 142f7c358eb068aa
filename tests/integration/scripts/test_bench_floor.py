"""The floor sampler of the benchmark (scripts/bench_floor.py) on a real target: it says
what ``bench.py`` waits for, and counts what it read as ``bench.py`` counts a profile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from interpreters import Interpreter
from robust import end, start

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import bench_parse  # noqa: E402


@pytest.mark.parametrize("idle", [False, True], ids=["cpu", "idle"])
def test_the_floor_sampler_runs_like_a_profiler(
    interpreter: Interpreter, tmp_path: Path, idle: bool
) -> None:
    target = start("shallow_loop.py", python=str(interpreter.path))
    out = tmp_path / "floor.folded"
    try:
        run = subprocess.run(
            [sys.executable, str(SCRIPTS / "bench_floor.py"), "-p", str(target.pid),
             "-r", "200", "-d", "0.5", "-o", str(out), *(["--idle"] if idle else [])],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        end(target)
    assert run.returncode == 0, run.stderr
    said = run.stderr.splitlines()
    assert said[0] == f"floor: sampling process {target.pid}"
    assert said[1] == "floor: stopped"
    counts = bench_parse.floor_counts(run.stderr)
    assert 20 <= counts.samples + counts.missed <= 101  # 0.5 s of ticks at 200 Hz
    threads = bench_parse.folded_total(out.read_text()) // counts.samples
    assert threads == 2  # shallow_loop.py: the loop and a thread that waits
