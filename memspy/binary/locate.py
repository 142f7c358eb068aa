"""Ordered strategies for finding the interpreter in a process; each candidate is validated.

Candidates are the libpython the process maps, then its executable. A candidate counts
only if its ELF symbols include one of the interpreter's roots. For a live process files
are opened through ``/proc/PID/root`` (or ``/proc/PID/exe``) so targets in other mount
namespaces work; for a core file, where the core names them (or where the user says the
executable is now), once their build ids are seen to match the core's.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from memspy.binary.elf import ElfImage, build_id, build_id_from, open_elf
from memspy.binary.maps import MapEntry, read_maps
from memspy.binary.version import VERSION_BUFFER_SYMBOLS, PythonVersion, detect_version
from memspy.errors import InputError, NotAPythonProcess, ProcessNotFound, UnsupportedVersion
from memspy.memory.base import Memory
from memspy.memory.core import CoreMemory, strip_deleted
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
    open_path: str  # the same file as memspy opens it (through /proc for a live process)
    elf: ElfImage  # parsed once per file: its own path may name another process
    bias: int
    version: PythonVersion
    addresses: Dict[str, int] = field(default_factory=dict)  # runtime addresses by symbol

    def address(self, name: Optional[str]) -> Optional[int]:
        return self.addresses.get(name) if name else None


def _candidates(exe: str, maps: List[MapEntry]) -> List[str]:
    """Paths as the target sees them, libpython first."""
    seen: List[str] = []
    for entry in maps:
        path = strip_deleted(entry.path)
        if _LIBPYTHON.search(path) and path not in seen:
            seen.append(path)
    seen.append(exe)
    return seen


def _exe_path(pid: int) -> str:
    try:
        return strip_deleted(os.readlink(f"/proc/{pid}/exe"))
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

    def reach(path: str) -> str:
        return f"/proc/{pid}/exe" if path == exe else f"/proc/{pid}/root{path}"

    return _locate(memory, read_maps(pid), exe, reach, pid, f"process {pid}")


def _locate(
    memory: Memory,
    maps: List[MapEntry],
    exe: str,
    reach: Callable[[str], str],
    pid: int,
    what: str,
) -> PythonImage:
    """The first candidate that holds the interpreter; ``reach`` turns a path as the
    target saw it into one this process can open, ``what`` names the target in errors."""
    for path in _candidates(exe, maps):
        open_path = reach(path)
        elf = open_elf(open_path, WANTED_SYMBOLS + VERSION_BUFFER_SYMBOLS)
        if elf is None or elf.symbol(*ROOT_SYMBOLS) is None:
            continue
        mapped_path = path if any(strip_deleted(e.path) == path for e in maps) else exe
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
                f"cannot tell which Python version {what} runs ({path})",
                "the binary has no Py_Version and no version string was found",
            )
        return PythonImage(pid, exe, path, open_path, elf, bias, version, addresses)
    raise NotAPythonProcess(
        f"{what} ({os.path.basename(exe)}) is not a Python process",
        "no libpython and no interpreter symbols in its executable",
    )


def find_python_in_core(core: CoreMemory) -> PythonImage:
    """The interpreter of the process a core was written from, read from the files its
    process mapped; InputError when one of them is not on this machine or is another
    build than the one the process ran."""
    maps = [MapEntry(m.start, m.end, "", m.offset, 0, m.path) for m in core.mappings]
    if not core.executable:
        raise InputError(
            f"core file {core.path} names no mapped files (it has no NT_FILE note)",
            "memspy reads cores written by Linux or gcore",
        )
    for path in _candidates(core.executable, maps):
        _check_build_id(core, maps, path)
    try:
        return _locate(core, maps, core.executable, core.local_path, core.pid, core.described)
    except NotAPythonProcess:
        absent = [
            core.local_path(path)
            for path in _candidates(core.executable, maps)
            if not os.path.exists(core.local_path(path))
        ]
        if not absent:
            raise
        raise InputError(
            f"cannot read the core's interpreter: {', '.join(absent)} is not on this machine",
            "give the executable's new path with --executable, or read the core where "
            "it was written",
        ) from None


def _check_build_id(core: CoreMemory, maps: List[MapEntry], path: str) -> None:
    """A file of another build than the process ran would be read at the wrong places:
    refuse it when both the file and the core's copy of its first page name a build id."""
    base = next((m.start for m in maps if m.offset == 0 and strip_deleted(m.path) == path), None)
    local = core.local_path(path)
    if base is None or not os.path.exists(local):
        return
    expected = build_id_from(lambda offset, size: core.read_dumped(base + offset, size))
    found = build_id(local)
    if expected and found and expected != found:
        raise InputError(
            f"{local} does not match core file {core.path}: its build id is {found}, "
            f"the process ran {path} with build id {expected}",
            "give the executable the process ran with --executable, or read the core on "
            "the machine it was written on",
        )
