"""Walking one thread's chain of frames, for the two frame models CPython has had.

``pyframe`` (2.7-3.10): heap ``PyFrameObject``s linked by ``f_back``.
``iframe`` (3.11+): ``_PyInterpreterFrame``s linked by ``previous``, most of them in the
thread's data-stack chunks, which are read whole so a deep stack costs a few reads, not
one per frame. Frames of generators and coroutines live in their objects and C-stack
entry frames on the C stack: those are read one by one.

A walk has three steps so that a sample of many threads costs few system calls:
``prefetch`` names what to read ahead for a thread (all threads are read in one batch),
``raw`` follows the chain, and ``decode`` turns it into ``Frame``s once every code object
met in the sample has been checked in one more batch. Walks are bounded (depth, cycles)
because target memory is untrusted and changes under us; the layout decides which walk a
version gets, nowhere else.
"""

from __future__ import annotations

import struct
from itertools import accumulate
from typing import Dict, FrozenSet, List, NamedTuple, Optional, Sequence, Set, Tuple

from memspy.chains import freed, guess_regions, within_budget
from memspy.codes import CodeCache, fields_struct
from memspy.errors import MemspyError, RemoteReadError, TargetExited
from memspy.memory.base import AGAIN, ALSO, FIRST, THEN, Memory, read_each
from memspy.model import Frame
from memspy.offsets import Layout

_PTR = struct.Struct("<Q")
_I32 = struct.Struct("<i")

DEFAULT_MAX_DEPTH = 4096
# CPython's data-stack chunks are 16 KiB unless one frame needs more: a larger chunk is
# not read whole (its frames are read one by one), so a wild size costs no memory.
MAX_CHUNK_BYTES = 1024 * 1024
MAX_CHUNK_READ_BYTES = 64 * 1024 * 1024  # per walk; beyond, frames are read one by one
MAX_OUTSIDE_READ_AHEAD = 256  # frames outside the chunks read ahead per thread
MAX_OLDER_READ_AHEAD = 64  # older data-stack chunks read ahead per thread
RECENT_OUTSIDE = 16  # frames outside the chunks that earlier walks met, read ahead too
RECENT_CFRAMES = 8  # 3.11/3.12 cframes of a thread whose frame pointers are read ahead
# ...until the thread has not named one in this many walks: each may sit on a page of its
# own, and every page read before the data stack widens the span a sample is read over.
CFRAME_MEMORY = 64
MAX_CHANGED_TOP = 8  # innermost ≤3.10 frames a walk reads again before the rest is reused
MAX_TRAIL_TOP = 32  # 3.11+ frames a reusing walk adds on its trail before it is redone whole
CHUNK_GUESS_MARGIN = 512  # bytes beyond the last top of a data-stack chunk read ahead
RECENT_FRAMES = 64  # ≤3.10 frames a thread had lately, beyond its last walk, read ahead
MAX_PARENTS = 65536  # learnt frame -> caller links kept before they are learnt afresh
# Walks kept per thread for ``recall`` beyond the last one, and the bytes they may hold in
# all: a stack only a few frames deep comes back to a few dozen states (the innermost
# frame's instruction in its loop), and is then recalled, not walked, almost every sample.
MEMO_WALKS = 64
MEMO_BYTES = 4 * 1024 * 1024
MEMO_REGIONS = 32  # a walk read from more regions (a deep stack) is not kept

# How a stack was read, worst last: every byte from the sample's one batched read; some
# of it read later, or a link taken from what earlier samples learnt, checked against
# that read; or ending in an unknown part where neither could say.
EXACT, REPAIRED, PARTLY_UNKNOWN = 0, 1, 2
UNKNOWN_CODE = 0  # the code address of the raw frame that stands for an unknown part
UNKNOWN: Tuple[int, int, bool] = (UNKNOWN_CODE, 0, False)
UNKNOWN_FRAME = Frame("<unknown>", "<memspy>", 0)

# One frame as walked: code address, position (f_lasti or instruction index), and whether
# CPython's "incomplete frame" rule applies (a frame before _co_firsttraceable is hidden).
RawFrame = Tuple[int, int, bool]
Prefetched = List[Optional[bytes]]  # a list: compared as is with the last sample's


class RawStack(NamedTuple):
    frames: List[RawFrame]
    cut: bool  # stopped at the depth limit
    closed: bool  # nothing was read beyond the thread state and the prefetched regions, so
    # the same bytes there give the same stack (see ``FrameChain.recall``)
    codes: FrozenSet[int]  # the code objects of ``frames``, to validate in one set operation
    # The remembered walk whose frames from this index on end this walk too (read from
    # unchanged bytes), so their decoding can be reused; None for a walk made whole.
    reused: Optional[Tuple[_Remembered, int]] = None
    trail: object = None  # what the chain needs to reuse this walk's tail next time
    quality: int = EXACT


def raw_stack(
    frames: List[RawFrame], cut: bool, closed: bool, trail: object = None,
    quality: int = EXACT,
) -> RawStack:
    codes = frozenset([code for code, _, _ in frames])
    if quality == PARTLY_UNKNOWN:
        codes = codes - {UNKNOWN_CODE}
    return RawStack(frames, cut, closed, codes, None, trail, quality)


def unknown_stack(frames: List[RawFrame]) -> RawStack:
    """What was read of a stack, then the marker of a part that could not be."""
    return raw_stack([*frames, UNKNOWN], False, False, quality=PARTLY_UNKNOWN)


def reused_stack(
    head: List[RawFrame], last: _Remembered, start: int, trail: object
) -> RawStack:
    """``head`` walked now, then the frames of ``last`` from ``start`` on, unchanged."""
    codes = last.raw.codes.union([code for code, _, _ in head])
    return RawStack(head + last.raw.frames[start:], False, True, codes, (last, start), trail)


class _Remembered(NamedTuple):
    # The bytes of the thread state its walk reads, what was read ahead, and from where
    # (the same bytes at other addresses are another stack).
    inputs: Tuple[bytes, List[Optional[bytes]], List[Tuple[int, int]]]
    raw: RawStack
    frames: List[Frame]
    generation: int  # the code cache's, when ``frames`` were decoded
    hidden: List[int]  # indexes of ``raw.frames`` that decoding left out (incomplete frames)


