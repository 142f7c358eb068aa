"""The interpreters and thread states of a process, and which thread holds the GIL.

How the GIL holder is found differs by version (a global pointer, a field of
``_PyRuntime``, or the interpreter's own GIL struct); the layout's ``gil_model`` picks one
of the ``_GilReader``s below and nothing else branches on it. Where the holder lives is
fixed once the interpreter runs, so it is read in the same system call as the list head.
"""

from __future__ import annotations

import struct
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from memspy.errors import MemspyError, RemoteReadError
from memspy.interpreter.linked_lists import guess_regions, read_chain
from memspy.memory.base import FIRST, THEN, Memory, read_regions
from memspy.offsets import Layout

_PTR = struct.Struct("<Q")
_I32 = struct.Struct("<i")

MAX_INTERPRETERS = 256
MAX_THREADS = 4096  # thread states read per snapshot, all interpreters together
# Reads of the thread list per snapshot. A thread that ends while the list is read can
# leave a freed thread state on it (its "next" is then allocator data): the list is read
# again at once, a few microseconds later, rather than the sample of every thread lost.
LIST_READS = 3


class ThreadState(NamedTuple):
    """A tuple, not a dataclass: dozens are made per sample, and a frozen dataclass takes
    several times longer to build."""

    addr: int
    interp: int
    data: bytes  # the PyThreadState struct as read this sample
    thread_id: int
    native_tid: Optional[int]  # from the struct (3.11+), else learnt elsewhere


class _GilReader:
    """Where to read the GIL holder from, and how to decode what was read."""

    def __init__(self, region: Tuple[int, int], holder_off: int, locked_off: Optional[int]):
        self.region = region
        self._holder_off = holder_off
        self._locked_off = locked_off

    def holder(self, data: bytes) -> int:
        if self._locked_off is not None and not _I32.unpack_from(data, self._locked_off)[0]:
            return 0  # last_holder stays set after release: only trust it while locked
        return _PTR.unpack_from(data, self._holder_off)[0]


