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
from typing import Dict, FrozenSet, List, NamedTuple, Optional, Sequence, Tuple

from memspy.chains import guess_regions, read_chain, within_budget
from memspy.codes import CodeCache
from memspy.errors import RemoteReadError
from memspy.memory.base import Memory
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
CHUNK_GUESS_MARGIN = 512  # bytes beyond the last top of a data-stack chunk read ahead

# One frame as walked: code address, position (f_lasti or instruction index), and whether
# CPython's "incomplete frame" rule applies (a frame before _co_firsttraceable is hidden).
RawFrame = Tuple[int, int, bool]
Prefetched = Sequence[Optional[bytes]]


class RawStack(NamedTuple):
    frames: List[RawFrame]
    cut: bool  # stopped at the depth limit
    closed: bool  # nothing was read beyond the thread state and the prefetched regions, so
    # the same bytes there give the same stack (see ``FrameChain.recall``)
    codes: FrozenSet[int]  # the code objects of ``frames``, to validate in one set operation


def raw_stack(frames: List[RawFrame], cut: bool, closed: bool) -> RawStack:
    return RawStack(frames, cut, closed, frozenset([code for code, _, _ in frames]))


class _Remembered(NamedTuple):
    inputs: Tuple[bytes, Tuple[Optional[bytes], ...]]
    raw: RawStack
    frames: List[Frame]
    generation: int  # the code cache's, when ``frames`` were decoded


def truncated_frame(max_depth: int) -> Frame:
    """The marker put where a stack was cut at the depth limit."""
    return Frame(f"<truncated: deeper than {max_depth} frames>", "<memspy>", 0)


class FrameChain:
    """What both walks share: the depth limit and turning raw frames into ``Frame``s."""

    def __init__(self, memory: Memory, codes: CodeCache, max_depth: int) -> None:
        self.memory = memory
        self.codes = codes
        self.max_depth = max_depth
        self._remembered: Dict[int, _Remembered] = {}  # thread state -> its last walk
        # Thread state -> what its last prefetch asked for, widened where it may grow.
        self._guesses: Dict[int, List[Tuple[int, int]]] = {}
        # Thread state -> (its bytes, what prefetch asked for then), until ``raw`` runs.
        self._asked: Dict[int, Tuple[bytes, List[Tuple[int, int]]]] = {}
        self._live: Tuple[int, ...] = ()  # the thread states of the last ``forget``
        self._plan: Optional[Tuple[List[Tuple[int, int]], Dict[int, Tuple[int, int]]]] = None

    def wanted(self, tstate_addr: int, tstate: bytes) -> List[Tuple[int, int]]:
        """``prefetch``, answered again without work while the thread state's bytes are
        the same and no walk has changed what this thread's read-ahead is made from."""
        asked = self._asked.get(tstate_addr)
        if asked is not None and asked[0] == tstate:
            return asked[1]
        regions = self.prefetch(tstate_addr, tstate)
        self._asked[tstate_addr] = (tstate, regions)
        return regions

    def prefetch(self, tstate_addr: int, tstate: bytes) -> List[Tuple[int, int]]:
        """What to read ahead for this thread before ``raw``."""
        raise NotImplementedError

    def guesses(self, budget: int) -> Tuple[List[Tuple[int, int]], Dict[int, Tuple[int, int]]]:
        """What the next sample's prefetches will likely ask for, known before its thread
        states are read: the sample then reads both in one system call. Also where each
        thread's guesses sit in that list. At most ``budget`` bytes.

        Kept until a thread's guesses change: a steady program asks for the same hundreds
        of regions sample after sample, and laying them out again would cost more than
        reading them."""
        if self._plan is None:
            flat: List[Tuple[int, int]] = []
            spans: Dict[int, Tuple[int, int]] = {}
            for tstate_addr, regions in self._guesses.items():
                spans[tstate_addr] = (len(flat), len(flat) + len(regions))
                flat += regions
            kept = within_budget(flat, budget)
            spans = {t: span for t, span in spans.items() if span[1] <= len(kept)}
            self._plan = (kept, spans)
        return self._plan

    def _set_guesses(self, tstate_addr: int, regions: List[Tuple[int, int]]) -> None:
        if self._guesses.get(tstate_addr) != regions:
            self._guesses[tstate_addr] = regions
            self._plan = None

    def raw(self, tstate_addr: int, tstate: bytes, prefetched: Prefetched) -> RawStack:
        raise NotImplementedError

    def recall(
        self, tstate_addr: int, tstate: bytes, prefetched: Prefetched
    ) -> Optional[Tuple[RawStack, List[Frame], int]]:
        """The last walk of this thread, if it read exactly these bytes: a thread that
        waits (half the threads of a typical server) then costs a comparison, not a walk.
        Its frames stand only while the code cache's generation is unchanged."""
        last = self._remembered.get(tstate_addr)
        if last is None or last.inputs != (tstate, tuple(prefetched)):
            return None
        return last.raw, last.frames, last.generation

    def remember(
        self, tstate_addr: int, tstate: bytes, prefetched: Prefetched, raw: RawStack,
        frames: List[Frame],
    ) -> None:
        if raw.closed:
            inputs = (tstate, tuple(prefetched))
            self._remembered[tstate_addr] = _Remembered(inputs, raw, frames, self.codes.generation)
        else:
            self._remembered.pop(tstate_addr, None)

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
        return [self._remembered, self._guesses, self._asked]

    def decode(self, raw: RawStack) -> List[Frame]:
        """Frames innermost first; call after ``codes.validate`` saw every code address."""
        get = self.codes.get
        result = []
        for code_addr, position, hideable in raw.frames:
            info = get(code_addr)
            frame = info.frames.get(position)
            if frame is None:
                if hideable and position < info.firsttraceable:
                    continue
                frame = self.codes.frame(info, position)
            result.append(frame)
        if raw.cut:
            result.append(truncated_frame(self.max_depth))
        return result