def truncated_frame(max_depth: int) -> Frame:
    """The marker put where a stack was cut at the depth limit."""
    return Frame(f"<truncated: deeper than {max_depth} frames>", "<memspy>", 0)


class FrameChain:
    """What both walks share: the depth limit and turning raw frames into ``Frame``s."""

    # Whether closed walks are kept beyond the last one (see ``recall``).
    memo_walks = 0

    def __init__(self, memory: Memory, codes: CodeCache, max_depth: int) -> None:
        self.memory = memory
        self.codes = codes
        self.max_depth = max_depth
        self._remembered: Dict[int, _Remembered] = {}  # thread state -> its last walk
        # Thread state -> its recent closed walks, by the bytes they were read from.
        self._memo: Dict[int, Dict[Tuple[object, ...], _Remembered]] = {}
        self._memo_bytes = 0
        # Thread state -> what its last prefetch asked for, widened where it may grow.
        self._guesses: Dict[int, List[Tuple[int, int]]] = {}
        self._stages: Dict[int, List[int]] = {}  # thread state -> read stage per guess
        # Thread state -> (its bytes, what prefetch asked for then), until ``raw`` runs.
        self._asked: Dict[int, Tuple[bytes, List[Tuple[int, int]]]] = {}
        self._live: Tuple[int, ...] = ()  # the thread states of the last ``forget``
        self._plan: Optional[
            Tuple[List[Tuple[int, int]], Dict[int, Tuple[int, int]], List[int]]
        ] = None

    def walk_key(self, tstate: bytes) -> bytes:
        """The bytes of a thread state that its ``prefetch`` and ``raw`` read: equal keys
        and equal read-ahead make the same walk."""
        return tstate

    def wanted(self, tstate_addr: int, tstate: bytes) -> List[Tuple[int, int]]:
        """``prefetch``, answered again without work while the thread state's bytes are
        the same and no walk has changed what this thread's read-ahead is made from."""
        key = self.walk_key(tstate)
        asked = self._asked.get(tstate_addr)
        if asked is not None and asked[0] == key:
            return asked[1]
        regions = self.prefetch(tstate_addr, tstate)
        self._asked[tstate_addr] = (key, regions)
        return regions

    def prefetch(self, tstate_addr: int, tstate: bytes) -> List[Tuple[int, int]]:
        """What to read ahead for this thread before ``raw``."""
        raise NotImplementedError

    def guesses(
        self, budget: int
    ) -> Tuple[List[Tuple[int, int]], Dict[int, Tuple[int, int]], List[int]]:
        """What the next sample's prefetches will likely ask for, known before its thread
        states are read: the sample then reads both in one system call. Also where each
        thread's guesses sit in that list. At most ``budget`` bytes.

        Kept until a thread's guesses change: a steady program asks for the same hundreds
        of regions sample after sample, and laying them out again would cost more than
        reading them."""
        if self._plan is None:
            flat: List[Tuple[int, int]] = []
            stages: List[int] = []
            spans: Dict[int, Tuple[int, int]] = {}
            for tstate_addr, regions in self._guesses.items():
                spans[tstate_addr] = (len(flat), len(flat) + len(regions))
                flat += regions
                stages += self._stages.get(tstate_addr) or [THEN] * len(regions)
            kept = within_budget(flat, budget)
            spans = {t: span for t, span in spans.items() if span[1] <= len(kept)}
            self._plan = (kept, spans, stages[: len(kept)])
        return self._plan

    def _set_guesses(
        self, tstate_addr: int, regions: List[Tuple[int, int]], first: int = 0, last: int = 0,
        main: int = 0,
    ) -> None:
        """The thread's read-ahead: its ``first`` regions name its frames and are read
        with the thread states, its ``last`` ones right after the others (a frame pointer
        read again), the others in between, the ``main`` ones that follow the first
        before the rest if given (see ``ProcessMemory.read_some``)."""
        if self._guesses.get(tstate_addr) != regions:
            self._guesses[tstate_addr] = regions
            middle = len(regions) - first - last
            then = [THEN] * middle if not main else [THEN] * main + [ALSO] * (middle - main)
            self._stages[tstate_addr] = [FIRST] * first + then + [AGAIN] * last
            self._plan = None

    def raw(self, tstate_addr: int, tstate: bytes, prefetched: Prefetched) -> RawStack:
        raise NotImplementedError

    def recall(
        self, tstate_addr: int, tstate: bytes, regions: List[Tuple[int, int]],
        prefetched: Prefetched,
    ) -> Optional[Tuple[RawStack, List[Frame], int]]:
        """A closed walk of this thread that read exactly these bytes from these
        ``regions``: the last one (a thread that waits, half the threads of a typical
        server, then costs a comparison, not a walk) or, where the chain keeps more, one
        of its recent ones (a shallow busy stack cycles through a few dozen states). Its
        frames stand only while the code cache's generation is unchanged.

        A closed walk is a function of these bytes and of the code cache alone, so a
        walk recalled is the walk that would be made: no sample is biased by it."""
        key = self.walk_key(tstate)
        last = self._remembered.get(tstate_addr)
        if last is None or last.inputs != (key, prefetched, regions):
            memo = self._memo.get(tstate_addr)
            if not memo:
                return None
            last = memo.get((key, *prefetched))
            if last is None or last.inputs[2] != regions:
                return None
            self._remembered[tstate_addr] = last  # what the next walk reuses
        return last.raw, last.frames, last.generation

    def remember(
        self, tstate_addr: int, tstate: bytes, regions: List[Tuple[int, int]],
        prefetched: Prefetched, raw: RawStack, frames: List[Frame], hidden: List[int],
    ) -> None:
        """Keep a closed walk and its decoding: for ``recall`` when nothing changed, and
        for the next walk to reuse the part of it that did not (deep stacks mostly grow
        and shrink at the top)."""
        if raw.closed and not raw.cut and not (frames and frames[-1] is UNKNOWN_FRAME):
            key = self.walk_key(tstate)
            inputs = (key, list(prefetched), regions)
            if raw.reused is not None:  # or each walk would keep the one before alive
                raw = RawStack(*raw[:4], None, *raw[5:])  # a third of ``_replace``'s cost
            generation = self.codes.generation
            kept = self._remembered[tstate_addr] = _Remembered(
                inputs, raw, frames, generation, hidden
            )
            if self.memo_walks and len(prefetched) <= MEMO_REGIONS:
                self._keep(tstate_addr, (key, *prefetched), kept)
        else:
            self._remembered.pop(tstate_addr, None)

    def _keep(self, tstate_addr: int, key: Tuple[object, ...], walk: _Remembered) -> None:
        """Add a walk to the thread's memo: the oldest goes when it is full, and every
        memo when all hold more than ``MEMO_BYTES`` (many threads, each cycling through
        states that never come back)."""
        memo = self._memo.setdefault(tstate_addr, {})
        if len(memo) >= self.memo_walks:
            del memo[next(iter(memo))]
        memo[key] = walk
        self._memo_bytes += sum(map(len, filter(None, key)))
        if self._memo_bytes > MEMO_BYTES:
            self._memo.clear()
            self._memo_bytes = 0

    def forget(self, live: Sequence[int]) -> None:
        """Drop what was kept about thread states other than ``live`` (the sample's), or it
        grows with every thread a long run ever saw (and every garbage address). Entries
        are only made for a sample's thread states, so the same ``live`` as last time has
        nothing to drop."""
        live = tuple(live)
        if live == self._live:
            return
        self._live = live
        self._plan = None
        keep = set(live)
        for table in self._tables():
            for addr in [a for a in table if a not in keep]:
                del table[addr]

    def _tables(self) -> List[Dict[int, object]]:
        return [self._remembered, self._memo, self._guesses, self._stages, self._asked]

    def decode(self, raw: RawStack) -> Tuple[List[Frame], List[int]]:
        """Frames innermost first, and the indexes of ``raw.frames`` left out; call after
        ``codes.validate`` saw every code address. A reused tail keeps its decoding while
        no cached code object has been dropped since."""
        if raw.reused is not None:
            last, start = raw.reused
            if last.generation == self.codes.generation:
                head = len(raw.frames) - (len(last.raw.frames) - start)
                frames, hidden = self._decode(raw.frames[:head])
                if frames and frames[-1] is UNKNOWN_FRAME:
                    return frames, hidden  # the part read now ends unknown
                before = sum(1 for index in last.hidden if index < start)
                frames += last.frames[start - before :]
                hidden += [index - start + head for index in last.hidden if index >= start]
                return frames, hidden
        frames, hidden = self._decode(raw.frames)
        if raw.cut:
            frames.append(truncated_frame(self.max_depth))
        return frames, hidden

    def _decode(self, raw_frames: List[RawFrame]) -> Tuple[List[Frame], List[int]]:
        """A frame whose code object cannot be read (a pointer read while the frame
        changed) ends the stack with the unknown marker: the frames below it are real,
        and dropping them would bias the profile as much as dropping the whole sample."""
        get = self.codes.get
        result = []
        hidden = []
        for index, (code_addr, position, hideable) in enumerate(raw_frames):
            if code_addr == UNKNOWN_CODE:
                result.append(UNKNOWN_FRAME)  # what follows is still known to be there
                continue
            try:
                info = get(code_addr)
            except TargetExited:
                raise
            except MemspyError:
                result.append(UNKNOWN_FRAME)
                break
            frame = info.frames.get(position)
            if frame is None:
                if hideable and position < info.firsttraceable:
                    hidden.append(index)
                    continue
                frame = self.codes.frame(info, position)
            result.append(frame)
        return result, hidden


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


