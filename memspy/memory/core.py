"""Reading a core file as if it were the process it was written from.

A core holds the writable memory of the process (``PT_LOAD`` segments with file data);
what the kernel or a debugger left out because it can be had again (code, read-only data
of mapped files: a segment with no file data, or one only partly kept) is read from the
mapped files its ``NT_FILE`` note names, at the file offsets it gives. Bytes a core file
should hold but does not (a truncated core) are unreadable, never guessed: a file's
bytes stand in only for memory the core chose not to keep, since a writable page the
target changed differs from its file.
"""

from __future__ import annotations

import bisect
import mmap
import os
import stat
import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Dict, List, Optional, Tuple

from memspy.errors import InputError, RemoteReadError
from memspy.memory.base import LocalMemory
from memspy.memory.process import MAX_READ

# struct elf_prstatus (x86_64): pr_pid at 32, pr_reg (user_regs_struct) at 112, whose
# 11th register is rax and 16th orig_rax: the system call a thread made last (-1 when it
# entered the kernel otherwise), and its result.
_PR_PID = 32
_RAX = 112 + 10 * 8
_ORIG_RAX = 112 + 15 * 8
# Results of a system call that a signal (the one stopping the thread for the core)
# interrupted while it waited: EINTR, ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND,
# ERESTART_RESTARTBLOCK. A call that had returned (abort's tgkill) holds its own result.
_INTERRUPTED = {-4, -512, -513, -514, -516}
_AT_PHDR, _AT_ENTRY = 3, 9
_DELETED = " (deleted)"
# Notes are read whole; a core's are tens of kilobytes per thread, this bounds a damaged one.
_MAX_NOTES = 64 * 1024 * 1024

NOT_A_CORE_HINT = (
    "give a core file: `gcore -o PREFIX PID` writes one of a running process, and the "
    "kernel writes one when a process with `ulimit -c unlimited` crashes"
)


@dataclass(frozen=True)
class CoreThread:
    """One thread of the core: its kernel id and, where the registers say, whether it
    was running rather than waiting in a system call when the core was written."""

    tid: int
    running: Optional[bool]


@dataclass(frozen=True)
class MappedFile:
    """A file mapping of the process, from the core's NT_FILE note."""

    start: int
    end: int
    offset: int  # in the file
    path: str  # as the process saw it

    def contains(self, addr: int) -> bool:
        return self.start <= addr < self.end


@dataclass(frozen=True)
class Missing:
    """A segment the core's program headers promise but whose bytes the file lacks."""

    start: int
    size: int  # bytes of memory unreadable for it


