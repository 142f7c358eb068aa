"""Reading a saved bpftrace event log (see ``program.py``) into well-nested ``TraceEvent``s.

A tracer attached to a running process sees returns of frames whose entries happened
before it attached, and on CPython 3.11 it misses entries altogether unless ``line`` is
traced (issue 98894). So the log is read twice: the first pass learns, per thread, which
frames were already running when tracing began (returns and line events arriving on an
empty stack, innermost first); the second pass starts each thread with those frames open
at the start of the trace and streams enter/leave events that always nest, which is what
an evented speedscope profile and a chrome trace need. Reading the file twice keeps memory
bounded by stack depth rather than by the length of the trace.

pyusdt turns its callbacks on some time after the tracer attaches, so its logs always
start mid-stack; it also has no probe for a frame that ends by an exception, so a return
of a frame that is not open closes the frames above it (see ``Provider.silent_unwind``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from memspy.errors import InputError
from memspy.model import Frame, TraceEvent
from memspy.usdt.program import (
    ATTACHED_LINE,
    LOG_END,
    LOG_HEADER,
    PROVIDER_LINE,
    STOPPED_LINE,
)
from memspy.usdt.providers import BY_NAME, PYTHON, Provider

MAX_DEPTH = 2000  # deeper than any real Python stack (the default recursion limit is 1000)
_LOST = re.compile(r"^Lost (\d+) events")
# Lines bpftrace itself prints around the program's output.
_CHATTER = re.compile(r"^(Attaching \d+ probes?\.\.\.|\s*)$")
_KINDS = {"E": "enter", "R": "return", "L": "line"}
_LOG_HINT = "the log must come from the program `memspy trace --print-program` prints"


@dataclass(frozen=True)
class Record:
    """One parsed log line."""

    kind: str  # "enter", "return" or "line"
    time: float
    pid: int
    tid: int
    frame: Frame

    @property
    def key(self) -> tuple[str, str]:
        return (self.frame.filename, self.frame.name)


@dataclass
class LogStats:
    """What the log held and what had to be repaired; ``notes`` say it in words."""

    entries: int = 0
    returns: int = 0
    lines: int = 0
    lost: int = 0
    pid: int = 0  # of the first event
    foreign_lines: int = 0
    rebuilt_entries: int = 0  # entries inferred from line events
    missed_returns: int = 0  # frames closed because an outer frame returned or ran
    orphan_returns: int = 0  # returns of frames never seen entering, dropped
    initial_frames: int = 0  # frames already running when tracing began
    early_returns: int = 0  # returns among the events that found them
    provider: Provider = PYTHON
    after_stop: int = 0  # events after memspy told bpftrace to stop, left out
    before_attach: int = 0  # events before every probe was in place, left out
    start: float = 0.0
    end: float = 0.0
    exit_status: int | None = None  # of the command bpftrace started, when it exited
    notes: list[str] = field(default_factory=list)


def _parse_line(text: str, number: int, path: str, provider: Provider) -> Record:
    parts = text.split("\t")
    if len(parts) != 7:
        raise InputError(
            f"{path}:{number}: malformed event line "
            f"(expected 7 tab-separated fields, got {len(parts)})",
            _LOG_HINT,
        )
    tag, nsecs, pid, tid, filename, name, lineno = parts
    try:
        line = int(lineno)
        frame = Frame(name, filename, line, line if provider.line_is_start else 0)
        return Record(_KINDS[tag], int(nsecs) / 1e9, int(pid), int(tid), frame)
    except ValueError:
        raise InputError(
            f"{path}:{number}: malformed event line (a number field is not a number)",
            _LOG_HINT,
        ) from None


def _marks(path: str) -> tuple[float | None, float | None]:
    """When every probe was in place and when memspy told bpftrace to stop (lines memspy
    adds at the log's end), in seconds; None for a moment the log does not give."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 256))
            tail = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None, None  # read_records says why
    marks: dict[str, float] = {}
    for line in tail[-2:]:
        for mark in (ATTACHED_LINE, STOPPED_LINE):
            value = line[len(mark) :]
            if line.startswith(mark) and value.isdigit():
                marks[mark] = int(value) / 1e9
    return marks.get(ATTACHED_LINE), marks.get(STOPPED_LINE)


def read_records(path: str, stats: LogStats, allow_truncated: bool = False) -> Iterator[Record]:
    """Every event of the log from when every probe was in place up to when memspy told
    bpftrace to stop, in file order; errors name the file and line."""
    attached, stop = _marks(path)
    seen_header = False
    ended = False
    number = 0
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, raw in enumerate(f, 1):
                text = raw.rstrip("\n")
                if ended:
                    continue
                if text[:2] in ("E\t", "R\t", "L\t"):
                    if not seen_header:
                        raise InputError(f"{path}:{number}: event before the log's header line")
                    if not raw.endswith("\n"):
                        if allow_truncated:
                            break
                        raise _truncated(path, number, "its last line is cut")
                    record = _parse_line(text, number, path, stats.provider)
                    if stop is not None and record.time > stop:
                        stats.after_stop += 1
                        continue
                    if attached is not None and record.time < attached:
                        stats.before_attach += 1
                        continue
                    yield record
                elif text == LOG_HEADER:
                    seen_header = True
                elif text.startswith(PROVIDER_LINE) and seen_header:
                    stats.provider = _provider(text[len(PROVIDER_LINE) :], path, number)
                elif text.startswith("X\t") and text[2:].lstrip("-").isdigit():
                    stats.exit_status = int(text[2:]) & 0xFF  # as a parent's wait() sees it
                elif text == LOG_END:
                    ended = True
                elif text.startswith((STOPPED_LINE, ATTACHED_LINE)):
                    pass  # read first, by _marks
                elif _LOST.match(text):
                    stats.lost += int(_LOST.match(text).group(1))
                elif not _CHATTER.match(text):
                    stats.foreign_lines += 1
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except (IsADirectoryError, PermissionError) as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    if not seen_header:
        raise InputError(
            f"{path} is not a memspy trace log (no '{LOG_HEADER}' line)",
            "capture it with the program `memspy trace --print-program` prints",
        )
    if not ended and not allow_truncated:
        raise _truncated(path, number, "it has no end marker")


def _provider(name: str, path: str, number: int) -> Provider:
    if name not in BY_NAME:
        raise InputError(
            f"{path}:{number}: unknown probe provider {name!r}",
            f"memspy reads the providers {', '.join(BY_NAME)}",
        )
    return BY_NAME[name]


def _truncated(path: str, number: int, why: str) -> InputError:
    return InputError(
        f"{path} is truncated at line {number}: {why}",
        "stop bpftrace with Ctrl-C (not kill -9) so it writes the end, "
        "or pass --partial to convert the events before the cut",
    )


class _Thread:
    """One thread's open frames, and the rules that keep them consistent with the log."""

    def __init__(self, provider: Provider, initial: tuple[Frame, ...] = ()) -> None:
        self.provider = provider
        self.stack: list[Frame] = list(initial)  # outermost first
        self.discovered: list[Frame] = []  # frames found already running, innermost first
        self.by_return: list[bool] = []  # whether each was found by its return
        self.last = 0.0

    def _index(self, key: tuple[str, str]) -> int | None:
        for i in range(len(self.stack) - 1, -1, -1):
            if (self.stack[i].filename, self.stack[i].name) == key:
                return i
        return None

    def _discover(self, record: Record, stats: LogStats, path: str) -> None:
        self.discovered.append(record.frame)
        self.by_return.append(record.kind == "return")
        stats.initial_frames += 1
        stats.early_returns += record.kind == "return"
        if len(self.discovered) > MAX_DEPTH:
            raise InputError(
                f"{path}: more than {MAX_DEPTH} frames return without having entered",
                "the log does not hold one consistent trace; re-capture it",
            )

    def feed(self, record: Record, stats: LogStats, path: str) -> Iterator[tuple[str, Frame]]:
        """The (kind, frame) events one record implies, in order."""
        if record.kind == "enter":
            if len(self.stack) >= MAX_DEPTH:
                raise InputError(f"{path}: a thread's stack grows past {MAX_DEPTH} frames")
            self.stack.append(record.frame)
            yield "enter", record.frame
            return
        top = self.stack and (self.stack[-1].filename, self.stack[-1].name) == record.key
        if record.kind == "line" and top:
            return
        at = self._index(record.key)
        if at is not None:
            # Frames above ``at`` ended without their returns being seen.
            while len(self.stack) > at + 1:
                stats.missed_returns += 1
                yield "leave", self.stack.pop()
            if record.kind == "return":
                yield "leave", self.stack.pop()
            return
        if record.kind == "return" and self.provider.silent_unwind:
            # Running before tracing began; the frames above it ended by exceptions.
            while self.stack:
                stats.missed_returns += 1
                yield "leave", self.stack.pop()
        if not self.stack:
            # Already running when tracing began: under everything seen so far.
            self._discover(record, stats, path)
            if record.kind == "line":
                self.stack.append(record.frame)
                yield "enter", record.frame
            return
        if record.kind == "line":
            stats.rebuilt_entries += 1
            self.stack.append(record.frame)
            yield "enter", record.frame
        else:
            stats.orphan_returns += 1


def _check_defect(stats: LogStats, path: str) -> None:
    """Say what CPython 3.11's missing entries (issue 98894) did to this log."""
    if stats.returns and stats.entries < stats.returns // 2 and not stats.lines:
        raise InputError(
            f"{path}: {stats.returns} returns but only {stats.entries} entries and no line "
            "events, so call trees cannot be rebuilt",
            "on CPython 3.11 function__entry fires only while the line probe is traced "
            "(CPython issue 98894); re-capture with `memspy trace`, which traces line too",
        )
    if stats.returns and stats.entries < stats.returns // 2:
        stats.notes.append(
            f"function__entry fired {stats.entries} times for {stats.returns} returns "
            f"(CPython issue 98894); {stats.rebuilt_entries} entries were rebuilt from line events"
        )
    if stats.after_stop:
        stats.notes.append(
            f"{stats.after_stop} events after bpftrace was told to stop were left out: it "
            "detaches its probes one at a time, so they are of some probes only"
        )
    if stats.before_attach:
        stats.notes.append(
            f"{stats.before_attach} events before every probe was in place were left out: "
            "bpftrace attaches its probes one at a time"
        )
    if stats.orphan_returns:
        stats.notes.append(
            f"{stats.orphan_returns} returns of frames never seen entering were dropped; "
            "their time counts for the caller"
        )


def _scan(
    path: str, allow_truncated: bool, hidden: tuple[str, str] | None = None
) -> tuple[LogStats, dict[int, tuple[Frame, ...]]]:
    """Pass one: counts, and each thread's frames already running at the start, but for
    an outermost one that is ``hidden`` ((file, function): memspy's own gate)."""
    stats = LogStats()
    threads: dict[int, _Thread] = {}
    first = True
    for record in read_records(path, stats, allow_truncated):
        if first:
            stats.start, stats.pid, first = record.time, record.pid, False
        stats.end = max(stats.end, record.time)
        if record.kind == "enter":
            stats.entries += 1
        elif record.kind == "return":
            stats.returns += 1
        else:
            stats.lines += 1
        thread = threads.get(record.tid) or threads.setdefault(record.tid, _Thread(stats.provider))
        for _ in thread.feed(record, stats, path):
            pass
    initial = {tid: tuple(reversed(t.discovered)) for tid, t in threads.items()}
    for tid, frames in initial.items():
        if frames and hidden is not None and (frames[0].filename, frames[0].name) == hidden:
            initial[tid] = frames[1:]
            stats.initial_frames -= 1
            stats.early_returns -= threads[tid].by_return[-1]  # the outermost, found last
    return stats, initial


def read_log(
    path: str,
    allow_truncated: bool = False,
    rename: Callable[[Frame], Frame] | None = None,
    hidden: tuple[str, str] | None = None,
) -> tuple[LogStats, Iterator[TraceEvent]]:
    """The log's statistics, and its events as enter/leave pairs that always nest, their
    frames passed through ``rename`` (after nesting, which compares the log's own names).
    An outermost frame ``hidden`` ((file, function)) that was running before tracing
    began is left out: the gate memspy runs a command through (see ``launcher``).

    Raises ``InputError`` at once for a log that cannot be converted; the iterator reads
    the file a second time.
    """
    stats, initial = _scan(path, allow_truncated, hidden)
    if not (stats.entries or stats.returns or stats.lines):
        raise InputError(
            f"{path} holds no events",
            "was the target running Python code while it was traced?",
        )
    _check_defect(stats, path)
    if stats.initial_frames:
        stats.notes.append(
            f"tracing began mid-stack: {stats.initial_frames} frames were already running "
            f"({stats.early_returns} returns of frames never seen entering closed them); "
            "they start at the beginning of the trace"
        )
    return stats, _events(path, allow_truncated, stats, initial, rename or (lambda frame: frame))


def _events(
    path: str,
    allow_truncated: bool,
    stats: LogStats,
    initial: dict[int, tuple[Frame, ...]],
    rename: Callable[[Frame], Frame],
) -> Iterator[TraceEvent]:
    replay = LogStats()  # the second pass repeats the counts of the first
    threads: dict[int, _Thread] = {}
    pids: dict[int, int] = {}
    for record in read_records(path, replay, allow_truncated):
        thread = threads.get(record.tid)
        if thread is None:
            thread = threads[record.tid] = _Thread(replay.provider, initial.get(record.tid, ()))
            pids[record.tid] = record.pid
            for frame in thread.stack:
                yield TraceEvent(stats.start, record.pid, record.tid, "enter", rename(frame))
        # Per-CPU buffers can deliver a migrated thread's events slightly out of order.
        thread.last = max(thread.last, record.time)
        for kind, frame in thread.feed(record, replay, path):
            yield TraceEvent(thread.last, record.pid, record.tid, kind, rename(frame))
    for tid, thread in threads.items():
        while thread.stack:
            yield TraceEvent(stats.end, pids[tid], tid, "leave", rename(thread.stack.pop()))
    stats.rebuilt_entries = replay.rebuilt_entries
    stats.missed_returns = replay.missed_returns
    stats.orphan_returns = replay.orphan_returns
