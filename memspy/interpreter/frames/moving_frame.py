"""≤3.10: a recalled walk whose innermost frame object moved to another instruction.

A thread busy in a loop changes, of the frame object it runs, only ``f_lasti`` between
two samples (the value stack and locals live past the part of the frame that a walk
reads). Its walk is recalled from the chain's memo while the loop comes back to a
position seen before, one thread at a time; a sample's echo (see ``steady``) would hold
the frame's bytes fixed and miss on the next sample.

So each thread's last kept walk is noted with its innermost frame (``MovingFrame``): the
frame's bytes but ``f_lasti``, and the read-ahead regions the walk did not use (the other
frames a thread had lately, which other threads' calls rewrite). A later read with the
same bytes in the regions used, and in that frame all but ``f_lasti``, is that walk with
the innermost frame's line at the new ``f_lasti``: the walk reads a frame's code,
``f_lasti``, ``f_back`` and reference count, and nothing else of the regions it did not
use, so the shortcut gives the walk's own answer and biases no sample. The chain recalls
a thread so (``MovingFrames.recall``) when its memo has not seen that position yet, and a
sample's echo answers its busy threads so.
"""

from __future__ import annotations

import struct
from operator import itemgetter
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from memspy.interpreter.codes import CodeCache
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

_I32 = struct.Struct("<i")
# Moving frames kept by their walk, beyond each thread's last: a busy thread's memo gives
# back a few dozen walks in turn, each recall of one would otherwise make its frame anew.
MAX_MADE = 1024


class MovingFrame(NamedTuple):
    """A remembered walk, with the bytes of its innermost frame around ``f_lasti``."""

    at: int  # where the innermost frame is in the thread's read-ahead
    unused: Tuple[int, ...]  # the read-ahead regions the walk did not use
    others: Callable[[Prefetched], object]  # the getter of the other regions it used
    held: object  # and their bytes
    size: int
    head: bytes  # the frame's bytes before f_lasti, and after it
    rest: bytes
    code: int
    walk: Remembered
    tail: List[Frame]  # the walk's frames after the innermost one's
    answers: Dict[int, Tuple[RawStack, List[Frame]]]  # by f_lasti
    site: None = None  # no call site is learnt when a ≤3.10 walk is recalled


class MovingFrames:
    """The moving frames of a ≤3.10 chain's threads, noted as their walks are kept or
    recalled."""

    def __init__(self, layout: Layout, codes: CodeCache, call_sites: CallSites) -> None:
        self._lasti = layout.pyframe.f_lasti
        self.codes = codes
        self.call_sites = call_sites
        self.tops: Dict[int, MovingFrame] = {}  # thread state -> its last walk's, if any
        self._made: Dict[int, MovingFrame] = {}  # id of a walk (which it keeps) -> its own
        # Thread state -> the moving frame of the walk its latest recall gave, for the
        # caller to clear (see ``steady``).
        self.recalled: Dict[int, MovingFrame] = {}

    def keep(self, tstate_addr: int, walk: Optional[Remembered]) -> Optional[MovingFrame]:
        """The moving frame of the thread's last walk, ``walk`` (None if it has none)."""
        top = self.tops.get(tstate_addr)
        if top is None or top.walk is not walk:
            top = self._made.get(id(walk))
            if top is None or top.walk is not walk:
                top = self._top(walk) if walk is not None else None
                if top is None:
                    self.tops.pop(tstate_addr, None)
                    return None
                if len(self._made) >= MAX_MADE:
                    self._made.clear()
                self._made[id(walk)] = top
            self.tops[tstate_addr] = top
        return top

    def note(self, tstate_addr: int, walk: Remembered) -> None:
        """``walk`` was recalled for this thread: note its moving frame in ``recalled``."""
        top = self.keep(tstate_addr, walk)
        if top is not None:
            self.recalled[tstate_addr] = top

    def recall(
        self, tstate_addr: int, key: bytes, regions: List[Tuple[int, int]],
        prefetched: Prefetched,
    ) -> Optional[Tuple[RawStack, List[Frame], int]]:
        """The thread's last walk with its innermost frame at its ``f_lasti`` now, when
        the thread state's walk key, the regions and the bytes the walk used are those
        it was made from but that frame's ``f_lasti``; else None, with nothing changed.
        The moving frame is noted in ``recalled``."""
        top = self.tops.get(tstate_addr)
        if top is None:
            return None
        walk = top.walk
        if walk.generation != self.codes.generation or walk.inputs[0] != key:
            return None
        if walk.inputs[2] != regions or top.others(prefetched) != top.held:
            return None
        answer = self.moved(top, prefetched[top.at])
        if answer is None:
            return None
        self.recalled[tstate_addr] = top
        return answer[0], answer[1], walk.generation

    def _top(self, walk: Remembered) -> Optional[MovingFrame]:
        raw = walk.raw
        used, prefetched = raw.used, walk.inputs[1]
        if used is None or not raw.frames or raw.quality != EXACT or walk.hidden:
            return None
        at = used[0]
        data = prefetched[at]
        if data is None:
            return None
        lasti = self._lasti
        kept = set(used)
        unused = tuple(index for index in range(len(prefetched)) if index not in kept)
        others = itemgetter(*used[1:])  # never empty: the frame pointer read again
        return MovingFrame(
            at, unused, others, others(prefetched), len(data), data[:lasti],
            data[lasti + 4 :], raw.frames[0][0], walk, walk.frames[1:], {},
        )

    def moved(
        self, top: MovingFrame, data: Optional[bytes]
    ) -> Optional[Tuple[RawStack, List[Frame]]]:
        """``top``'s walk with its innermost frame at the ``f_lasti`` of ``data`` (that
        frame read now), when ``data`` holds what the walk read of it but ``f_lasti``;
        else None. The rest of the thread's bytes, and that the code cache is as the walk
        left it, are the caller's to check (a sample's echo checks both at once)."""
        if (
            data is None
            or len(data) != top.size
            or not data.startswith(top.head)
            or not data.endswith(top.rest)
        ):
            return None
        lasti = _I32.unpack_from(data, self._lasti)[0]
        answer = top.answers.get(lasti)
        if answer is not None:
            return answer
        return moved_walk(
            self.codes, top.walk.raw, top.tail, top.code, lasti, False, top.answers
        )
