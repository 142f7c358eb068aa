"""Which samples the kernel preempts: each sample's CPU time against its wall time.

Usage: python scripts/bench_tail.py [--python 2.7 ...] [--workload threads] [--rate 100]
                                    [--ticks 800] [--markdown PATH]

A sampler misses a tick when its sample ends more than half an interval late. On a
machine with more runnable threads than CPUs (the 51-thread workload on 2 CPUs), the
kernel lets a thread that wakes up run for a while and then preempts it for the others;
a sample preempted that way waits for many of them, far longer than an interval. How
long a sample may run first is the scheduler's, not the sampler's: what a sampler
controls is how much CPU each sample takes. So this runs memspy's own sample
(``PythonProcess.sample`` and the collapsed writer, as ``record --idle`` does) once a
tick on a fixed grid, and reports, per band of CPU time per sample (``thread_time``),
how many samples fell in it and how many of those waited, their wall time exceeding
their CPU time by more than half an interval. Where the waits begin is the CPU per
sample that keeps up on that machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench_common import report, workload  # noqa: E402
from interpreters import Interpreter  # noqa: E402

from memspy.collectors import StackOptions, create  # noqa: E402
from memspy.interpreter.process import PythonProcess  # noqa: E402
from memspy.sampling.recording import Recording  # noqa: E402

BANDS_MS = (0.0, 0.5, 0.8, 1.5, 3.0)  # lower bounds of the CPU bands, ms per sample
WARM_SAMPLES = 100


def measure(pid: int, rate: float, ticks: int) -> List[Tuple[float, float]]:
    """(CPU, wall) seconds of each of ``ticks`` samples taken at ``rate`` Hz."""
    process = PythonProcess(pid)
    recording = Recording(create("collapsed", False, StackOptions()), idle=True, gil=False)
    for _ in range(WARM_SAMPLES):
        recording.add(process.sample(False))
    interval = 1.0 / rate
    timings = []
    due = time.monotonic() + interval
    for _ in range(ticks):
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        wall, cpu = time.monotonic(), time.thread_time()
        recording.add(process.sample(False))
        timings.append((time.thread_time() - cpu, time.monotonic() - wall))
        due += interval
        while due < time.monotonic():  # missed: the next tick still to come
            due += interval
    process.close()
    return timings


def table(timings: List[Tuple[float, float]], rate: float) -> List[str]:
    half = 0.5 / rate
    lines = [
        "| CPU per sample (ms) | samples | share | waited > half an interval | median wall (ms) |",
        "|---|---|---|---|---|",
    ]
    bounds = [b / 1000 for b in BANDS_MS] + [float("inf")]
    for low, high in zip(bounds, bounds[1:]):
        band = [(cpu, wall) for cpu, wall in timings if low <= cpu < high]
        if not band:
            continue
        waited = sum(1 for cpu, wall in band if wall - cpu > half)
        name = f"{low * 1000:g}–{high * 1000:g}" if high != float("inf") else f"≥ {low * 1000:g}"
        wall_ms = statistics.median(wall for _, wall in band) * 1000
        lines.append(
            f"| {name} | {len(band)} | {100 * len(band) / len(timings):.0f}% "
            f"| {waited} ({100 * waited / len(band):.0f}%) | {wall_ms:.2f} |"
        )
    cpus = sorted(cpu for cpu, _ in timings)
    mean = statistics.mean(cpus) * 1e6
    lines.append(
        f"\nCPU per sample: mean {mean:.0f} µs, median {cpus[len(cpus) // 2] * 1e6:.0f} µs, "
        f"90th percentile {cpus[int(len(cpus) * 0.9)] * 1e6:.0f} µs"
    )
    return lines


def run(python: Interpreter, args: argparse.Namespace) -> List[str]:
    with workload(python.path, args.workload) as target:
        timings = measure(target.pid, args.rate, args.ticks)
    title = f"### {python.id} ({args.workload} workload, {args.rate:g} Hz, {args.ticks} ticks)"
    return [title, "", *table(timings, args.rate)]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", action="append", metavar="VERSION")
    parser.add_argument("--workload", default="threads")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--ticks", type=int, default=800)
    parser.add_argument("--markdown", metavar="PATH")
    args = parser.parse_args(argv)
    return report(
        "bench_tail", "memspy CPU per sample against wall time", args.python or ["2.7"],
        lambda python: run(python, args), args.markdown,
    )


if __name__ == "__main__":
    sys.exit(main())
