"""2.7-3.10: heap frame objects linked by ``f_back``."""

from __future__ import annotations

import struct
from typing import Dict, List, Optional, Sequence, Set, Tuple

from memspy.interpreter.codes import CodeCache, fields_struct
from memspy.interpreter.frames.chain import (
    EXACT,
    MAX_PARENTS,
    MEMO_WALKS,
    PARTLY_UNKNOWN,
    RECENT_FRAMES,
    REPAIRED,
    UNKNOWN,
    CallSites,
    FrameChain,
    Prefetched,
    RawFrame,
    RawStack,
    raw_stack,
    reused_stack,
)
from memspy.interpreter.frames.moving_frame import MovingFrames
from memspy.interpreter.linked_lists import freed, guess_regions
from memspy.memory.base import Memory, read_each
from memspy.model import Frame
from memspy.offsets import Layout

_PTR = struct.Struct("<Q")
_I32 = struct.Struct("<i")

MAX_CHANGED_TOP = 8  # innermost ≤3.10 frames a walk reads again before the rest is reused

_Walked = Tuple[List[RawFrame], List[int], List[bytes], bool, int]


class Parents:
    """Who called a frame, learnt from walks that read both frames alive with a link
    between them: a frame's caller does not change while the frame lives, and a
    function called again from the same place mostly gets a frame at the same address
    (≤3.10 keeps one freed frame per code object for its next call). A link that was
    torn when read (a generator that yielded, a frame freed and reused) is taken from
    here instead, when the frame has the same code and the learnt caller is alive."""

    def __init__(self) -> None:
        # frame -> (its code, its caller); caller 0 once the frame was seen with two
        # callers (one function called from several places, its frame at one address):
        # then which one called it this time cannot be learnt.
        self._links: Dict[int, Tuple[int, int]] = {}

    def learn(self, frame: int, code: int, caller: int) -> None:
        links = self._links
        link = links.get(frame)
        if link is None or link[0] != code:
            if len(links) >= MAX_PARENTS:
                links.clear()
            links[frame] = (code, caller)
        elif link[1] != caller and link[1]:
            links[frame] = (code, 0)

    def of(self, frame: int, code: int) -> int:
        """The one caller learnt for ``frame`` running ``code``, or 0."""
        link = self._links.get(frame)
        return link[1] if link is not None and link[0] == code else 0