class CallSites:
    """Where a caller was suspended while it called a function, learnt from walks that
    read both frames at one instant. A callee that returned between the read of the
    thread's frame pointer and the reads of the frames leaves its caller's position from
    a later moment (a worker shown calling ``m`` from the ``sleep`` it went on to): a
    stack that never existed. The caller's position at the instant was its call site,
    taken from here when one site is known for that caller and callee."""

    def __init__(self) -> None:
        # (caller frame, its code, the callee's code) -> how often each position was seen.
        # Not keyed by the callee's frame: threads calling one function share and swap its
        # frames. Counted, not set once: a read torn in a way no check sees may teach a
        # wrong site now and then, and must not hide the right one for good.
        self._sites: Dict[Tuple[int, int, int], Dict[int, int]] = {}

    def learn(self, caller: int, code: int, callee_code: int, position: int) -> None:
        key = (caller, code, callee_code)
        seen = self._sites.get(key)
        if seen is None:
            if len(self._sites) >= MAX_PARENTS:
                self._sites.clear()
            self._sites[key] = {position: 1}
        else:
            seen[position] = seen.get(position, 0) + 1

    def of(self, caller: int, code: int, callee_code: int) -> Optional[int]:
        """The place where this caller calls that code, or None when none was seen or
        no place has nine in ten of the sightings (a function called from two places)."""
        seen = self._sites.get((caller, code, callee_code))
        if not seen:
            return None
        best = max(seen, key=seen.__getitem__)
        return best if 10 * seen[best] >= 9 * sum(seen.values()) else None


