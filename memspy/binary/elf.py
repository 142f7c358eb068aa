"""ELF facts memspy needs from an interpreter binary: read once with pyelftools, then kept
on disk by the file's build id.

Parsing a libpython and importing pyelftools take about a third of ``memspy dump``'s own
time; a short-lived target can exit in that time. The facts memspy keeps (a dozen symbol
values, the section table, the load segments) are a few hundred bytes, so the second
look at the same binary reads them back from ``~/.cache/memspy`` instead.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from memspy.binary.maps import MapEntry
from memspy.errors import MemspyError

CACHE_FORMAT = 1  # bump when what is kept changes


@dataclass
class ElfImage:
    """Symbols, sections and load segments of one ELF file.

    Symbols come from ``.symtab`` when present (it holds the static ``interp_head`` of 2.7
    and 3.6) and ``.dynsym`` (which survives stripping). Only the wanted names are looked
    up, straight from the raw tables: building pyelftools' symbol objects for a
    libpython's ~10,000 symbols costs half a second, this costs milliseconds.
    """

    path: str
    is_exec: bool = False
    symbols: Dict[str, int] = field(default_factory=dict)
    sections: Dict[str, Tuple[int, int]] = field(default_factory=dict)  # name -> addr, size
    loads: List[Tuple[int, int]] = field(default_factory=list)  # PT_LOAD (p_vaddr, p_offset)

    def symbol(self, *names: str) -> Optional[int]:
        """The link-time address of the first of ``names`` that the file defines."""
        for name in names:
            if name in self.symbols:
                return self.symbols[name]
        return None

    def load_bias(self, maps: List[MapEntry], path: str) -> Optional[int]:
        """Where the file is loaded: runtime address minus link-time address.

        Uses the mapping of ``path`` whose file offset lies in the first PT_LOAD segment,
        so it works whether or not the first segment starts at offset 0.
        """
        if self.is_exec:
            return 0
        if not self.loads:
            return None
        vaddr, offset = self.loads[0]
        for entry in maps:
            if entry.path == path and entry.offset == offset & ~0xFFF:
                return entry.start - (offset & ~0xFFF) - ((vaddr - offset) & ~0xFFF)
        return None


def _parse(path: str, wanted: Tuple[str, ...]) -> Optional[ElfImage]:
    # Imported here: a binary seen before never needs pyelftools (about 40 ms to import).
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    image = ElfImage(path)
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            image.is_exec = elf.header["e_type"] == "ET_EXEC"
            for segment in elf.iter_segments():
                if segment["p_type"] == "PT_LOAD":
                    image.loads.append((segment["p_vaddr"], segment["p_offset"]))
            for section in elf.iter_sections():
                image.sections[section.name] = (section["sh_addr"], section["sh_size"])
            names = [n.encode() for n in wanted]
            for table_name in (".dynsym", ".symtab"):
                table = elf.get_section_by_name(table_name)
                if isinstance(table, SymbolTableSection):
                    strtab = elf.get_section(table["sh_link"]).data()
                    image.symbols.update(_defined(table.data(), strtab, names, elf.elfclass))
    except ELFError:
        return None
    return image


_SYM64 = struct.Struct("<IBBHQQ")  # st_name, st_info, st_other, st_shndx, st_value, st_size
_SYM32 = struct.Struct("<IIIBBH")  # st_name, st_value, st_size, st_info, st_other, st_shndx


def _defined(symtab: bytes, strtab: bytes, names: List[bytes], elfclass: int) -> Dict[str, int]:
    """Values of the defined symbols among ``names``, by matching string-table offsets.

    Every place a name (plus its NUL) occurs is a candidate offset, because linkers share a
    string's tail between names ("version" may live inside "Py_GetVersion").
    """
    offsets: Dict[int, str] = {}
    for name in names:
        key = name + b"\0"
        at = strtab.find(key)
        while at != -1:
            offsets[at] = name.decode()
            at = strtab.find(key, at + 1)
    found: Dict[str, int] = {}
    if elfclass == 64:
        for st_name, _, _, shndx, value, _ in _SYM64.iter_unpack(symtab):
            if st_name in offsets and value and shndx:
                found[offsets[st_name]] = value
    else:
        for st_name, value, _, _, _, shndx in _SYM32.iter_unpack(symtab):
            if st_name in offsets and value and shndx:
                found[offsets[st_name]] = value
    return found


_NT_GNU_BUILD_ID = 3
_PT_NOTE = 4


def build_id(path: str) -> Optional[str]:
    """The GNU build id of a 64-bit little-endian ELF file (hex), from its PT_NOTE
    segments, without pyelftools; None if it has none or is not such a file."""
    try:
        with open(path, "rb") as f:

            def read(offset: int, size: int) -> bytes:
                f.seek(offset)
                return f.read(size)

            return build_id_from(read)
    except OSError:
        return None


def build_id_from(read: Callable[[int, int], bytes]) -> Optional[str]:
    """``build_id`` of an ELF file given as ``read(file offset, size)``: the file on disk,
    or its first pages as a process mapped them (a core keeps those)."""
    try:
        header = read(0, 64)
        if header[:6] != b"\x7fELF\x02\x01":
            return None
        phoff, = struct.unpack_from("<Q", header, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        table = read(phoff, phentsize * phnum)
        for index in range(phnum):
            p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(
                "<IIQQQQ", table, index * phentsize
            )
            if p_type != _PT_NOTE or p_filesz > 1 << 16:
                continue
            found = _build_id_note(read(p_offset, p_filesz))
            if found:
                return found
    except (OSError, struct.error, MemspyError):
        return None
    return None


def _build_id_note(notes: bytes) -> Optional[str]:
    at = 0
    while at + 12 <= len(notes):
        namesz, descsz, kind = struct.unpack_from("<III", notes, at)
        name_at = at + 12
        desc_at = name_at + (namesz + 3) // 4 * 4
        if kind == _NT_GNU_BUILD_ID and notes[name_at : name_at + namesz] == b"GNU\0":
            return notes[desc_at : desc_at + descsz].hex() or None
        at = desc_at + (descsz + 3) // 4 * 4
    return None


def _cache_path(identity: str, wanted: Tuple[str, ...]) -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    names = f"{zlib.crc32(chr(0).join(wanted).encode()):08x}"
    return os.path.join(base, "memspy", "elf", f"{identity}-{names}-v{CACHE_FORMAT}.json")


def _load_cached(cache: str, path: str) -> Optional[ElfImage]:
    try:
        with open(cache) as f:
            kept = json.load(f)
        return ElfImage(
            path,
            bool(kept["is_exec"]),
            {str(k): int(v) for k, v in kept["symbols"].items()},
            {str(k): (int(a), int(s)) for k, (a, s) in kept["sections"].items()},
            [(int(v), int(o)) for v, o in kept["loads"]],
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # absent or damaged: parsed again, and written anew


def _store(cache: str, image: ElfImage) -> None:
    """Best effort: a cache that cannot be written only costs the next run its parse."""
    kept = asdict(image)
    del kept["path"]
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(cache), suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(kept, f)
        os.replace(temporary, cache)
    except OSError:
        pass


_parsed: Dict[Tuple[object, ...], Optional[ElfImage]] = {}


def open_elf(path: str, wanted: Iterable[str]) -> Optional[ElfImage]:
    """The file's facts: reused within this run while the same file (device, inode,
    mtime) is asked for (with --subprocesses every child maps the same libpython), and
    across runs by build id; None if it is not an ELF file that can be read."""
    names = tuple(wanted)
    try:
        info = os.stat(path)
    except OSError:
        return None
    key = (info.st_dev, info.st_ino, info.st_mtime_ns, names)
    if key in _parsed:
        return _parsed[key]
    identity = build_id(path)
    cache = _cache_path(identity, names) if identity else None
    image = _load_cached(cache, path) if cache else None
    if image is None:
        try:
            image = _parse(path, names)
        except OSError:
            return None
        if image is not None and cache:
            _store(cache, image)
    _parsed[key] = image
    return image
