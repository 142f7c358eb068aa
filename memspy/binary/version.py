"""Which CPython a process runs, asked in order of trust.

1. ``Py_Version`` (3.11+), a u32 holding PY_VERSION_HEX, read from memory;
2. the buffer ``Py_GetVersion`` fills at start-up ("3.10.13 (main, ...) [GCC ...]"), read
   from memory through its static symbol, else found by scanning the writable data;
3. the file name (``libpython3.10.so``, ``python2.7``): a name can lie, so it comes last.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from memspy.errors import MemspyError
from memspy.memory.base import Memory

_VERSION_TEXT = re.compile(rb"((2|3)\.(\d{1,2})\.(\d{1,2}))((a|b|c|rc)\d{1,2})?\+? \(")
_NAME = re.compile(r"python(\d)\.(\d{1,2})")
# Static buffer of Py_GetVersion: "version.0" (GCC's name for a function-local static) or
# "version" (3.13's file-level static).
VERSION_BUFFER_SYMBOLS = ("version.0", "version")
VERSION_BUFFER_SIZE = 250


@dataclass(frozen=True)
class PythonVersion:
    major: int
    minor: int
    micro: int
    text: str  # as the interpreter spells it, e.g. "3.12.1"
    how: str  # which evidence decided it

    @property
    def minor_key(self) -> Tuple[int, int]:
        return (self.major, self.minor)


def from_hex(value: int) -> Optional[PythonVersion]:
    major, minor, micro = value >> 24, (value >> 16) & 0xFF, (value >> 8) & 0xFF
    level, serial = (value >> 4) & 0xF, value & 0xF
    if major not in (2, 3) or minor > 30:
        return None
    suffix = {0xA: f"a{serial}", 0xB: f"b{serial}", 0xC: f"rc{serial}"}.get(level, "")
    return PythonVersion(major, minor, micro, f"{major}.{minor}.{micro}{suffix}", "Py_Version")


def from_text(data: bytes, how: str) -> Optional[PythonVersion]:
    match = _VERSION_TEXT.search(data)
    if not match:
        return None
    text = match.group(1).decode() + (match.group(5) or b"").decode()
    major, minor, micro = int(match.group(2)), int(match.group(3)), int(match.group(4))
    return PythonVersion(major, minor, micro, text, how)


def from_path(path: str) -> Optional[PythonVersion]:
    match = _NAME.search(os.path.basename(path))
    if not match:
        return None
    major, minor = int(match.group(1)), int(match.group(2))
    return PythonVersion(major, minor, 0, f"{major}.{minor}", "file name")


def detect_version(
    memory: Memory,
    py_version_addr: Optional[int],
    buffer_addr: Optional[int],
    data_regions: Sequence[Tuple[int, int]],
    path: str,
) -> Optional[PythonVersion]:
    """The first answer of the chain above; ``None`` when nothing says."""
    if py_version_addr:
        try:
            found = from_hex(int.from_bytes(memory.read(py_version_addr, 4), "little"))
        except MemspyError:
            found = None
        if found:
            return found
    if buffer_addr:
        try:
            found = from_text(memory.read(buffer_addr, VERSION_BUFFER_SIZE), "version string")
        except MemspyError:
            found = None
        if found:
            return found
    for start, size in data_regions:
        try:
            found = from_text(memory.read(start, size), "version string in memory")
        except MemspyError:
            continue
        if found:
            return found
    return from_path(path)