class _Backing:
    """A mapped file that serves what the core left out, opened (mmapped) on first use."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._map: Optional[mmap.mmap] = None
        self._failed = False

    def view(self) -> Optional[mmap.mmap]:
        """Regular files only: the paths come from the core, and opening a FIFO it names
        would wait for a writer forever."""
        if self._map is None and not self._failed:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
                try:
                    if stat.S_ISREG(os.fstat(fd).st_mode):
                        self._map = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
                finally:
                    os.close(fd)
            except (OSError, ValueError):  # absent, unreadable, or empty
                pass
            self._failed = self._map is None
        return self._map

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


@dataclass(frozen=True)
class _Piece:
    """Memory [start, end) held by ``source`` (the core, or a mapped file) at ``offset``."""

    start: int
    end: int
    source: _Backing
    offset: int
    dumped: bool  # in the core itself, not taken from a mapped file


@dataclass
class _Notes:
    pid: int = 0
    command: str = ""
    threads: List[CoreThread] = field(default_factory=list)
    files: List[MappedFile] = field(default_factory=list)
    auxv: Dict[int, int] = field(default_factory=dict)


class CoreMemory(LocalMemory):
    """The memory of the process a core file was written from, and what its notes say
    of it: pid, command, threads, mapped files, executable.

    ``executable`` names the file to read the core's executable from when it is no longer
    at the path the core gives."""

    def __init__(self, path: str, executable: Optional[str] = None) -> None:
        self.path = path
        self._core = _Backing(path)
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                headers = _read_headers(f, path, size)
        except OSError as error:
            raise InputError(f"cannot read core file {path}: {error.strerror}") from None
        if self._core.view() is None:
            raise InputError(f"cannot read core file {path}: it cannot be mapped")
        notes = headers.notes
        self._segments, self.machine = headers.segments, headers.machine
        self.size, self.declared_size, self.notes_cut = size, headers.extent, headers.notes_cut
        self.pid = notes.pid
        self.command = notes.command
        self.threads = notes.threads
        self.mappings = notes.files
        self.executable = _executable(notes)
        self._local: Dict[str, str] = {}
        if executable is not None and self.executable:
            self._local[self.executable] = executable
        self.missing: List[Missing] = []
        self._pieces = self._place(size)
        self._starts = [piece.start for piece in self._pieces]

    @property
    def described(self) -> str:
        """The process, as an error message names it."""
        return f"process {self.pid} of core file {self.path}"

    def damage(self) -> Optional[str]:
        """What a truncated core lacks, in words; None when it is whole."""
        if self.size >= self.declared_size:
            return None
        said = f"{self.size} of {self.declared_size} bytes"
        if self.missing:
            lost = sum(missing.size for missing in self.missing)
            said += (
                f", {lost} bytes of memory missing in {len(self.missing)} segments "
                f"(from 0x{self.missing[0].start:x})"
            )
        if self.notes_cut:
            said += ", its notes cut short"
        return said

    def local_path(self, path: str) -> str:
        """Where this machine has the file the core names ``path``."""
        path = strip_deleted(path)
        return self._local.get(path, path)

    def _place(self, size: int) -> List[_Piece]:
        """Every readable stretch of memory, sorted: the core's own bytes first, then the
        mapped files' for whatever the core does not claim to hold."""
        pieces: List[_Piece] = []
        claimed: List[Tuple[int, int]] = []
        for vaddr, memsz, filesz, offset in self._segments:
            kept = max(0, min(filesz, size - offset))
            if kept:
                pieces.append(_Piece(vaddr, vaddr + kept, self._core, offset, True))
            if kept < filesz:
                self.missing.append(Missing(vaddr + kept, filesz - kept))
            if filesz:
                claimed.append((vaddr, vaddr + min(filesz, memsz)))
        claimed.sort()
        ends = [end for _, end in claimed]
        backings: Dict[str, _Backing] = {}
        for entry in self.mappings:
            local = self.local_path(entry.path)
            backing = backings.setdefault(local, _Backing(local))
            at = entry.start
            index = bisect.bisect_right(ends, at)
            while at < entry.end:
                if index < len(claimed) and claimed[index][0] <= at:
                    at = max(at, claimed[index][1])
                    index += 1
                    continue
                stop = min(entry.end, claimed[index][0]) if index < len(claimed) else entry.end
                pieces.append(_Piece(at, stop, backing, entry.offset + at - entry.start, False))
                at = stop
        pieces.sort(key=lambda piece: piece.start)
        return pieces

    def _span(self, addr: int, size: int, dumped_only: bool) -> bytes:
        if size <= 0 or size > MAX_READ or addr <= 0:
            if size == 0:
                return b""
            raise RemoteReadError(f"refusing to read 0x{addr:x} (+{size})")
        end = addr + size
        index = bisect.bisect_right(self._starts, addr) - 1
        parts = []
        at = addr
        while at < end:
            piece = self._pieces[index] if 0 <= index < len(self._pieces) else None
            if piece is None or not piece.start <= at < piece.end or (
                dumped_only and not piece.dumped
            ):
                raise RemoteReadError(f"address 0x{at:x} is not in the core file {self.path}")
            take = min(end, piece.end) - at
            view = piece.source.view()
            start = piece.offset + at - piece.start
            data = view[start : start + take] if view is not None else b""
            if len(data) != take:
                raise RemoteReadError(
                    f"cannot read 0x{at:x} (+{take}) from {piece.source.path}"
                )
            parts.append(data)
            at += take
            index += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read(self, addr: int, size: int) -> bytes:
        return self._span(addr, size, False)

    def read_dumped(self, addr: int, size: int) -> bytes:
        """Only what the core file itself holds: evidence of the process, not of files."""
        return self._span(addr, size, True)

    def close(self) -> None:
        for source in {id(p.source): p.source for p in self._pieces}.values():
            source.close()
        self._core.close()


Segment = Tuple[int, int, int, int]  # vaddr, memsz, filesz, offset


@dataclass
class _Headers:
    segments: List[Segment]  # PT_LOAD
    notes: _Notes
    machine: str
    extent: int  # how long the file should be, by its program headers
    notes_cut: bool  # the notes end before they should


