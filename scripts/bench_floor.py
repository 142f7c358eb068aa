"""The floor of a Python sampler on this machine: what no sampler written in Python that
reads what memspy reads can avoid, run as a profiler of its own beside memspy and py-spy.

Usage: python scripts/bench_floor.py -p PID -r RATE -d SECONDS -o OUT [--idle]

It attaches as memspy does and takes a few hundred samples, so that memspy's readers
settle on the batch a steady sample reads (the thread list, the read-ahead of every
thread's frames, the code headers). Then, at each tick of memspy's own schedule
(``memspy.sampling.ticks``: random instants, missed ticks skipped), it does only what
every sample needs: wake up from the sleep, read that batch in one system call, and,
without ``--idle``, ask the kernel whether each thread runs (one ``pread`` each).
Nothing is decoded. OUT gets one folded line counting the thread stacks it would have
written, so that ``scripts/bench.py`` measures it exactly as it measures the profilers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memspy.interpreter.process import PythonProcess  # noqa: E402
from memspy.sampling.ticks import Ticks  # noqa: E402

WARM_UP = 300  # samples before the batch is taken as memspy's steady one


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-p", "--pid", type=int, required=True)
    parser.add_argument("-r", "--rate", type=float, default=100.0)
    parser.add_argument("-d", "--duration", type=float, required=True)
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--idle", action="store_true", help="as memspy --idle: no /proc reads")
    args = parser.parse_args(argv)
    process = PythonProcess(args.pid)
    for _ in range(WARM_UP):
        threads = process.sample(True).threads
    memory = process.memory
    regions, stages = memory._packed_regions, memory._packed_stages
    stats: List[int] = []
    if not args.idle:
        for thread in threads:  # those memspy knows the kernel's id of, as it asks
            if thread.native_tid is not None:
                path = f"/proc/{args.pid}/task/{thread.native_tid}/stat"
                stats.append(os.open(path, os.O_RDONLY))
    print(f"floor: sampling process {args.pid}", file=sys.stderr, flush=True)
    start = time.monotonic()
    deadline = start + args.duration
    schedule = Ticks(1.0 / args.rate, start)
    ticks = 0
    read, pread, sleep, clock = memory.read_some, os.pread, time.sleep, time.monotonic
    while True:
        now = clock()
        if now >= deadline:
            break
        due = schedule.due
        if due > now:
            sleep(min(due, deadline) - now)
            continue
        if not schedule.take(now):
            continue
        read(regions, stages)
        for fd in stats:
            pread(fd, 512, 0)
        ticks += 1
    print("floor: stopped", file=sys.stderr, flush=True)
    Path(args.output).write_text(f"floor {ticks * len(threads)}\n")
    print(f"floor: {ticks} samples, {schedule.missed} ticks missed", file=sys.stderr, flush=True)
    process.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
