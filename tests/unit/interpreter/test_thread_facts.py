"""What ThreadFacts keeps between samples: a thread without a name is looked for again
once NAME_RETRY has passed, even while the very same list of thread states comes back
sample after sample (the steady shortcut must not hide it for good)."""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional

import pytest

from memspy.interpreter import thread_facts
from memspy.interpreter.thread_facts import NAME_RETRY, ThreadFacts
from memspy.interpreter.thread_states import ThreadState


class _Tasks:
    """The kernel's side, for threads whose kernel ids their states hold (3.11+)."""

    open_files = 0

    def is_running(self, tid: Optional[int]) -> Optional[bool]:
        return True

    def native_tids(self, pthreads: List[int]) -> Dict[int, int]:
        return {}

    def forget(self, live: Iterable[int]) -> None:
        pass


class _Names:
    """The target's threading registry: empty until ``named`` is set."""

    def __init__(self) -> None:
        self.named: Dict[int, str] = {}
        self.lookups = 0

    def lookup(self, interp: int) -> Dict[int, str]:
        self.lookups += 1
        return dict(self.named)


def test_an_unnamed_thread_is_looked_up_again_while_the_list_is_steady(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(thread_facts.time, "monotonic", lambda: now[0])
    names = _Names()
    facts = ThreadFacts(_Tasks(), names)  # type: ignore[arg-type]
    states = [ThreadState(0x1000, 0x10, b"", 7, 70)]
    for _ in range(5):  # the same list object, as answered samples pass it
        assert facts.learn(states, True)[1].get(7) is None
        now[0] += NAME_RETRY / 10
    assert names.lookups == 1
    names.named = {7: "worker"}
    now[0] += NAME_RETRY
    assert facts.learn(states, True)[1].get(7) == "worker"
    assert names.lookups == 2
    for _ in range(5):
        assert facts.learn(states, True)[1].get(7) == "worker"
        now[0] += NAME_RETRY
    assert names.lookups == 2
