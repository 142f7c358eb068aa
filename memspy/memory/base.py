"""The ``Memory`` protocol and an in-memory implementation for decoders' tests and fuzzing."""

from __future__ import annotations

from typing import Dict, List, Optional, Protocol, Sequence, Tuple

from memspy.errors import MemspyError, RemoteReadError, TargetExited

# Stages of one batched read (see ``ProcessMemory.read_some``): what names memory first;
# what it names then, the most of it (a thread's data stack) before the rest; the first
# pointers once more, right after (whether what they named changed while it was read,
# over as short a span as one system call allows); what does not change last. Each
# page read between two stages widens the span a sample is read over.
FIRST, THEN, ALSO, AGAIN, LAST = 0, 1, 2, 3, 4


class Memory(Protocol):
    """Byte-level access to another address space.

    ``read`` returns exactly ``size`` bytes or raises ``RemoteReadError``; ``read_many``
    does the same for several regions at once, so an implementation can batch them in one
    system call.

    ``retakes`` counts the batched reads made again because they were held up while they
    read (see ``ProcessMemory``): their bytes were not one instant's.
    """

    retakes: int

    def read(self, addr: int, size: int) -> bytes: ...

    def read_many(self, regions: Sequence[Tuple[int, int]]) -> List[bytes]: ...

    def read_some(
        self, regions: Sequence[Tuple[int, int]], stages: Sequence[int] = ()
    ) -> List[Optional[bytes]]: ...


class LocalMemory:
    """``read_many`` and ``read_some`` for a memory held on this side (bytes, a mapped
    file): a read costs no system call, so batching gains nothing, and its bytes hold one
    instant whatever the order of the reads."""

    retakes = 0  # never held up: nothing moves while it is read

    def read(self, addr: int, size: int) -> bytes:
        raise NotImplementedError

    def read_many(self, regions: Sequence[Tuple[int, int]]) -> List[bytes]:
        return [self.read(addr, size) for addr, size in regions]

    def read_some(
        self, regions: Sequence[Tuple[int, int]], stages: Sequence[int] = ()
    ) -> List[Optional[bytes]]:
        return read_each(self, regions)


class BufferMemory(LocalMemory):
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


def read_regions(
    memory: Memory, regions: Sequence[Tuple[int, int]], stages: Sequence[int] = ()
) -> List[Optional[bytes]]:
    """Read many regions in one go where possible (in ``stages``, see
    ``ProcessMemory.read_some``); a region that cannot be read is None."""
    return list(memory.read_some(regions, stages)) if regions else []


def read_each(memory: Memory, regions: Sequence[Tuple[int, int]]) -> List[Optional[bytes]]:
    """``read_some`` for a memory that reads one region at a time."""
    out: List[Optional[bytes]] = []
    for addr, size in regions:
        try:
            out.append(memory.read(addr, size))
        except TargetExited:
            raise
        except MemspyError:
            out.append(None)
    return out
