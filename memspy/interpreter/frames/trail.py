"""Where a 3.11+ walk's frames were, so the next walk can reuse its unchanged bottom."""

from __future__ import annotations

import struct
from itertools import accumulate
from typing import Dict, List, NamedTuple, Optional, Tuple

_PTR = struct.Struct("<Q")
_I32 = struct.Struct("<i")

MAX_TRAIL_TOP = 32  # 3.11+ frames a reusing walk adds on its trail before it is redone whole


class TrailBase(NamedTuple):
    """Where the frames of a whole walk were, outermost first (position 0)."""

    where: Dict[int, int]  # frame address -> position
    extent: List[int]  # bytes of the chunk the frames at or below a position were read from
    raws: List[int]  # raw frames made by the frames at or below a position
    top_outside: int  # highest position of a frame outside the current chunk, or -1


class Trail(NamedTuple):
    """A closed walk of a 3.11+ thread, kept so that the next walk can stop where the
    stack stops changing: the positions of a whole walk up to ``cut``, then the frames a
    later walk put above them. A walk that reuses the frames below a position extends
    this in proportion to what it walked, not to the depth of the stack."""

    plan: Tuple[int, List[int], List[Tuple[int, int]], Tuple[Optional[bytes], ...]]
    data: bytes  # the current data-stack chunk as read
    chunk: int
    base: TrailBase
    cut: int  # positions of ``base`` at or below this still stand
    top: Tuple[Tuple[int, int, int], ...]  # (address, extent, raws) above ``cut``, outermost first
    outside: List[int]  # the walk's frames outside the chunks, to read ahead next time
    older: List[Tuple[int, int]]  # the older chunks it read, likewise

    def position(self, addr: int) -> Optional[int]:
        for index, (node, _, _) in enumerate(self.top):
            if node == addr:
                return self.cut + 1 + index
        position = self.base.where.get(addr)
        return position if position is not None and position <= self.cut else None

    def at(self, position: int) -> Tuple[int, int]:
        """(extent, raws) at ``position``."""
        if position <= self.cut:
            return self.base.extent[position], self.base.raws[position]
        _, extent, raws = self.top[position - self.cut - 1]
        return extent, raws

    def grow(
        self, where: int, data: bytes, visited: List[int], made: List[bool], size: int
    ) -> Trail:
        """This trail cut above ``where``, with the new top frames ``visited`` on it."""
        extent, raws = self.at(where)
        top = list(self.top[: max(where - self.cut, 0)])
        for addr, frame in zip(reversed(visited), reversed(made)):
            extent, raws = max(extent, addr - self.chunk + size), raws + frame
            top.append((addr, extent, raws))
        grown = Trail(
            self.plan, data, self.chunk, self.base, min(where, self.cut), tuple(top),
            self.outside, self.older,
        )
        return grown if len(top) <= MAX_TRAIL_TOP else grown.flattened()

    def flattened(self) -> Trail:
        """The same trail as one whole walk (a stack that keeps growing would otherwise
        make ``top`` long, and ``position`` slow)."""
        where = {addr: p for addr, p in self.base.where.items() if p <= self.cut}
        for index, (addr, _, _) in enumerate(self.top):
            where[addr] = self.cut + 1 + index
        extent = self.base.extent[: self.cut + 1] + [e for _, e, _ in self.top]
        raws = self.base.raws[: self.cut + 1] + [r for _, _, r in self.top]
        base = TrailBase(where, extent, raws, self.base.top_outside)
        return self._replace(base=base, cut=len(extent) - 1, top=())


def new_trail(
    plan: Tuple[int, List[int], List[Tuple[int, int]], Tuple[Optional[bytes], ...]],
    data: bytes,
    chunk: int,
    size: int,
    visited: List[int],
    made: List[bool],
    outside: List[int],
    older: List[Tuple[int, int]],
) -> Trail:
    addrs = visited[::-1]
    end = chunk + len(data)
    inside = [chunk <= addr and addr + size <= end for addr in addrs]
    ends = [addr - chunk + size if ok else 0 for addr, ok in zip(addrs, inside)]
    top_outside = max((p for p, ok in enumerate(inside) if not ok), default=-1)
    base = TrailBase(
        dict(zip(addrs, range(len(addrs)))), list(accumulate(ends, max)),
        list(accumulate(reversed(made))), top_outside,
    )
    return Trail(plan, data, chunk, base, len(addrs) - 1, (), outside, older)

