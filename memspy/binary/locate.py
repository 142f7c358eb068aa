"""Ordered strategies for finding the interpreter in a process; each candidate is validated.

Candidates are the libpython the process maps, then its executable. A candidate counts
only if its ELF symbols include one of the interpreter's roots. Files are opened through
``/proc/PID/root`` (or ``/proc/PID/exe``) so targets in other mount namespaces work.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from memspy.binary.elf import ElfImage, open_elf
from memspy.binary.maps import MapEntry, read_maps
from memspy.binary.version import VERSION_BUFFER_SYMBOLS, PythonVersion, detect_version
from memspy.errors import NotAPythonProcess, ProcessNotFound, UnsupportedVersion
from memspy.memory.base import Memory
from memspy.memory.process import permission_error

_LIBPYTHON = re.compile(r"/libpython\d\.\d+[a-z]*\.so")
ROOT_SYMBOLS = ("_PyRuntime", "interp_head", "_PyThreadState_Current", "Py_Version")
# Symbols whose runtime addresses the walker uses; absent ones are simply missing.
WANTED_SYMBOLS = (
    "_PyRuntime",
    "interp_head",
    "_PyThreadState_Current",
    "Py_Version",
    "PyCode_Type",
    "PyUnicode_Type",
    "PyString_Type",
    "PyBytes_Type",
    "PyDict_Type",
    "PyModule_Type",
)


@dataclass
class PythonImage:
    """The ELF file that holds the interpreter, as loaded in one process."""

    pid: int
    exe: str
    path: str  # as the target sees it
    open_path: str  # the same file, reached through this process's /proc entry
    elf: ElfImage  # parsed once per file: its own path may name another process
    bias: int
    version: PythonVersion
    addresses: Dict[str, int] = field(default_factory=dict)  # runtime addresses by symbol

    def address(self, name: Optional[str]) -> Optional[int]:
        return self.addresses.get(name) if name else None


def _strip_deleted(path: str) -> str:
    return path[: -len(" (deleted)")] if path.endswith(" (deleted)") else path


def _candidates(pid: int, exe: str, maps: List[MapEntry]) -> List[Tuple[str, str]]:
    """(path as the target sees it, path we open) pairs, libpython first."""
    seen: List[Tuple[str, str]] = []
    for entry in maps:
        path = _strip_deleted(entry.path)
        if _LIBPYTHON.search(path) and all(p != path for p, _ in seen):
            seen.append((path, f"/proc/{pid}/root{path}"))
    seen.append((exe, f"/proc/{pid}/exe"))
    return seen


def _exe_path(pid: int) -> str:
    try:
        return _strip_deleted(os.readlink(f"/proc/{pid}/exe"))
    except FileNotFoundError:
        raise ProcessNotFound(f"no process with PID {pid}", "check the PID with ps") from None
    except PermissionError:
        raise permission_error(pid) from None
    except OSError:
        # Kernel threads have no executable.
        raise NotAPythonProcess(f"process {pid} has no executable (a kernel thread?)") from None


def _data_regions(elf: ElfImage, bias: int) -> List[Tuple[int, int]]:
    regions = []
    for name in (".bss", ".data"):
        if name in elf.sections:
            addr, size = elf.sections[name]
            regions.append((addr + bias, min(size, 4 * 1024 * 1024)))
    return regions


def find_python(pid: int, memory: Memory) -> PythonImage:
    exe = _exe_path(pid)
    maps = read_maps(pid)
    for path, open_path in _candidates(pid, exe, maps):
        elf = open_elf(open_path, WANTED_SYMBOLS + VERSION_BUFFER_SYMBOLS)
        if elf is None or elf.symbol(*ROOT_SYMBOLS) is None:
            continue
        mapped_path = path if any(_strip_deleted(e.path) == path for e in maps) else exe
        bias = elf.load_bias(maps, mapped_path)
        if bias is None:
            continue
        addresses = {
            name: elf.symbols[name] + bias for name in WANTED_SYMBOLS if name in elf.symbols
        }
        buffer = elf.symbol(*VERSION_BUFFER_SYMBOLS)
        version = detect_version(
            memory,
            addresses.get("Py_Version"),
            buffer + bias if buffer else None,
            _data_regions(elf, bias),
            path,
        )
        if version is None:
            raise UnsupportedVersion(
                f"cannot tell which Python version process {pid} runs ({path})",
                "the binary has no Py_Version and no version string was found",
            )
        return PythonImage(pid, exe, path, open_path, elf, bias, version, addresses)
    raise NotAPythonProcess(
        f"process {pid} ({os.path.basename(exe)}) is not a Python process",
        "no libpython and no interpreter symbols in its executable",
    )
