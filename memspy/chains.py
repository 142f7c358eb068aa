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


def guess_regions(guess: Sequence[int], size: int, limit: int) -> List[Tuple[int, int]]:
    """What to read ahead for a list whose last walk went through ``guess``."""
    return [(a, size) for a in guess[:limit]]


def within_budget(regions: List[Tuple[int, int]], budget: int) -> List[Tuple[int, int]]:
    """The first of ``regions`` whose sizes add up to at most ``budget`` bytes."""
    total = 0
    for index, (_, size) in enumerate(regions):
        total += size
        if total > budget:
            return regions[:index]
    return regions


def read_chain(
    memory: Memory,
    first: int,
    next_off: int,
    size: int,
    guess: Sequence[int],
    prefetched: Sequence[Optional[bytes]],
    limit: int,
    what: str,
) -> Tuple[List[Tuple[int, bytes]], bool]:
    """(address, bytes) of each node from ``first``; True as second item if cut at ``limit``.

    ``guess`` is the address list of the previous walk and ``prefetched`` what was read
    ahead at those addresses (see ``guess_regions``). A cycle raises RemoteReadError.
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
        nodes.append((addr, data))
        index += 1
        addr = _PTR.unpack_from(data, next_off)[0]
    return nodes, False
