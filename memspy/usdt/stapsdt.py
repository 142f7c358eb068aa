"""USDT probes of an ELF file (``.note.stapsdt``) and their semaphores in a live process.

A probe's note gives link-time addresses; a prelinked or re-laid-out file is corrected
by how far its ``.stapsdt.base`` section moved from the base the note recorded. A
semaphore is a 16-bit counter in the file's data that tracers increment while attached,
so reading it in a live process tells which probes someone is tracing right now.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from memspy.errors import InputError, MemspyError
from memspy.memory.base import Memory

NOTE_SECTION = ".note.stapsdt"
_NOTE_OWNER = "stapsdt"


@dataclass(frozen=True)
class Probe:
    provider: str
    name: str
    address: int  # link-time address of the probe's instruction
    semaphore: int  # link-time address of its counter; 0 when the probe has none
    arguments: str  # the argument spec, e.g. "8@%rbp 8@%r12 -4@%eax"

    @property
    def spec(self) -> str:
        return f"{self.provider}:{self.name}"


def _parse_desc(desc: bytes, elfclass: int, little: bool, section_base: int | None) -> Probe | None:
    """One note's probe, moved by the distance between the recorded and actual base."""
    word = struct.Struct(("<" if little else ">") + ("Q" if elfclass == 64 else "I"))
    head = 3 * word.size
    if len(desc) < head:
        return None
    pc, recorded_base, semaphore = (word.unpack_from(desc, i * word.size)[0] for i in range(3))
    strings = desc[head:].split(b"\0")
    if len(strings) < 3:
        return None
    shift = section_base - recorded_base if section_base is not None and recorded_base else 0
    provider, name, arguments = (s.decode("utf-8", "replace") for s in strings[:3])
    return Probe(provider, name, pc + shift, semaphore + shift if semaphore else 0, arguments)


def read_probes(path: str) -> list[Probe]:
    """Every probe the file declares, in file order; empty when built without them."""
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            notes = elf.get_section_by_name(NOTE_SECTION)
            if notes is None:
                return []
            base = elf.get_section_by_name(".stapsdt.base")
            base_addr = base["sh_addr"] if base is not None else None
            probes = []
            for note in notes.iter_notes():
                if note["n_name"] != _NOTE_OWNER:
                    continue
                desc = bytes(note["n_descdata"])
                probe = _parse_desc(desc, elf.elfclass, elf.little_endian, base_addr)
                if probe is not None:
                    probes.append(probe)
            return probes
    except FileNotFoundError:
        raise InputError(
            f"no such file: {path}", "give the path of a python binary or libpython"
        ) from None
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied") from None
    except IsADirectoryError:
        raise InputError(
            f"{path} is a directory", "give the path of a python binary or libpython"
        ) from None
    except (ELFError, struct.error, ValueError) as error:
        raise InputError(f"{path} is not a readable ELF file: {error}") from None


def all_placed(memory: Memory, probes: Sequence[Probe], bias: int) -> bool:
    """Whether a tracer has placed each of ``probes`` that has a semaphore in a live
    process: the kernel raises a probe's semaphore as it places the probe."""
    counts = read_semaphores(memory, probes, bias)
    return all(count for probe, count in zip(probes, counts) if probe.semaphore)


def read_semaphores(memory: Memory, probes: Sequence[Probe], bias: int) -> list[int | None]:
    """Each probe's semaphore count in a live process; ``None`` where it has none or
    cannot be read."""
    counts: list[int | None] = []
    for probe in probes:
        if not probe.semaphore:
            counts.append(None)
            continue
        try:
            counts.append(int.from_bytes(memory.read(probe.semaphore + bias, 2), "little"))
        except MemspyError:
            counts.append(None)
    return counts
