"""What ``memspy top`` shows and how: the screen laid out as lines for a given size, a
curses terminal or plain text to draw them on, and the session the sampler calls back.

The layout is pure (a snapshot, the view, a width and a height in, lines out), so sizes,
truncation and escaping are tested without a terminal. Every line it returns fits the width
in terminal cells (wide characters count two), so the terminal never wraps one; names come
from the target and are escaped before they are measured.
"""

from __future__ import annotations

import curses
import locale
import os
import shutil
import sys
import time
import unicodedata
from dataclasses import dataclass
from typing import List, Optional, Sequence, TextIO, Tuple, Union

from memspy.printable import printable
from memspy.sampling.sampler import RunStats, Stop
from memspy.top.counts import (
    COLUMNS,
    KEYS,
    LiveView,
    Row,
    Snapshot,
    ViewState,
    apply_key,
    function_rows,
    sort_rows,
)

REFRESH = 1.0  # seconds between screens
PLAIN_ROWS = 20  # functions per table without a terminal
ELLIPSIS = "..."  # ASCII: the terminal's encoding may have no single-cell ellipsis

Line = Tuple[str, str]  # (text, style): "normal", "bold", "heading" or "footer"


@dataclass(frozen=True)
class Heading:
    """What is known of the target before the first sample."""

    pid: int
    command: str
    python_version: str
    requested_rate: float


# --- text in terminal cells ---------------------------------------------------------------


def _cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def text_width(text: str) -> int:
    return sum(_cells(c) for c in text)


def clip_right(text: str, width: int) -> str:
    """The start of ``text`` that fits ``width`` cells, ending in "..." when cut."""
    if text_width(text) <= width:
        return text
    if width < len(ELLIPSIS):
        return ""
    room, kept = width - len(ELLIPSIS), []
    for char in text:
        room -= _cells(char)
        if room < 0:
            break
        kept.append(char)
    return "".join(kept) + ELLIPSIS


def clip_left(text: str, width: int) -> str:
    """The end of ``text`` that fits ``width`` cells, after "...": a path's file name and
    line are what tell it apart, so a long path loses its directories first."""
    if text_width(text) <= width:
        return text
    if width < len(ELLIPSIS):
        return ""
    room, kept = width - len(ELLIPSIS), []
    for char in reversed(text):
        room -= _cells(char)
        if room < 0:
            break
        kept.append(char)
    return ELLIPSIS + "".join(reversed(kept))


def pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(width - text_width(text), 0)
    return fill + text if right else text + fill


def safe(text: str, encoding: str) -> str:
    """Printable (control characters escaped) and encodable in the terminal's encoding."""
    return printable(text).encode(encoding, "backslashreplace").decode(encoding)


# --- figures ------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def _percent(count: int, ticks: int) -> str:
    return f"{100.0 * count / ticks:.1f}%" if ticks else "-"


def _seconds(count: int, ticks: int, seconds: float) -> str:
    """A tick stands for the window's seconds over its ticks (the interval actually
    achieved, not the one asked for: a busy machine skips ticks)."""
    return duration(count * seconds / ticks) if ticks else "-"


# --- the layout ---------------------------------------------------------------------------

_FIGURES = tuple(zip((7, 7, 9, 10), COLUMNS[:4]))  # (width, label) of each figure column
_GAP = "  "
_NARROW = 30  # below this many cells for function and file, the time columns go


def _header(
    heading: Heading, snapshot: Optional[Snapshot], state: ViewState, encoding: str
) -> List[Line]:
    title = f"memspy top  pid {heading.pid}  Python {heading.python_version or '?'}"
    if snapshot is not None and snapshot.processes > 1:
        title += f" (+{snapshot.processes - 1} child processes)"
    lines = [(f"{title}  {safe(heading.command, encoding)}", "bold")]
    if snapshot is None:
        lines.append(("collecting the first interval...", "normal"))
    else:
        s, t = snapshot, snapshot.threads
        gil = safe(t.gil, encoding) if t.gil is not None else "none"
        lines.append((
            f"elapsed {duration(s.elapsed)}  samples {s.samples} at {s.achieved_rate:.1f} Hz "
            f"of {s.requested_rate:g}  threads {t.total}: {t.active} active, {t.idle} idle, "
            f"GIL {gil}", "normal"))
        if s.total.seconds < s.elapsed - 0.5 * REFRESH:
            since = f"total since reset ({duration(s.total.seconds)})"
        else:
            since = f"total since start ({duration(s.total.seconds)})"
        window = since if state.since_start else f"last {s.interval.seconds:.1f}s"
        order = "ascending" if state.reverse else "descending"
        if COLUMNS[state.sort] in ("function", "file:line"):
            order = "Z-A" if state.reverse else "A-Z"
        paused = "PAUSED  " if state.paused else ""
        by = "line" if state.by_line else "function"
        view = (f"{paused}figures: {window}  by {by}  idle "
                f"threads {'shown' if state.idle else 'hidden'}  sorted by "
                f"{COLUMNS[state.sort]} ({order})")
        lines.append((view, "normal"))
        if s.dropped or s.missed or s.repaired or s.unknown:
            lines.append((
                f"errors: {s.dropped} samples dropped, {s.missed} ticks missed; stacks: "
                f"{s.repaired} repaired, {s.unknown} partly unknown", "normal"))
    return lines


