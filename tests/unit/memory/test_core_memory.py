"""``CoreMemory`` on a small core file built here byte by byte, laid out as Linux and gcore
lay theirs out: a note segment, dumped segments, a file mapping of which the core keeps
only the first page, and one it leaves out entirely."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from memspy.binary.locate import _check_build_id
from memspy.binary.maps import MapEntry
from memspy.errors import InputError, RemoteReadError
from memspy.memory.core import CoreMemory, CoreThread

PAGE = 0x1000
ANON, ANON2, LIB, EXE = 0x10000, 0x12000, 0x20000, 0x30000
LIB_SIZE = 3 * PAGE
NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_FILE = 1, 3, 6, 0x46494C45
FUTEX = 202


def _note(kind: int, desc: bytes, name: bytes = b"CORE\0") -> bytes:
    pad = lambda b: b + b"\0" * (-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name), len(desc), kind) + pad(name) + pad(desc)


def _prstatus(tid: int, orig_rax: int, rax: int) -> bytes:
    desc = bytearray(336)
    struct.pack_into("<i", desc, 32, tid)
    struct.pack_into("<q", desc, 112 + 10 * 8, rax)
    struct.pack_into("<q", desc, 112 + 15 * 8, orig_rax)
    return bytes(desc)


def _prpsinfo(pid: int, fname: bytes, args: bytes) -> bytes:
    return struct.pack("<BcBB4xQIIiiii16s80s", 0, b"S", 0, 0, 0, 0, 0, pid, 1, pid, pid,
                       fname, args)


def _nt_file(files: List[Tuple[int, int, int, str]]) -> bytes:
    out = struct.pack("<QQ", len(files), PAGE)
    for start, end, offset, _ in files:
        out += struct.pack("<QQQ", start, end, offset // PAGE)
    return out + b"".join(path.encode() + b"\0" for *_, path in files)


def elf_with_build_id(build_id: bytes, size: int) -> bytes:
    """An ELF header, one PT_NOTE program header and a GNU build-id note, padded out."""
    note = _note(3, build_id, b"GNU\0")
    header = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 4, 4, 120, 120, 120, len(note), len(note), 4)
    data = header + phdr + note
    return data + bytes((i * 7) & 0xFF for i in range(len(data), size))


def build_core(
    tmp: Path, lib: bytes, exe: bytes, third: bytes = b""
) -> Tuple[Path, Dict[int, bytes]]:
    """A core file and what its memory holds, by address (what the test expects)."""
    (tmp / "libpython3.12.so.1.0").write_bytes(lib)
    (tmp / "python3.12").write_bytes(exe)
    lib_path, exe_path = str(tmp / "libpython3.12.so.1.0"), str(tmp / "python3.12")
    notes = (
        _note(NT_PRPSINFO, _prpsinfo(4242, b"python3", b"python3 app.py --serve"))
        + _note(NT_PRSTATUS, _prstatus(4242, FUTEX, -512))
        + _note(NT_PRSTATUS, _prstatus(4243, -1, 0))
        + (_note(NT_PRSTATUS, third) if third else b"")
        + _note(NT_AUXV, struct.pack("<QQQQQQ", 3, EXE + 64, 9, EXE + 0x80, 0, 0))
        + _note(NT_FILE, _nt_file([(LIB, LIB + LIB_SIZE, 0, lib_path),
                                   (EXE, EXE + PAGE, 0, exe_path)]))
    )
    anon = bytes(range(256)) * 32  # 0x2000
    anon2 = b"\xab" * PAGE
    # (vaddr, memsz, data in the core): the lib keeps its first page only; the exe is absent.
    loads = [(ANON, 0x2000, anon), (ANON2, PAGE, anon2), (LIB, LIB_SIZE, lib[:PAGE])]
    phnum = 1 + len(loads)
    at = 64 + 56 * phnum
    phdrs = struct.pack("<IIQQQQQQ", 4, 0, at, 0, 0, len(notes), 0, 4)
    body = notes
    at += len(notes)
    for vaddr, memsz, data in loads:
        phdrs += struct.pack("<IIQQQQQQ", 1, 6, at, vaddr, 0, len(data), memsz, PAGE)
        body += data
        at += len(data)
    header = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
    core = tmp / "core"
    core.write_bytes(header + phdrs + body)
    memory = {ANON: anon, ANON2: anon2, LIB: lib, EXE: exe}
    return core, memory


@pytest.fixture
def made(tmp_path: Path) -> Tuple[Path, Dict[int, bytes]]:
    lib = elf_with_build_id(b"\x11" * 20, LIB_SIZE)
    return build_core(tmp_path, lib, elf_with_build_id(b"\x22" * 20, PAGE))


def test_notes_name_the_process_its_threads_and_files(made) -> None:
    path, _ = made
    core = CoreMemory(str(path))
    assert (core.pid, core.command) == (4242, "python3 app.py --serve")
    # a thread stopped in a system call (futex) waits; one in user space (-1) runs
    assert core.threads == [CoreThread(4242, False), CoreThread(4243, True)]
    assert core.executable == str(path.parent / "python3.12")
    assert [(m.start, m.offset) for m in core.mappings] == [(LIB, 0), (EXE, 0)]
    assert core.missing == [] and core.damage() is None


@pytest.mark.parametrize(
    "call, result, running",
    [(FUTEX, -512, False), (35, -516, False), (0, -4, False), (-1, 12, True), (234, 0, True),
     (FUTEX, 1, True)],
    ids=["futex-wait", "nanosleep", "read-eintr", "user-space", "abort-tgkill", "futex-wake"],
)
def test_running_or_waiting_from_the_registers(
    tmp_path: Path, call: int, result: int, running: bool
) -> None:
    """Waiting: stopped inside a system call that the stop interrupted. Running: in user
    space, or on the way out of a call that had returned (abort() in its tgkill, a thread
    that had just woken another)."""
    path, _ = build_core(tmp_path, elf_with_build_id(b"\1" * 20, LIB_SIZE), b"x" * PAGE,
                         _prstatus(4244, call, result))
    assert CoreMemory(str(path)).threads[2] == CoreThread(4244, running)


def test_reads_come_from_the_core_then_from_the_mapped_files(made) -> None:
    path, memory = made
    core = CoreMemory(str(path))
    assert core.read(ANON + 5, 10) == memory[ANON][5:15]
    # one read across two segments of the core
    assert core.read(ANON2 - 8, 16) == memory[ANON][-8:] + memory[ANON2][:8]
    # the library's first page from the core, the rest from the file, in one read
    assert core.read(LIB + PAGE - 4, 8) == memory[LIB][PAGE - 4 : PAGE + 4]
    assert core.read(LIB + 2 * PAGE, 16) == memory[LIB][2 * PAGE : 2 * PAGE + 16]
    # a mapping with no segment at all (gcore leaves code out so)
    assert core.read(EXE + 100, 4) == memory[EXE][100:104]
    assert core.read_many([(ANON, 2), (EXE, 2)]) == [memory[ANON][:2], memory[EXE][:2]]


def test_unmapped_addresses_fail_as_in_a_live_process(made) -> None:
    core = CoreMemory(str(made[0]))
    for addr, size in ((0x5000, 8), (ANON2 + PAGE - 4, 8), (EXE + PAGE, 1), (0, 8), (ANON, -1)):
        with pytest.raises(RemoteReadError):
            core.read(addr, size)
    assert core.read_some([(ANON, 4), (0x5000, 4), (EXE, 1)]) == [
        bytes(range(4)), None, made[1][EXE][:1]
    ]
    with pytest.raises(RemoteReadError):
        core.read_dumped(LIB + PAGE, 4)  # in the file, not in the core
    with pytest.raises(RemoteReadError):
        core.read(ANON, 65 * 1024 * 1024)  # sizes come from the target: bounded


def test_a_mapped_file_that_is_gone_is_unreadable_not_fatal(made) -> None:
    path, memory = made
    (path.parent / "libpython3.12.so.1.0").unlink()
    core = CoreMemory(str(path))
    assert core.read(LIB, 4) == memory[LIB][:4]
    with pytest.raises(RemoteReadError):
        core.read(LIB + PAGE, 4)


def test_a_mapped_file_that_is_not_a_regular_file_is_not_opened(made) -> None:
    """A core names any path it likes: a FIFO there must not hang the read."""
    path, memory = made
    lib = path.parent / "libpython3.12.so.1.0"
    lib.unlink()
    os.mkfifo(lib)
    core = CoreMemory(str(path))
    assert core.read(LIB, 4) == memory[LIB][:4]
    assert core.read_some([(LIB + PAGE, 4)]) == [None]


def test_executable_override(made, tmp_path: Path) -> None:
    path, memory = made
    moved = tmp_path / "moved-python"
    (path.parent / "python3.12").rename(moved)
    assert CoreMemory(str(path)).read_some([(EXE, 4)]) == [None]
    assert CoreMemory(str(path), executable=str(moved)).read(EXE, 4) == memory[EXE][:4]


def test_a_truncated_core_says_what_is_missing_and_reads_the_rest(made) -> None:
    path, memory = made
    data = path.read_bytes()
    cut = len(data) - PAGE - PAGE // 2  # half of the second anonymous segment is lost
    path.write_bytes(data[:cut])
    core = CoreMemory(str(path))
    assert core.size == cut and core.declared_size == len(data) and not core.notes_cut
    assert [(m.start, m.size) for m in core.missing] == [(ANON2 + PAGE // 2, PAGE // 2),
                                                         (LIB, PAGE)]
    assert core.read(ANON2, 16) == memory[ANON2][:16]
    with pytest.raises(RemoteReadError):
        core.read(ANON2 + PAGE // 2, 4)
    # bytes the core should hold are never taken from the file instead
    with pytest.raises(RemoteReadError):
        core.read(LIB, 4)
    assert core.read(LIB + PAGE, 4) == memory[LIB][PAGE : PAGE + 4]


@pytest.mark.parametrize(
    "content, words",
    [
        (b"just text\n", "not an ELF file"),
        (b"", "not an ELF file"),
        (elf_with_build_id(b"\1" * 20, 512), "not a core file (a shared object"),
    ],
)
def test_not_a_core(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "file"
    path.write_bytes(content)
    with pytest.raises(InputError) as error:
        CoreMemory(str(path))
    assert words in error.value.message and "gcore" in (error.value.hint or "")


def test_a_core_cut_inside_its_program_headers_is_refused(made) -> None:
    path, _ = made
    path.write_bytes(path.read_bytes()[:200])  # the header, half the program headers
    with pytest.raises(InputError, match="truncated or damaged: its program headers"):
        CoreMemory(str(path))


def test_notes_up_to_a_cut_are_kept(made) -> None:
    """Cut inside NT_FILE: the threads before it are known, the files are not."""
    path, _ = made
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"libpython3.12.so.1.0\0")])
    core = CoreMemory(str(path))
    assert [thread.tid for thread in core.threads] == [4242, 4243]
    assert core.mappings == [] and core.notes_cut
    assert "its notes cut short" in (core.damage() or "")
    assert f"of {len(data)} bytes" in (core.damage() or "")


def test_damaged_notes_in_a_whole_file_are_refused(made) -> None:
    path, _ = made
    data = bytearray(path.read_bytes())
    at = data.index(b"CORE\0") - 12
    data[at : at + 4] = struct.pack("<I", 1 << 20)  # a name longer than the notes
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="is damaged: its notes cannot be read"):
        CoreMemory(str(path))


def test_build_ids_of_the_file_and_of_the_core_must_agree(made, tmp_path: Path) -> None:
    path, _ = made
    core = CoreMemory(str(path))
    maps = [MapEntry(m.start, m.end, "", m.offset, 0, m.path) for m in core.mappings]
    lib = str(path.parent / "libpython3.12.so.1.0")
    _check_build_id(core, maps, lib)  # the same build: no complaint
    Path(lib).write_bytes(elf_with_build_id(b"\x33" * 20, LIB_SIZE))
    with pytest.raises(InputError) as error:
        _check_build_id(core, maps, lib)
    assert "33" * 20 in error.value.message and "11" * 20 in error.value.message
