"""The floor sampler of the benchmark (scripts/bench_floor.py) on a real target: it says
what ``bench.py`` waits for, and counts what it read as ``bench.py`` counts a profile;
with ``--decode``, what it counts are the target's stacks."""

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


def _floor(target_pid: int, out: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_floor.py"), "-p", str(target_pid),
         "-r", "200", "-d", "0.5", "-o", str(out), *options],
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("decode", [False, True], ids=["floor", "decode"])
@pytest.mark.parametrize("idle", [False, True], ids=["cpu", "idle"])
def test_the_floor_sampler_runs_like_a_profiler(
    interpreter: Interpreter, tmp_path: Path, idle: bool, decode: bool
) -> None:
    target = start("shallow_loop.py", python=str(interpreter.path))
    out = tmp_path / "floor.folded"
    options = [*(["--idle"] if idle else []), *(["--decode"] if decode else [])]
    try:
        run = _floor(target.pid, out, *options)
    finally:
        end(target)
    assert run.returncode == 0, run.stderr
    said = run.stderr.splitlines()
    assert said[0] == f"floor: sampling process {target.pid}"
    assert said[1] == "floor: stopped"
    counts = bench_parse.floor_counts(run.stderr)
    assert 20 <= counts.samples + counts.missed <= 101  # 0.5 s of ticks at 200 Hz
    folded = out.read_text()
    # shallow_loop.py: the loop, and a thread that waits (left out when idle ones are)
    threads = 2 if idle or not decode else 1
    assert bench_parse.folded_total(folded) == threads * counts.samples
    if decode:  # the stacks themselves: every running one is in the loop
        running = [line for line in folded.splitlines() if "waiter" not in line
                   and "wait (" not in line]
        assert running and all(";loop (" in line for line in running), folded
        whole = int(said[-1].split()[1])  # "floor: N whole samples ..."
        # The least decoding answers most ticks (0-39% whole samples measured with one
        # CPU busy: shallow_loop.py's innermost call comes and goes); every tick whole
        # would mean it never decodes.
        assert whole < 0.9 * counts.samples
