"""Every stack memspy reports existed. Worker threads alternate between one Python call
(``K.m``) and one C-level wait (``time.sleep``), so the stacks they can have are known:
``m`` called from the ``k.m()`` line, or ``worker`` alone at a line of its loop, over the
same thread bootstrap frames. A read that tears as the call returns would show ``m``
called from the sleep line (the callee from one moment, the caller from a later one).

The call sites that repair such a read are learnt in the first samples. After those,
what slips through is counted: with the repair none on an idle machine, without it
0.3-1% of the worker stacks.

A read held up midway (the kernel gave memspy's CPU to another task between two iovecs,
or the hypervisor stopped that CPU) spans the pause: a worker can return, sleep and call
``m`` again between the read of its frames and the read of the frame pointer that checks
them, and the check sees nothing. Such a read is made again at once. The second test
holds up the first read of every sample for real: the kernel is asked for its iovecs one
at a time, a sleep between each, from this very process (what a preempted call does, on
purpose). Without the read made again, 5-10% of the worker stacks never existed."""

from __future__ import annotations

import ctypes
import time
from collections import Counter
from typing import Callable, List, Tuple

import pytest
from interpreters import Interpreter
from robust import TARGETS, end, start

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


def _impossible(stack: Stack, bottom: Stack) -> bool:
    """Whether a worker's stack (name, line; innermost first) is none the target has."""
    at = [name for name, _ in stack].index("worker")
    above, (_, line), below = stack[:at], stack[at], stack[at + 1 :]
    if below != bottom:
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
        process = PythonProcess(target.pid)
        for _ in range(WARM_UP):
            process.sample()
        workers: List[Stack] = []
        unknown = retaken = taken = in_m = 0
        while taken < samples or (in_m <= samples / 100 and taken < 10 * samples):
            before_each()
            for thread in process.sample().threads:
                stack = [(frame.name, frame.lineno) for frame in thread.frames]
                if any(name == "<unknown>" for name, _ in stack):
                    unknown += 1
                elif any(name == "worker" for name, _ in stack):
                    workers.append(stack)
                    in_m += stack[0][0] in ("m", "K.m")
            retaken += process.retaken
            taken += 1
    finally:
        end(target)
    bottoms = Counter(tuple(s[[n for n, _ in s].index("worker") + 1 :]) for s in workers)
    bottom = list(bottoms.most_common(1)[0][0])
    impossible = Counter(tuple(s) for s in workers if _impossible(s, bottom))
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
    ``PAUSE`` apart, once armed: a call held up midway, as preemption holds one up."""

    def __init__(self) -> None:
        self.read = process_memory._process_vm_readv
        self.armed = False
        self.held = 0

    def arm(self) -> None:
        self.armed = True

    def __call__(self, pid: int, local, count: int, remote, count2: int, flags: int) -> int:
        if not (self.armed and count > 1):
            return self.read(pid, local, count, remote, count2, flags)
        self.armed = False
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


def test_every_reported_stack_existed_when_a_read_was_held_up(
    interpreter: Interpreter, monkeypatch: pytest.MonkeyPatch
) -> None:
    held_up = _HeldUp()
    monkeypatch.setattr(process_memory, "_process_vm_readv", held_up)
    retaken = _check(interpreter, HELD_SAMPLES, held_up.arm)
    assert held_up.held >= HELD_SAMPLES and retaken >= 0.9 * held_up.held, (
        f"{retaken} of {held_up.held} reads held up were made again"
    )
