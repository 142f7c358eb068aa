"""A real terminal for the tests: a tmux pane on a private server, driven with send-keys and
read with capture-pane, every wait polled against a deadline."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import pytest

TMUX = shutil.which("tmux")
MEMSPY = [sys.executable, "-m", "memspy"]
WORKLOAD = Path(__file__).resolve().parents[1] / "targets" / "top_workload.py"


class Pane:
    """One tmux session of one pane running ``command`` through bash, which then records
    memspy's exit status and the terminal's modes, so a test can check both. (Not dash:
    Ctrl-C would end it, not only memspy, which handles the signal and exits normally.)"""

    def __init__(self, tmp_path: Path, width: int = 120, height: int = 30) -> None:
        if TMUX is None:
            pytest.skip("tmux is not installed")
        self.socket = f"memspy-top-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp_path
        self.width, self.height = width, height
        self.stty = tmp_path / "stty.txt"
        self.config = tmp_path / "tmux.conf"
        self.config.write_text("set -g status off\n")

    def tmux(self, *args: str) -> str:
        result = subprocess.run([TMUX, "-L", self.socket, "-f", str(self.config), *args],
                                capture_output=True, text=True, timeout=30)
        if result.returncode:
            raise AssertionError(f"tmux {' '.join(args)}: {result.stderr}")
        return result.stdout

    def start(self, argv: Sequence[str]) -> None:
        env = f"PYTHONPATH={shlex.quote(os.environ.get('PYTHONPATH', ''))} LC_ALL=C.UTF-8"
        # The shell stays, so the screen memspy left stays readable (a dead pane's can be
        # blank), until ``close``.
        script = (f"env {env} {shlex.join(argv)}; echo \"[memspy exited $?]\"; "
                  f"stty -a > {shlex.quote(str(self.stty))}; exec sleep 600")
        self.tmux("new-session", "-d", "-s", "t", "-x", str(self.width), "-y", str(self.height),
                  "bash", "-c", script)

    def screen(self) -> List[str]:
        """The pane's rows; a line the terminal wrapped is joined back (``-J``), so a line
        longer than the pane is one that wrapped."""
        return self.tmux("capture-pane", "-p", "-J", "-t", "t").rstrip("\n").split("\n")

    def text(self) -> str:
        return "\n".join(self.screen())

    def info(self, variable: str) -> str:
        return self.tmux("display-message", "-p", "-t", "t", "#{" + variable + "}").strip()

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def resize(self, width: int, height: int) -> None:
        self.tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))
        self.width, self.height = width, height

    def wait(self, condition: Callable[[List[str]], bool], what: str,
             timeout: float = 10.0) -> List[str]:
        """Poll the screen until ``condition`` holds; fail showing the last screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; screen:\n"
                                     + "\n".join(screen))
            time.sleep(0.05)

    def wait_text(self, text: str, timeout: float = 10.0) -> List[str]:
        return self.wait(lambda screen: text in "\n".join(screen), repr(text), timeout)

    def exited(self, timeout: float = 15.0) -> int:
        """memspy's exit status, once the pane's shell has reported it."""
        screen = self.wait(lambda s: any(line.startswith("[memspy exited ") for line in s),
                           "memspy to exit", timeout)
        line = next(line for line in screen if line.startswith("[memspy exited "))
        deadline = time.monotonic() + timeout
        while not self.stty.exists() or not self.stty.read_text():
            assert time.monotonic() < deadline, "stty never ran"
            time.sleep(0.05)
        return int(line.split()[-1].rstrip("]"))

    def terminal_restored(self) -> bool:
        """Out of the alternate screen, and the modes a shell expects (canonical input,
        echo): what curses changed is undone."""
        modes = self.stty.read_text().split()
        return self.info("alternate_on") == "0" and "icanon" in modes and "echo" in modes

    def close(self) -> None:
        try:
            self.tmux("kill-server")
        except AssertionError:
            pass
        # tmux leaves its socket file behind: one per test would pile up.
        directory = os.environ.get("TMUX_TMPDIR", "/tmp")
        Path(directory, f"tmux-{os.getuid()}", self.socket).unlink(missing_ok=True)


def table_rows(screen: List[str]) -> List[List[str]]:
    """The rows of memspy top's table, split at runs of spaces: the figures, then the
    function, then the file (names with spaces are not expected in these targets)."""
    start = next((i for i, line in enumerate(screen) if line.lstrip().startswith("own%")), None)
    if start is None:
        return []
    rows = []
    for line in screen[start + 1:]:
        parts = line.split()
        if len(parts) < 4 or not parts[0].endswith("%"):
            break
        rows.append(parts)
    return rows


_FIGURE = re.compile(r"[\d.]+%|[\d.]+s|\d+m\d+s|\d+h\d+m|-")


def function_column(row: List[str]) -> str:
    """The function of a row: the first word after its figures (four of them, or two on
    a narrow screen)."""
    return next(word for word in row if not _FIGURE.fullmatch(word))


def top_function(screen: List[str]) -> Optional[str]:
    rows = table_rows(screen)
    return function_column(rows[0]) if rows else None
