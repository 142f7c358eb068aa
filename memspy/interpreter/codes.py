"""Code objects by address, decoded once and re-checked cheaply.

A code object is immutable in the fields a stack needs (names, file, first line, line
table), so its decoding is cached by address. Addresses are reused after a code object
is freed, so each sample re-reads the small identity header of every code object it
meets (one batched system call for all of them) and trusts the cache only if the
pointers it holds are unchanged.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

from memspy.errors import MemspyError, RemoteReadError, TargetExited
from memspy.interpreter.linetable import decode_line
from memspy.interpreter.objects.strings import RemoteObjects
from memspy.memory.base import Memory, read_regions
from memspy.model import Frame
from memspy.offsets import Layout

_PTR = struct.Struct("<Q")
_I32 = struct.Struct("<i")

MAX_CODES = 100_000  # cached code objects before the cache is dropped and rebuilt
MAX_READ_AHEAD = 512  # code headers read ahead per sample
MAX_FRAMES_PER_CODE = 4096  # cached (position -> Frame) answers per code object
# Rough bytes the cache may hold (names, tables, frames) before it is dropped and rebuilt:
# sizes come from the target, so a count of entries alone does not bound memory.
MAX_CACHE_BYTES = 128 * 1024 * 1024
_FRAME_BYTES = 200  # what one cached Frame costs, roughly


@dataclass
class CodeInfo:
    name: str
    filename: str
    firstlineno: int
    linetable: bytes
    firsttraceable: int  # instruction index before which a frame is incomplete (3.11+)
    # A generator's or coroutine's: its frame leaves the thread's chain at each yield, so
    # a walk that ends at it read the chain at two moments (see ``PyFrameChain.decode``).
    suspends: bool
    # 3.11+: the bytes a frame of this code takes on the data stack (0 before 3.11)
    frame_bytes: int
    identity: Tuple[int, ...]  # the immutable header fields this decoding was made from
    frames: Dict[int, Frame]  # decoded frames by position, reused sample after sample


class CodeCache:
    def __init__(
        self, memory: Memory, layout: Layout, objects: RemoteObjects, code_type: Optional[int]
    ) -> None:
        self.memory = memory
        self.objects = objects
        c = layout.code
        self._type_off = layout.object.type
        self._code_type = code_type
        self._name_off = c.qualname if c.qualname is not None else c.name
        self._fields = [c.filename, self._name_off, c.linetable]
        self._first_off = c.firstlineno
        self._traceable_off = c.firsttraceable
        self._flags_off = c.flags
        self._suspending = sum(bit for bit in layout.coflags.as_dict().values() if bit)
        self._zombie_off = c.zombieframe
        # 3.11+: a frame's data-stack words are nlocalsplus + stacksize + the specials
        # (CPython's _PyFrame_NumSlotsForCodeObject; 3.12+ stores it as co_framesize).
        self._size_offs = (c.nlocalsplus, c.stacksize) if c.nlocalsplus is not None else None
        self._specials = (layout.iframe.sizeof - 1) // 8 if self._size_offs else 0
        ints = [c.firstlineno, c.flags]
        ints += [c.firsttraceable] if c.firsttraceable is not None else []
        ints += [c.zombieframe] if c.zombieframe is not None else []
        ints += list(self._size_offs or ())
        # The identity header spans the type pointer, the three pointers and the ints.
        self._header_size = max(self._fields + ints + [self._type_off]) + 8
        self._identity_struct = fields_struct(
            [(o, "Q") for o in (self._type_off, *self._fields)] + [(self._first_off, "i")]
        )
        self._linetable_kind = layout.features.linetable
        self._cache: Dict[int, CodeInfo] = {}
        self._checked: Dict[int, CodeInfo] = {}  # validated during the current sample
        # The headers read in the current sample (regions, bytes), and from them, made
        # when a walk first asks: ≤3.10's code address -> its zombie frame.
        self._heads: List[Tuple[Sequence[Tuple[int, int]], Sequence[Optional[bytes]]]] = []
        self._zombies: Optional[Dict[int, int]] = None
        # The code objects the last sample met, and the headers of them read ahead.
        self._ahead: List[int] = []
        self._ahead_regions: List[Tuple[int, int]] = []
        # What the last ``accept`` was given and found (see there).
        self._accepted: Tuple[object, ...] = ()
        self._accepted_checked: Dict[int, CodeInfo] = {}
        self._cache_bytes = 0
        # Bumped whenever a cached decoding is dropped: frames decoded before may name a
        # code object that is no longer at that address.
        self.generation = 0

    def new_sample(self) -> List[Tuple[int, int]]:
        """Start a sample; returns the headers worth reading ahead in the sample's first
        batch: those of the code objects the last sample met, which a steady program
        meets again, so most samples need no read of their own for validation."""
        ahead = list(self._checked)[:MAX_READ_AHEAD]
        self._checked = {}
        self._heads = []
        self._zombies = None
        if ahead != self._ahead:  # a steady program meets the same code objects
            self._ahead = ahead
            self._ahead_regions = [(a, self._header_size) for a in ahead]
        return self._ahead_regions

    def accept(self, regions: Sequence[Tuple[int, int]], heads: Sequence[Optional[bytes]]) -> None:
        """Validate cached code objects against headers read ahead (see ``new_sample``).

        A header missing here was a guess dropped with its batch (a stale guess elsewhere
        in it fails the whole call), not proof that the code is gone: it stays cached and
        unchecked, and ``validate`` reads it again if this sample meets it. Evicting it
        instead would re-decode every code object after any stale guess, and a decoding
        made from whatever a torn moment holds would be kept.

        A steady program reads the same headers sample after sample: the same bytes at
        the same addresses, with nothing dropped from the cache since, pass the same
        checks, so their outcome is taken as it was.
        """
        accepted = (regions, heads, self.generation)
        if accepted == self._accepted:
            self._heads.append((regions, heads))
            self._checked.update(self._accepted_checked)
            return
        self._check(regions, heads, evict_unread=False)
        self._accepted = (regions, heads, self.generation)
        self._accepted_checked = dict(self._checked)

    def accept_steady(
        self,
        regions: Sequence[Tuple[int, int]],
        heads: Sequence[Optional[bytes]],
        codes: Iterable[FrozenSet[int]],
    ) -> bool:
        """``new_sample``, ``accept`` and ``validate(codes)`` in one, for a sample whose
        headers read ahead are byte for byte those accepted last, with every code object
        of ``codes`` among them: True, with the effect of those calls (and no read),
        when the headers read ahead are those ``new_sample`` would name (the last sample
        was such a one too, or ``new_sample`` named them). False, with no effect at
        all, for any other sample."""
        if (regions, heads, self.generation) != self._accepted or not self.steady_covers(codes):
            return False
        self._heads = [(regions, heads)]
        self._checked = dict(self._accepted_checked)
        self._zombies = None
        return True

    def steady_covers(self, codes: Iterable[FrozenSet[int]]) -> bool:
        """Whether every code object of ``codes`` is among those ``accept_steady`` takes
        with the headers accepted last."""
        return self._accepted_checked.keys() >= frozenset().union(*codes)

    def validate(self, addrs: Iterable[FrozenSet[int]]) -> None:
        """Check, in one batched read, every cached code object in the sets ``addrs`` not
        yet checked in this sample (sets: most are checked already, and set operations
        find the rest without a Python loop over every frame of every thread)."""
        unchecked = set().union(*addrs)
        unchecked.difference_update(self._checked)
        todo = [a for a in unchecked if a in self._cache]
        if todo:
            regions = [(a, self._header_size) for a in todo]
            self._check(regions, read_regions(self.memory, regions), evict_unread=True)

    def _check(
        self,
        regions: Sequence[Tuple[int, int]],
        heads: Sequence[Optional[bytes]],
        evict_unread: bool,
    ) -> None:
        """Trust a cached decoding for this sample if its header is unchanged, else drop
        it (and, with ``evict_unread``, when its header could not be read)."""
        cache, checked, identity = self._cache, self._checked, self._identity_struct.unpack_from
        self._heads.append((regions, heads))
        self._zombies = None
        for (addr, _), head in zip(regions, heads):
            info = cache.get(addr)
            if info is None or (head is None and not evict_unread):
                continue
            if head is not None and identity(head) == info.identity:
                checked[addr] = info
            else:
                del cache[addr]
                self.generation += 1

    def get(self, addr: int) -> CodeInfo:
        info = self._checked.get(addr)
        if info is not None:
            return info
        info = self._cache.get(addr)
        if info is None:
            info = self._load(addr)
        self._checked[addr] = info
        return info

    def known(self, addr: int) -> Optional[CodeInfo]:
        """The decoding cached for ``addr``, if any: no read, and, unlike ``get``,
        nothing marked as checked in this sample (a walk recalled from its bytes before
        ``validate`` must not spare a code object its check)."""
        return self._checked.get(addr) or self._cache.get(addr)

    def peek(self, addr: int) -> Optional[CodeInfo]:
        """The code at ``addr`` for a walk before ``validate`` (None if it is unreadable
        or no code object): a new one is decoded and cached, but left for ``validate`` to
        check like any other."""
        info = self.known(addr)
        if info is None:
            try:
                info = self._load(addr)
            except TargetExited:
                raise
            except MemspyError:
                return None
        return info

    def suspends(self, addr: int) -> bool:
        """Whether the code at ``addr`` is a generator's or coroutine's (False if unknown)."""
        info = self.peek(addr)
        return info is not None and info.suspends

    def zombie(self, addr: int) -> int:
        """≤3.10: the frame the code at ``addr`` keeps for its next call, as read with
        this sample's headers (read now if it was not among them); 0 if unknown."""
        if self._zombie_off is None:
            return 0
        zombies = self._zombies
        if zombies is None:
            zombies = self._zombies = {
                code: _PTR.unpack_from(head, self._zombie_off)[0]
                for regions, heads in self._heads
                for (code, _), head in zip(regions, heads)
                if head is not None
            }
        frame = zombies.get(addr)
        if frame is None:
            try:
                head = self.memory.read(addr, self._header_size)
            except TargetExited:
                raise
            except MemspyError:
                return 0
            frame = zombies[addr] = _PTR.unpack_from(head, self._zombie_off)[0]
        return frame or 0

    def _load(self, addr: int) -> CodeInfo:
        info = self._decode(addr, self.memory.read(addr, self._header_size))
        self._charge(len(info.name) + len(info.filename) + len(info.linetable))
        self._cache[addr] = info
        return info

    def _decode(self, addr: int, head: bytes) -> CodeInfo:
        if (
            self._code_type is not None
            and _PTR.unpack_from(head, self._type_off)[0] != self._code_type
        ):
            raise RemoteReadError(f"frame's code at 0x{addr:x} is not a code object")
        filename_p, name_p, table_p = (_PTR.unpack_from(head, o)[0] for o in self._fields)
        firsttraceable = (
            _I32.unpack_from(head, self._traceable_off)[0] if self._traceable_off is not None else 0
        )
        return CodeInfo(
            name=self.objects.string(name_p),
            filename=self.objects.string(filename_p),
            firstlineno=_I32.unpack_from(head, self._first_off)[0],
            linetable=self.objects.bytes(table_p),
            firsttraceable=firsttraceable,
            suspends=bool(_I32.unpack_from(head, self._flags_off)[0] & self._suspending),
            frame_bytes=8 * (
                sum(_I32.unpack_from(head, off)[0] for off in self._size_offs) + self._specials
                if self._size_offs
                else 0
            ),
            identity=self._identity_struct.unpack_from(head),
            frames={},
        )

    def frame(self, info: CodeInfo, position: int) -> Frame:
        """The frame at ``position`` (f_lasti, or the 3.11+ instruction index), cached."""
        line = decode_line(self._linetable_kind, info.linetable, info.firstlineno, position)
        frame = Frame(info.name, info.filename, line, info.firstlineno)
        if len(info.frames) < MAX_FRAMES_PER_CODE:
            self._charge(_FRAME_BYTES)
            info.frames[position] = frame
        return frame

    def _charge(self, size: int) -> None:
        """Account for ``size`` more cached bytes; start afresh when over the bounds.

        Entries already handed out for the current sample stay valid: only the cache
        forgets them, so a later sample decodes them again.
        """
        self._cache_bytes += size
        if self._cache_bytes > MAX_CACHE_BYTES or len(self._cache) >= MAX_CODES:
            self._cache.clear()
            self._cache_bytes = size
            self.generation += 1


def fields_struct(fields: List[Tuple[int, str]]) -> struct.Struct:
    """One precompiled format that unpacks the fields at these offsets in a single call
    (a code object is checked in every sample: slicing field by field costs several times
    more)."""
    layout, position = "<", 0
    for offset, kind in sorted(fields):
        if offset < position:
            raise ValueError(f"overlapping fields at offset {offset}")
        layout += f"{offset - position}x{kind}" if offset > position else kind
        position = offset + struct.calcsize("<" + kind)
    return struct.Struct(layout)
