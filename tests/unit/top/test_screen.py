"""``memspy top``'s screen laid out for given sizes, without a terminal: every line fits,
long paths lose their start, hostile names are escaped, the header says what is shown."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from memspy.model import Frame
from memspy.top.counts import Snapshot as LiveSnapshot
from memspy.top.counts import ThreadSummary, ViewState, Window
from memspy.top.screen import Heading, clip_left, clip_right, duration, layout, text_width

LONG_DIR = "/home/user/" + "very/deep/" * 12
HOT = Frame("hot", LONG_DIR + "work.py", 10)
MAIN = Frame("main", "/app/main.py", 30)
EVIL = Frame("evil\x1b]0;pwned\x07", "/tmp/\x1b[2Jx.py", 3)
WIDE = Frame("函数", "/app/日本語のファイル名はとても長いです.py", 5)
NAP = Frame("nap", "/app/main.py", 40)
HEADING = Heading(4242, "python3 app.py --flag", "3.12.1", 100.0)


def _snapshot(interval: dict, total: dict, **changes) -> LiveSnapshot:
    snapshot = LiveSnapshot(
        interval=Window(Counter(interval), 100, 1.0),
        total=Window(Counter(total), 1000, 10.0),
        elapsed=10.0, samples=1000, achieved_rate=99.5, requested_rate=100.0,
        dropped=0, missed=0, repaired=0, unknown=0, processes=1,
        threads=ThreadSummary(total=2, active=1, idle=1, gil="MainThread"),
    )
    return dataclasses.replace(snapshot, **changes)


STACKS = {((HOT, MAIN), False): 60, ((EVIL, MAIN), False): 20, ((WIDE, MAIN), False): 10,
          ((NAP, MAIN), True): 100}
SNAPSHOT = _snapshot(STACKS, {((MAIN,), False): 500, **STACKS})


def _text(lines) -> str:
    return "\n".join(text for text, _ in lines)


def _rows(lines) -> list:
    """The table's rows (after the column headings, before the footer)."""
    start = next(i for i, (_, style) in enumerate(lines) if style == "heading")
    return [text for text, style in lines[start + 1:] if style == "normal"]


@pytest.mark.parametrize("width", [1, 5, 20, 39, 40, 60, 79, 80, 100, 133, 200])
@pytest.mark.parametrize("height", [1, 2, 5, 12, 40])
def test_every_line_fits_the_screen(width: int, height: int):
    for state in (ViewState(), ViewState(idle=True, since_start=True, by_line=False)):
        lines = layout(HEADING, SNAPSHOT, state, width, height)
        assert len(lines) <= height
        assert all(text_width(text) <= width for text, _ in lines), lines
        if height >= 1:
            assert lines[-1][1] == "footer"


def test_full_screen_holds_header_table_and_footer():
    lines = layout(HEADING, SNAPSHOT, ViewState(), 120, 30)
    text = _text(lines)
    assert "pid 4242" in text and "Python 3.12.1" in text and "python3 app.py --flag" in text
    assert "samples 1000 at 99.5 Hz of 100" in text
    assert "threads 2: 1 active, 1 idle, GIL MainThread" in text
    assert "figures: last 1.0s" in text and "sorted by own time (descending)" in text
    assert "errors:" not in text  # nothing to say: no line for it
    heading = next(t for t, style in lines if style == "heading")
    assert heading.split() == ["own%", "total%", "own", "time*", "total", "time", "function",
                               "file:line"]
    rows = _rows(lines)
    assert rows[0].split()[:4] == ["60.0%", "60.0%", "0.60s", "0.60s"]
    assert rows[0].split()[4] == "hot" and rows[0].endswith("work.py:10")
    assert lines[-1] == (lines[-1][0], "footer") and "q quit" in lines[-1][0]


def test_interval_or_total_and_idle_threads():
    interval = _rows(layout(HEADING, SNAPSHOT, ViewState(), 120, 30))
    assert [r.split()[4] for r in interval] == ["hot", "evil\\x1b]0;pwned\\x07", "函数", "main"]
    total = layout(HEADING, SNAPSHOT, ViewState(since_start=True), 120, 30)
    assert "figures: total since start (10.00s)" in _text(total)
    rows = _rows(total)
    assert rows[0].split()[:5] == ["50.0%", "59.0%", "5.00s", "5.90s", "main"]
    idle = _rows(layout(HEADING, SNAPSHOT, ViewState(idle=True), 120, 30))
    assert idle[0].split()[4] == "nap" and idle[0].split()[0] == "100.0%"
    reset = dataclasses.replace(SNAPSHOT, elapsed=60.0)
    assert "total since reset (10.00s)" in _text(
        layout(HEADING, reset, ViewState(since_start=True), 120, 30))


