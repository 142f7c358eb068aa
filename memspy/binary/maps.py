"""Parsing ``/proc/PID/maps``: the one place memspy learns where files are loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from memspy.errors import ProcessNotFound
from memspy.memory.process import permission_error


@dataclass(frozen=True)
class MapEntry:
    start: int
    end: int
    perms: str
    offset: int
    inode: int
    path: str

    def contains(self, addr: int) -> bool:
        return self.start <= addr < self.end


def parse_maps(text: str) -> List[MapEntry]:
    entries = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        start, _, end = parts[0].partition("-")
        entries.append(
            MapEntry(
                start=int(start, 16),
                end=int(end, 16),
                perms=parts[1],
                offset=int(parts[2], 16),
                inode=int(parts[4]),
                path=parts[5].strip() if len(parts) > 5 else "",
            )
        )
    return entries


def read_maps(pid: int) -> List[MapEntry]:
    try:
        with open(f"/proc/{pid}/maps") as f:
            text = f.read()
    except FileNotFoundError:
        raise ProcessNotFound(f"no process with PID {pid}", "check the PID with ps") from None
    except PermissionError:
        raise permission_error(pid) from None
    except ProcessLookupError:
        raise ProcessNotFound(f"process {pid} exited", None) from None
    if not text:
        # Kernel threads and zombies have no address space to read.
        raise ProcessNotFound(f"process {pid} has no memory to read (exited or a zombie)")
    return parse_maps(text)
