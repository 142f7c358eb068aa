"""3.11+: a walk recalled when only its innermost frame's instruction moved.

A thread busy in a loop rewrites, between two samples, the locals, the value stack and
the instruction pointer of its innermost frame, all on the data stack that its walk
reads ahead: the bytes of no two samples are the same, so ``FrameChain.recall`` never
finds the walk again and every sample of it is walked. Yet the walk reads, of that
frame, only its code, its link to its caller and its owner, and then the instruction
(its position): with those, the thread state's walk key, the chunk below the frame and
every other byte read ahead as they were, the whole walk would make the same frames but
the first, at its new position.

So a closed, exact walk whose in-chunk frames all lie below the innermost one is kept
with those bytes (``MovingTop``); a later sample that has the same ones is that walk
with the innermost frame's position read now, decoded as the walk decodes it. As for a
recalled walk, the answer is the walk's own for these bytes: the shortcut biases no
sample. The caller's call site is learnt as the walk would learn it.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Dict, List, NamedTuple, Optional, Tuple

from memspy.interpreter.codes import CodeCache, fields_struct
from memspy.interpreter.frames.chain import (
    EXACT,
    CallSites,
    Prefetched,
    RawStack,
    Remembered,
    moved_walk,
)
from memspy.model import Frame
from memspy.offsets import Layout

Region = Tuple[int, int]
Site = Tuple[int, int, int, int]  # CallSites.learn's arguments


class MovingTop(NamedTuple):
    """A kept walk, with the bytes it was read from but the innermost frame's changing part."""

    tstate: bytes  # the thread state's walk key (``FrameChain.walk_key``)
    regions: List[Region]
    at: int  # where the data-stack chunk is in the read-ahead
    before: Prefetched  # the read-ahead before the chunk, and after it
    after: Prefetched
    size: int  # the chunk's bytes as read
    below: bytes  # the chunk up to the innermost frame
    offset: int  # of the innermost frame in the chunk
    head: Tuple[int, int, int]  # its code, its caller and its owner
    walk: Remembered
    tail: List[Frame]  # the walk's frames after the innermost one's
    site: Optional[Site]
    answers: Dict[int, Tuple[RawStack, List[Frame]]]  # by the innermost frame's position
    unused: Tuple[int, ...] = ()  # read-ahead regions the walk did not use: none here


class MovingTops:
    """The moving tops of a chain's threads, noted by its walks (see the module)."""

    def __init__(
        self, layout: Layout, codes: CodeCache, call_sites: CallSites, walk_key: slice
    ) -> None:
        f = layout.iframe
        # Code, caller, instruction, owner: unpacked in one call, in offset order.
        order = sorted(
            [(f.executable, "Q", 0), (f.previous, "Q", 1), (f.instr, "Q", 2), (f.owner, "B", 3)]
        )
        self._frame = fields_struct([(offset, kind) for offset, kind, _ in order])
        names = [name for _, _, name in order]
        self._in_order = itemgetter(*[names.index(field) for field in range(4)])
        self._generator = layout.owner.generator
        self._adaptive = layout.code.code_adaptive
        self.codes = codes
        self.call_sites = call_sites
        self._walk_key = walk_key
        self.tops: Dict[int, MovingTop] = {}  # thread state -> its moving top
        # Thread state -> the top its latest recall answered from, for the caller to
        # clear (see ``steady``).
        self.recalled: Dict[int, MovingTop] = {}
        # Thread state -> (its last walk, the innermost frame's offset in the chunk, where
        # the chunk is in the read-ahead, the call site): until the walk is remembered.
        self.noted: Dict[int, Tuple[RawStack, int, int, Optional[Site]]] = {}

    def _fields(self, chunk: bytes, offset: int) -> Tuple[int, int, int, int]:
        """The innermost frame's code, caller, instruction and owner."""
        return self._in_order(self._frame.unpack_from(chunk, offset))  # type: ignore[no-any-return]

    def note(self, tstate_addr: int, raw: RawStack, offset: int, at: int,
             site: Optional[Site]) -> None:
        """A walk that may become a moving top once remembered (see ``keep``)."""
        self.noted[tstate_addr] = (raw, offset, at, site)

    def keep(
        self, tstate_addr: int, tstate: bytes, regions: List[Region], prefetched: Prefetched,
        raw: RawStack, walk: Optional[Remembered],
    ) -> None:
        """Keep ``walk`` (``raw`` as remembered) as the thread's moving top if ``raw``
        was noted: the thread's last top stays otherwise."""
        noted = self.noted.pop(tstate_addr, None)
        if noted is None or noted[0] is not raw or walk is None or raw.quality != EXACT:
            return
        _, offset, at, site = noted
        chunk = prefetched[at]
        if chunk is None:
            return
        code, prev, _, owner = self._fields(chunk, offset)
        tail = walk.frames if 0 in walk.hidden else walk.frames[1:]
        self.tops[tstate_addr] = MovingTop(
            tstate[self._walk_key], regions, at,
            list(prefetched[:at]), list(prefetched[at + 1 :]), len(chunk),
            chunk[:offset], offset, (code, prev, owner), walk, tail, site, {},
        )

    def recall(
        self, tstate_addr: int, tstate: bytes, regions: List[Region], prefetched: Prefetched
    ) -> Optional[Tuple[RawStack, List[Frame], int]]:
        """The thread's moving top with its innermost frame where it is now, when these
        bytes are those it was kept from but that frame's changing part; else None,
        with nothing changed. The top is noted in ``recalled``."""
        top = self.tops.get(tstate_addr)
        if top is None or top.tstate != tstate[self._walk_key] or top.regions != regions:
            return None
        at = top.at
        if prefetched[:at] != top.before or prefetched[at + 1 :] != top.after:
            return None
        answer = self.moved(top, prefetched[at])
        if answer is None:
            return None
        if top.site is not None:  # learnt as the walk would have
            self.call_sites.learn(*top.site)
        self.recalled[tstate_addr] = top
        return answer[0], answer[1], top.walk.generation

    def moved(
        self, top: MovingTop, chunk: Optional[bytes]
    ) -> Optional[Tuple[RawStack, List[Frame]]]:
        """``top``'s walk with its innermost frame where ``chunk`` (the chunk read now)
        puts it, when the chunk holds what the walk read of it but that frame's changing
        part and the code cache is as the walk left it; else None. The rest of the
        thread's bytes are the caller's to check."""
        if top.walk.generation != self.codes.generation:
            return None
        if chunk is None or len(chunk) != top.size or not chunk.startswith(top.below):
            return None
        code, prev, instr, owner = self._fields(chunk, top.offset)
        if (code, prev, owner) != top.head:
            return None
        position = (instr - code - self._adaptive) // 2
        answer = top.answers.get(position)
        if answer is not None:
            return answer
        return moved_walk(
            self.codes, top.walk.raw, top.tail, code, position, owner != self._generator,
            top.answers,
        )
