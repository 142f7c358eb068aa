"""Every stack memspy reports existed. Worker threads alternate between one Python call
(``K.m``) and one C-level wait (``time.sleep``), so the stacks they can have are known:
``m`` called from the ``k.m()`` line, or ``worker`` alone at a line of its loop, over
the thread's own entry function and bootstrap frames. A read that tears as the call
returns would show ``m`` called from the sleep line (the callee from one moment, the
caller from a later one); a walk that strays into another thread's frames shows that
thread's entry function.

The call sites that repair such a read are learnt in the first samples. After those,
what slips through is counted: with the repair none on an idle machine, without it
0.3-1% of the worker stacks.

A read held up midway (the kernel gave memspy's CPU to another task between two iovecs,
or the hypervisor stopped that CPU) spans the pause: a worker can return, sleep and call
``m`` again between the read of its frames and the read of the frame pointer that checks
them, and the check sees nothing. Such a read is made again at once. The second test
holds up the first read of every sample for real: the kernel is asked for its iovecs one
at a time, a sleep between each, from this very process (what a preempted call does, on
purpose), and the reads after it wait as long. Without the read made again, 5-10% of the
worker stacks never existed.

A frame the batch did not cover is read when the walk meets it: by then (≤3.10) another
thread may run in it. The last test makes that happen at will."""

from __future__ import annotations

import ctypes
import subprocess
import time
from collections import Counter
from typing import Callable, Dict, List, Tuple

import pytest
from interpreters import Interpreter
from robust import TARGETS, end, next_line, start

import memspy.memory.process as process_memory
from memspy.interpreter.process import PythonProcess

WARM_UP = 500  # samples in which the reader learns where each worker calls m
SAMPLES = 3000
HELD_SAMPLES = 400  # samples whose first read is held up
PAUSE = 0.0003  # seconds between two iovecs of a read held up: longer than a worker's sleep
SLIP = 0.001  # the share of worker stacks that may be impossible

_SOURCE = (TARGETS / "call_or_wait.py").read_text().splitlines()
CALL = next(n for n, line in enumerate(_SOURCE, 1) if line.rstrip().endswith("# CALL"))
LOOP, WAIT = CALL - 1, CALL + 1

Stack = List[Tuple[str, int]]


def _below_worker(stack: Stack) -> Tuple[Tuple[str, int], ...]:
    return tuple(stack[[name for name, _ in stack].index("worker") + 1 :])


def _impossible(stack: Stack, bottom: Tuple[Tuple[str, int], ...]) -> bool:
    """Whether a worker's stack (name, line; innermost first) is none its thread has,
    given the frames its thread has below ``worker``."""
    at = [name for name, _ in stack].index("worker")
    above, (_, line) = stack[:at], stack[at]
    if _below_worker(stack) != bottom:
        return True
    if not above:
        return line not in (LOOP, CALL, WAIT)
    return len(above) != 1 or above[0][0] not in ("m", "K.m") or line != CALL


def _check(interpreter: Interpreter, samples: int, before_each: Callable[[], None]) -> int:
    """Sample the workers after the warm-up, ``before_each`` called before each sample;
    assert that no more than ``SLIP`` of their stacks never existed, and return the reads
    made again.

    At least ``samples`` samples, more until the workers were caught inside ``m`` in one
    of a hundred (the test means something only then): a busy machine runs them less
    while memspy samples, and a read held up sleeps, which lets them run then wait."""
    target = start("call_or_wait.py", python=str(interpreter.path))
    try:
        with PythonProcess(target.pid) as process:
            for _ in range(WARM_UP):
                process.sample()
            workers: List[Tuple[int, Stack]] = []
            unknown = retaken = taken = in_m = 0
            while taken < samples or (in_m <= samples / 100 and taken < 10 * samples):
                before_each()
                for thread in process.sample().threads:
                    stack = [(frame.name, frame.lineno) for frame in thread.frames]
                    if any(name == "<unknown>" for name, _ in stack):
                        unknown += 1
                    elif any(name == "worker" for name, _ in stack):
                        workers.append((thread.thread_id, stack))
                        in_m += stack[0][0] in ("m", "K.m")
                retaken += process.retaken
                taken += 1
    finally:
        end(target)
    # Each thread's frames below ``worker`` as they mostly were: its own entry function
    # over the thread bootstrap.
    below: Dict[int, Counter] = {}
    for thread_id, stack in workers:
        below.setdefault(thread_id, Counter())[_below_worker(stack)] += 1
    bottoms = {thread_id: tails.most_common(1)[0][0] for thread_id, tails in below.items()}
    assert len(set(bottoms.values())) == len(bottoms), bottoms  # one entry per worker
    impossible = Counter(
        tuple(stack) for thread_id, stack in workers if _impossible(stack, bottoms[thread_id])
    )
    assert sum(impossible.values()) <= len(workers) * SLIP, (
        f"{sum(impossible.values())} of {len(workers)} worker stacks never existed: "
        f"{impossible.most_common(3)}"
    )
    assert in_m > samples / 100, in_m
    assert unknown <= taken * 0.01, unknown
    return retaken