class Threads:
    """Reads the thread states of every interpreter, and the GIL holder."""

    def __init__(
        self, memory: Memory, layout: Layout, head_addr: int, tstate_current: Optional[int]
    ) -> None:
        self.memory = memory
        self.layout = layout
        self._head_addr = head_addr  # address of the pointer to the first interpreter
        self._tstate_current = tstate_current
        i, t = layout.interp, layout.tstate
        self._interp_next, self._tstate_head = i.next, i.tstate_head
        self._size = t.sizeof
        self._next, self._tid, self._ntid = t.next, t.thread_id, t.native_thread_id
        self._gil: Optional[_GilReader] = None
        self._guess: Dict[int, List[int]] = {}  # interp -> thread state addresses last time
        # The regions of the last snapshot's read, kept while what they are made of is.
        self._regions: Tuple[object, ...] = ()
        self._regions_list: List[Tuple[int, int]] = []
        self._guess_interp = 0  # the first interpreter last time
        self.rereads = 0  # how often the last snapshot read its thread list again (torn)

    def _gil_reader(self, interp: int) -> Optional[_GilReader]:
        """Built on first use: for 3.12+ the GIL struct is found through the interpreter."""
        layout, model = self.layout, self.layout.features.gil_model
        if model == "tstate_current":
            return _GilReader((self._tstate_current, 8), 0, None) if self._tstate_current else None
        if model == "runtime_gilstate":
            r = layout.runtime
            runtime = self._head_addr - r.interpreters_head
            return _GilReader((runtime + r.gilstate_tstate_current, 8), 0, None)
        gil = _PTR.unpack_from(self.memory.read(interp + layout.interp.ceval_gil, 8), 0)[0]
        g = layout.gil
        start = min(g.locked, g.last_holder)
        size = max(g.locked, g.last_holder) + 8 - start
        return _GilReader((gil + start, size), g.last_holder - start, g.locked - start)

    def snapshot(self) -> Tuple[List[ThreadState], Optional[int]]:
        """(thread states of every interpreter, address of the GIL holder's state or None).

        One batched read usually does it all: the interpreter list head, the GIL holder,
        and, at the addresses the last snapshot found, the interpreter's fields and its
        thread states. Whatever moved is then read afresh. The list is empty while the
        runtime is not initialised.
        """
        states, holder, _ = self.snapshot_with(())
        return states, holder

    def snapshot_with(
        self, ahead: Sequence[Tuple[int, int]], stages: Sequence[int] = ()
    ) -> Tuple[List[ThreadState], Optional[int], List[Optional[bytes]]]:
        """``snapshot``, also reading ``ahead`` (what the caller guesses it will need
        next, read in ``stages`` after the thread states) in the same system call; None
        for a region that could not be read."""
        self.rereads = 0
        while True:
            try:
                return self._snapshot_once(ahead, stages)
            except RemoteReadError:
                if self.rereads == LIST_READS - 1:
                    raise
                self.rereads += 1

    def _snapshot_once(
        self, ahead: Sequence[Tuple[int, int]], stages: Sequence[int]
    ) -> Tuple[List[ThreadState], Optional[int], List[Optional[bytes]]]:
        guess_interp = self._guess_interp
        guess = self._guess.get(guess_interp, []) if guess_interp else []
        data, ahead_data = _read_with_guesses(
            self.memory, self._regions_of(guess_interp, guess), ahead, stages
        )
        if data[0] is None:
            raise RemoteReadError("cannot read the interpreter list")
        holder = None
        if self._gil is not None:
            holder = self._gil.holder(data[1]) if data[1] is not None else None
            del data[1]
        first = _PTR.unpack_from(data[0], 0)[0]
        states: List[ThreadState] = []
        seen = set()
        interp = first
        while interp and len(seen) < MAX_INTERPRETERS and interp not in seen:
            seen.add(interp)
            if interp == guess_interp and data[1] is not None and data[2] is not None:
                next_interp = _PTR.unpack_from(data[1], 0)[0]
                head = _PTR.unpack_from(data[2], 0)[0]
                states += self._states(interp, head, guess, data[3:], MAX_THREADS - len(states))
            else:
                next_interp = _PTR.unpack_from(self.memory.read(interp + self._interp_next, 8), 0)[
                    0
                ]
                head = _PTR.unpack_from(self.memory.read(interp + self._tstate_head, 8), 0)[0]
                known = self._guess.get(interp, [])
                states += self._states(interp, head, known, [], MAX_THREADS - len(states))
            interp = next_interp
        self._guess_interp = first
        for gone in [a for a in self._guess if a not in seen]:  # garbage must not pile up
            del self._guess[gone]
        if self._gil is None and first:
            try:
                self._gil = self._gil_reader(first)
            except MemspyError:
                self._gil = None
        return states, holder or None, ahead_data

    def _regions_of(self, guess_interp: int, guess: List[int]) -> List[Tuple[int, int]]:
        """What a snapshot reads first: the list head, the GIL holder, and, where the last
        snapshot found them, the interpreter's fields and its thread states. The same list
        sample after sample while the threads stay (a steady program's case)."""
        made_of = (guess_interp, guess, self._gil)
        if made_of == self._regions:
            return self._regions_list
        regions = [(self._head_addr, 8)]
        if self._gil is not None:
            regions.append(self._gil.region)
        if guess_interp:
            regions += [
                (guess_interp + self._interp_next, 8),
                (guess_interp + self._tstate_head, 8),
            ]
            regions += guess_regions(guess, self._size, MAX_THREADS)
        self._regions, self._regions_list = made_of, regions
        return regions

    def _states(
        self,
        interp: int,
        first: int,
        guess: List[int],
        prefetched: Sequence[Optional[bytes]],
        limit: int,
    ) -> List[ThreadState]:
        nodes, _ = read_chain(
            self.memory, first, self._next, self._size, guess, prefetched, limit, "thread"
        )
        addrs = [addr for addr, _ in nodes]
        if addrs != self._guess.get(interp):
            self._guess[interp] = addrs
        return [self._state(interp, addr, data) for addr, data in nodes]

    def _state(self, interp: int, addr: int, data: bytes) -> ThreadState:
        ntid = _I32.unpack_from(data, self._ntid)[0] if self._ntid is not None else None
        tid = _PTR.unpack_from(data, self._tid)[0]
        return ThreadState(addr, interp, data, tid, ntid or None)


def _read_with_guesses(
    memory: Memory,
    regions: List[Tuple[int, int]],
    ahead: Sequence[Tuple[int, int]],
    stages: Sequence[int] = (),
) -> Tuple[List[Optional[bytes]], List[Optional[bytes]]]:
    """``regions`` (first) and ``ahead`` (in ``stages``) in one call, as one instant's
    bytes: a stale guess (a freed data chunk, a thread that ended) costs only its own
    region."""
    order = [FIRST] * len(regions) + (list(stages) or [THEN] * len(ahead))
    both = read_regions(memory, list(regions) + list(ahead), order)
    return both[: len(regions)], both[len(regions) :]