def _table(
    snapshot: Optional[Snapshot], state: ViewState, width: int, rows_wanted: int,
    encoding: str,
) -> List[Line]:
    """The column headings and up to ``rows_wanted`` rows."""
    if snapshot is None:
        return []
    window = snapshot.total if state.since_start else snapshot.interval
    rows, _ = function_rows(window, state.by_line, state.idle)
    rows = sort_rows(rows, state.sort, state.reverse)[:rows_wanted]
    figures = list(_FIGURES)
    names = [safe(r.name, encoding) for r in rows]
    places = [safe(r.location, encoding) for r in rows]
    start = sum(w for w, _ in figures) + len(_GAP) * len(figures)
    if width - start < _NARROW:
        figures = figures[:2]
        start = sum(w for w, _ in figures) + len(_GAP) * len(figures)
    room = max(width - start - len(_GAP), 0)
    name_need = max([text_width(n) for n in names] + [len("function")])
    place_need = max([text_width(p) for p in places] + [len("file:line")])
    name_width = min(name_need, max(12, room // 2), room)
    name_width = max(name_width, min(name_need, room - place_need))
    place_width = max(room - name_width, 0)

    def line(cells: Sequence[str], name: str, place: str) -> str:
        figure_text = _GAP.join(pad(c, w, right=True) for c, (w, _) in zip(cells, figures))
        return (f"{figure_text}{_GAP}{pad(clip_left(name, name_width), name_width)}{_GAP}"
                f"{clip_left(place, place_width)}")

    marked = [(f"{label}*" if COLUMNS.index(label) == state.sort else label)
              for _, label in figures]
    name_label = "function*" if state.sort == 4 else "function"
    place_label = "file:line*" if state.sort == 5 else ("file:line" if state.by_line else "file")
    out: List[Line] = [(line(marked, name_label, place_label), "heading")]
    for row, name, place in zip(rows, names, places):
        cells = _row_figures(row, window.ticks, window.seconds)[: len(figures)]
        out.append((line(cells, name, place), "normal"))
    if not rows:
        hidden = "" if state.idle else " (i shows idle threads)"
        out.append((f"no Python stacks in this window{hidden}", "normal"))
    return out


def _row_figures(row: Row, ticks: int, seconds: float) -> List[str]:
    return [_percent(row.own, ticks), _percent(row.total, ticks),
            _seconds(row.own, ticks, seconds), _seconds(row.total, ticks, seconds)]


def footer_text() -> str:
    return "1-6 sort  " + "  ".join(
        f"{'space' if key == ' ' else key} {what}" for key, what in KEYS.items()
        if not key.isdigit())


def layout(
    heading: Heading,
    snapshot: Optional[Snapshot],
    state: ViewState,
    width: int,
    height: Optional[int],
    *,
    footer: bool = True,
    reason: Optional[str] = None,
    encoding: str = "utf-8",
) -> List[Line]:
    """The screen as lines, each at most ``width`` cells; with ``height``, that many lines
    at most, the footer last. Without it (plain output) up to PLAIN_ROWS rows. ``reason``
    (why the run stopped) comes last but for the footer, where the eye lands."""
    header = _header(heading, snapshot, state, encoding) + [("", "normal")]
    tail = [(f"stopped: {reason}", "bold")] if reason else []
    if footer:
        tail.append((footer_text(), "footer"))
    if height is None:
        lines = header + _table(snapshot, state, width, PLAIN_ROWS, encoding)
    else:
        rows = max(height - len(header) - 1 - len(tail), 0)
        lines = header + _table(snapshot, state, width, rows, encoding)
        lines = lines[: max(height - len(tail), 0)]
        tail = tail[len(tail) - min(height, len(tail)):]
    return [(clip_right(text, width), style) for text, style in lines + tail]


# --- where the lines go -------------------------------------------------------------------


class CursesDisplay:
    """The full-screen view on a terminal; the terminal is restored on ``close`` whatever
    happened (the caller holds it in a ``try``/``finally``)."""

    interactive = True

    def __init__(self) -> None:
        try:
            locale.setlocale(locale.LC_ALL, "")  # wide characters are drawn as such
        except locale.Error:
            pass  # an unknown locale: escaped names still draw
        # The terminal's own size, not $LINES/$COLUMNS, which curses would prefer and which
        # do not follow a resize (curses.use_env(False) would take terminfo's 80x24 instead).
        for name in ("LINES", "COLUMNS"):
            os.environ.pop(name, None)
        self.screen = curses.initscr()
        try:
            curses.noecho()
            curses.cbreak()  # keys at once; Ctrl-C stays a signal
            self.screen.keypad(True)
            self.screen.nodelay(True)
            try:
                curses.curs_set(0)
            except curses.error:
                pass  # a terminal that cannot hide its cursor still works
        except BaseException:
            self.close()
            raise
        self.encoding = self.screen.encoding or "utf-8"
        self._styles = {"normal": curses.A_NORMAL, "bold": curses.A_BOLD,
                        "heading": curses.A_REVERSE, "footer": curses.A_REVERSE}

    def size(self) -> Tuple[int, int]:
        height, width = self.screen.getmaxyx()
        return width, height

    def keys(self) -> List[str]:
        keys = []
        while True:
            code = self.screen.getch()
            if code == -1:
                return keys
            if code == curses.KEY_RESIZE:
                keys.append("resize")
            elif 0 < code < 256:
                keys.append(chr(code))

    def show(self, lines: List[Line]) -> None:
        self.screen.erase()
        width, height = self.size()
        for y, (text, style) in enumerate(lines[:height]):
            if style in ("heading", "footer"):
                text = pad(text, width)
            if style == "footer":
                y = height - 1  # the keys stay at the bottom, as in top
            try:
                self.screen.addstr(y, 0, text, self._styles[style])
            except curses.error:
                pass  # the bottom-right cell: curses cannot move the cursor past it
        self.screen.refresh()

    def close(self) -> None:
        curses.endwin()


class PlainDisplay:
    """Without a terminal: one plain table per interval, no keys."""

    interactive = False

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.encoding = stream.encoding or "utf-8"

    def size(self) -> Tuple[int, int]:
        return plain_width(), 0

    def keys(self) -> List[str]:
        return []

    def show(self, lines: List[Line]) -> None:
        write_lines(lines + [("", "normal")], self.stream)

    def close(self) -> None:
        pass


Display = Union[CursesDisplay, PlainDisplay]


class Session:
    """Called by the sampler after every tick: takes the keys pressed, closes an interval
    once a second and draws it (unless paused), so no second loop or thread is needed."""

    def __init__(
        self, view: LiveView, display: Display, heading: Heading,
        state: ViewState, stop: Stop,
    ) -> None:
        self.view = view
        self.display = display
        self.heading = heading
        self.state = state
        self.stop = stop
        self.shown: Optional[Snapshot] = None  # on screen: frozen while paused
        self.latest: Optional[Snapshot] = None  # the last interval closed
        self._next = time.monotonic() + REFRESH
        if display.interactive:
            self.draw()

    def on_tick(self, stats: RunStats) -> None:
        redraw = False
        now = time.monotonic()
        for key in self.display.keys():
            if key == "resize":
                redraw = True
                continue
            self.state, action = apply_key(self.state, key)
            if action == "quit":
                self.stop.set()
                return
            if action == "reset":
                # The counts start again: nothing to show until a whole interval is in.
                self.view.reset(stats)
                self.latest = self.shown = None
                self._next = now + REFRESH
            if not self.state.paused:
                self.shown = self.latest
            redraw = True
        if now >= self._next:
            self._next = now + REFRESH
            self.latest = self.view.snapshot(stats)
            if not self.state.paused:
                self.shown = self.latest
                redraw = True
        if redraw:
            self.draw()

    def draw(self) -> None:
        width, height = self.display.size()
        interactive = self.display.interactive
        self.display.show(layout(
            self.heading, self.shown, self.state, width, height if interactive else None,
            footer=interactive, encoding=self.display.encoding,
        ))

    def final_lines(
        self, stats: RunStats, reason: str, width: int, height: Optional[int]
    ) -> List[Line]:
        """The whole run's table, for after the screen is gone (the target exited)."""
        state = ViewState(sort=self.state.sort, reverse=self.state.reverse,
                          by_line=self.state.by_line, idle=self.state.idle, since_start=True)
        return layout(self.heading, self.view.snapshot(stats), state, width, height,
                      footer=False, reason=reason, encoding=self.display.encoding)


def plain_width() -> int:
    """$COLUMNS, else the terminal's width, else 120 (a pipe has none)."""
    return shutil.get_terminal_size((120, 24)).columns


def final_height() -> Optional[int]:
    """On a terminal, its height but for two lines (memspy's last message and the shell's
    prompt), so that the last table stays whole on screen; no limit but PLAIN_ROWS else."""
    if not sys.stdout.isatty():
        return None
    return max(shutil.get_terminal_size().lines - 2, 1)


def write_lines(lines: List[Line], stream: TextIO = sys.stdout) -> None:
    stream.write("\n".join(text.rstrip() for text, _ in lines) + "\n")
    stream.flush()