# A ≤3.10 walk: raw frames, their addresses, their bytes, cut at the depth limit, quality.
_Walked = Tuple[List[RawFrame], List[int], List[bytes], bool, int]


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
    callee), from ``Parents`` otherwise, and where neither can say, the stack ends with
    the unknown marker: never read again later, never dropped.
    """

    memo_walks = MEMO_WALKS

    def __init__(self, memory: Memory, layout: Layout, codes: CodeCache, max_depth: int) -> None:
        super().__init__(memory, codes, max_depth)
        f = layout.pyframe
        self._top_off = layout.tstate.frame
        self._back, self._refcnt = f.f_back, layout.object.refcnt
        # One unpack gives the code and f_lasti, in the order of their offsets in every
        # pyframe layout (tests/unit/test_offsets.py checks it).
        self._fields = fields_struct([(f.f_code, "Q"), (f.f_lasti, "i")])
        self._size = max(f.f_back, f.f_code, f.f_lasti, self._refcnt) + 8
        self._guess: Dict[int, List[int]] = {}  # thread state -> frame addresses last time
        self._recent: Dict[int, List[int]] = {}  # thread state -> its other frames lately
        # Thread state -> its last whole walk, outermost first: (frame, its identity).
        self._bottom: Dict[int, List[Tuple[int, Tuple[int, int, int]]]] = {}
        self.parents = Parents()
        self.call_sites = CallSites()

    def walk_key(self, tstate: bytes) -> bytes:
        """Only the frame pointer: the rest of a thread state (2.7's tick counter, the
        recursion depth) changes without changing the walk."""
        return tstate[self._top_off : self._top_off + 8]

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
        frames, addrs, datas, cut, quality = self._walk(first, known)
        if quality == EXACT and not moved:
            self._learn_site(addrs, frames)
        elif frames:
            frames, addrs, datas, cut, quality = self._from_call_site(
                (frames, addrs, datas, cut, quality), moved, known
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
        return raw_stack(frames, cut, closed, addrs if addrs == guess else None, quality)

    def _from_call_site(
        self, walked: _Walked, moved: int, known: Dict[int, Optional[bytes]]
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
                rest, rest_addrs, rest_datas, cut, quality = self._walk(caller, known)
                frames, addrs = frames[:1] + rest, [callee, *rest_addrs]
                datas = datas[:1] + rest_datas
            if len(frames) > 1 and frames[1][1] != site:
                frames[1] = (frames[1][0], site, False)
                quality = max(quality, REPAIRED)
            break
        return frames, addrs, datas, cut, quality

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
        return reused_stack(head, last, changed, guess) if head else None

    def _frame_of(self, data: bytes) -> RawFrame:
        code, lasti = self._fields.unpack_from(data)
        return code, lasti, False

    def _tables(self) -> List[Dict[int, object]]:
        return [*super()._tables(), self._guess, self._recent, self._bottom]


def _next(addrs: Sequence[int], index: int) -> int:
    """The frame after ``addrs[index]`` in a walk through ``addrs`` (0 after the last)."""
    return addrs[index + 1] if index + 1 < len(addrs) else 0


class _Regions:
    """Buffers of target memory read in bulk, looked up by address."""

    def __init__(self) -> None:
        self.spans: List[Tuple[int, int, bytes]] = []

    def add(self, start: int, data: bytes) -> None:
        self.spans.append((start, start + len(data), data))

    def find(self, addr: int, size: int) -> Optional[Tuple[bytes, int]]:
        for start, end, data in self.spans:
            if start <= addr and addr + size <= end:
                return data, addr - start
        return None


class InterpreterFrameChain(FrameChain):
    """3.11+: follow ``previous`` from the thread's current frame, skipping what CPython skips.

    CPython hides "incomplete" frames: C-stack entry frames (owner >= CSTACK, 3.12+) and
    frames not yet past ``_co_firsttraceable`` (such as 3.13's ``__init__`` shim) unless a
    generator owns them. This walk applies the same rule.
    """

    def __init__(self, memory: Memory, layout: Layout, codes: CodeCache, max_depth: int) -> None:
        super().__init__(memory, codes, max_depth)
        t, f, o, ch = layout.tstate, layout.iframe, layout.owner, layout.stack_chunk
        self._cframe_off = t.cframe
        self._cframe_current = layout.cframe.current_frame
        self._current_off = t.current_frame
        self._chunk_off, self._top_off = t.datastack_chunk, t.datastack_top
        self._limit_off = t.datastack_limit
        self._exec, self._prev, self._instr = f.executable, f.previous, f.instr
        self._owner = f.owner
        self._frame_size = f.sizeof
        self._generator = o.generator
        self._cstack = o.cstack
        self._chunk_prev, self._chunk_top, self._chunk_data = ch.previous, ch.top, ch.data
        self._code_adaptive = layout.code.code_adaptive
        self._outside: Dict[int, List[int]] = {}  # thread state -> frames outside chunks
        # Thread state -> (address, used bytes) of the older chunks its last walk read:
        # an older chunk does not change until the stack shrinks back into it.
        self._older: Dict[int, List[Tuple[int, int]]] = {}
        self._plans: Dict[int, Tuple[int, List[int], List[Tuple[int, int]]]] = {}
        self._chunk_frames: Dict[int, List[int]] = {}  # thread state -> recent chunk frames
        # Thread state -> its prefetches so far, and its recent cframes (≤3.12), the
        # latest first, each with the count of prefetches when it was last the thread's.
        self._cframes: Dict[int, Tuple[int, Dict[int, int]]] = {}
        # Thread state -> (chunk, end) its last read-ahead asked for. Asked for again while
        # it covers the stack: a stack a frame deeper than last time is then still taken
        # from the sample's batch, at its instant, not read whole a second time, later.
        self._chunk_ends: Dict[int, Tuple[int, int]] = {}
        # Thread state -> (its bytes, the frames read ahead, the plan, the regions) of its
        # last prefetch, answered again while both are the same.
        self._prefetches: Dict[int, tuple] = {}
        self._thread = o.thread
        self.call_sites = CallSites()

    def prefetch(self, tstate_addr: int, tstate: bytes) -> List[Tuple[int, int]]:
        """The current chunk's used part and a little more (next time the stack may be a
        little deeper; asking for the same as the guess lets a steady thread take what
        was read ahead as is); on 3.11/3.12 also the cframe's frame pointer; and the frames
        the last walk of this thread found outside the chunks (C-stack entry frames,
        generators) and the older chunks it read (a deep stack), which a steady program
        has at the same addresses again."""
        cframes = self._recent_cframes(tstate_addr, tstate) if self._current_off is None else []
        outside = self._outside.get(tstate_addr, [])
        older = self._older.get(tstate_addr, [])
        # The same thread state and the same frames met last time ask for the same: a
        # thread looping in one function costs a comparison here, not a new read-ahead.
        last = self._prefetches.get(tstate_addr)
        if last is not None and last[0] == tstate and last[1] == (cframes, outside, older):
            self._plans[tstate_addr] = last[2]
            return last[3]
        regions = [(addr + self._cframe_current, 8) for addr in cframes]
        chunk = _PTR.unpack_from(tstate, self._chunk_off)[0]
        top = _PTR.unpack_from(tstate, self._top_off)[0]
        if chunk and chunk + self._chunk_data <= top <= chunk + MAX_CHUNK_BYTES:
            limit = _PTR.unpack_from(tstate, self._limit_off)[0]  # the chunk's usable end
            end = min(top + CHUNK_GUESS_MARGIN, limit) if top <= limit else top
            last_chunk, last_end = self._chunk_ends.get(tstate_addr, (0, 0))
            if last_chunk == chunk and top <= last_end <= top + 4 * CHUNK_GUESS_MARGIN:
                end = last_end  # what was asked for last time covers the stack: ask again
            end = min(end, chunk + MAX_CHUNK_BYTES)
            self._chunk_ends[tstate_addr] = (chunk, end)
            regions.append((chunk, end - chunk))
        else:
            chunk = 0
        regions += [(addr, self._frame_size) for addr in outside] + older
        # The frame pointer and the data stack's top once more, after the frames: whether
        # the stack moved meanwhile, and where it ended when it did.
        again = [(addr + self._cframe_current, 8) for addr in cframes] or [
            (tstate_addr + self._current_off, 8)
        ]
        if cframes:
            again.append((tstate_addr + self._cframe_off, 8))
        again.append((tstate_addr + self._top_off, 8))
        plan = self._plans[tstate_addr] = (chunk, outside, older, cframes)
        regions += again
        self._set_guesses(tstate_addr, regions, len(cframes), len(again), int(bool(chunk)))
        self._prefetches[tstate_addr] = (tstate, (cframes, outside, older), plan, regions)
        return regions

    def _recent_cframes(self, tstate_addr: int, tstate: bytes) -> List[int]:
        """3.11/3.12 name the current frame through the cframe of the innermost C call
        of the eval loop, on the C stack: it moves when a generator is resumed from C,
        and back. The pointer of each cframe the thread had lately is read with the
        thread states (read later, a cframe that was left holds garbage), the current
        one first, until the thread has not named it in ``CFRAME_MEMORY`` walks."""
        cframe = _PTR.unpack_from(tstate, self._cframe_off)[0]
        now, recent = self._cframes.get(tstate_addr, (0, {}))
        now += 1
        if len(recent) == 1 and cframe in recent:  # the usual case, kept in place
            recent[cframe] = now
        else:
            recent = {cframe: now, **{
                c: last for c, last in recent.items()
                if c != cframe and now - last < CFRAME_MEMORY
            }}
            recent = dict(list(recent.items())[:RECENT_CFRAMES])
        self._cframes[tstate_addr] = (now, recent)
        return list(recent)

    def _tables(self) -> List[Dict[int, object]]:
        return [
            *super()._tables(), self._outside, self._older, self._plans, self._chunk_frames,
            self._chunk_ends, self._cframes, self._prefetches,
        ]

    def _older_chunk(
        self, regions: _Regions, chunk: int, ahead: Dict[int, Optional[bytes]]
    ) -> Tuple[int, int, bool]:
        """The used part of an older chunk, from ``ahead`` when it was read ahead whole, else
        read now: (the chunk before it, its used bytes, whether it came from ``ahead``).

        A chunk of impossible size stops the chunk reads (0 as the chunk before, 0 bytes):
        its frames, if any, are then read one by one.
        """
        data = ahead.get(chunk)
        head = data if data is not None and len(data) >= self._chunk_data else None
        from_ahead = head is not None
        if head is None:
            head = self.memory.read(chunk, self._chunk_data)
        used = self._chunk_data + 8 * _PTR.unpack_from(head, self._chunk_top)[0]
        if not self._chunk_data <= used <= MAX_CHUNK_BYTES:
            return 0, 0, from_ahead
        if data is None or len(data) < used:
            data, from_ahead = self.memory.read(chunk, used), False
        regions.add(chunk, data[:used])
        return _PTR.unpack_from(head, self._chunk_prev)[0], used, from_ahead

    def raw(self, tstate_addr: int, tstate: bytes, prefetched: Prefetched) -> RawStack:
        self._asked.pop(tstate_addr, None)  # the read-ahead changes with this walk
        chunk, outside_guess, older_guess, cframes = self._plans.pop(
            tstate_addr, (0, [], [], [])
        )
        again = max(len(cframes), 1) + (2 if cframes else 1)
        prefetched, after = list(prefetched[:-again]), prefetched[-again:]
        if self._current_off is not None:
            addr = _PTR.unpack_from(tstate, self._current_off)[0]
            pointer_after = after[0]
        else:
            pointers, prefetched = prefetched[: len(cframes)], prefetched[len(cframes) :]
            cframe = _PTR.unpack_from(tstate, self._cframe_off)[0]
            pointer = pointers[cframes.index(cframe)] if cframe in cframes else None
            if pointer is None:
                raise RemoteReadError("cannot read the thread's current frame pointer")
            addr = _PTR.unpack_from(pointer, 0)[0]
            pointer_after = after[cframes.index(cframe)]
        # The frame the thread ran once the frames were read, when it changed since the
        # instant (0 if not): its callee may have returned, and its position moved on.
        moved = _PTR.unpack_from(pointer_after, 0)[0] if pointer_after is not None else 0
        moved = moved if moved != addr else 0
        chunk_data = prefetched.pop(0) if chunk and prefetched else None
        read_ahead = dict(zip(outside_guess, prefetched))
        older_ahead = (
            dict(zip([a for a, _ in older_guess], prefetched[len(outside_guess) :]))
            if older_guess else {}
        )
        older_read: List[Tuple[int, int]] = []
        regions = _Regions()
        older = 0
        chunk_end = chunk
        if chunk_data is not None and len(chunk_data) >= self._chunk_data:
            regions.add(chunk, chunk_data)
            chunk_end = chunk + len(chunk_data)
            older = _PTR.unpack_from(chunk_data, self._chunk_prev)[0]
        else:
            chunk_data = None
        plan = (chunk, outside_guess, older_guess, tuple(prefetched))
        last = self._remembered.get(tstate_addr)
        trail: Optional[_Trail] = last.raw.trail if last is not None else None  # type: ignore
        if trail is not None and (chunk_data is None or trail.plan != plan or moved):
            trail = None
        budget = MAX_CHUNK_READ_BYTES
        out: List[RawFrame] = []
        outside: List[int] = []
        visited: List[int] = []  # frames in walk order, hidden ones too
        made: List[bool] = []  # whether each made a raw frame
        seen = set()
        closed = True
        size, cstack, generator = self._frame_size, self._cstack, self._generator
        exec_off, instr_off, prev_off, owner_off = self._exec, self._instr, self._prev, self._owner
        adaptive = self._code_adaptive
        owner = None  # of the last frame visited
        quality = EXACT
        innermost: List[Tuple[int, int]] = []  # two innermost frames: (address, index in out)
        if addr:
            stale = not self._names_a_frame(addr, chunk, chunk_data, read_ahead)
        else:
            top = _PTR.unpack_from(tstate, self._top_off)[0]
            stale = chunk_data is not None and chunk + self._chunk_data < top <= chunk_end
        if stale:
            # 3.11/3.12 name the current frame through a cframe on the C stack, which an
            # eval loop entered from C (a generator resumed by ``sum``) leaves, and the
            # C stack reuses, within microseconds: read a moment later, it names no frame.
            # A cframe being set up names none yet (NULL) while Python frames are on the
            # data stack. The frames below are still there, the innermost ending at its top.
            top = _PTR.unpack_from(tstate, self._top_off)[0]
            addr = self._resumer(tstate_addr, top, chunk, chunk_data, [])
            running = self._running_generator(addr, read_ahead) if addr else 0
            if running:
                addr, quality = running, REPAIRED
            elif addr and self._called_by_generator(addr, chunk, chunk_data, read_ahead):
                quality = REPAIRED  # the cframe left was its generator's: it ran
            else:
                # The stack changed before its bytes were read. The thread's frame as
                # read right after them, if it is the innermost there, gives the sample
                # a moment later, but at one moment.
                later = self._frame_after(tstate_addr, cframes, after, chunk, chunk_data)
                if later:
                    addr, quality, moved = later, REPAIRED, 0
                elif not addr:
                    return unknown_stack([])
                else:
                    out.append(UNKNOWN)
                    quality = PARTLY_UNKNOWN
            closed, trail = False, None
        while addr:
            # Hidden entry frames count too (at most one per Python frame in CPython).
            if len(out) >= self.max_depth or len(seen) >= 2 * self.max_depth:
                return raw_stack(out, True, False)
            if addr in seen:
                return unknown_stack(out)  # a cycle: read while it changed
            if chunk <= addr and addr + size <= chunk_end:  # the common case
                buf, off = chunk_data, addr - chunk
                # Not from the innermost frame: a running thread's has always moved on
                # (and a thread whose frames all stand still is recalled whole).
                if trail is not None and visited:
                    reused = self._reuse(tstate_addr, trail, addr, chunk_data, out, visited, made)
                    if reused is not None:
                        owner = buf[off + owner_off]
                        if len(innermost) == 1 and (cstack is None or owner < cstack):
                            innermost.append((addr, len(out)))  # the first frame reused
                        self._learn_site(innermost, reused.frames)
                        return reused
            else:
                trail = None  # what comes next depends on what was read until here
                found = regions.find(addr, size)
                while found is None and older and budget > 0:
                    this = older
                    older, spent, from_ahead = self._older_chunk(regions, this, older_ahead)
                    if not from_ahead:
                        closed, quality = False, max(quality, REPAIRED)
                    if spent:
                        older_read.append((this, spent))
                    budget -= spent or self._chunk_data
                    found = regions.find(addr, size)
                if found is None:
                    outside.append(addr)
                    data = read_ahead.get(addr)
                    if data is None:
                        closed, quality = False, max(quality, REPAIRED)
                        try:
                            data = self.memory.read(addr, size)
                        except TargetExited:
                            raise
                        except MemspyError:
                            return unknown_stack(out)  # a link read while it changed
                    found = data, 0
                buf, off = found
            seen.add(addr)
            visited.append(addr)
            owner = buf[off + owner_off]
            if cstack is None or owner < cstack:
                code = _PTR.unpack_from(buf, off + exec_off)[0]
                instr = _PTR.unpack_from(buf, off + instr_off)[0]
                if len(innermost) < 2:
                    innermost.append((addr, len(out)))
                out.append((code, (instr - code - adaptive) // 2, owner != generator))
                made.append(True)
            else:
                made.append(False)
            addr = _PTR.unpack_from(buf, off + prev_off)[0]
            if owner == generator and not addr:
                # A generator's frame is unlinked (previous = NULL) when it yields: ending
                # at one means the chain was read across a yield. 3.12+ links a running
                # generator to a C-stack entry frame, so only a torn read ends here; in
                # 3.11 so does a thread without Python frames driving a generator from C
                # (rare). Its caller is found from the data stack.
                top = _PTR.unpack_from(tstate, self._top_off)[0]
                addr = self._resumer(tstate_addr, top, chunk, chunk_data, visited)
                if not addr:
                    return unknown_stack(out)
                quality, closed, trail = max(quality, REPAIRED), False, None
        self._note_frames(tstate_addr, chunk, chunk_end, visited)
        # Frames outside the chunks that recent walks met are read ahead too: a generator
        # made anew each time mostly gets one of a few addresses back.
        fresh = set(outside)
        outside += [addr for addr in outside_guess if addr not in fresh][:RECENT_OUTSIDE]
        outside, older_read = outside[:MAX_OUTSIDE_READ_AHEAD], older_read[:MAX_OLDER_READ_AHEAD]
        self._outside[tstate_addr] = outside
        self._older[tstate_addr] = older_read
        trail = None
        if moved:
            if len(innermost) == 2 and innermost[1][0] == moved:
                # The innermost frame returned while the frames were read: its caller
                # was at the call, wherever it was read.
                (_, first), (caller, index) = innermost
                site = self.call_sites.of(caller, out[index][0], out[first][0])
                if site is not None and site != out[index][1]:
                    out[index] = (out[index][0], site, out[index][2])
                    closed = False  # its frames no longer say what its bytes say
                quality = max(quality, REPAIRED)
        elif quality == EXACT:
            self._learn_site(innermost, out)
        if closed and chunk_data is not None:
            trail = _new_trail(plan, chunk_data, chunk, size, visited, made, outside, older_read)
        return raw_stack(out, False, closed, trail, quality)

    def _learn_site(self, innermost: List[Tuple[int, int]], frames: Sequence[RawFrame]) -> None:
        """Where the caller of the innermost frame was, from a walk read at one instant."""
        if len(innermost) == 2:
            (_, first), (caller, second) = innermost
            self.call_sites.learn(caller, frames[second][0], frames[first][0], frames[second][1])

    def _frame_after(
        self, tstate_addr: int, cframes: List[int], after: Sequence[Optional[bytes]],
        chunk: int, data: Optional[bytes],
    ) -> int:
        """The frame the thread ran when the reads that follow its frames' were made, if
        those agree with one another and with the data stack as read: the thread's frame
        pointer (through the cframe the thread named then, on 3.11/3.12) names a thread's
        frame of the chunk that ends at the data stack's top read then (or, if that frame
        was not there yet, the one before it). 0 otherwise."""
        if data is None or None in after:
            return 0
        words = [_PTR.unpack_from(value, 0)[0] for value in after]  # type: ignore[arg-type]
        top = words[-1]
        if cframes:
            if words[-2] not in cframes:
                return 0
            frame = words[cframes.index(words[-2])]
        else:
            frame = words[0]
        if not chunk <= frame < chunk + len(data):
            return 0
        length = self._thread_frame_bytes(chunk, data, frame)
        if length:
            return frame if frame + length == top else 0
        # No frame there yet in the bytes read: it was pushed after them, and the frame
        # that ends where it begins, its caller, was the innermost when they were read.
        return self._resumer(tstate_addr, frame, chunk, data, [])

    def _running_generator(self, resumer: int, ahead: Dict[int, Optional[bytes]]) -> int:
        """The one generator frame of this sample's batch that links to ``resumer``: it
        was running, called from there, at the sample's instant (a suspended one is
        unlinked); 0 if none or several."""
        linked = [
            addr
            for addr, data in ahead.items()
            if data is not None
            and data[self._owner] == self._generator
            and _PTR.unpack_from(data, self._prev)[0] == resumer
        ]
        return linked[0] if len(linked) == 1 else 0

    def _called_by_generator(
        self, addr: int, chunk: int, data: Optional[bytes], ahead: Dict[int, Optional[bytes]]
    ) -> bool:
        """Whether the frame at the data stack's top was called by a generator's frame:
        the eval loop whose cframe was left then is that generator's, resumed from C, and
        this frame, the innermost in it, was running. (A frame's owner does not change
        while it lives, so one not read with the batch is read now.)"""
        if data is None:
            return False
        caller = _PTR.unpack_from(data, addr - chunk + self._prev)[0]
        if not caller:
            return False
        frame = self._outside_frame(caller, ahead)
        return frame is not None and frame[self._owner] == self._generator

    def _outside_frame(self, addr: int, ahead: Dict[int, Optional[bytes]]) -> Optional[bytes]:
        """The frame at ``addr`` as the batch read it, else read now (None if it cannot
        be): for frames outside the chunk, whose fields read here do not change while
        they live."""
        frame = ahead.get(addr)
        return frame if frame is not None else read_each(self.memory, [(addr, self._frame_size)])[0]

    def _names_a_frame(
        self, addr: int, chunk: int, data: Optional[bytes], ahead: Dict[int, Optional[bytes]]
    ) -> bool:
        """Whether ``addr`` holds a frame as read: an entry frame, or one whose code is a
        code object (a frame outside the chunk that was not read ahead is read now)."""
        if data is not None and chunk <= addr and addr + self._frame_size <= chunk + len(data):
            frame, off = data, addr - chunk
        else:
            frame, off = self._outside_frame(addr, ahead), 0
            if frame is None:
                return False
        if self._cstack is not None and frame[off + self._owner] >= self._cstack:
            return True
        return self.codes.peek(_PTR.unpack_from(frame, off + self._exec)[0]) is not None

    def _note_frames(self, tstate_addr: int, chunk: int, end: int, visited: List[int]) -> None:
        """Keep the addresses of this walk's frames in the current chunk, with those of
        the thread's walks before: where a torn generator's caller is looked for."""
        mine = [addr for addr in visited if chunk <= addr < end]
        known = self._chunk_frames.get(tstate_addr, [])
        if mine != known[: len(mine)]:
            fresh = set(mine)
            self._chunk_frames[tstate_addr] = (
                mine + [addr for addr in known if addr not in fresh]
            )[:RECENT_FRAMES]

    def _resumer(
        self, tstate_addr: int, top: int, chunk: int, data: Optional[bytes], visited: List[int]
    ) -> int:
        """The frame that resumed a generator whose link to it was cleared by a yield
        between the read of the thread and the read of the generator's frame; 0 if none
        can be shown.

        A generator's frame lives in its object, and what it calls is pushed on the data
        stack exactly where its resumer's frame ends (at the stack's top if it calls
        nothing). A frame of this thread's recent walks that is a thread's frame in the
        chunk read now, and whose code's frame size makes it end exactly there, is that
        frame."""
        if data is None:
            return 0
        end = chunk + len(data)
        above = [addr for addr in visited if chunk <= addr < end]
        boundary = min(above) if above else top
        for frame in self._chunk_frames.get(tstate_addr, []):
            if not (chunk + self._chunk_data <= frame and frame + self._frame_size <= boundary):
                continue
            if frame + self._thread_frame_bytes(chunk, data, frame) == boundary:
                return frame
        return self._frame_ending_at(chunk, data, boundary)

    def _frame_ending_at(self, chunk: int, data: bytes, boundary: int) -> int:
        """The frame of the chunk that ends at ``boundary``, found by stepping through the
        chunk's frames from its first, each as long as its code says: the data stack is
        a bump allocator, its frames back to back. 0 unless a step lands exactly there
        (a frame of unknown code, or a gap, ends the search). For a frame that no recent
        walk of the thread met (a function seldom on the stack)."""
        for first in (chunk + self._chunk_data, chunk + self._chunk_data + 8):
            addr = first
            while addr < boundary:
                length = self._thread_frame_bytes(chunk, data, addr)
                if not length:
                    break
                if addr + length == boundary:
                    return addr
                addr += length
        return 0

    def _thread_frame_bytes(self, chunk: int, data: bytes, addr: int) -> int:
        """How long the thread's frame at ``addr`` in the chunk read as ``data`` is, as its
        code says; 0 if no thread's frame of known code is there."""
        off = addr - chunk
        if addr + self._frame_size > chunk + len(data) or data[off + self._owner] != self._thread:
            return 0
        info = self.codes.peek(_PTR.unpack_from(data, off + self._exec)[0])
        return info.frame_bytes if info is not None and info.frame_bytes else 0

    def _reuse(
        self,
        tstate_addr: int,
        trail: _Trail,
        addr: int,
        chunk_data: bytes,
        out: List[RawFrame],
        visited: List[int],
        made: List[bool],
    ) -> Optional[RawStack]:
        """The rest of the last walk, when this walk has come, through frames of the
        current chunk only, to a frame that the last walk reached the same way and every
        byte the last walk read from there on is unchanged: the frames below are then
        the same, and a deep stack costs its changed top, not its depth."""
        where = trail.position(addr)
        if where is None or trail.base.top_outside > where:
            return None
        header = slice(addr - trail.chunk, addr - trail.chunk + self._frame_size)
        if chunk_data[header] != trail.data[header]:
            return None  # this frame moved: no need to compare all below it
        extent, raws = trail.at(where)
        if chunk_data[:extent] != trail.data[:extent]:
            return None
        if len(out) + raws >= self.max_depth or len(visited) + where + 1 >= 2 * self.max_depth:
            return None
        for node in visited:
            position = trail.position(node)
            if position is not None and position <= where:
                return None  # a frame of the new top is also below: a cycle, walk it whole
        last: _Remembered = self._remembered[tstate_addr]
        self._outside[tstate_addr], self._older[tstate_addr] = trail.outside, trail.older
        grown = trail.grow(where, chunk_data, visited, made, self._frame_size)
        return reused_stack(out, last, len(last.raw.frames) - raws, grown)


