"""Running pystack, the second reference memspy's dumps are compared with, and reading its text.

`pystack remote --no-block`: pystack reads memory without ptrace-attaching, as the target is
stopped already (its blocking mode works too, but takes seconds longer). No `--native`, no
`--locals`, `--no-color`: only Python frames, in text. pystack 1.7.2 has no JSON output, so its
text is parsed: per thread a header with the kernel thread id (memspy's `os_thread_id`, not
the `threading` ident) and "[Has the GIL]" for the holder, then one `(Python) File "F", line
N, in NAME` line per frame, innermost last, with the source line under it, indented deeper.
`pystack core CORE EXECUTABLE` prints the same for a core file, after a few lines about the
process (its state, ids, command, the signal it died of), which are left out.

Where the two differ by design, memspy's frames are turned into what pystack prints:

- names: pystack prints `co_name`; memspy prints `co_qualname` on 3.11+ (`Outer.Inner.method`),
  so there pystack's name must equal the last dotted part of memspy's; before 3.11 both print
  `co_name` and must be equal as they are.
- non-ASCII text: pystack reads every `str` as if it were pure ASCII, taking its characters
  from right after a PyASCIIObject header, where only a pure-ASCII string keeps them. A name
  or file name with a character above U+00FF (a 2- or 4-byte string) is refused, and pystack
  leaves that whole frame out; one with other non-ASCII characters (a 1-byte string) comes
  out as the bytes at that wrong place, so that text cannot be compared, while the frame's
  other text and its line still are. parked3.py's `Κλάση.μέθοδος` is left out that way;
  `ünïcødé` in ünïcode_mod.py comes out with name and file name garbled. 2.7 keeps names in
  bytes objects, which pystack reads as they are; parked.py has none that are not ASCII.

Everything else must be equal: the set of threads, every frame's name, file and line (the
spinner's too: both read the same stopped process), and which thread holds the GIL.
"""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

Row = Tuple[str, str, int]  # (name, filename, line), innermost frame first
GARBLED = "<pystack cannot read this text>"  # stands for a name or file name pystack misreads

HEADER = re.compile(r"Traceback for thread (\d+) (.*)\[([^\]]*)\] \(most recent call last\):")
FRAME = re.compile(r'    \(Python\) File "(.*)", line (\d+), in (.*)')
SOURCE_INDENT = " " * 8  # the source line pystack prints under each frame


@dataclass
class PystackThread:
    tid: int  # the kernel thread id
    has_gil: bool
    frames: List[Row]  # innermost first, like memspy's


def run_pystack(pid: int) -> str:
    """The text of ``pystack remote`` for a process that the caller has SIGSTOPped."""
    result = subprocess.run(
        [sys.executable, "-m", "pystack", "remote", "--no-block", "--no-color", str(pid)],
        capture_output=True,
        encoding="utf-8",
        errors="surrogateescape",  # a garbled name may hold any bytes
        timeout=60,
    )
    assert result.returncode == 0, f"pystack failed ({result.returncode}):\n{result.stderr}"
    return result.stdout


def run_pystack_core(core: Path, executable: Path) -> str:
    """The text of ``pystack core`` for a core file of ``executable``."""
    result = subprocess.run(
        [sys.executable, "-m", "pystack", "core", "--no-color", str(core), str(executable)],
        capture_output=True,
        encoding="utf-8",
        errors="surrogateescape",
        timeout=120,
    )
    assert result.returncode == 0, f"pystack failed ({result.returncode}):\n{result.stderr}"
    # Before the threads, a core's process: its state, ids, command, the fatal signal.
    start = result.stdout.find("Traceback for thread ")
    assert start >= 0, f"pystack found no thread in {core}:\n{result.stdout}"
    return result.stdout[start:]


def parse_pystack(text: str) -> Dict[int, PystackThread]:
    """pystack's threads by kernel id; any line of a shape not known here fails the test.

    Split on newlines only: str.splitlines would also split a garbled name at a stray
    control character.
    """
    threads: Dict[int, PystackThread] = {}
    current: Optional[PystackThread] = None
    for line in text.split("\n"):
        header = HEADER.fullmatch(line)
        frame = FRAME.fullmatch(line)
        if header:
            tid = int(header.group(1))
            current = threads[tid] = PystackThread(tid, "Has the GIL" in header.group(3), [])
        elif frame and current is not None:
            filename, lineno, name = frame.groups()
            current.frames.insert(0, (name, filename, int(lineno)))
        elif line and not (line.startswith(SOURCE_INDENT) and current and current.frames):
            raise AssertionError(f"unexpected line in pystack's output: {line!r}\n{text}")
    return threads


def _as_read(text: str) -> Optional[str]:
    """A name or file name as pystack reads it; None where it refuses it (module docstring)."""
    if text.isascii():
        return text
    return GARBLED if max(map(ord, text)) <= 0xFF else None


def as_pystack_prints(frames: List[Row], qualified: bool) -> List[Row]:
    """memspy's frames as pystack prints the same stack (see the module docstring)."""
    out = []
    for name, filename, line in frames:
        # pystack prints co_name, memspy co_qualname on 3.11+ (co_name is its last dotted part)
        plain = name.rpartition(".")[2] if qualified else name
        read_name, read_filename = _as_read(plain), _as_read(filename)
        if read_name is not None and read_filename is not None:
            out.append((read_name, read_filename, line))
    return out


def _masked(theirs: List[Row], expected: List[Row]) -> List[Row]:
    """pystack's rows with the text it misreads masked, only where ``expected`` says so."""
    masked = [
        (
            GARBLED if want[0] == GARBLED else got[0],
            GARBLED if want[1] == GARBLED else got[1],
            got[2],
        )
        for got, want in zip(theirs, expected)
    ]
    return masked + theirs[len(expected) :]


def rows(thread: Dict[str, Any]) -> List[Row]:
    return [(f["name"], f["filename"], f["line"]) for f in thread["frames"]]


def problems(
    memspy: List[Dict[str, Any]], pystack: Dict[int, PystackThread], qualified: bool
) -> List[str]:
    """Every way memspy's dump differs from pystack's threads; empty when they agree."""
    ours = {t["os_thread_id"]: t for t in memspy}
    if set(ours) != set(pystack):
        return [f"kernel thread ids: memspy {sorted(ours)}, pystack {sorted(pystack)}"]
    found = []
    for tid, theirs in sorted(pystack.items()):
        mine = ours[tid]
        label = f"thread {mine['thread_name']!r} (kernel id {tid})"
        expected = as_pystack_prints(rows(mine), qualified)
        got = _masked(theirs.frames, expected)
        if got != expected:
            diff = difflib.unified_diff(
                [repr(row) for row in expected],
                [repr(row) for row in got],
                "memspy, as pystack prints it",
                "pystack",
                lineterm="",
                n=2,
            )
            found.append(f"{label}:\n" + "\n".join(diff))
        if mine["owns_gil"] != theirs.has_gil:
            found.append(f"{label}: owns_gil {mine['owns_gil']}, pystack {theirs.has_gil}")
    return found
