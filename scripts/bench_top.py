#!/usr/bin/env python3
"""What watching a program costs it: a fixed amount of CPU-bound work timed alone, under
``memspy record`` and under ``memspy top`` (drawing in a real terminal: a tmux pane), both
at the default rate and non-blocking.

Usage: python3 scripts/bench_top.py [--rounds N] [--iterations N] [--python PATH]

The workload (scripts/bench_workloads/fixed.py) times only its work, started once the
profiler has its first samples, so start-up is not counted. The modes take turns within
each round (the order rotates), and each mode's fastest run is compared with the fastest
alone: on a shared machine the minimum is the run least disturbed by anything else.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
FIXED = ROOT / "scripts" / "bench_workloads" / "fixed.py"
MEMSPY = [sys.executable, "-m", "memspy"]
MODES = ("alone", "record", "top")
SETTLE = 0.5  # seconds of sampling before the work starts


def _env() -> Dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


class Tmux:
    """A private tmux server whose one pane runs ``memspy top``."""

    def __init__(self) -> None:
        tmux = shutil.which("tmux")
        if tmux is None:
            sys.exit("bench_top: tmux is needed for the top runs")
        self.argv = [tmux, "-L", f"memspy-top-bench-{os.getpid()}", "-f", "/dev/null"]

    def run(self, *args: str) -> str:
        return subprocess.run([*self.argv, *args], capture_output=True, text=True,
                              check=True, timeout=30, env=_env()).stdout

    def start(self, command: List[str]) -> None:
        self.run("new-session", "-d", "-x", "120", "-y", "30", "-s", "bench", *command)

    def screen(self) -> str:
        try:
            return self.run("capture-pane", "-p", "-t", "bench")
        except subprocess.CalledProcessError:
            return ""  # the pane is gone: its memspy ended

    def close(self) -> None:
        subprocess.run([*self.argv, "kill-server"], capture_output=True, timeout=30)
        directory = os.environ.get("TMUX_TMPDIR", "/tmp")
        Path(directory, f"tmux-{os.getuid()}", self.argv[2]).unlink(missing_ok=True)


def _wait(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


def timed(python: str, iterations: int, mode: str, tmux: Tmux) -> float:
    """Seconds of the fixed work with ``mode`` watching it."""
    workload = subprocess.Popen(
        [python, str(FIXED), str(iterations)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, cwd=str(FIXED.parent),
    )
    profiler: Optional[subprocess.Popen] = None
    try:
        assert workload.stdout is not None and workload.stdin is not None
        if workload.stdout.readline().strip() != "ready":
            raise RuntimeError("the workload did not start")
        with tempfile.TemporaryDirectory(prefix="memspy-bench-top-") as tmp:
            if mode == "record":
                profiler = subprocess.Popen(
                    [*MEMSPY, "record", "-p", str(workload.pid), "-o", f"{tmp}/p.folded"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
                assert profiler.stderr is not None
                line = profiler.stderr.readline()
                if "sampling process" not in line:
                    raise RuntimeError(f"record did not start: {line}")
            elif mode == "top":
                tmux.start([*MEMSPY, "top", "-p", str(workload.pid)])
                _wait(lambda: "figures: last" in tmux.screen(), "top's first table")
            time.sleep(SETTLE)
            workload.stdin.write("go\n")
            workload.stdin.flush()
            line = workload.stdout.readline()
            workload.wait(timeout=600)
            if profiler is not None:
                profiler.communicate(timeout=60)
            if mode == "top":
                _wait(lambda: "memspy top" not in tmux.screen(), "top to end")
        if not line.startswith("elapsed "):
            raise RuntimeError(f"the workload said {line!r}")
        return float(line.split()[1])
    finally:
        for process in (workload, profiler):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        if mode == "top":
            tmux.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20_000_000)
    parser.add_argument("--python", default=sys.executable, help="the workload's interpreter")
    args = parser.parse_args()
    tmux = Tmux()
    times: Dict[str, List[float]] = {mode: [] for mode in MODES}
    try:
        for round_index in range(args.rounds):
            order = MODES[round_index % 3:] + MODES[: round_index % 3]
            for mode in order:
                times[mode].append(timed(args.python, args.iterations, mode, tmux))
                print(f"round {round_index + 1} {mode}: {times[mode][-1]:.3f}s",
                      file=sys.stderr)
    finally:
        tmux.close()
    alone = min(times["alone"])
    print(f"fixed work, {args.iterations} iterations, {args.rounds} rounds, "
          f"Python {args.python}, memspy at its default rate (100 Hz), non-blocking")
    print("| mode | min s | median s | slowdown (min vs alone) |")
    print("|---|---|---|---|")
    for mode in MODES:
        best = min(times[mode])
        slowdown = "" if mode == "alone" else f"{100 * (best / alone - 1):+.2f}%"
        print(f"| {mode} | {best:.3f} | {statistics.median(times[mode]):.3f} | {slowdown} |")


if __name__ == "__main__":
    main()
