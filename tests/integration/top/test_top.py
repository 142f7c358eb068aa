"""``memspy top`` as a user sees it: in a real terminal (a tmux pane), keys pressed, the
screen read back; and without a terminal, where it prints plain tables."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest
from interpreters import Interpreter
from terminal import MEMSPY, WORKLOAD, Pane, function_column, table_rows, top_function

from memspy.top.screen import clip_right, footer_text

PY = sys.executable
FIRST_TABLE = 3.0  # seconds: the hot function must lead the table by then


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    pane = Pane(tmp_path)
    try:
        yield pane
    finally:
        pane.close()


@pytest.fixture
def workload() -> Iterator[subprocess.Popen]:
    """The workload running on its own, for ``top -p``."""
    process = subprocess.Popen([PY, str(WORKLOAD)], stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def _hot_on_top(pane: Pane, timeout: float = FIRST_TABLE) -> List[str]:
    pane.wait_text("memspy top", timeout=30)  # memspy itself has started
    return pane.wait(lambda s: top_function(s) == "hot", "hot at the top of the table", timeout)


def _header_pid(screen: List[str]) -> int:
    return int(re.search(r"memspy top  pid (\d+)", "\n".join(screen)).group(1))


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] in "ZX":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_hot_function_leads_within_3_seconds_and_q_restores_the_terminal(pane: Pane):
    pane.start([*MEMSPY, "top", "--", PY, str(WORKLOAD)])
    screen = _hot_on_top(pane)
    assert pane.info("alternate_on") == "1"
    assert all(len(line) <= pane.width for line in screen)
    pid = _header_pid(screen)
    pane.keys("q")
    assert pane.exited() == 0
    assert pane.terminal_restored()
    assert _gone(pid), "the command memspy started outlived memspy top"


def _view(screen: List[str]) -> str:
    return next((line for line in screen if "figures: " in line), "")


def _names(screen: List[str]) -> List[str]:
    return [function_column(row) for row in table_rows(screen)]


def _totals(screen: List[str]) -> List[float]:
    return [float(row[1].rstrip("%")) for row in table_rows(screen)]


def test_each_key_does_what_the_footer_says(pane: Pane):
    pane.start([*MEMSPY, "top", "--", PY, str(WORKLOAD)])
    screen = _hot_on_top(pane)
    footer = screen[-1]
    for key in ("1-6 sort", "l line/function", "i idle", "t last/total", "r reset",
                "space pause", "q quit"):
        assert key in footer, footer

    # Each wait is for the whole screen: tmux may show a redraw half done.
    pane.keys("l")
    pane.wait(lambda s: "by function" in _view(s) and bool(table_rows(s))
              and not any(re.search(r":\d+$", row[-1]) for row in table_rows(s)), "by function")
    pane.keys("l")
    pane.wait(lambda s: "by line" in _view(s) and bool(table_rows(s))
              and all(re.search(r":\d+$", row[-1]) for row in table_rows(s)), "by line")

    pane.keys("i")
    pane.wait(lambda s: "idle threads shown" in _view(s)
              and "nap" in [function_column(r) for r in table_rows(s)], "nap shown")
    pane.keys("i")
    pane.wait(lambda s: "idle threads hidden" in _view(s)
              and "nap" not in [function_column(r) for r in table_rows(s)], "nap hidden")

    pane.keys("5")
    pane.wait(lambda s: "sorted by function (A-Z)" in _view(s) and _names(s) == sorted(_names(s))
              and len(_names(s)) > 2, "sorted by function")
    pane.keys("5")
    pane.wait(lambda s: "sorted by function (Z-A)" in _view(s)
              and _names(s) == sorted(_names(s), reverse=True), "sorted by function, reversed")
    pane.keys("2")
    pane.wait(lambda s: "sorted by total% (descending)" in _view(s)
              and _totals(s) == sorted(_totals(s), reverse=True), "sorted by total%")
    for key, column in (("1", "own%"), ("3", "own time"), ("4", "total time"),
                        ("6", "file:line")):
        pane.keys(key)
        pane.wait(lambda s, c=column: f"sorted by {c} (" in _view(s), f"sort by {column}")

    pane.keys("t")
    pane.wait(lambda s: "figures: total since start" in _view(s), "total since start")
    pane.keys("r")
    pane.wait(lambda s: "figures: total since reset" in _view(s), "total since reset")
    pane.keys("t")
    pane.wait(lambda s: "figures: last " in _view(s), "last interval")

    pane.keys("Space")
    paused = pane.wait(lambda s: "PAUSED" in _view(s), "paused")
    time.sleep(1.5)  # longer than a refresh: a live screen would have changed by now
    assert pane.screen() == paused
    pane.keys("Space")
    pane.wait(lambda s: "PAUSED" not in _view(s) and s[1] != paused[1], "resumed")
    pane.keys("q")
    assert pane.exited() == 0


def test_resizing_redraws_without_wrapping(pane: Pane):
    pane.start([*MEMSPY, "top", "--", PY, str(WORKLOAD)])
    _hot_on_top(pane)
    for width, height, times in ((50, 12, False), (200, 40, True), (30, 6, False)):
        pane.resize(width, height)
        footer = clip_right(footer_text(), width).rstrip()
        screen = pane.wait(lambda s, h=height, f=footer: len(s) == h and s[-1].rstrip() == f,
                           f"a redraw at {width}x{height}")
        assert all(len(line) <= width for line in screen), screen
        if height > 10:
            assert top_function(screen) == "hot", screen
            heading = next(line for line in screen if line.lstrip().startswith("own%"))
            assert ("own time" in heading) == times, heading
    pane.keys("q")
    assert pane.exited() == 0


def test_target_exit_leaves_the_last_table_and_its_reason(pane: Pane):
    pane.start([*MEMSPY, "top", "--", PY, str(WORKLOAD), "2.5", "3"])
    _hot_on_top(pane)
    assert pane.exited() == 3
    assert pane.terminal_restored()
    screen = pane.screen()
    assert "stopped: the target exited (status 3)" in "\n".join(screen)
    assert "figures: total since start" in "\n".join(screen)
    assert top_function(screen) == "hot"


def test_ctrl_c_on_an_attached_process_restores_the_terminal_and_leaves_it_running(
    pane: Pane, workload: subprocess.Popen
):
    pane.start([*MEMSPY, "top", "-p", str(workload.pid)])
    _hot_on_top(pane)
    pane.keys("C-c")
    assert pane.exited() == 0
    assert pane.terminal_restored()
    assert workload.poll() is None


def test_record_shows_a_status_line_on_a_terminal_and_removes_it(pane: Pane, tmp_path: Path):
    out = tmp_path / "out.folded"
    pane.start([*MEMSPY, "record", "-o", str(out), "--", PY, str(WORKLOAD), "3"])
    pane.wait(lambda s: any(re.match(r"memspy: +\d+\.\ds  \d+ samples  +[\d.]+ Hz  0 errors",
                                     line) for line in s), "the status line", 30)
    assert pane.exited() == 0
    text = pane.text()
    assert "wrote collapsed profile" in text and "Ctrl-C to stop" not in text


def test_smoke_on_each_interpreter(pane: Pane, interpreter: Interpreter):
    pane.start([*MEMSPY, "top", "--", str(interpreter.path), str(WORKLOAD)])
    screen = _hot_on_top(pane, timeout=10)
    major, minor = interpreter.version
    assert re.search(rf"  Python {major}\.{minor}(\.\d+)?  ", screen[0]), screen[0]
    pane.keys("q")
    assert pane.exited() == 0


def test_a_terminal_curses_cannot_drive_gets_plain_tables(pane: Pane):
    pane.start(["env", "TERM=memspy-no-such-terminal", *MEMSPY, "top", "--", PY,
                str(WORKLOAD), "2", "0"])
    assert pane.exited() == 0
    history = pane.tmux("capture-pane", "-p", "-J", "-S", "-1000", "-t", "t")
    assert "cannot draw on this terminal" in history and "printing plain tables" in history
    assert "figures: last 1.0s" in history
    assert "stopped: the target exited (status 0)" in history


# --- without a terminal -------------------------------------------------------------------


def _memspy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MEMSPY, *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_without_a_terminal_it_prints_plain_tables():
    result = _memspy("top", "--", PY, str(WORKLOAD), "2.5", "3")
    assert result.returncode == 3, result.stderr
    assert "\x1b" not in result.stdout
    tables = result.stdout.split("memspy top  pid ")[1:]
    assert sum("figures: last 1.0s" in t for t in tables) >= 1, result.stdout
    last = tables[-1]
    assert "figures: total since start" in last
    assert "stopped: the target exited (status 3)" in last
    assert top_function(last.splitlines()) == "hot"


@pytest.mark.parametrize("args,code,message", [
    (["-p", "999999999"], 3, "no process with pid 999999999"),
    ([], 2, "give either -p pid or a command"),
    (["--", "memspy-no-such-command"], 127, "command not found"),
    (["--blocking", "--nonblocking", "-p", "1"], 2, "exclude each other"),
])
def test_bad_input_is_one_line_and_an_exit_code(args: List[str], code: int, message: str):
    result = _memspy("top", *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr.lower() and "Traceback" not in result.stderr


def test_not_python_is_one_line_and_exit_5():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        result = _memspy("top", "-p", str(sleeper.pid))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.returncode == 5, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_record_prints_no_status_line_without_a_terminal(tmp_path: Path):
    result = _memspy("record", "-o", str(tmp_path / "out.folded"), "--", PY, str(WORKLOAD),
                     "1.5")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "Ctrl-C to stop" not in result.stderr
    assert "\x1b" not in result.stderr


def test_memspy_top_is_quick_to_quit_with_a_long_interval(pane: Pane):
    """At 2 Hz a key waits for the next tick at most: the screen answers within a second."""
    pane.start([*MEMSPY, "top", "--rate", "2", "--", PY, str(WORKLOAD)])
    pane.wait_text("figures: last", timeout=30)
    pane.keys("q")
    assert pane.exited(timeout=3) == 0

