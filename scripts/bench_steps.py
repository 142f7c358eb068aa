"""Where one steady sample's CPU goes, step by step, and the floor under each step.

Usage: python scripts/bench_steps.py [--python 3.12 ...] [--samples N] [--rounds R]
                                     [--instructions] [--markdown PATH]

A sampler at 1000 Hz sleeps about 1 ms between samples, and on this kind of machine (a
shared VM) whatever runs right after a wake-up runs far slower than the same code back
to back: its caches were taken by others meanwhile. So every step is measured both ways:
"hot" (samples back to back) and "after a wake-up" (a 1 ms sleep before each), as
thread CPU time (``time.thread_time_ns``: user and system time of this thread, including
the kernel's side of the system calls). The floors are what no Python sampler on this
machine can avoid:

- wake-up: a 1 ms ``time.sleep`` alone (the timer's cost, paid by every sampler), and
  the same wait by ``poll``, ``select``, a lock's timeout and a periodic ``timerfd``:
  every way to wait costs about the same here, so the cost is the machine's;
- one read: a ``process_vm_readv`` of one small region, after a wake-up;
- the batch: the sample's own batched read (every region a steady sample needs), alone.

Then a whole sample (``PythonProcess.sample`` plus the collapsed writer's ``add``) and its
steps: the read; a steady sample answered from its bytes (by the last one's echo, or
thread by thread); for the others, the thread list and the walks of the stacks (with the
check of their code objects); the kernel's thread states; the rest of the sample
(code-header read-ahead, thread ids and names, the sample's tuples); the writer; and the
shares of samples answered from their bytes and by the echo. Steps are timed by
wrapping their functions (about 1 µs each, so the steps add up to a little more than the
whole).

``--instructions`` also counts user-space instructions per sample under valgrind's
callgrind (two runs of different lengths, subtracted): unlike time, the same on a busy
machine, so it compares two versions of the code exactly.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench_common import report, workload  # noqa: E402
from interpreters import Interpreter  # noqa: E402

from memspy.collectors import StackOptions, create  # noqa: E402
from memspy.interpreter import walk as walk_module  # noqa: E402
from memspy.interpreter.process import PythonProcess  # noqa: E402
from memspy.interpreter.thread_facts import ThreadFacts  # noqa: E402
from memspy.interpreter.thread_states import Threads  # noqa: E402
from memspy.memory import process as process_memory  # noqa: E402
from memspy.sampling.recording import Recording  # noqa: E402

GAP = 0.001  # seconds slept before each "after a wake-up" measurement
WARM_UP = 200  # samples taken before measuring (caches of memspy filled)


def _per_call(body: Callable[[], object], n: int, sleep: bool) -> float:
    """Thread CPU µs per call of ``body`` (the sleep before it not counted)."""
    spent = 0
    clock = time.thread_time_ns
    for _ in range(n):
        if sleep:
            time.sleep(GAP)
        start = clock()
        body()
        spent += clock() - start
    return spent / n / 1000


def _wake_up(n: int, wait: Callable[[], object] = lambda: time.sleep(GAP)) -> float:
    start = time.thread_time_ns()
    for _ in range(n):
        wait()
    return (time.thread_time_ns() - start) / n / 1000


class _TimerSpec(ctypes.Structure):  # struct itimerspec: interval, then first expiry
    _fields_ = [("interval_s", ctypes.c_long), ("interval_ns", ctypes.c_long),
                ("value_s", ctypes.c_long), ("value_ns", ctypes.c_long)]


def _other_wake_ups(n: int) -> Dict[str, float]:
    """The wake-up by every other way a Python sampler can wait 1 ms: whether the timer's
    cost is the sleep call's or the machine's."""
    poll = select.poll()
    lock = threading.Lock()
    lock.acquire()
    found = {
        "  (by poll)": _wake_up(n, lambda: poll.poll(GAP * 1000)),
        "  (by select)": _wake_up(n, lambda: select.select([], [], [], GAP)),
        "  (by a futex: a lock's timeout)": _wake_up(n, lambda: lock.acquire(timeout=GAP)),
    }
    libc = ctypes.CDLL(None, use_errno=True)
    timer = libc.timerfd_create(time.CLOCK_MONOTONIC, 0)
    if timer >= 0:  # a periodic timer: no call to arm it per tick
        period = int(GAP * 1e9)
        libc.timerfd_settime(timer, 0, ctypes.byref(_TimerSpec(0, period, 0, period)), None)
        found["  (by a periodic timerfd)"] = _wake_up(n, lambda: os.read(timer, 8))
        os.close(timer)
    return found


class Steps:
    """Thread CPU per step of ``sample`` + ``add``, by wrapping the steps' functions."""

    def __init__(self) -> None:
        self.spent: Dict[str, int] = defaultdict(int)
        self._undo: List[Callable[[], None]] = []

    def wrap(self, owner: object, name: str, label: str) -> None:
        original = getattr(owner, name)
        spent, clock = self.spent, time.thread_time_ns

        def timed(*args: object, **kwargs: object) -> object:
            start = clock()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += clock() - start

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def undo(self) -> None:
        for step in reversed(self._undo):
            step()
        self._undo.clear()


