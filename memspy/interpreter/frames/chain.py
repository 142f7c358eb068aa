"""What both frame models share: a walk's raw stack, how it was read, and the walks
kept for the next sample (recalled whole, or their unchanged bottom reused)."""

from __future__ import annotations

import struct
from operator import itemgetter
from typing import (
    TYPE_CHECKING,
    Callable,
    Dict,
    FrozenSet,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from memspy.errors import MemspyError, TargetExited
from memspy.interpreter.codes import CodeCache
from memspy.interpreter.linked_lists import within_budget
from memspy.memory.base import AGAIN, ALSO, FIRST, THEN, Memory
from memspy.model import Frame

if TYPE_CHECKING:
    from memspy.interpreter.frames.moving_frame import MovingFrames
    from memspy.interpreter.frames.moving_top import MovingTops

_PTR = struct.Struct("<Q")
_I32 = struct.Struct("<i")

DEFAULT_MAX_DEPTH = 4096
MAX_PARENTS = 65536  # learnt frame -> caller links kept before they are learnt afresh
RECENT_FRAMES = 64  # ≤3.10 frames a thread had lately, beyond its last walk, read ahead
# Walks kept per thread for ``recall`` beyond the last one, and the bytes they may hold in
# all: a stack only a few frames deep comes back to a few dozen states (the innermost
# frame's instruction in its loop), and is then recalled, not walked, almost every sample.
MEMO_WALKS = 64
MEMO_BYTES = 4 * 1024 * 1024
MEMO_REGIONS = 32  # a walk that used more regions (a deep stack) is not kept
MEMO_SHAPES = 8  # the sets of regions a thread's kept walks used, tried in turn
MAX_MOVED = 256  # positions decoded and kept per walk whose innermost frame moves in place

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
    reused: Optional[Tuple[Remembered, int]] = None
    trail: object = None  # what the chain needs to reuse this walk's tail next time
    quality: int = EXACT
    # Where the chain says so, the indexes of the prefetched regions a closed walk used:
    # the walk is a function of those bytes alone (see ``FrameChain.recall``).
    used: Optional[Tuple[int, ...]] = None


def raw_stack(
    frames: List[RawFrame], cut: bool, closed: bool, trail: object = None,
    quality: int = EXACT, used: Optional[Tuple[int, ...]] = None,
) -> RawStack:
    codes = frozenset([code for code, _, _ in frames])
    if quality == PARTLY_UNKNOWN:
        codes = codes - {UNKNOWN_CODE}
    return RawStack(frames, cut, closed, codes, None, trail, quality, used)


def unknown_stack(frames: List[RawFrame]) -> RawStack:
    """What was read of a stack, then the marker of a part that could not be."""
    return raw_stack([*frames, UNKNOWN], False, False, quality=PARTLY_UNKNOWN)


def reused_stack(
    head: List[RawFrame], last: Remembered, start: int, trail: object,
    used: Optional[Tuple[int, ...]] = None,
) -> RawStack:
    """``head`` walked now, then the frames of ``last`` from ``start`` on, unchanged."""
    codes = last.raw.codes.union([code for code, _, _ in head])
    return RawStack(
        head + last.raw.frames[start:], False, True, codes, (last, start), trail, EXACT, used
    )


class Remembered(NamedTuple):
    # The bytes of the thread state its walk reads, what was read ahead, and from where
    # (the same bytes at other addresses are another stack).
    inputs: Tuple[bytes, List[Optional[bytes]], List[Tuple[int, int]]]
    raw: RawStack
    frames: List[Frame]
    generation: int  # the code cache's, when ``frames`` were decoded
    hidden: List[int]  # indexes of ``raw.frames`` that decoding left out (incomplete frames)


# A kept walk's key: the regions it used, the thread state's walk key, the bytes and
# the places of those regions (one region's alone, several in a tuple).
MemoKey = Tuple[Tuple[int, ...], bytes, object, object]


def _key_bytes(key: MemoKey) -> int:
    """The bytes a memo key holds (the walk key and the regions it used)."""
    _, walk_key, data, _ = key
    held = data if isinstance(data, tuple) else (data,)
    return len(walk_key) + sum(map(len, held))


# A walk with its innermost frame at a new position: the raw stack and its frames.
Moved = Tuple[RawStack, List[Frame]]


def moved_walk(
    codes: CodeCache, walk: RawStack, tail: List[Frame], code: int, position: int,
    hideable: bool, answers: Dict[int, Moved],
) -> Optional[Moved]:
    """The kept ``walk`` with its innermost frame, running ``code``, at ``position``
    (``tail``: the walk's frames after that one's), decoded as ``FrameChain._decode``
    decodes it, from the code cache alone: None when the code is no longer cached (a
    walk then reads it again). Kept in ``answers`` by position, ``MAX_MOVED`` at most:
    a loop comes back to the same few."""
    info = codes.known(code)
    if info is None:
        return None
    frame = info.frames.get(position)
    if frame is None and not (hideable and position < info.firsttraceable):
        frame = codes.frame(info, position)
    raw = RawStack([(code, position, hideable), *walk.frames[1:]], False, True, walk.codes)
    answer = (raw, tail if frame is None else [frame, *tail])
    if len(answers) >= MAX_MOVED:
        answers.clear()
    answers[position] = answer
    return answer


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
        self._remembered: Dict[int, Remembered] = {}  # thread state -> its last walk
        # Recalled walks whose innermost frame moves in place as the thread runs, for a
        # sample's echo (see ``steady``): 3.11+ ``moving_top``, ≤3.10 ``moving_frame``.
        self.moving: Optional[Union[MovingTops, MovingFrames]] = None
        # Thread state -> its recent closed walks, by the regions they used and their
        # bytes; and the sets of regions those were, each with what picks them out.
        self._memo: Dict[int, Dict[MemoKey, Remembered]] = {}
        self._shapes: Dict[int, Dict[Tuple[int, ...], Tuple[int, Callable]]] = {}
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

    # The bytes of a thread state that its ``prefetch`` and ``raw`` read: equal keys and
    # equal read-ahead make the same walk. A slice, not a method: taken for every thread
    # of every sample. All of it here; each chain narrows it to the fields it reads.
    walk_key = slice(None)

    def wanted(self, tstate_addr: int, tstate: bytes) -> List[Tuple[int, int]]:
        """``prefetch``, answered again without work while the thread state's bytes are
        the same and no walk has changed what this thread's read-ahead is made from."""
        key = tstate[self.walk_key]
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
        of its recent ones that found the same bytes in the regions it used, whatever the
        others hold now (a shallow busy stack cycles through a few dozen states; ≤3.10
        reads ahead frames the thread had lately, which other threads' calls rewrite).
        Its frames stand only while the code cache's generation is unchanged.

        A closed walk is a function of the bytes it used and of the code cache alone, so
        a walk recalled is the walk that would be made: no sample is biased by it."""
        key = tstate[self.walk_key]
        last = self._remembered.get(tstate_addr)
        if last is None or last.inputs != (key, prefetched, regions):
            last = self._from_memo(tstate_addr, key, regions, prefetched)
            if last is None:
                return None
            self._remembered[tstate_addr] = last  # what the next walk reuses
        return last.raw, last.frames, last.generation

    def _from_memo(
        self, tstate_addr: int, key: bytes, regions: List[Tuple[int, int]],
        prefetched: Prefetched,
    ) -> Optional[Remembered]:
        """The kept walk that used regions at the same places with the same bytes."""
        shapes = self._shapes.get(tstate_addr)
        if not shapes:
            return None
        memo = self._memo[tstate_addr]
        count = len(prefetched)
        for used, (top, pick) in shapes.items():
            if top < count:
                walk = memo.get((used, key, pick(prefetched), pick(regions)))
                if walk is not None:
                    return walk
        return None

    def remember(
        self, tstate_addr: int, tstate: bytes, regions: List[Tuple[int, int]],
        prefetched: Prefetched, raw: RawStack, frames: List[Frame], hidden: List[int],
    ) -> None:
        """Keep a closed walk and its decoding: for ``recall`` when nothing changed, and
        for the next walk to reuse the part of it that did not (deep stacks mostly grow
        and shrink at the top)."""
        if raw.closed and not raw.cut and not (frames and frames[-1] is UNKNOWN_FRAME):
            key = tstate[self.walk_key]
            inputs = (key, list(prefetched), regions)
            if raw.reused is not None:  # or each walk would keep the one before alive
                raw = RawStack(*raw[:4], None, *raw[5:])  # a third of ``_replace``'s cost
            generation = self.codes.generation
            kept = self._remembered[tstate_addr] = Remembered(
                inputs, raw, frames, generation, hidden
            )
            used = raw.used
            if self.memo_walks and used is not None and len(used) <= MEMO_REGIONS:
                shapes = self._shapes.setdefault(tstate_addr, {})
                shape = shapes.get(used)
                if shape is None:
                    if len(shapes) >= MEMO_SHAPES:
                        del shapes[next(iter(shapes))]
                    shape = shapes[used] = (max(used), itemgetter(*used))
                pick = shape[1]
                self._keep(tstate_addr, (used, key, pick(prefetched), pick(regions)), kept)
        else:
            self._remembered.pop(tstate_addr, None)

    def _keep(self, tstate_addr: int, key: MemoKey, walk: Remembered) -> None:
        """Add a walk to the thread's memo: the oldest goes when it is full, and every
        memo when all hold more than ``MEMO_BYTES`` (many threads, each cycling through
        states that never come back)."""
        memo = self._memo.setdefault(tstate_addr, {})
        if key in memo:  # decoded again after the code cache changed: the same bytes
            memo[key] = walk
            return
        if len(memo) >= self.memo_walks:
            oldest = next(iter(memo))
            del memo[oldest]
            self._memo_bytes -= _key_bytes(oldest)
        memo[key] = walk
        self._memo_bytes += _key_bytes(key)
        if self._memo_bytes > MEMO_BYTES:
            self._memo.clear()
            self._shapes.clear()
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
        self._memo_bytes = sum(_key_bytes(key) for memo in self._memo.values() for key in memo)

    def _tables(self) -> List[Dict[int, object]]:
        return [
            self._remembered, self._memo, self._shapes, self._guesses, self._stages, self._asked
        ]

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
