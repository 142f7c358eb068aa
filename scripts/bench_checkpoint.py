"""What a checkpoint costs the sampling: the stall of forking the copy that writes it,
and how long that copy writes, for a profile of many distinct stacks, in every format.

Usage: python3 scripts/bench_checkpoint.py [--stacks 100000] [--interval 10] [--rate 1000]

The stall is the time ``Checkpoints.due`` takes in the sampling loop (it forks; the copy
writes in the background): the samples it costs at ``--rate`` are stall × rate, once per
``--interval``. Printed as a table, one row per format.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from memspy.collectors import FORMATS, create  # noqa: E402
from memspy.collectors.output import write_atomic  # noqa: E402
from memspy.model import Frame, ProfileInfo, Sample, ThreadStack  # noqa: E402
from memspy.sampling.checkpoint import Checkpoints  # noqa: E402

EXTENSIONS = {"speedscope": ".speedscope.json", "collapsed": ".folded", "flamegraph": ".svg",
              "chrometrace": ".trace.json", "pprof": ".pb.gz"}


def filled(name: str, stacks: int) -> object:
    """A collector of format ``name`` holding ``stacks`` distinct 12-frame stacks."""
    collector = create(name, ProfileInfo(pid=1, command="bench", rate_hz=1000.0))
    base = tuple(Frame(f"caller_{i}", "/srv/app/module.py", i + 1) for i in range(10))
    for index in range(stacks):
        top = (Frame(f"leaf_{index % 997}", f"/srv/app/m{index % 89}.py", index % 500 + 1),
               Frame(f"mid_{index // 997}", "/srv/app/mid.py", 7))
        thread = ThreadStack(1, 1, "MainThread", True, False, top + base)
        collector.collect(Sample(index / 1000.0, 1, (thread,)))
    return collector


def measure(name: str, stacks: int, repeats: int) -> tuple:
    collector = filled(name, stacks)
    path = os.path.join(tempfile.mkdtemp(), "profile" + EXTENSIONS[name])
    stalls, writes = [], []
    for _ in range(repeats):
        checkpoints = Checkpoints(interval=0.0)
        start = time.perf_counter()
        checkpoints.due(lambda: write_atomic(path, collector.export))  # type: ignore[attr-defined]
        stalls.append(time.perf_counter() - start)
        checkpoints.finish()
        writes.append(time.perf_counter() - start)
        assert checkpoints.written == 1, name
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return statistics.median(stalls), statistics.median(writes), os.path.getsize(path), rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=100_000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{args.stacks} distinct stacks; checkpoint every {args.interval:g} s at "
          f"{args.rate:g} Hz")
    print("| format | stall ms (median) | samples lost per checkpoint | rate lost | "
          "copy writes s | file MB | memspy RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for name in FORMATS:
        stall, write, size, rss = measure(name, args.stacks, args.repeats)
        lost = stall * args.rate
        share = lost / (args.interval * args.rate)
        print(f"| {name} | {stall * 1000:.1f} | {lost:.1f} | {share:.3%} | {write:.2f} | "
              f"{size / 1e6:.1f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
