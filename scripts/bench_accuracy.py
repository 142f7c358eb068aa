"""Shares against the truth: memspy and py-spy on workloads that time their own phases.

Usage: python scripts/bench_accuracy.py [--python 3.12 ...] [--rate 250 --rate 1000]
                                        [--workload calls ...] [--seconds 6] [--markdown PATH]

Each workload (scripts/bench_workloads/phases.py) runs rounds of phases on the thread
CPU clock and prints, when it ends, the CPU seconds of each phase and of all its threads.
memspy and py-spy (``--nonblocking``) record it at the same time, by PID, at one rate, as
folded stacks. A phase's share in a profile is the fraction of the samples inside the
workload's ``Timed.run`` whose stack contains that phase's function; its true share is its
CPU seconds over the threads' CPU seconds in ``Timed.run`` (tests/phase_truth.py). The
table gives, per interpreter, workload and rate, the worst phase error of each profiler
in points (100 x share difference) and memspy's own count of stacks read exactly,
repaired or partly unknown.

A sampler that reads a stack while it changes and then drops the sample, reads it again
later or cuts it short moves time out of phases that call and return often (``calls``:
40 calls of a few microseconds; ``generator``: a generator that yields as often); the
phases of ``alternate`` are single calls of a few hundred microseconds; ``threads`` runs
a second thread of short calls beside the main one (its phases are timed in wall time,
GIL waits included, and both profilers record with ``--idle``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests")]

from interpreters import Interpreter, all_interpreters  # noqa: E402
from phase_truth import phase_shares, truth_of, worst_error  # noqa: E402

WORKLOAD = HERE / "bench_workloads" / "phases.py"
WORKLOADS = ("alternate", "calls", "generator", "threads")
# Two threads share the GIL: the workload measures wall time, so both profilers count
# every thread, idle ones too.
EVERY_THREAD = ("threads",)
START_GRACE = 1.5  # seconds the profilers get to attach before the window starts
END_GRACE = 1.0  # the workload outlives the recording by this much


@dataclass(frozen=True)
class Profile:
    shares: Dict[str, float]  # phase function -> share of samples
    samples: int
    quality: str  # memspy's own account of what it could not read exactly


def _quality(said: str) -> str:
    match = re.search(r"stacks: .*", said)
    return match.group(0) if match else ""


def measure(
    python: Interpreter, kind: str, rate: float, seconds: float, memspy: List[str]
) -> Dict[str, object]:
    """One workload under both profilers at once; truth and both profiles."""
    total_seconds = START_GRACE + seconds + END_GRACE
    target = subprocess.Popen(
        [os.path.realpath(python.path), str(WORKLOAD), kind, str(total_seconds)],
        stdout=subprocess.PIPE, text=True, cwd=str(WORKLOAD.parent),
    )
    try:
        if target.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{kind} did not start on {python.id}")
        with tempfile.TemporaryDirectory(prefix="memspy-accuracy-") as tmp:
            ours, theirs = os.path.join(tmp, "memspy.folded"), os.path.join(tmp, "pyspy.folded")
            pid, r = str(target.pid), str(int(rate))
            idle = ["--idle"] if kind in EVERY_THREAD else []
            runs = {
                "memspy": subprocess.Popen(
                    [*memspy, "record", "-p", pid, "-r", r, "-d", str(seconds), "-f",
                     "collapsed", "-o", ours, *idle],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                ),
                "py-spy": subprocess.Popen(
                    ["py-spy", "record", "--nonblocking", "-p", pid, "-r", r, "-d",
                     str(int(round(seconds))), "-f", "raw", "-o", theirs, *idle],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                ),
            }
            said = {name: run.communicate(timeout=seconds + 60)[1] for name, run in runs.items()}
            truth = truth_of(target.stdout.read())
            result: Dict[str, object] = {"truth": truth}
            for name, path in (("memspy", ours), ("py-spy", theirs)):
                if runs[name].returncode != 0 or not os.path.exists(path):
                    raise RuntimeError(f"{name} failed on {python.id}: {said[name][-400:]}")
                lines = Path(path).read_text().splitlines()
                folded = [(stack, int(n)) for stack, _, n in (x.rpartition(" ") for x in lines)]
                shares, samples = phase_shares(folded, truth)
                result[name] = Profile(shares, samples, _quality(said[name]))
            return result
    finally:
        if target.poll() is None:
            target.kill()
        target.wait()


def row(python: Interpreter, kind: str, rate: float, result: Dict[str, object]) -> List[str]:
    truth = result["truth"]
    ours, theirs = result["memspy"], result["py-spy"]
    detail = " ".join(
        f"{p.replace('phase_', '')} {truth[p]*100:.1f}/{ours.shares[p]*100:.1f}/"
        f"{theirs.shares[p]*100:.1f}"
        for p in truth
    )
    return [
        python.id, kind, f"{rate:g}", f"{100 * worst_error(truth, ours.shares):.2f}",
        f"{100 * worst_error(truth, theirs.shares):.2f}", str(ours.samples),
        str(theirs.samples), detail, ours.quality,
    ]


HEADER = [
    "python", "workload", "Hz", "memspy worst (pts)", "py-spy worst (pts)", "memspy samples",
    "py-spy samples", "phase: truth/memspy/py-spy %", "memspy's count",
]


def render(rows: List[List[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    return "\n".join("  ".join(r) for r in [HEADER, *rows])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", help="interpreter ids (default: all present)")
    parser.add_argument("--rate", action="append", type=float, help="Hz (default: 250 and 1000)")
    parser.add_argument("--workload", action="append", choices=WORKLOADS)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--markdown", help="also write the table as Markdown to this file")
    args = parser.parse_args(argv)
    pythons = [i for i in all_interpreters() if i.present]
    if args.python:
        pythons = [i for i in pythons if i.id in args.python or i.id.split("-")[0] in args.python]
    memspy = [sys.executable, "-m", "memspy"]
    rows = []
    started = time.monotonic()
    for python in pythons:
        for kind in args.workload or WORKLOADS:
            for rate in args.rate or (250.0, 1000.0):
                result = measure(python, kind, rate, args.seconds, memspy)
                rows.append(row(python, kind, rate, result))
                print("  ".join(rows[-1]), file=sys.stderr, flush=True)
    table = render(rows, markdown=False)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(render(rows, markdown=True) + "\n")
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