def test_every_reported_stack_existed(interpreter: Interpreter) -> None:
    _check(interpreter, SAMPLES, lambda: None)


class _HeldUp:
    """``process_vm_readv`` that reads the iovecs of the next batched call one at a time,
    ``PAUSE`` apart, once armed, and pauses as long before each read of one region that
    follows it: a call held up midway, as preemption holds one up, and a walk that went
    on late to frames the batch did not cover."""

    def __init__(self) -> None:
        self.read = process_memory._process_vm_readv
        self.armed = self.holding = False
        self.held = 0

    def arm(self) -> None:
        self.armed, self.holding = True, False

    def __call__(self, pid: int, local, count: int, remote, count2: int, flags: int) -> int:
        if count == 1 and self.holding:
            time.sleep(PAUSE)
        if not (self.armed and count > 1):
            return self.read(pid, local, count, remote, count2, flags)
        self.armed, self.holding = False, True
        self.held += 1
        local_at, remote_at = ctypes.addressof(local.contents), ctypes.addressof(remote.contents)
        total = 0
        for index in range(count):
            if index:
                time.sleep(PAUSE)
            one_local = process_memory._iov_at(local_at, index)
            one_remote = process_memory._iov_at(remote_at, index)
            got = self.read(pid, one_local, 1, one_remote, 1, flags)
            if got < 0:
                return total or got
            total += got
        return total


@pytest.mark.slow  # 5-6 s per interpreter: every sample's read is paused for real
def test_every_reported_stack_existed_when_a_read_was_held_up(
    interpreter: Interpreter, monkeypatch: pytest.MonkeyPatch
) -> None:
    held_up = _HeldUp()
    monkeypatch.setattr(process_memory, "_process_vm_readv", held_up)
    retaken = _check(interpreter, HELD_SAMPLES, held_up.arm)
    assert held_up.held >= HELD_SAMPLES and retaken >= 0.9 * held_up.held, (
        f"{retaken} of {held_up.held} reads held up were made again"
    )


def _say(process: subprocess.Popen, command: str) -> None:
    assert process.stdin is not None
    process.stdin.write(command.encode() + b"\n")
    process.stdin.flush()


def _line(process: subprocess.Popen) -> str:
    assert process.stdout is not None
    line = next_line(process.stdout).decode()
    assert line, "the target said nothing for a minute"
    return line.rstrip("\n")


class _HandOver:
    """``process_vm_readv`` that, once armed, lets the next batched call through and,
    before the first read of one region after it (the walk going on to a frame the
    batch did not cover; not the batch made again after a hold-up, which would move the
    sample's instant past the hand-over), has the target hand the frame ``first`` runs
    in over to ``second``."""

    def __init__(self, target: subprocess.Popen) -> None:
        self.read = process_memory._process_vm_readv
        self.target = target
        self.armed = self.batched = self.handed = False

    def __call__(self, pid: int, local, count: int, remote, count2: int, flags: int) -> int:
        if self.armed and self.batched and count == 1:
            self.armed = False
            _say(self.target, "swap")
            assert _line(self.target) == "second"
            self.handed = True
        elif self.armed and count > 1:
            self.batched = True
        return self.read(pid, local, count, remote, count2, flags)


def test_a_frame_read_late_that_another_thread_took_since_is_not_followed_into_its_stack(
    interpreter: Interpreter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thread ``first`` runs ``fresh`` in a frame the sample's batch did not cover; before
    the walk reads that frame, ``first`` returns and ``second`` calls ``fresh`` in the
    same frame (≤3.10; ``say`` likewise, if ``first`` had not left it yet). Read then,
    the frame is alive and leads down ``second``'s stack: ``first``'s stack must not
    show ``second``'s frames."""
    # Unbuffered: each line is read as the target says it, when it is there.
    target = start(
        "frame_handover.py", python=str(interpreter.path), stdin=subprocess.PIPE, bufsize=0
    )
    try:
        idents = dict(_line(target).split() for _ in range(2))
        with PythonProcess(target.pid) as process:
            for _ in range(WARM_UP // 10):
                process.sample()
            _say(target, "enter")
            assert _line(target) == "first"
            hand_over = _HandOver(target)
            monkeypatch.setattr(process_memory, "_process_vm_readv", hand_over)
            hand_over.armed = True
            sample = process.sample()
    finally:
        end(target)
    assert hand_over.handed
    stacks = {str(t.thread_id): [frame.name for frame in t.frames] for t in sample.threads}
    first = stacks[idents["first"]]
    # Still in ``say`` (it printed "first" before returning) or already in ``fresh``:
    # either frame is handed over, ``say``'s as its code's next call takes it.
    assert first[0] in ("say", "fresh"), first
    assert "second" not in first, first
