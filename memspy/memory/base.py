"""The ``Memory`` protocol and an in-memory implementation for decoders' tests and fuzzing."""

from __future__ import annotations

from typing import Dict, List, Optional, Protocol, Sequence, Tuple

from memspy.errors import MemspyError, RemoteReadError, TargetExited


class Memory(Protocol):
    """Byte-level access to another address space.

    ``read`` returns exactly ``size`` bytes or raises ``RemoteReadError``; ``read_many``
    does the same for several regions at once, so an implementation can batch them in one
    system call.
    """

    def read(self, addr: int, size: int) -> bytes: ...

    def read_many(self, regions: Sequence[Tuple[int, int]]) -> List[bytes]: ...


class BufferMemory:
    """Memory made of byte strings placed at chosen addresses (for tests and fuzzing)."""

    def __init__(self, regions: Dict[int, bytes] | None = None) -> None:
        self._regions: List[Tuple[int, bytes]] = sorted((regions or {}).items())

    def add(self, addr: int, data: bytes) -> None:
        self._regions.append((addr, bytes(data)))
        self._regions.sort()

    def read(self, addr: int, size: int) -> bytes:
        if size < 0:
            raise RemoteReadError(f"negative read size {size}")
        for start, data in self._regions:
            if start <= addr and addr + size <= start + len(data):
                off = addr - start
                return data[off : off + size]
        raise RemoteReadError(f"address 0x{addr:x} (+{size}) is not mapped")

    def read_many(self, regions: Sequence[Tuple[int, int]]) -> List[bytes]:
        return [self.read(addr, size) for addr, size in regions]


def read_regions(memory: Memory, regions: Sequence[Tuple[int, int]]) -> List[Optional[bytes]]:
    """Read many regions in one go where possible; a region that cannot be read is None.

    The kernel stops a batched read at the first bad region, so a failed batch is
    retried region by region rather than losing the good ones.
    """
    if not regions:
        return []
    try:
        return list(memory.read_many(regions))
    except TargetExited:
        raise
    except MemspyError:
        pass
    out: List[Optional[bytes]] = []
    for addr, size in regions:
        try:
            out.append(memory.read(addr, size))
        except TargetExited:
            raise
        except MemspyError:
            out.append(None)
    return out
