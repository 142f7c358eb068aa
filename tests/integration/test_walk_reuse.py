"""The speed-ups must not change a frame: a process whose caches are warm (code objects,
read-ahead, remembered walks of unchanged threads) reads exactly the stacks a fresh, cold
reader does, on every interpreter."""

from __future__ import annotations

from typing import Any, Dict, Tuple

from target import Target

from memspy.process import PythonProcess


def _stacks(process: PythonProcess) -> Dict[int, Tuple[Any, ...]]:
    return {t.thread_id: t.frames for t in process.sample().threads}


def test_warm_and_cold_readers_agree(parked: Target) -> None:
    warm = PythonProcess(parked.pid)
    for _ in range(20):  # while the spinner moves: caches fill and go stale
        warm.sample()
    with parked.stopped():
        cold = _stacks(PythonProcess(parked.pid))
        first = _stacks(warm)
        walks = []
        raw = warm.chain.raw
        warm.chain.raw = lambda *args: walks.append(args[0]) or raw(*args)  # type: ignore
        try:
            second = _stacks(warm)  # memory unchanged: unchanged threads are recalled
        finally:
            del warm.chain.raw
    assert first == cold
    assert second == cold
    # The recall path was taken (the test would otherwise compare a path with itself):
    # only threads whose walk read beyond what was read ahead are walked again.
    assert len(walks) < len(cold) / 2, (len(walks), len(cold))
