"""What ``memspy top`` counts: the samples of the last interval and of the whole run, and the
function table built from either.

Raw stacks are kept (with each thread's idle flag), not function totals, so that every view
the user can switch to while watching (lines or functions, idle threads or not, the last
interval or since the start) is worked out from the same counts, at once, with no sample
lost or counted under a view that was not on screen when it was taken. Counting a sample
costs one dictionary update; the table is built once per refresh.

Shares are of the sampling ticks, as ``top`` shows CPU: 100% is one thread in the function
at every tick, so two threads busy in it show 200%.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Tuple

from memspy.model import Frame, Sample, ThreadStack
from memspy.sampling.sampler import RunStats

StackKey = Tuple[Tuple[Frame, ...], bool]  # (frames innermost first, idle)

# Columns in display order; their number (1-6) is the key that sorts by them.
COLUMNS = ("own%", "total%", "own time", "total time", "function", "file:line")
DEFAULT_SORT = 2  # own time: sorted by own time, like py-spy


@dataclass(frozen=True)
class Window:
    """Counts over a span of the run: which stacks, over how many ticks and seconds."""

    counts: Counter  # StackKey -> samples; never changed once the window is closed
    ticks: int
    seconds: float


@dataclass(frozen=True)
class ThreadSummary:
    total: int
    active: int
    idle: int
    gil: Optional[str]  # the GIL holder's name (or tid), None when no thread holds it


@dataclass(frozen=True)
class Snapshot:
    """Everything one screen shows, frozen at a refresh (a paused screen keeps it)."""

    interval: Window
    total: Window  # since the start or the last reset
    elapsed: float  # seconds since the start (not the reset)
    samples: int
    achieved_rate: float
    requested_rate: float
    dropped: int  # samples dropped for read errors
    missed: int  # ticks missed because memspy fell behind
    repaired: int  # thread stacks partly read after their instant (checked)
    unknown: int  # thread stacks ending in <unknown>
    processes: int
    threads: ThreadSummary


@dataclass(frozen=True)
class Row:
    name: str
    filename: str
    line: Optional[int]  # None when aggregated by function
    own: int  # samples with this innermost
    total: int  # samples with this anywhere on the stack (once per stack)

    @property
    def location(self) -> str:
        return self.filename if self.line is None else f"{self.filename}:{self.line}"


@dataclass(frozen=True)
class ViewState:
    """What the user chose to see: the keys change it, the screen reads it."""

    sort: int = DEFAULT_SORT  # index into COLUMNS
    reverse: bool = False  # True: ascending figures, Z-A names
    by_line: bool = True
    idle: bool = False
    since_start: bool = False  # False: the last interval
    paused: bool = False


# What each key does, as the footer says it (the digits sort by the column of that number).
KEYS = {
    **{str(i + 1): f"sort by {name}" for i, name in enumerate(COLUMNS)},
    "l": "line/function",
    "i": "idle",
    "t": "last/total",
    "r": "reset",
    " ": "pause",
    "q": "quit",
}


def apply_key(state: ViewState, key: str) -> Tuple[ViewState, Optional[str]]:
    """The view after ``key``, and what else it asks for: "reset", "quit" or None.

    Sorting by the column already sorted by reverses the order.
    """
    key = key.lower()
    if key.isdigit() and 1 <= int(key) <= len(COLUMNS):
        column = int(key) - 1
        reverse = not state.reverse if column == state.sort else False
        return dataclasses.replace(state, sort=column, reverse=reverse), None
    toggles = {"l": "by_line", "i": "idle", "t": "since_start", " ": "paused"}
    if key in toggles:
        field = toggles[key]
        return dataclasses.replace(state, **{field: not getattr(state, field)}), None
    if key == "r":
        return state, "reset"
    if key == "q":
        return state, "quit"
    return state, None


def function_rows(window: Window, by_line: bool, idle: bool) -> Tuple[List[Row], int]:
    """Each function (or function and line) of the window's stacks, and how many samples
    had a Python stack. A function recursing counts once per stack in its total."""
    own: Counter = Counter()
    total: Counter = Counter()
    samples = 0
    for (frames, is_idle), count in window.counts.items():
        if is_idle and not idle:
            continue
        keys = [(f.name, f.filename, f.lineno if by_line else None) for f in frames]
        samples += count
        own[keys[0]] += count
        for key in set(keys):
            total[key] += count
    rows = [Row(name, filename, line, own[(name, filename, line)], count)
            for (name, filename, line), count in total.items()]
    return rows, samples


def sort_rows(rows: List[Row], column: int, reverse: bool) -> List[Row]:
    """Figures largest first and names A-Z by default; ties go by own, total, then name."""
    def figure(row: Row) -> Tuple:
        value = row.own if column in (0, 2) else row.total
        return (-value, -row.own, -row.total, row.name, row.location)

    def text(row: Row) -> Tuple:
        first = row.name if column == 4 else row.location
        return (first, row.name, row.location, row.line or 0)

    key = text if column >= 4 else figure
    return sorted(rows, key=key, reverse=reverse)


class LiveView:
    """Fed by the sampler (``add``), closed into a ``Snapshot`` once per refresh.

    ``gil`` keeps only the GIL holder of each sample, as ``record --gil`` does; idle
    threads are always kept (flagged), since the user may show them at any time.
    """

    def __init__(self, gil: bool) -> None:
        self.gil = gil
        self._interval: Counter = Counter()
        self._total: Counter = Counter()
        self._threads: Dict[int, Tuple[ThreadStack, ...]] = {}  # pid -> last sample's
        self._pids: set = set()  # processes sampled in the current interval
        self._started = self._interval_start = self._total_start = time.monotonic()
        self._interval_ticks = self._total_ticks = 0  # stats.ticks when they began

    def add(self, sample: Sample) -> None:
        self._threads[sample.pid] = sample.threads
        self._pids.add(sample.pid)
        for thread in sample.threads:
            if thread.frames and (thread.holds_gil or not self.gil):
                self._interval[thread.frames, thread.idle] += 1

    def reset(self, stats: RunStats) -> None:
        """Forget every count: both windows start again now."""
        self._interval, self._total = Counter(), Counter()
        self._interval_start = self._total_start = time.monotonic()
        self._interval_ticks = self._total_ticks = stats.ticks

    def snapshot(self, stats: RunStats) -> Snapshot:
        """Close the current interval and start the next one."""
        now = time.monotonic()
        interval = Window(self._interval, stats.ticks - self._interval_ticks,
                          now - self._interval_start)
        # A new Counter each time, never updated afterwards: a paused screen keeps it.
        self._total = self._total.copy()
        self._total.update(self._interval)
        total = Window(self._total, stats.ticks - self._total_ticks, now - self._total_start)
        self._interval, self._interval_start, self._interval_ticks = Counter(), now, stats.ticks
        pids = frozenset(self._pids)
        self._pids = set()
        exact, repaired, unknown = stats.stacks
        return Snapshot(
            interval=interval, total=total, elapsed=now - self._started,
            samples=stats.samples, achieved_rate=stats.achieved_rate,
            requested_rate=stats.requested_rate, dropped=stats.error_count,
            missed=stats.missed, repaired=repaired, unknown=unknown,
            processes=len(pids), threads=self._thread_summary(pids),
        )

    def _thread_summary(self, pids: FrozenSet[int]) -> ThreadSummary:
        threads = [t for pid in pids for t in self._threads.get(pid, ())]
        idle = sum(t.idle for t in threads)
        holders = [t.name or str(t.native_tid or hex(t.thread_id)) for t in threads
                   if t.holds_gil]
        return ThreadSummary(len(threads), len(threads) - idle, idle,
                             ", ".join(holders) if holders else None)