def _read_headers(f: BinaryIO, path: str, size: int) -> _Headers:
    """The core's load segments and notes; InputError if it is not a core file, or if its
    notes cannot be read although the file is as long as it should be (damaged)."""
    from elftools.common.exceptions import ELFError
    from elftools.construct.core import ConstructError
    from elftools.elf.elffile import ELFFile

    errors = (ELFError, ConstructError, ValueError, struct.error, EOFError)
    try:
        elf = ELFFile(f)
        kind = elf.header["e_type"]
    except errors:
        raise InputError(f"{path} is not a core file (not an ELF file)", NOT_A_CORE_HINT) from None
    if kind != "ET_CORE":
        what = {"ET_EXEC": "an executable", "ET_DYN": "a shared object or executable"}
        raise InputError(
            f"{path} is not a core file ({what.get(kind, 'an ELF file of type ' + str(kind))})",
            NOT_A_CORE_HINT,
        )
    if elf.elfclass != 64 or not elf.little_endian:
        raise InputError(f"{path} is a core of a 32-bit or big-endian process, not supported")
    try:
        headers = list(elf.iter_segments())
    except errors:
        raise InputError(
            f"core file {path} is truncated or damaged: its program headers cannot be read "
            f"(the file has {size} bytes)",
            "nothing can be read without them",
        ) from None
    found = _Headers([], _Notes(), elf.header["e_machine"], 0, False)
    for segment in headers:
        found.extent = max(found.extent, segment["p_offset"] + segment["p_filesz"])
        if segment["p_type"] == "PT_LOAD":
            found.segments.append(
                (segment["p_vaddr"], segment["p_memsz"], segment["p_filesz"], segment["p_offset"])
            )
        elif segment["p_type"] == "PT_NOTE" and segment["p_filesz"] <= _MAX_NOTES:
            # Notes up to a cut are kept: a debugger's core has them after the memory, so
            # a cut loses them first, and what is left of them may be all that is needed.
            found.notes_cut |= segment["p_offset"] + segment["p_filesz"] > size
            try:
                for note in segment.iter_notes():
                    _take_note(note, found.notes, found.machine)
            except errors:
                found.notes_cut = True
    if found.notes_cut and size >= found.extent:
        raise InputError(
            f"core file {path} is damaged: its notes cannot be read",
            "nothing can be read without them: which files the process mapped, its threads",
        )
    return found


def _take_note(note, notes: _Notes, machine: str) -> None:
    kind, desc = note["n_type"], note["n_descdata"]
    if kind == "NT_PRSTATUS" and len(desc) >= _PR_PID + 4:
        tid = struct.unpack_from("<i", desc, _PR_PID)[0]
        running = None
        if machine == "EM_X86_64" and len(desc) >= _ORIG_RAX + 8:
            call = struct.unpack_from("<q", desc, _ORIG_RAX)[0]
            running = call < 0 or struct.unpack_from("<q", desc, _RAX)[0] not in _INTERRUPTED
        notes.threads.append(CoreThread(tid, running))
        notes.pid = notes.pid or tid  # the first thread's, unless NT_PRPSINFO says
    elif kind == "NT_PRPSINFO":
        info = note["n_desc"]
        notes.pid = info["pr_pid"] or notes.pid
        args = info["pr_psargs"].split(b"\0", 1)[0] or info["pr_fname"].split(b"\0", 1)[0]
        notes.command = args.decode("utf-8", "replace").strip()
    elif kind == "NT_AUXV":
        for key, value in struct.iter_unpack("<QQ", desc[: len(desc) // 16 * 16]):
            notes.auxv.setdefault(key, value)
    elif kind == "NT_FILE":
        info = note["n_desc"]
        page = info["page_size"]
        for entry, name in zip(info["Elf_Nt_File_Entry"], info["filename"]):
            if isinstance(name, bytes):
                name = name.decode("utf-8", "surrogateescape")
            notes.files.append(
                MappedFile(entry["vm_start"], entry["vm_end"], entry["page_offset"] * page, name)
            )


def strip_deleted(path: str) -> str:
    """The path of a mapped file that was deleted (or replaced) after it was mapped."""
    return path[: -len(_DELETED)] if path.endswith(_DELETED) else path


def _executable(notes: _Notes) -> str:
    """The executable's path: the mapped file holding the entry point (or the program
    headers) the kernel gave the process, else the first file mapped."""
    for key in (_AT_ENTRY, _AT_PHDR):
        addr = notes.auxv.get(key)
        for entry in notes.files:
            if addr is not None and entry.contains(addr):
                return strip_deleted(entry.path)
    return strip_deleted(notes.files[0].path) if notes.files else ""
