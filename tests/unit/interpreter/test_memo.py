"""The walks a frame chain keeps for recall: found again by the bytes of the regions they
used, whatever the others hold, and only at the same places; bounded per thread and in
bytes, and the bytes counted are those the memos hold, so a thread that keeps replacing
its walks does not empty every thread's memo."""

from __future__ import annotations

from typing import Any, List, Tuple

from memspy.interpreter.frames import chain as chain_module
from memspy.interpreter.frames.chain import FrameChain, raw_stack
from memspy.memory.base import BufferMemory
from memspy.model import Frame

REGIONS: List[Tuple[int, int]] = [(0x1000, 64)]


class _Codes:
    generation = 0


class _Kept(FrameChain):
    memo_walks = 4


def _remember(chain: FrameChain, tstate: int, n: int, size: int = 64) -> None:
    """A closed walk of thread state ``tstate`` read from ``size`` bytes unique to ``n``."""
    ahead = [n.to_bytes(8, "little") * (size // 8)]
    raw = raw_stack([(0x2000, n, False)], False, True, used=(0,))
    chain.remember(tstate, b"key", REGIONS, ahead, raw, [Frame("f", "f.py", n)], [])


def _recalled(chain: FrameChain, tstate: int, n: int, size: int = 64) -> Any:
    ahead = [n.to_bytes(8, "little") * (size // 8)]
    return chain.recall(tstate, b"key", REGIONS, ahead)


def _chain() -> FrameChain:
    return _Kept(BufferMemory(), _Codes(), 100)  # type: ignore[arg-type]


def test_a_thread_keeps_its_last_walks_only() -> None:
    chain = _chain()
    for n in range(10):
        _remember(chain, 1, n)
    assert [bool(_recalled(chain, 1, n)) for n in range(10)] == [False] * 6 + [True] * 4


def test_a_walk_is_recalled_from_the_regions_it_used_alone() -> None:
    """≤3.10 reads ahead frames a thread had lately: other threads' calls rewrite them,
    and a walk that did not use them is the same walk."""
    chain = _chain()
    regions = [(0x1000, 8), (0x3000, 8), (0x5000, 8)]
    ahead = [b"frame-1!", b"recent-1", b"pointer!"]
    raw = raw_stack([(0x2000, 1, False)], False, True, used=(0, 2))
    chain.remember(1, b"key", regions, ahead, raw, [Frame("f", "f.py", 1)], [])
    chain.remember(1, b"key", REGIONS, [bytes(64)], raw_stack([], False, True, used=(0,)), [], [])
    assert chain.recall(1, b"key", regions, [b"frame-1!", b"recent-2", b"pointer!"])
    assert not chain.recall(1, b"key", regions, [b"frame-1!", b"recent-2", b"pointer?"])
    assert not chain.recall(1, b"other", regions, [b"frame-1!", b"recent-1", b"pointer!"])
    # The same bytes read from another place are another frame's.
    moved = [(0x1100, 8), (0x3000, 8), (0x5000, 8)]
    assert not chain.recall(1, b"key", moved, [b"frame-1!", b"recent-1", b"pointer!"])
    # A walk that does not say what it used is kept as the last walk only.
    unsaid = raw_stack([(0x2000, 2, False)], False, True)
    chain.remember(2, b"key", regions, ahead, unsaid, [Frame("f", "f.py", 2)], [])
    chain.remember(2, b"key", REGIONS, [bytes(64)], raw_stack([], False, True, used=(0,)), [], [])
    assert not chain.recall(2, b"key", regions, ahead)


def test_replaced_walks_do_not_count_against_the_bound(monkeypatch: Any) -> None:
    # Room for two threads' four walks of 64 + 3 bytes each, and little more.
    monkeypatch.setattr(chain_module, "MEMO_BYTES", 2 * 4 * 67 + 10)
    chain = _chain()
    for n in range(4):
        _remember(chain, 2, 100 + n)
    for n in range(1000):  # thread 1 cycles through walks that never come back
        _remember(chain, 1, n)
    assert all(_recalled(chain, 2, 100 + n) for n in range(4))
    assert all(_recalled(chain, 1, n) for n in range(996, 1000))


def test_all_memos_go_when_they_hold_more_than_the_bound(monkeypatch: Any) -> None:
    monkeypatch.setattr(chain_module, "MEMO_BYTES", 3 * 67)
    chain = _chain()
    for n in range(4):  # the fourth walk passes the bound
        _remember(chain, 1, n)
    assert not any(_recalled(chain, 1, n) for n in range(3))


def test_a_forgotten_thread_frees_its_share(monkeypatch: Any) -> None:
    monkeypatch.setattr(chain_module, "MEMO_BYTES", 2 * 4 * 67 + 10)
    chain = _chain()
    for tstate in (1, 2):
        for n in range(4):
            _remember(chain, tstate, 100 * tstate + n)
    chain.forget([2, 3])  # thread 1 ended, thread 3 began
    for n in range(4):
        _remember(chain, 3, 300 + n)
    assert all(_recalled(chain, 2, 200 + n) for n in range(4))