def test_by_function_drops_the_line():
    lines = layout(HEADING, SNAPSHOT, ViewState(by_line=False), 200, 30)
    assert "by function" in _text(lines)
    hot = next(r for r in _rows(lines) if r.split()[4] == "hot")
    assert hot.endswith("work.py") and ":10" not in hot
    assert next(t for t, s in lines if s == "heading").rstrip().endswith("file")


def test_hostile_names_are_escaped():
    text = _text(layout(HEADING, SNAPSHOT, ViewState(), 200, 30))
    assert not any(ord(c) < 32 and c != "\n" for c in text)
    assert "evil\\x1b]0;pwned\\x07" in text and "/tmp/\\x1b[2Jx.py:3" in text
    evil = dataclasses.replace(HEADING, command="python3 \x1b[31mred")
    header = layout(evil, SNAPSHOT, ViewState(), 200, 30)[0][0]
    assert "python3 \\x1b[31mred" in header
    # A terminal whose encoding lacks a character gets it escaped, not an error.
    ascii_lines = layout(HEADING, SNAPSHOT, ViewState(), 200, 30, encoding="ascii")
    assert "\\u51fd\\u6570" in _text(ascii_lines)
    assert _text(ascii_lines).isascii()


def test_long_paths_lose_their_start():
    lines = layout(HEADING, SNAPSHOT, ViewState(), 80, 30)
    hot = next(r for r in _rows(lines) if r.split()[4] == "hot")
    assert hot.endswith("/work.py:10") and "..." in hot and LONG_DIR not in hot
    assert text_width(hot) <= 80
    wide = next(r for r in _rows(lines) if "函数" in r)
    assert wide.endswith("長いです.py:5") and text_width(wide) <= 80


def test_narrow_screens_keep_the_shares_and_names():
    lines = layout(HEADING, SNAPSHOT, ViewState(), 50, 30)
    heading = next(t for t, style in lines if style == "heading")
    assert "own time" not in heading and "own%" in heading and "function" in heading
    assert _rows(lines)[0].split()[:3] == ["60.0%", "60.0%", "hot"]


def test_sort_marker_order_and_reverse():
    lines = layout(HEADING, SNAPSHOT, ViewState(sort=4, reverse=True), 120, 30)
    assert "sorted by function (Z-A)" in _text(lines)
    assert "function*" in next(t for t, style in lines if style == "heading")
    names = [r.split()[4] for r in _rows(lines)]
    assert names == sorted(names, reverse=True)


def test_short_screens_keep_the_footer_and_the_top_rows():
    lines = layout(HEADING, SNAPSHOT, ViewState(), 120, 7)
    assert len(lines) == 7 and lines[-1][1] == "footer"
    assert _rows(lines)[0].split()[4] == "hot"


def test_plain_tables_have_no_footer_and_say_why_they_stopped():
    lines = layout(HEADING, SNAPSHOT, ViewState(), 100, None, footer=False,
                   reason="the target exited (status 3)")
    assert all(style != "footer" for _, style in lines)
    assert "stopped: the target exited (status 3)" in _text(lines)
    assert len(_rows(lines)) == 4  # idle threads hidden: no nap


def test_errors_and_repairs_are_shown_when_there_are_some():
    snapshot = dataclasses.replace(SNAPSHOT, dropped=2, missed=3, repaired=4, unknown=1)
    text = _text(layout(HEADING, snapshot, ViewState(), 200, 30))
    assert "errors: 2 samples dropped, 3 ticks missed; stacks: 4 repaired, 1 partly unknown" \
        in text


def test_before_the_first_interval_and_when_nothing_is_sampled():
    text = _text(layout(HEADING, None, ViewState(), 80, 10))
    assert "collecting the first interval" in text and "pid 4242" in text
    empty = _snapshot({((NAP,), True): 5}, {})
    assert "no Python stacks in this window (i shows idle threads)" in _text(
        layout(HEADING, empty, ViewState(), 80, 10))


def test_clipping_and_durations():
    assert clip_left("/a/b/c.py:1", 8) == "....py:1"
    assert clip_left("abcdef", 6) == "abcdef" and clip_left("abcdef", 2) == ""
    assert clip_right("abcdef", 5) == "ab..." and clip_right("abcdef", 6) == "abcdef"
    assert clip_left("日本語", 5) == "...語" and text_width(clip_right("日本語日本語", 8)) <= 8
    assert [duration(s) for s in (0.5, 59.994, 61, 3725)] == ["0.50s", "59.99s", "1m01s",
                                                              "1h02m"]


def test_the_reason_comes_last_and_the_table_fits_the_height_given():
    lines = layout(HEADING, SNAPSHOT, ViewState(), 100, 8, footer=False,
                   reason="the target exited (status 0)")
    assert len(lines) == 8 and lines[-1] == ("stopped: the target exited (status 0)", "bold")
    assert _rows(lines)[0].split()[4] == "hot"