def measure(pid: int, samples: int) -> Dict[str, Dict[str, float]]:
    """Per-sample µs of each step, hot and after a wake-up."""
    process = PythonProcess(pid)
    recording = Recording(create("collapsed", False, StackOptions()), idle=False, gil=False)

    def sample() -> None:
        recording.add(process.sample(True))

    for _ in range(WARM_UP):
        sample()
    memory = process.memory
    regions, stages = list(memory._packed_regions), list(memory._packed_stages)
    one = [regions[0]]
    out: Dict[str, Dict[str, float]] = {}
    for sleep, column in ((False, "hot"), (True, "after a wake-up")):
        row = out[column] = {}
        row["wake-up (1 ms sleep)"] = _wake_up(samples) if sleep else 0.0
        if sleep:  # a wait has no hot cost: the rows of the other column only
            row.update(_other_wake_ups(samples))
        row["one read (1 region)"] = _per_call(lambda: memory.read_some(one), samples, sleep)
        row["the sample's batch"] = _per_call(
            lambda: memory.read_some(regions, stages), samples, sleep
        )
        row["  (its regions)"] = len(regions)
        row["whole sample"] = _per_call(sample, samples, sleep)
        # Each step is its own function; the sample holds them all, the read and the
        # steady answer happen in ``walk`` itself, the others in the whole walk.
        steps = Steps()
        steps.wrap(PythonProcess, "sample", "sample")
        steps.wrap(process_memory.ProcessMemory, "_read_batch", "read")
        steps.wrap(walk_module, "answer", "answer")
        steps.wrap(walk_module, "echoed", "echo")
        steps.wrap(Threads, "snapshot_with", "snapshot")
        steps.wrap(walk_module, "_walk_states", "walks")
        steps.wrap(ThreadFacts, "_running", "proc")
        steps.wrap(type(recording), "add", "writer")
        answered, echoed = process.steady.answered, process.steady.echoed
        try:
            _per_call(sample, samples, sleep)
        finally:
            steps.undo()
        part = defaultdict(float, {label: ns / samples / 1000 for label, ns in steps.spent.items()})
        row["  read (the system call)"] = part["read"]
        row["  answered from the bytes (steady: the echo, or thread by thread)"] = (
            part["echo"] + part["answer"]
        )
        row["  thread list (whole walks)"] = part["snapshot"]
        row["  stack walks and code checks (whole walks)"] = part["walks"]
        row["  thread states from /proc"] = part["proc"]
        row["  the rest of the sample"] = part["sample"] - sum(
            part[label] for label in ("read", "echo", "answer", "snapshot", "walks", "proc")
        )
        row["  writer (collapsed)"] = part["writer"]
        row["  (samples answered, %)"] = 100 * (process.steady.answered - answered) / samples
        row["  (of them by the echo, %)"] = 100 * (process.steady.echoed - echoed) / samples
    process.close()
    return out


def instructions(pid: int) -> Optional[int]:
    """User-space instructions per sample of memspy run by this interpreter (callgrind),
    or None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    counts = []
    for n in (200, 1200):
        code = (
            "import sys; from memspy.interpreter.process import PythonProcess; "
            "from memspy.sampling.recording import Recording; "
            "from memspy.collectors import create, StackOptions; "
            f"p = PythonProcess({pid}); "
            "r = Recording(create('collapsed', False, StackOptions()), idle=False, gil=False)\n"
            f"for _ in range({n}): r.add(p.sample(True))"
        )
        run = subprocess.run(
            [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null",
             os.path.realpath(sys.executable), "-c", code],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        found = re.search(r"Collected : (\d+)", run.stderr)
        if found is None:
            return None
        counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) // 1000


def run(python: Interpreter, args: argparse.Namespace) -> List[str]:
    with workload(python.path, "shallow") as target:
        rounds = [measure(target.pid, args.samples) for _ in range(args.rounds)]
        counted = instructions(target.pid) if args.instructions else None
    lines = [f"### {python.id} (shallow workload, median of {args.rounds} rounds, µs per sample)",
             "", "| step | hot | after a wake-up |", "|---|---|---|"]
    for step in rounds[0]["after a wake-up"]:
        hot = statistics.median(r["hot"].get(step, 0.0) for r in rounds)
        cold = statistics.median(r["after a wake-up"][step] for r in rounds)
        if step in ("  (its regions)", "  (samples answered, %)", "  (of them by the echo, %)"):
            lines.append(f"| {step} | {hot:.0f} | {cold:.0f} |")
            continue
        hot_text = "" if step.startswith(("wake-up", "  (by ")) else f"{hot:.1f}"
        lines.append(f"| {step} | {hot_text} | {cold:.1f} |")
    if counted is not None:
        lines.append(f"\ninstructions per sample (user space, callgrind): {counted:,}")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", action="append", metavar="VERSION")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--markdown", metavar="PATH")
    args = parser.parse_args(argv)
    return report(
        "bench_steps", "memspy per-sample steps", args.python or ["3.12"],
        lambda python: run(python, args), args.markdown,
    )


if __name__ == "__main__":
    sys.exit(main())
