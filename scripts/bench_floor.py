"""The floor of a Python sampler on this machine: what no sampler written in Python that
reads what memspy reads can avoid, run as a profiler of its own beside memspy and py-spy.

Usage: python scripts/bench_floor.py -p PID -r RATE -d SECONDS -o OUT [--idle] [--decode]

It attaches as memspy does and takes a few hundred samples, so that memspy's readers
settle on the batch a steady sample reads (the thread list, the read-ahead of every
thread's frames, the code headers). Then, at each tick of memspy's own schedule
(``memspy.sampling.ticks``: random instants, missed ticks skipped), it does only what
every sample needs: wake up from the sleep, read that batch in one system call, and,
without ``--idle``, ask the kernel whether each thread runs (one ``pread`` each).
Nothing is decoded. OUT gets one folded line counting the thread stacks it would have
written, so that ``scripts/bench.py`` measures it exactly as it measures the profilers.

``--decode`` adds the least a sampler must do to turn those bytes into a profile, with
nothing around it: check that the bytes the last stacks were read from still hold and
put each moving innermost frame where it is now (memspy's echo of its last sample, the
check itself, see ``interpreter.steady``), ask the kernel whether each thread runs, and
count each thread's stack in a table. A sample whose bytes do not hold is memspy's whole
sample. What memspy costs beyond this is the cost of its structure: the sampler's loop,
the layers of a sample, its tuples, the writer.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memspy.collectors.stacks import FrameKey  # noqa: E402
from memspy.interpreter.process import PythonProcess  # noqa: E402
from memspy.interpreter.steady import _echoed as echo_answer  # noqa: E402
from memspy.model import Frame  # noqa: E402
from memspy.sampling.ticks import Ticks  # noqa: E402

WARM_UP = 300  # samples before the batch is taken as memspy's steady one


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-p", "--pid", type=int, required=True)
    parser.add_argument("-r", "--rate", type=float, default=100.0)
    parser.add_argument("-d", "--duration", type=float, required=True)
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--idle", action="store_true", help="as memspy --idle: no /proc reads")
    parser.add_argument("--decode", action="store_true", help="and the least decoding")
    args = parser.parse_args(argv)
    process = PythonProcess(args.pid)
    for _ in range(WARM_UP):
        threads = process.sample(True).threads
    memory = process.memory
    regions, stages = memory._packed_regions, memory._packed_stages
    stat_files: Dict[int, int] = {}  # thread id -> its kernel stat file
    if not args.idle:
        for thread in threads:  # those memspy knows the kernel's id of, as it asks
            if thread.native_tid is not None:
                path = f"/proc/{args.pid}/task/{thread.native_tid}/stat"
                stat_files[thread.thread_id] = os.open(path, os.O_RDONLY)
    stats = list(stat_files.values())
    print(f"floor: sampling process {args.pid}", file=sys.stderr, flush=True)
    start = time.monotonic()
    deadline = start + args.duration
    schedule = Ticks(1.0 / args.rate, start)
    ticks = 0
    read, pread, sleep, clock = memory.read_some, os.pread, time.sleep, time.monotonic
    decoding = LeastDecoding(process, stat_files, args.idle)
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
        if args.decode:
            decoding.tick()
        else:
            read(regions, stages)
            for fd in stats:
                pread(fd, 512, 0)
        ticks += 1
    print("floor: stopped", file=sys.stderr, flush=True)
    if args.decode:
        Path(args.output).write_text(decoding.folded())
    else:
        Path(args.output).write_text(f"floor {ticks * len(threads)}\n")
    print(f"floor: {ticks} samples, {schedule.missed} ticks missed", file=sys.stderr, flush=True)
    if args.decode:
        print(f"floor: {decoding.whole} whole samples (bytes that did not hold)", file=sys.stderr)
    process.close()
    return 0


class LeastDecoding:
    """The least decoding, tick by tick (see the module): the stacks of memspy's last
    sample while the bytes they were read from hold, each moving innermost frame where
    it is now; memspy's whole sample otherwise. Stacks are counted by the identity of
    their frames (kept alive in the table), with whether the thread ran."""

    def __init__(self, process: PythonProcess, stat_files: Dict[int, int], idle: bool) -> None:
        self.process = process
        self.stat_files = stat_files  # thread id -> its kernel stat file
        self.idle = idle  # as memspy --idle: the kernel is not asked
        self.counts: Dict[Tuple[int, bool], List[Any]] = {}  # -> [frames, count]
        self.whole = 0  # ticks that took memspy's whole sample

    def tick(self) -> None:
        process = self.process
        steady, chain = process.steady, process.chain
        plan = steady.plan
        echo = plan.echo if plan is not None and steady.armed else None
        if echo is None or chain.moving is None:
            return self._whole_sample()
        now = process.memory.read_some(plan.regions, plan.order)
        stacks = echo_answer(plan, echo, now, chain.moving, chain.walk_key, process.codes)
        if stacks is None:
            return self._whole_sample()
        if self.idle:
            for _, frames in stacks:
                self._count(frames, False)
            return None
        files = self.stat_files
        if any(state.thread_id not in files for state, _ in stacks):
            return self._whole_sample()  # a thread whose kernel id memspy had not learnt
        for state, frames in stacks:
            stat = os.pread(files[state.thread_id], 512, 0)
            self._count(frames, stat[stat.rfind(b")") + 2] != 82)  # not "R"
        return None

    def _whole_sample(self) -> None:
        self.whole += 1
        for thread in self.process.sample(not self.idle).threads:
            self._count(thread.frames, thread.idle)

    def _count(self, frames: Sequence[Frame], idle: bool) -> None:
        entry = self.counts.get((id(frames), idle))
        if entry is None:
            entry = self.counts[(id(frames), idle)] = [frames, 0]
        entry[1] += 1

    def folded(self) -> str:
        """The stacks counted, root first, a line each (running threads only unless
        ``idle``), as a profile in the collapsed format."""
        lines = []
        for (_, idle), (frames, count) in self.counts.items():
            if frames and (self.idle or not idle):
                labels = [FrameKey(f.name, f.filename, f.lineno).label() for f in reversed(frames)]
                lines.append(f"{';'.join(labels)} {count}\n")
        return "".join(lines)


if __name__ == "__main__":
    sys.exit(main())
