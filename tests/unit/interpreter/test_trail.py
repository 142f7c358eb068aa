"""The trail a 3.11+ walk keeps for the next one: after any sequence of reusing walks
(frames popped from the top, others pushed), it answers as the trail of one whole walk
of the same stack would."""

from __future__ import annotations

from typing import List, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st

from memspy.interpreter.frames.trail import MAX_TRAIL_TOP, new_trail

CHUNK = 0x10000
SIZE = 80
DATA = bytes(SIZE * 1000)  # the chunk: long enough for every frame the test makes


def _whole(stack: List[Tuple[int, bool]]):
    """The trail of one walk of ``stack`` (outermost first): visited innermost first."""
    visited = [addr for addr, _ in reversed(stack)]
    made = [frame for _, frame in reversed(stack)]
    return new_trail((0, [], [], ()), DATA, CHUNK, SIZE, visited, made, [], [])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.booleans(), min_size=1, max_size=20),
    st.lists(st.tuples(st.integers(0, 30), st.lists(st.booleans(), max_size=40)), max_size=12),
)
def test_grown_trails_answer_like_whole_walks(first: List[bool], steps) -> None:
    fresh = iter(range(1, 10**6))
    stack = [(CHUNK + 64 + SIZE * next(fresh), frame) for frame in first]
    trail = _whole(stack)
    for popped, pushed in steps:
        keep = max(1, len(stack) - popped)
        where = keep - 1
        stack = stack[:keep] + [(CHUNK + 64 + SIZE * next(fresh), f) for f in pushed]
        head = stack[keep:][::-1]
        trail = trail.grow(where, DATA, [a for a, _ in head], [f for _, f in head], SIZE)
        assert len(trail.top) <= MAX_TRAIL_TOP
        whole = _whole(stack)
        for position, (addr, _) in enumerate(stack):
            assert trail.position(addr) == position
            assert trail.at(position) == whole.at(position)
        assert trail.position(CHUNK + 64 + SIZE * next(fresh)) is None
