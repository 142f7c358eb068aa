"""The speed-ups must not change a frame: a process whose caches are warm (code objects,
read-ahead, remembered walks of unchanged threads) reads exactly the stacks a fresh, cold
reader does, on every interpreter."""

from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Tuple

from interpreters import Interpreter
from robust import end, start
from target import Target
from target import _task_states as task_states

from memspy.interpreter.frames.chain import RawStack
from memspy.interpreter.process import PythonProcess


def _stacks(process: PythonProcess) -> Dict[int, Tuple[Any, ...]]:
    return {t.thread_id: t.frames for t in process.sample().threads}


def _fresh_stacks(pid: int) -> Dict[int, Tuple[Any, ...]]:
    """The stacks a reader attached just now reads."""
    with PythonProcess(pid) as fresh:
        return _stacks(fresh)


def test_warm_and_cold_readers_agree(parked: Target) -> None:
    with PythonProcess(parked.pid) as warm:
        for _ in range(20):  # while the spinner moves: caches fill and go stale
            warm.sample()
        with parked.stopped():
            cold = _fresh_stacks(parked.pid)
            first = _stacks(warm)
            walks = []
            raw = warm.chain.raw
            warm.chain.raw = lambda *args: walks.append(args[0]) or raw(*args)  # type: ignore
            second = _stacks(warm)  # memory unchanged: unchanged threads are recalled
    assert first == cold
    assert second == cold
    # The recall path was taken (the test would otherwise compare a path with itself):
    # only threads whose walk read beyond what was read ahead are walked again.
    assert len(walks) < len(cold) / 2, (len(walks), len(cold))


def test_a_deep_stack_moving_at_the_top(interpreter: Interpreter) -> None:
    """The walk that reuses the unchanged part of a deep stack (its bottom) gives what a
    fresh reader gives, each time the target is stopped at a random point of its loop.

    Each comparison follows a walk of the stopped target (whole, so remembered), then
    lets the target run until its stack moved: the walk compared is then one that reuses,
    whatever the machine's load (samples of a running target that tore would not be
    remembered, and nothing would be reused)."""
    target = start("deep_spin.py", python=str(interpreter.path))
    try:
        with PythonProcess(target.pid) as warm:
            reused: List[bool] = []
            raw = warm.chain.raw
            warm.chain.raw = lambda *args: _noting(raw(*args), reused)  # type: ignore
            compared = 0
            deadline = time.monotonic() + 60
            while compared < 8 and time.monotonic() < deadline:
                with _stopped(target.pid):
                    before = _stacks(warm)
                _until_moved(warm, before)
                reused.clear()
                with _stopped(target.pid):
                    first = _stacks(warm)
                    cold = _fresh_stacks(target.pid)
                assert first == cold
                assert any(len(frames) > 200 for frames in cold.values())
                compared += bool(reused) and all(reused)
    finally:
        end(target)
    assert compared >= 8  # walks that reused the bottom of the last walk were compared


def _until_moved(process: PythonProcess, before: Dict[int, Tuple[Any, ...]]) -> None:
    """Until a sample of the running target shows a stack other than ``before``. The
    samples are taken by a reader of their own, so ``process``'s remembered walks stay
    those of the stopped target."""
    with PythonProcess(process.pid) as peek:
        deadline = time.monotonic() + 10
        while _stacks(peek) == before and time.monotonic() < deadline:
            time.sleep(0.001)


def _noting(stack: RawStack, reused: List[bool]) -> RawStack:
    reused.append(stack.reused is not None)
    return stack


@contextmanager
def _stopped(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 10
        while not all(state == "T" for state in task_states(pid).values()):
            assert time.monotonic() < deadline, f"threads of {pid} did not stop"
            time.sleep(0.001)
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_walks_recalled_from_earlier_samples(interpreter: Interpreter) -> None:
    """Where the chain keeps a thread's recent walks (a shallow stack comes back to a
    few dozen states: here a loop a few frames deep, and a thread that waits), a stack
    recalled from one of them, not from the last sample, is what a fresh reader reads,
    each time the target is stopped at a random point; so is a whole sample answered
    from its bytes (``steady``) with a stack other than the last sample's."""
    target = start("shallow_loop.py", python=str(interpreter.path))
    try:
        with PythonProcess(target.pid) as warm:
            walks: List[int] = []
            raw = warm.chain.raw
            warm.chain.raw = lambda *args: walks.append(args[0]) or raw(*args)  # type: ignore
            for _ in range(300):  # the memo fills with the states the workers go through
                warm.sample()
            wanted = 8 if warm.chain.memo_walks else 0  # stacks recalled from earlier samples
            recalled = compared = answered = 0
            deadline = time.monotonic() + 60
            while (
                compared < 400
                and (compared < 20 or recalled < wanted or answered < wanted // 2)
                and time.monotonic() < deadline
            ):
                before = _stacks(warm)
                walks.clear()
                answers = warm.steady.answered
                first = _as_a_fresh_reader_reads(warm)
                compared += 1
                # Not walked, and not the last sample's: recalled from an earlier one.
                recalled += not walks and first != before
                answered += warm.steady.answered > answers and first != before
    finally:
        end(target)
    assert recalled >= wanted, (recalled, compared)
    assert answered >= wanted // 2, (answered, recalled, compared)


def test_echoed_samples(interpreter: Interpreter) -> None:
    """A sample answered by the last one's echo (the same bytes but its moving innermost
    frames' and what its walks did not use, see ``steady``), with a stack other than the
    last sample's, is what a fresh reader reads, each time the target is stopped at a
    random point."""
    target = start("shallow_loop.py", python=str(interpreter.path))
    try:
        with PythonProcess(target.pid) as warm:
            for _ in range(300):
                warm.sample()
            echoed = compared = 0
            deadline = time.monotonic() + 60
            while compared < 400 and (compared < 20 or echoed < 8) and time.monotonic() < deadline:
                before = _stacks(warm)
                echoes = warm.steady.echoed
                first = _as_a_fresh_reader_reads(warm)
                compared += 1
                echoed += warm.steady.echoed > echoes and first != before
    finally:
        end(target)
    assert echoed >= 8, (echoed, compared)


def _as_a_fresh_reader_reads(warm: PythonProcess) -> Dict[int, Tuple[Any, ...]]:
    """The stacks ``warm`` reads of its target stopped at a random point (after letting
    it run a moment), checked against a fresh reader's."""
    time.sleep(0.0005)
    with _stopped(warm.pid):
        first = _stacks(warm)
        cold = _fresh_stacks(warm.pid)
    assert first == cold
    return first