class _Base(NamedTuple):
    """Where the frames of a whole walk were, outermost first (position 0)."""

    where: Dict[int, int]  # frame address -> position
    extent: List[int]  # bytes of the chunk the frames at or below a position were read from
    raws: List[int]  # raw frames made by the frames at or below a position
    top_outside: int  # highest position of a frame outside the current chunk, or -1


class _Trail(NamedTuple):
    """A closed walk of a 3.11+ thread, kept so that the next walk can stop where the
    stack stops changing: the positions of a whole walk up to ``cut``, then the frames a
    later walk put above them. A walk that reuses the frames below a position extends
    this in proportion to what it walked, not to the depth of the stack."""

    plan: Tuple[int, List[int], List[Tuple[int, int]], Tuple[Optional[bytes], ...]]
    data: bytes  # the current data-stack chunk as read
    chunk: int
    base: _Base
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
    ) -> _Trail:
        """This trail cut above ``where``, with the new top frames ``visited`` on it."""
        extent, raws = self.at(where)
        top = list(self.top[: max(where - self.cut, 0)])
        for addr, frame in zip(reversed(visited), reversed(made)):
            extent, raws = max(extent, addr - self.chunk + size), raws + frame
            top.append((addr, extent, raws))
        grown = _Trail(
            self.plan, data, self.chunk, self.base, min(where, self.cut), tuple(top),
            self.outside, self.older,
        )
        return grown if len(top) <= MAX_TRAIL_TOP else grown.flattened()

    def flattened(self) -> _Trail:
        """The same trail as one whole walk (a stack that keeps growing would otherwise
        make ``top`` long, and ``position`` slow)."""
        where = {addr: p for addr, p in self.base.where.items() if p <= self.cut}
        for index, (addr, _, _) in enumerate(self.top):
            where[addr] = self.cut + 1 + index
        extent = self.base.extent[: self.cut + 1] + [e for _, e, _ in self.top]
        raws = self.base.raws[: self.cut + 1] + [r for _, _, r in self.top]
        base = _Base(where, extent, raws, self.base.top_outside)
        return self._replace(base=base, cut=len(extent) - 1, top=())


def _new_trail(
    plan: Tuple[int, List[int], List[Tuple[int, int]], Tuple[Optional[bytes], ...]],
    data: bytes,
    chunk: int,
    size: int,
    visited: List[int],
    made: List[bool],
    outside: List[int],
    older: List[Tuple[int, int]],
) -> _Trail:
    addrs = visited[::-1]
    end = chunk + len(data)
    inside = [chunk <= addr and addr + size <= end for addr in addrs]
    ends = [addr - chunk + size if ok else 0 for addr, ok in zip(addrs, inside)]
    top_outside = max((p for p, ok in enumerate(inside) if not ok), default=-1)
    base = _Base(
        dict(zip(addrs, range(len(addrs)))), list(accumulate(ends, max)),
        list(accumulate(reversed(made))), top_outside,
    )
    return _Trail(plan, data, chunk, base, len(addrs) - 1, (), outside, older)


FRAME_CHAINS: Dict[str, type] = {"pyframe": PyFrameChain, "iframe": InterpreterFrameChain}
