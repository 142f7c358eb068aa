"""``memspy top``'s counting and keys: windows, aggregation, sorting, without a terminal."""

from __future__ import annotations

from collections import Counter

import pytest

from memspy.model import Frame, Sample, ThreadStack
from memspy.sampling.sampler import RunStats
from memspy.top.counts import (
    COLUMNS,
    LiveView,
    Row,
    ViewState,
    Window,
    apply_key,
    function_rows,
    sort_rows,
)

HOT = Frame("hot", "/app/work.py", 10)
HOT_OTHER_LINE = Frame("hot", "/app/work.py", 12)
MAIN = Frame("main", "/app/work.py", 30)
NAP = Frame("nap", "/app/work.py", 20)


def _thread(tid: int, *frames: Frame, idle: bool = False, gil: bool = False,
            name: str = "") -> ThreadStack:
    return ThreadStack(tid, tid, name or None, gil, idle, tuple(frames))


def _sample(*threads: ThreadStack, pid: int = 7) -> Sample:
    return Sample(0.0, pid, tuple(threads))


def _stats(ticks: int) -> RunStats:
    return RunStats(requested_rate=100.0, ticks=ticks, samples=ticks)


def test_interval_and_total_windows_and_reset():
    view = LiveView(gil=False)
    for _ in range(3):
        view.add(_sample(_thread(1, HOT, MAIN)))
    first = view.snapshot(_stats(3))
    assert sum(first.interval.counts.values()) == 3 and first.interval.ticks == 3
    view.add(_sample(_thread(1, NAP, MAIN)))
    second = view.snapshot(_stats(4))
    assert second.interval.counts == Counter({((NAP, MAIN), False): 1})
    assert second.interval.ticks == 1
    assert second.total.counts == Counter({((HOT, MAIN), False): 3, ((NAP, MAIN), False): 1})
    assert second.total.ticks == 4
    # A closed window never changes: a paused screen keeps showing what it showed.
    assert sum(first.total.counts.values()) == 3
    view.reset(_stats(4))
    view.add(_sample(_thread(1, HOT, MAIN)))
    third = view.snapshot(_stats(5))
    assert third.total.counts == Counter({((HOT, MAIN), False): 1}) and third.total.ticks == 1
    assert third.elapsed >= second.elapsed  # elapsed counts from the start, not the reset


def test_gil_keeps_only_the_holder_and_threads_are_summarised():
    view = LiveView(gil=True)
    view.add(_sample(_thread(1, HOT, gil=True, name="MainThread"), _thread(2, NAP, idle=True)))
    snapshot = view.snapshot(_stats(1))
    assert list(snapshot.interval.counts) == [((HOT,), False)]
    assert snapshot.threads.total == 2 and snapshot.threads.idle == 1
    assert snapshot.threads.active == 1 and snapshot.threads.gil == "MainThread"
    assert snapshot.processes == 1


def _window(counts: dict, ticks: int = 10, seconds: float = 1.0) -> Window:
    return Window(Counter(counts), ticks, seconds)


def test_rows_by_line_by_function_idle_and_recursion():
    window = _window({
        ((HOT, MAIN), False): 6,
        ((HOT_OTHER_LINE, HOT, MAIN), False): 2,  # recursion: counted once in total
        ((NAP, MAIN), True): 4,
    })
    rows, samples = function_rows(window, by_line=False, idle=False)
    assert samples == 8
    by_name = {r.name: r for r in rows}
    assert by_name["hot"].own == 8 and by_name["hot"].total == 8
    assert by_name["main"].own == 0 and by_name["main"].total == 8
    assert "nap" not in by_name and by_name["hot"].line is None
    rows, samples = function_rows(window, by_line=True, idle=True)
    assert samples == 12
    by_place = {(r.name, r.line): r for r in rows}
    assert by_place["hot", 10].own == 6 and by_place["hot", 10].total == 8
    assert by_place["hot", 12].own == 2 and by_place["hot", 12].total == 2
    assert by_place["nap", 20].own == 4 and by_place["main", 30].total == 12
    assert by_place["hot", 12].location == "/app/work.py:12"


ROWS = [
    Row("b", "/z.py", 1, own=5, total=5),
    Row("a", "/y.py", 2, own=1, total=9),
    Row("c", "/x.py", 3, own=3, total=4),
]


@pytest.mark.parametrize("column,expected", [
    (0, "bca"), (1, "abc"), (2, "bca"), (3, "abc"), (4, "abc"), (5, "cab"),
])
def test_sort_by_each_column(column: int, expected: str):
    assert "".join(r.name for r in sort_rows(ROWS, column, False)) == expected
    assert "".join(r.name for r in sort_rows(ROWS, column, True)) == expected[::-1]


def test_keys():
    state = ViewState()
    assert COLUMNS[state.sort] == "own time" and not state.reverse
    state, action = apply_key(state, "5")
    assert state.sort == 4 and not state.reverse and action is None
    state, _ = apply_key(state, "5")
    assert state.sort == 4 and state.reverse  # the same column again: reversed
    state, _ = apply_key(state, "1")
    assert state.sort == 0 and not state.reverse
    for key, field in (("l", "by_line"), ("i", "idle"), ("t", "since_start"), (" ", "paused")):
        before = getattr(state, field)
        state, action = apply_key(state, key)
        assert getattr(state, field) is not before and action is None
    assert apply_key(state, "r") == (state, "reset")
    assert apply_key(state, "q") == (state, "quit")
    assert apply_key(state, "Q") == (state, "quit")
    assert apply_key(state, "7") == (state, None)
    assert apply_key(state, "x") == (state, None)
