"""ELF facts memspy needs from an interpreter binary, read once with pyelftools."""

from __future__ import annotations

import os
import struct
from typing import Dict, Iterable, List, Optional, Tuple

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from memspy.binary.maps import MapEntry


class ElfImage:
    """Symbols, sections and load segments of one ELF file.

    Symbols come from ``.symtab`` when present (it holds the static ``interp_head`` of 2.7
    and 3.6) and ``.dynsym`` (which survives stripping). Only the ``wanted`` names are
    looked up, straight from the raw tables: building pyelftools' symbol objects for a
    libpython's ~10,000 symbols costs half a second, this costs milliseconds.
    """

    def __init__(self, path: str, wanted: Iterable[str]) -> None:
        self.path = path
        self.symbols: Dict[str, int] = {}
        self.sections: Dict[str, Tuple[int, int]] = {}
        self.loads: List[Tuple[int, int]] = []  # (p_vaddr, p_offset) of PT_LOAD segments
        with open(path, "rb") as f:
            elf = ELFFile(f)
            self.is_exec = elf.header["e_type"] == "ET_EXEC"
            for segment in elf.iter_segments():
                if segment["p_type"] == "PT_LOAD":
                    self.loads.append((segment["p_vaddr"], segment["p_offset"]))
            for section in elf.iter_sections():
                self.sections[section.name] = (section["sh_addr"], section["sh_size"])
            names = [n.encode() for n in wanted]
            for table_name in (".dynsym", ".symtab"):
                table = elf.get_section_by_name(table_name)
                if isinstance(table, SymbolTableSection):
                    strtab = elf.get_section(table["sh_link"]).data()
                    self.symbols.update(_defined(table.data(), strtab, names, elf.elfclass))

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


_parsed: Dict[Tuple[int, int, int, Tuple[str, ...]], ElfImage] = {}


def open_elf(path: str, wanted: Iterable[str]) -> Optional[ElfImage]:
    """The parsed file, reused while the same file (device, inode, mtime) is asked for:
    with --subprocesses every child maps the same libpython."""
    names = tuple(wanted)
    try:
        info = os.stat(path)
        key = (info.st_dev, info.st_ino, info.st_mtime_ns, names)
        if key not in _parsed:
            _parsed[key] = ElfImage(path, names)
        return _parsed[key]
    except (OSError, ELFError):
        return None
