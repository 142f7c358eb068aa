"""3.11+: interpreter frames linked by ``previous``, most of them in data-stack chunks.

Longer than most modules (about 550 lines) for one class: its walk is one algorithm
(chunks read whole, frames outside them, generators that resume, C-stack entries, and
the reuse of an unchanged bottom), and each part decides what the next one may trust.
What is shared with the ≤3.10 walk is in ``chain``, the reuse bookkeeping in ``trail``.
"""

from __future__ import annotations

import struct
from typing import Dict, List, Optional, Sequence, Tuple

from memspy.errors import MemspyError, RemoteReadError, TargetExited
from memspy.interpreter.codes import CodeCache
from memspy.interpreter.frames.chain import (
    EXACT,
    PARTLY_UNKNOWN,
    RECENT_FRAMES,
    REPAIRED,
    UNKNOWN,
    CallSites,
    FrameChain,
    Prefetched,
    RawFrame,
    RawStack,
    Remembered,
    raw_stack,
    reused_stack,
    unknown_stack,
)
from memspy.interpreter.frames.moving_top import MovingTops, Region
from memspy.interpreter.frames.trail import Trail, new_trail
from memspy.memory.base import Memory, read_each
from memspy.model import Frame
from memspy.offsets import Layout

_PTR = struct.Struct("<Q")
_I32 = struct.Struct("<i")

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
CHUNK_GUESS_MARGIN = 512  # bytes beyond the last top of a data-stack chunk read ahead


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
        # The walk key: the fields a walk reads of a thread state (its frame pointer or
        # cframe, its data-stack chunk, top and limit) and whatever lies between them;
        # not the status bits each GIL handoff flips, nor the recursion counters, which
        # change as a thread runs without changing its walk.
        read = [self._cframe_off, self._current_off, self._chunk_off, self._top_off]
        offsets = [offset for offset in read + [self._limit_off] if offset is not None]
        self.walk_key = slice(min(offsets), max(offsets) + 8)
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
        self._moving = self.moving = MovingTops(layout, codes, self.call_sites, self.walk_key)

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
            self._chunk_ends, self._cframes, self._prefetches, self._moving.tops,
            self._moving.noted, self._moving.recalled,
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
        trail: Optional[Trail] = last.raw.trail if last is not None else None  # type: ignore
        if trail is not None and (chunk_data is None or trail.plan != plan or moved):
            trail = None
        budget = MAX_CHUNK_READ_BYTES
        chunks_read = set()  # older chunks: a damaged list of them may loop
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
        on_stack = False  # whether the walk met a frame on the data stack
        top = _PTR.unpack_from(tstate, self._top_off)[0]
        quality = EXACT
        innermost: List[Tuple[int, int]] = []  # two innermost frames: (address, index in out)
        # The data stack holds frames: the chain from the thread's frame pointer meets them.
        stacked = chunk_data is not None and chunk + self._chunk_data < top <= chunk_end
        stale = not self._names_a_frame(addr, chunk, chunk_data, read_ahead) if addr else stacked
        if stale:
            # 3.11/3.12 name the current frame through a cframe on the C stack, which an
            # eval loop entered from C (a generator resumed by ``sum``) leaves, and the
            # C stack reuses, within microseconds: read a moment later, it names no frame.
            # A cframe being set up names none yet (NULL) while Python frames are on the
            # data stack. The frames below are still there, the innermost ending at its top.
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
                on_stack = True
                # Not from the innermost frame: a running thread's has always moved on
                # (and a thread whose frames all stand still is recalled whole).
                if trail is not None and visited:
                    reused = self._reuse(tstate_addr, trail, addr, chunk_data, out, visited, made)
                    if reused is not None:
                        owner = buf[off + owner_off]
                        if len(innermost) == 1 and (cstack is None or owner < cstack):
                            innermost.append((addr, len(out)))  # the first frame reused
                        self._learn_site(innermost, reused.frames)
                        self._note_top(
                            tstate_addr, reused, reused.trail, chunk, chunk_end, visited, made,
                            innermost, len(cframes),
                        )
                        return reused
            else:
                trail = None  # what comes next depends on what was read until here
                found = regions.find(addr, size)
                while found is None and older and budget > 0 and older not in chunks_read:
                    this = older
                    chunks_read.add(this)
                    older, spent, from_ahead = self._older_chunk(regions, this, older_ahead)
                    if not from_ahead:
                        closed, quality = False, max(quality, REPAIRED)
                    if spent:
                        older_read.append((this, spent))
                    budget -= spent or self._chunk_data
                    found = regions.find(addr, size)
                on_stack = on_stack or found is not None
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
            if not addr and (owner == generator or (stacked and not on_stack)):
                # A generator's frame is unlinked (previous = NULL) when it yields: ending
                # at one means the chain was read across a yield. 3.12+ links a running
                # generator to a C-stack entry frame, so only a torn read ends here; in
                # 3.11 so does a thread without Python frames driving a generator from C
                # (rare). Any chain that ends while the data stack holds frames none of it
                # met was torn too: a frame outside the data stack read after it was gone
                # (a finished generator's object freed and its memory reused, an entry
                # frame's place on the C stack reused). Its caller is found from the data
                # stack.
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
            trail = new_trail(plan, chunk_data, chunk, size, visited, made, outside, older_read)
        raw = raw_stack(out, False, closed, trail, quality)
        if quality == EXACT:
            self._note_top(
                tstate_addr, raw, trail, chunk, chunk_end, visited, made, innermost, len(cframes)
            )
        return raw

    def _note_top(
        self, tstate_addr: int, raw: RawStack, trail: Optional[Trail], chunk: int,
        chunk_end: int, visited: List[int], made: List[bool],
        innermost: List[Tuple[int, int]], at: int,
    ) -> None:
        """Note a closed, exact walk as a moving top (see ``moving_top``) when its
        innermost frame made a raw frame in the current chunk, above every other frame
        of the chunk that the walk (or the walks whose bottom it reused) read."""
        if trail is None or not made[0]:
            return
        first = visited[0]
        position = trail.position(first)
        if position is None or not chunk <= first <= chunk_end - self._frame_size:
            return
        if position and trail.at(position - 1)[0] > first - chunk:
            return
        site = None
        if len(innermost) == 2:
            (_, callee), (caller, index) = innermost
            frames = raw.frames
            site = (caller, frames[index][0], frames[callee][0], frames[index][1])
        self._moving.note(tstate_addr, raw, first - chunk, at, site)

    def recall(
        self, tstate_addr: int, tstate: bytes, regions: List[Region], prefetched: Prefetched,
    ) -> Optional[Tuple[RawStack, List[Frame], int]]:
        """A walk kept from these very bytes, else one kept from the same bytes but
        those its innermost frame changes as it runs (see ``moving_top``)."""
        return super().recall(tstate_addr, tstate, regions, prefetched) or self._moving.recall(
            tstate_addr, tstate, regions, prefetched
        )

    def remember(
        self, tstate_addr: int, tstate: bytes, regions: List[Region], prefetched: Prefetched,
        raw: RawStack, frames: List[Frame], hidden: List[int],
    ) -> None:
        super().remember(tstate_addr, tstate, regions, prefetched, raw, frames, hidden)
        if tstate_addr in self._moving.noted:
            self._moving.keep(
                tstate_addr, tstate, regions, prefetched, raw, self._remembered.get(tstate_addr)
            )

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
        trail: Trail,
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
        last: Remembered = self._remembered[tstate_addr]
        self._outside[tstate_addr], self._older[tstate_addr] = trail.outside, trail.older
        grown = trail.grow(where, chunk_data, visited, made, self._frame_size)
        return reused_stack(out, last, len(last.raw.frames) - raws, grown)

