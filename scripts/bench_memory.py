"""memspy's memory over a long recording: what 1 M samples cost, per output format.

Usage: python3 scripts/bench_memory.py [--samples 1000000] [--format pprof ...]

Samples are fed to the writer the way ``record`` feeds them (``Recording.add``), made up
so that only the writer's memory is measured: *steady*, a server's few hundred stacks
over and over; *new functions*, a program that makes a new function for every sample
(generated code), whose distinct stacks grow until the cap (``stacks.MAX_STACKS``) counts
the rest as ``<other>``. Each run is a fresh process; RSS is read every 100 k samples and
the table gives RSS at 100 k and at the end, and the growth per 100 k over the second
half. Growth that does not flatten is what a run of days would show.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

STEP = 100_000


def run(fmt: str, kind: str, samples: int) -> list:
    """In this process: feed ``samples`` samples, return RSS in MB after each STEP."""
    import psutil

    from memspy.collectors import create
    from memspy.model import Frame, ProfileInfo, Sample, ThreadStack
    from memspy.sampling.recording import Recording

    recording = Recording(create(fmt, ProfileInfo(pid=1, command="bench")), idle=False, gil=False)
    base = tuple(Frame(f"handler_{i}", "/srv/app/server.py", 10 + i, 10) for i in range(12))
    steady = [
        (Frame(f"view_{i % 40}", "/srv/app/views.py", i % 300 + 1, 1),) + base for i in range(400)
    ]
    rss = []
    for index in range(samples):
        if kind == "steady":
            frames = steady[index % len(steady)]
        else:
            frames = (Frame(f"generated_{index}", "<string>", 1, 1),) + base
        thread = ThreadStack(7, 7, "MainThread", True, False, frames)
        recording.add(Sample(index / 1000.0, 1, (thread,)))
        if (index + 1) % STEP == 0:
            rss.append(psutil.Process().memory_info().rss / 2**20)
    return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--format", action="append", dest="formats")
    parser.add_argument("--child", nargs=2, metavar=("FORMAT", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(args.child[0], args.child[1], args.samples)))
        return
    from memspy.collectors import FORMATS

    print(f"{args.samples} samples fed to each writer, RSS in MB")
    print("| format | workload | RSS at 100 k | RSS at end | growth per 100 k, 2nd half |")
    print("|---|---|---|---|---|")
    for fmt in args.formats or list(FORMATS):
        for kind in ("steady", "new functions"):
            out = subprocess.run(
                [sys.executable, __file__, "--samples", str(args.samples), "--child", fmt, kind],
                capture_output=True, text=True, check=True,
            ).stdout
            rss = json.loads(out)
            half = rss[len(rss) // 2 :]
            growth = (half[-1] - half[0]) / max(len(half) - 1, 1)
            print(f"| {fmt} | {kind} | {rss[0]:.0f} | {rss[-1]:.0f} | {growth:.1f} |")


if __name__ == "__main__":
    main()
