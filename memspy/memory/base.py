"""The ``Memory`` protocol and an in-memory implementation for decoders' tests and fuzzing."""

from __future__ import annotations

from typing import Dict, List, Protocol, Sequence, Tuple

from memspy.errors import RemoteReadError


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
