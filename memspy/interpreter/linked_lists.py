"""Reading a linked list in target memory with as few system calls as possible.

A list of thread states or of ≤3.10 frame objects mostly looks the same from one sample
to the next, so the addresses of the last walk are read in one batched call first; the
walk then uses those bytes wherever the list still goes through the same addresses and
reads only what changed. The result is exactly what a node-by-node walk gives.
"""

from __future__ import annotations

import struct
from typing import List, Optional, Sequence, Tuple

from memspy.errors import RemoteReadError
from memspy.memory.base import Memory

_PTR = struct.Struct("<Q")
_I64 = struct.Struct("<q")


def guess_regions(guess: Sequence[int], size: int, limit: int) -> List[Tuple[int, int]]:
    """What to read ahead for a list whose last walk went through ``guess``."""
    return [(a, size) for a in guess[:limit]]


def within_budget(regions: List[Tuple[int, int]], budget: int) -> List[Tuple[int, int]]:
    """The first of ``regions`` whose sizes add up to at most ``budget`` bytes."""
    if sum([size for _, size in regions]) <= budget:  # all of them, as almost always
        return regions
    total = 0
    for index, (_, size) in enumerate(regions):
        total += size
        if total > budget:
            return regions[:index]
    return regions


def freed(data: bytes, refcnt_off: int) -> bool:
    """Whether the object read as ``data`` has no reference left: it was freed."""
    return _I64.unpack_from(data, refcnt_off)[0] <= 0


def read_chain(
    memory: Memory,
    first: int,
    next_off: int,
    size: int,
    guess: Sequence[int],
    prefetched: Sequence[Optional[bytes]],
    limit: int,
    what: str,
    refcnt_off: Optional[int] = None,
) -> Tuple[List[Tuple[int, bytes]], bool]:
    """(address, bytes) of each node from ``first``; True as second item if cut at ``limit``.

    ``guess`` is the address list of the previous walk and ``prefetched`` what was read
    ahead at those addresses (see ``guess_regions``). A cycle raises RemoteReadError, and so
    does a node whose reference count (at ``refcnt_off``, for lists of objects) is not
    positive: it was freed, and what follows it is no longer the list. Stopping there costs
    one read, not one per node of whatever the freed node links to.
    """
    nodes: List[Tuple[int, bytes]] = []
    seen = set()
    addr = first
    index = 0
    while addr:
        if len(nodes) >= limit:
            return nodes, True
        if addr in seen:
            raise RemoteReadError(f"cycle in the {what} list")
        seen.add(addr)
        data = None
        if index < len(prefetched) and guess[index] == addr:
            data = prefetched[index]
        if data is None:
            data = memory.read(addr, size)
        if refcnt_off is not None and freed(data, refcnt_off):
            raise RemoteReadError(f"a freed {what} on the list: it changed while it was read")
        nodes.append((addr, data))
        index += 1
        addr = _PTR.unpack_from(data, next_off)[0]
    return nodes, False