class PyFrameChain(FrameChain):
    """2.7-3.10: follow ``tstate->frame`` and ``f_back``; lines from ``f_lasti``.

    Frame objects live on the heap: the addresses of the last walk of the same thread
    are read ahead in the sample's batch, so an unchanged stack costs no extra reads.
    """

    def __init__(self, memory: Memory, layout: Layout, codes: CodeCache, max_depth: int) -> None:
        super().__init__(memory, codes, max_depth)
        f = layout.pyframe
        self._top_off = layout.tstate.frame
        self._back, self._code, self._lasti = f.f_back, f.f_code, f.f_lasti
        self._size = max(f.f_back, f.f_code, f.f_lasti) + 8
        self._guess: Dict[int, List[int]] = {}  # thread state -> frame addresses last time

    def prefetch(self, tstate_addr: int, tstate: bytes) -> List[Tuple[int, int]]:
        regions = guess_regions(self._guess.get(tstate_addr, ()), self._size, self.max_depth)
        self._set_guesses(tstate_addr, regions)
        return regions

    def raw(self, tstate_addr: int, tstate: bytes, prefetched: Prefetched) -> RawStack:
        self._asked.pop(tstate_addr, None)  # the read-ahead changes with this walk
        first = _PTR.unpack_from(tstate, self._top_off)[0]
        guess = self._guess.get(tstate_addr, ())
        nodes, cut = read_chain(
            self.memory, first, self._back, self._size, guess, prefetched, self.max_depth, "frame"
        )
        addrs = [addr for addr, _ in nodes]
        self._guess[tstate_addr] = addrs
        # Closed when the walk went exactly through the frames read ahead, and ended there.
        closed = not cut and addrs == list(guess) and None not in prefetched
        code, lasti = self._code, self._lasti
        frames = [
            (_PTR.unpack_from(data, code)[0], _I32.unpack_from(data, lasti)[0], False)
            for _, data in nodes
        ]
        return raw_stack(frames, cut, closed)

    def _tables(self) -> List[Dict[int, object]]:
        return [*super()._tables(), self._guess]


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

    def prefetch(self, tstate_addr: int, tstate: bytes) -> List[Tuple[int, int]]:
        """The current chunk's used part; on 3.11/3.12 also the cframe's frame pointer; and
        the frames the last walk of this thread found outside the chunks (C-stack entry
        frames, generators) and the older chunks it read (a deep stack), which a steady
        program has at the same addresses again."""
        regions = []
        if self._current_off is None:
            cframe = _PTR.unpack_from(tstate, self._cframe_off)[0]
            regions.append((cframe + self._cframe_current, 8))
        chunk = _PTR.unpack_from(tstate, self._chunk_off)[0]
        top = _PTR.unpack_from(tstate, self._top_off)[0]
        guesses = list(regions)
        if chunk and chunk + self._chunk_data <= top <= chunk + MAX_CHUNK_BYTES:
            regions.append((chunk, top - chunk))
            # Next time the stack may be a little deeper: guess a little more, within
            # the chunk (its usable end is datastack_limit).
            limit = _PTR.unpack_from(tstate, self._limit_off)[0]
            end = min(top + CHUNK_GUESS_MARGIN, limit) if top <= limit else top
            guesses.append((chunk, min(end, chunk + MAX_CHUNK_BYTES) - chunk))
        else:
            chunk = 0
        outside = self._outside.get(tstate_addr, [])
        older = self._older.get(tstate_addr, [])
        ahead = [(addr, self._frame_size) for addr in outside] + older
        regions += ahead
        guesses += ahead
        self._plans[tstate_addr] = (chunk, outside, older)
        self._set_guesses(tstate_addr, guesses)
        return regions

    def _tables(self) -> List[Dict[int, object]]:
        return [*super()._tables(), self._outside, self._older, self._plans]

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
        chunk, outside_guess, older_guess = self._plans.pop(tstate_addr, (0, [], []))
        prefetched = list(prefetched)
        if self._current_off is not None:
            addr = _PTR.unpack_from(tstate, self._current_off)[0]
        else:
            pointer = prefetched.pop(0) if prefetched else None
            if pointer is None:
                raise RemoteReadError("cannot read the thread's current frame pointer")
            addr = _PTR.unpack_from(pointer, 0)[0]
        chunk_data = prefetched.pop(0) if chunk and prefetched else None
        read_ahead = dict(zip(outside_guess, prefetched))
        older_ahead = dict(zip([a for a, _ in older_guess], prefetched[len(outside_guess) :]))
        older_read: List[Tuple[int, int]] = []
        regions = _Regions()
        older = 0
        chunk_end = chunk
        if chunk_data is not None and len(chunk_data) >= self._chunk_data:
            regions.add(chunk, chunk_data)
            chunk_end = chunk + len(chunk_data)
            older = _PTR.unpack_from(chunk_data, self._chunk_prev)[0]
        budget = MAX_CHUNK_READ_BYTES
        out: List[RawFrame] = []
        outside: List[int] = []
        seen = set()
        closed = True
        size, cstack, generator = self._frame_size, self._cstack, self._generator
        exec_off, instr_off, prev_off, owner_off = self._exec, self._instr, self._prev, self._owner
        adaptive = self._code_adaptive
        while addr:
            # Hidden entry frames count too (at most one per Python frame in CPython).
            if len(out) >= self.max_depth or len(seen) >= 2 * self.max_depth:
                return raw_stack(out, True, False)
            if addr in seen:
                raise RemoteReadError("cycle in the frame chain")
            seen.add(addr)
            if chunk <= addr and addr + size <= chunk_end:  # the common case
                buf, off = chunk_data, addr - chunk
            else:
                found = regions.find(addr, size)
                while found is None and older and budget > 0:
                    this = older
                    older, spent, from_ahead = self._older_chunk(regions, this, older_ahead)
                    closed = closed and from_ahead
                    if spent:
                        older_read.append((this, spent))
                    budget -= spent or self._chunk_data
                    found = regions.find(addr, size)
                if found is None:
                    outside.append(addr)
                    data = read_ahead.get(addr)
                    if data is None:
                        closed = False
                        data = self.memory.read(addr, size)
                    found = data, 0
                buf, off = found
            owner = buf[off + owner_off]
            if cstack is None or owner < cstack:
                code = _PTR.unpack_from(buf, off + exec_off)[0]
                instr = _PTR.unpack_from(buf, off + instr_off)[0]
                out.append((code, (instr - code - adaptive) // 2, owner != generator))
            addr = _PTR.unpack_from(buf, off + prev_off)[0]
        self._outside[tstate_addr] = outside[:MAX_OUTSIDE_READ_AHEAD]
        self._older[tstate_addr] = older_read[:MAX_OLDER_READ_AHEAD]
        return raw_stack(out, False, closed)


FRAME_CHAINS: Dict[str, type] = {"pyframe": PyFrameChain, "iframe": InterpreterFrameChain}