class PyFrameChain(FrameChain):
    """2.7-3.10: follow ``tstate->frame`` and ``f_back``; lines from ``f_lasti``.

    Frame objects live on the heap: the addresses of the last walk of the same thread,
    and of the other frames it had lately, are read ahead in the sample's batch with the
    thread state, so a stack is mostly read at one instant even while it changes (a
    function called and returning every few microseconds has its frame at one address).

    A frame the batch did not cover is read when the walk meets it, and may have
    returned by then. ≤3.10 frees a frame without clearing it: its code is still that of
    the frame running at the sample's instant, and its ``f_back`` still names its caller
    unless the frame went to the free list (then it names another freed frame). So a
    link is taken from the bytes when it leads to a live frame (a caller outlives its
    callee) of this thread, from ``Parents`` otherwise, and where neither can say, the
    stack ends with the unknown marker: never read again later, never dropped.
    """

    memo_walks = MEMO_WALKS

    def __init__(self, memory: Memory, layout: Layout, codes: CodeCache, max_depth: int) -> None:
        super().__init__(memory, codes, max_depth)
        f = layout.pyframe
        self._top_off = layout.tstate.frame
        # The walk key is only the frame pointer: the rest of a thread state (2.7's tick
        # counter, the recursion depth) changes without changing the walk.
        self.walk_key = slice(self._top_off, self._top_off + 8)
        self._back, self._refcnt = f.f_back, layout.object.refcnt
        # One unpack gives the code and f_lasti, in the order of their offsets in every
        # pyframe layout (tests/unit/offsets/test_offsets.py checks it).
        self._fields = fields_struct([(f.f_code, "Q"), (f.f_lasti, "i")])
        self._size = max(f.f_back, f.f_code, f.f_lasti, self._refcnt) + 8
        self._guess: Dict[int, List[int]] = {}  # thread state -> frame addresses last time
        self._recent: Dict[int, List[int]] = {}  # thread state -> its other frames lately
        # Thread state -> its last whole walk, outermost first: (frame, its identity).
        self._bottom: Dict[int, List[Tuple[int, Tuple[int, int, int]]]] = {}
        self.parents = Parents()
        self.call_sites = CallSites()
        self._moving = self.moving = MovingFrames(layout, codes, self.call_sites)

    def prefetch(self, tstate_addr: int, tstate: bytes) -> List[Tuple[int, int]]:
        guess = self._guess.get(tstate_addr, [])
        addrs = guess + self._recent.get(tstate_addr, [])
        regions = guess_regions(addrs, self._size, self.max_depth + RECENT_FRAMES)
        # The frame pointer once more, after the frames: whether the stack moved meanwhile.
        regions.append((tstate_addr + self._top_off, 8))
        self._set_guesses(tstate_addr, regions, last=1)
        return regions

    def raw(self, tstate_addr: int, tstate: bytes, prefetched: Prefetched) -> RawStack:
        self._asked.pop(tstate_addr, None)  # the read-ahead changes with this walk
        prefetched, after = prefetched[:-1], prefetched[-1]
        first = _PTR.unpack_from(tstate, self._top_off)[0]
        # The frame the thread ran once its frames were read, if not the one it ran at the
        # instant: the innermost frame may have returned (its caller moved on since).
        moved = _PTR.unpack_from(after, 0)[0] if after is not None else 0
        moved = moved if moved != first else 0
        guess = self._guess.get(tstate_addr, [])
        recent = self._recent.get(tstate_addr, [])
        if not moved:
            reused = self._reuse(tstate_addr, first, guess, prefetched)
            if reused is not None:
                self._learn_site(guess, reused.frames)
                return reused
        known = dict(zip(guess + recent, prefetched))
        frames, addrs, datas, cut, quality = self._in_thread(
            tstate_addr, self._walk(first, known), known
        )
        if quality == EXACT and not moved:
            self._learn_site(addrs, frames)
        elif frames:
            frames, addrs, datas, cut, quality = self._from_call_site(
                tstate_addr, (frames, addrs, datas, cut, quality), moved, known
            )
        walked = set(addrs)
        older = [a for a in recent if a not in walked]
        older += [a for a in guess if a not in walked and a not in older]
        self._guess[tstate_addr] = addrs
        self._recent[tstate_addr] = older[-RECENT_FRAMES:]
        # Closed when every frame came from the read-ahead, alive, and the frame pointer
        # read again after them had not moved (else the caller may have been read late).
        closed = quality == EXACT and not cut and not moved and None not in prefetched
        if quality == PARTLY_UNKNOWN:
            frames.append(UNKNOWN)
            frames += self._still_below(tstate_addr, known, walked)
        elif not cut:
            self._bottom[tstate_addr] = [
                (addr, self._identity(data)) for addr, data in zip(addrs[::-1], datas[::-1])
            ]
        # A walk made from exactly its read-ahead (its bytes sit where the next one's will)
        # is the one the next walk may reuse the bottom of.
        trail = addrs if addrs == guess else None
        if not closed:
            return raw_stack(frames, cut, closed, trail, quality)
        # What it used: its frames' regions and the frame pointer read again (all the
        # walk reads of a thread state is its frame pointer, the walk key).
        places = guess + recent
        used = (*map(places.index, addrs), len(prefetched))
        return raw_stack(frames, cut, closed, trail, quality, used)

    def _from_call_site(
        self, tstate_addr: int, walked: _Walked, moved: int, known: Dict[int, Optional[bytes]]
    ) -> _Walked:
        """The walk with the innermost frame's caller at its call site, where the innermost
        frame returned after the instant (freed, or the thread runs another frame since)
        and the call site of that frame from that caller is known. The caller is the frame
        the thread went back to when it runs one the call site was learnt from: the
        innermost frame's ``f_back`` may name another thread's frame by then (≤3.10 gives
        a returned function's frame to its next call, in any thread)."""
        frames, addrs, datas, cut, quality = walked
        callee, code = addrs[0], frames[0][0]
        linked = addrs[1] if len(addrs) > 1 else 0
        if len(datas) > 1 and freed(datas[0], self._refcnt):
            quality = max(quality, REPAIRED)
        elif not moved:
            return walked
        for caller in (moved, linked):
            if not caller:
                continue
            data = datas[1] if caller == linked else self._frame(caller, known)
            if data is None:
                continue
            site = self.call_sites.of(caller, self._fields.unpack_from(data)[0], code)
            if site is None:
                continue
            if caller != linked:
                rest, rest_addrs, rest_datas, cut, quality = self._in_thread(
                    tstate_addr, self._walk(caller, known), known
                )
                frames, addrs = frames[:1] + rest, [callee, *rest_addrs]
                datas = datas[:1] + rest_datas
            if len(frames) > 1 and frames[1][1] != site:
                frames[1] = (frames[1][0], site, False)
                quality = max(quality, REPAIRED)
            break
        return frames, addrs, datas, cut, quality

    def _in_thread(
        self, tstate_addr: int, walked: _Walked, known: Dict[int, Optional[bytes]]
    ) -> _Walked:
        """The walk, up to where a frame read after the sample's instant led into another
        thread's stack. ≤3.10 gives a returned function's frame to the next call of that
        function, in any thread: a frame read late (it was not in the batch) may run for
        another thread by then, alive, and its ``f_back`` leads down that thread's stack,
        whose frames are alive too, so no link looks torn. A chain that meets the frames
        of another thread's last walk below a frame read late is cut after that frame,
        the rest unknown: the frames read late are this thread's at the instant only as
        far as the instant's links led to them."""
        frames, addrs, datas, cut, quality = walked
        if quality == EXACT:
            return walked
        late = next(
            (n for n, (addr, data) in enumerate(zip(addrs, datas)) if known.get(addr) is not data),
            len(addrs),
        )
        below = set(addrs[late + 1 :])
        others = (walk for thread, walk in self._guess.items() if thread != tstate_addr)
        if not below or not any(below.intersection(walk) for walk in others):
            return walked
        keep = late + 1
        return frames[:keep], addrs[:keep], datas[:keep], False, PARTLY_UNKNOWN

    def _learn_site(self, addrs: Sequence[int], frames: Sequence[RawFrame]) -> None:
        """Where the caller of the innermost frame was, from a walk read at one instant."""
        if len(addrs) > 1 and len(frames) > 1:
            self.call_sites.learn(addrs[1], frames[1][0], frames[0][0], frames[1][1])

    def _identity(self, data: bytes) -> Tuple[int, int, int]:
        """What a frame runs, where, and for whom: (code, f_lasti, f_back)."""
        code, lasti = self._fields.unpack_from(data)
        return code, lasti, _PTR.unpack_from(data, self._back)[0]

    def _still_below(
        self, tstate_addr: int, known: Dict[int, Optional[bytes]], walked: Set[int]
    ) -> List[RawFrame]:
        """The outermost frames of the thread's last whole walk that this sample's batch
        read alive, running the same code at the same instruction for the same caller: a
        frame that has not moved since is still suspended in the same call, under whatever
        changed above it, so a stack whose middle could not be read keeps its root (the
        frames innermost first, to follow the unknown marker)."""
        still: List[RawFrame] = []
        for addr, identity in self._bottom.get(tstate_addr, ()):
            data = known.get(addr)
            if (
                data is None
                or addr in walked
                or freed(data, self._refcnt)
                or self._identity(data) != identity
            ):
                break
            still.append(self._frame_of(data))
        return still[::-1]

    def _walk(self, first: int, known: Dict[int, Optional[bytes]]) -> _Walked:
        """(raw frames, their addresses, their bytes, cut at the depth limit, quality)
        from ``first``, with bytes from ``known`` (the sample's batch) where it has them."""
        frames: List[RawFrame] = []
        addrs: List[int] = []
        datas: List[bytes] = []
        quality = EXACT
        refcnt, back, codes = self._refcnt, self._back, self.codes
        seen = set()
        addr, data = first, self._frame(first, known)
        while addr:
            if len(frames) >= self.max_depth:
                return frames, addrs, datas, True, quality
            if data is None or addr in seen:
                return frames, addrs, datas, False, PARTLY_UNKNOWN  # unreadable, or a cycle
            seen.add(addr)
            code, lasti = self._fields.unpack_from(data)
            frames.append((code, lasti, False))
            addrs.append(addr)
            datas.append(data)
            caller = _PTR.unpack_from(data, back)[0]
            alive = not freed(data, refcnt)
            if known.get(addr) is not data or not alive:
                quality = REPAIRED  # read late, or returned since the instant
            data = self._frame(caller, known) if caller else None
            if alive or self._kept_link(addr, code, caller, data):
                if alive and data is not None and not freed(data, refcnt):
                    self.parents.learn(addr, code, caller)
                # A generator's frame is unlinked (f_back = NULL) when it yields: a chain
                # ending at one was read across a yield.
                trusted = caller or not codes.suspends(code)
            else:
                trusted = False  # on the free list: f_back is the next free frame
            if not trusted:
                caller = self.parents.of(addr, code)
                if not caller:
                    return frames, addrs, datas, False, PARTLY_UNKNOWN
                quality = REPAIRED
                data = self._frame(caller, known)
            addr = caller
        return frames, addrs, datas, False, quality

    def _kept_link(self, addr: int, code: int, caller: int, data: Optional[bytes]) -> bool:
        """Whether a freed frame still links to the caller it had: true of its code's
        zombie frame (kept for the next call with its fields as they were), not of a frame
        on the free list (its ``f_back`` names the next free frame). A free frame is
        never live and never a zombie, so a link to either also shows the frame is no free
        one, even when its own code has taken its zombie for a new call since."""
        zombie = self.codes.zombie
        if zombie(code) == addr:
            return True
        if not caller or data is None:
            return False
        if not freed(data, self._refcnt):
            return True
        return zombie(self._fields.unpack_from(data)[0]) == caller

    def _frame(self, addr: int, known: Dict[int, Optional[bytes]]) -> Optional[bytes]:
        """A frame's bytes: from the sample's batch, else read now; None if unreadable."""
        data = known.get(addr)
        return data if data is not None else read_each(self.memory, [(addr, self._size)])[0]

    def _reuse(
        self, tstate_addr: int, first: int, guess: Sequence[int], prefetched: Prefetched
    ) -> Optional[RawStack]:
        """The last walk with only its innermost few frames read again: when the chain
        goes through the same frame objects as last time and every frame below those has
        the same bytes. A busy thread moves only the top of its stack between samples."""
        last = self._remembered.get(tstate_addr)
        if (
            last is None
            or not guess
            or first != guess[0]
            or last.raw.trail != guess
            or len(prefetched) < len(guess)
        ):
            return None
        depth = len(guess)
        now, before = prefetched[:depth], last.inputs[1][:depth]
        changed = next((n for n in range(1, MAX_CHANGED_TOP + 1) if now[n:] == before[n:]), 0)
        head = []
        for index in range(changed):
            data = now[index]
            if data is None or _PTR.unpack_from(data, self._back)[0] != _next(guess, index):
                return None  # the chain left the frames of the last walk
            if freed(data, self._refcnt):
                return None  # the whole walk says so
            head.append(self._frame_of(data))
        if not head:
            return None
        # It used the regions of the last walk's frames and the frame pointer read again
        # (the region after the frames).
        return reused_stack(head, last, changed, guess, (*range(depth), len(prefetched)))

    def recall(
        self, tstate_addr: int, tstate: bytes, regions: List[Tuple[int, int]],
        prefetched: Prefetched,
    ) -> Optional[Tuple[RawStack, List[Frame], int]]:
        """A walk kept from these bytes, its innermost frame noted; else the last walk
        with only its innermost frame's ``f_lasti`` moved (see ``moving_frame``)."""
        recalled = super().recall(tstate_addr, tstate, regions, prefetched)
        if recalled is not None:
            self._moving.note(tstate_addr, self._remembered[tstate_addr])
            return recalled
        return self._moving.recall(tstate_addr, tstate[self.walk_key], regions, prefetched)

    def remember(
        self, tstate_addr: int, tstate: bytes, regions: List[Tuple[int, int]],
        prefetched: Prefetched, raw: RawStack, frames: List[Frame], hidden: List[int],
    ) -> None:
        """As ``FrameChain.remember``, and the walk's moving frame kept for ``recall``."""
        super().remember(tstate_addr, tstate, regions, prefetched, raw, frames, hidden)
        self._moving.keep(tstate_addr, self._remembered.get(tstate_addr))

    def _frame_of(self, data: bytes) -> RawFrame:
        code, lasti = self._fields.unpack_from(data)
        return code, lasti, False

    def _tables(self) -> List[Dict[int, object]]:
        return [
            *super()._tables(), self._guess, self._recent, self._bottom, self._moving.tops,
            self._moving.recalled,
        ]


def _next(addrs: Sequence[int], index: int) -> int:
    """The frame after ``addrs[index]`` in a walk through ``addrs`` (0 after the last)."""
    return addrs[index + 1] if index + 1 < len(addrs) else 0

