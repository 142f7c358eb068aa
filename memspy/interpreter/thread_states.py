"""The interpreters and thread states of a process, and which thread holds the GIL.

How the GIL holder is found differs by version (a global pointer, a field of
``_PyRuntime``, or the interpreter's own GIL struct); the layout's ``gil_model`` picks one
of the ``_GilReader``s below and nothing else branches on it. Where the holder lives is
fixed once the interpreter runs, so it is read in the same system call as the list head.
"""

from __future__ import annotations

import functools
import operator
import struct
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from memspy.errors import MemspyError, RemoteReadError
from memspy.interpreter.codes import fields_struct
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


# A ThreadState from its fields, a tuple built in C: the named tuple's own constructor
# is a Python call, one per thread whenever the list is read afresh.
_new_state = functools.partial(tuple.__new__, ThreadState)


class SameList:
    """Whether a read of ``Threads.batch``'s regions holds the thread list that some
    states were read from: the list's pointers (its head, the interpreter's next and
    first thread state) and each thread state's link, thread id and kernel id, byte for
    byte. Then the list read now is made of those thread states, in that order."""

    __slots__ = ("_pointers", "_expected", "_slots", "_ids", "first_state")

    def __init__(
        self,
        pointers: Tuple[int, ...],
        read: Sequence[Optional[bytes]],
        slots: Sequence[int],
        ids: struct.Struct,
    ) -> None:
        self._pointers = operator.itemgetter(*pointers)
        self._expected = self._pointers(read)
        self._ids = ids.unpack_from
        self._slots = [(index, self._ids(read[index])) for index in slots]
        self.first_state = slots[0] if slots else len(read)  # where the states begin

    def holds(self, read: Sequence[bytes]) -> bool:
        """For a read with no region missing."""
        if self._pointers(read) != self._expected:
            return False
        unpack = self._ids
        for index, ids in self._slots:
            if unpack(read[index]) != ids:
                return False
        return True

    def same_ids(self, state: bytes, other: bytes) -> bool:
        """Whether two reads of a thread state have the same link, thread id and kernel id."""
        return self._ids(state) == self._ids(other)


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
        # What tells thread states apart in a list: their link, thread id and kernel id.
        ids = [(t.next, "Q"), (t.thread_id, "Q")]
        self._ids = fields_struct(ids + ([(t.native_thread_id, "i")] if self._ntid else []))
        self._gil: Optional[_GilReader] = None
        self._guess: Dict[int, List[int]] = {}  # interp -> thread state addresses last time
        # The regions of the last snapshot's read, kept while what they are made of is.
        self._regions: Tuple[object, ...] = ()
        self._regions_list: List[Tuple[int, int]] = []
        self._guess_interp = 0  # the first interpreter last time
        # What ``batch`` was made of last time, and what it gave.
        self._batch_of: Tuple[object, ...] = (None, None, None)
        self._batch: Tuple[List[Tuple[int, int]], List[int]] = ([], [])
        # Whether the last snapshot read nothing beyond its batch: the thread list is where
        # it was, and the next batch asks for the same regions.
        self.from_batch = False
        # What the last snapshot was read from: its batch's regions and stages, and what
        # the batch read.
        self.last_read: Tuple[List[Tuple[int, int]], List[int], List[Optional[bytes]]] = (
            [], [], []
        )
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

    def batch(
        self, ahead: Sequence[Tuple[int, int]], stages: Sequence[int] = ()
    ) -> Tuple[List[Tuple[int, int]], List[int]]:
        """What ``snapshot_with(ahead, stages)`` reads in its one call, and the stage of
        each region: the same lists (the same objects) sample after sample while neither
        the thread list's guesses nor ``ahead`` (the same object) change."""
        guess_interp = self._guess_interp
        guess = self._guess.get(guess_interp, []) if guess_interp else []
        own = self._regions_of(guess_interp, guess)
        made_of = (own, ahead, stages)
        if self._batch_of[0] is not own or self._batch_of[1:] != made_of[1:]:
            order = [FIRST] * len(own) + (list(stages) or [THEN] * len(ahead))
            self._batch_of, self._batch = made_of, (own + list(ahead), order)
        return self._batch

    @property
    def list_regions(self) -> List[Tuple[int, int]]:
        """The first regions of the last ``batch``, the thread list's: the same list (the
        same object) while the list's guesses are, so that a batch with other read-ahead
        still holds each thread state where it did."""
        return self._batch_of[0]  # type: ignore[return-value]

    def same_list(self, states: List[ThreadState]) -> SameList:
        """The check that a later read of the same batch holds the thread list that the
        last snapshot (``from_batch``) read as ``states``."""
        read = self.last_read[2]
        gil = 1 if self._gil is not None else 0
        pointers = (0, 1 + gil, 2 + gil)
        slots = range(3 + gil, 3 + gil + len(states))
        return SameList(pointers, read, slots, self._ids)

    @property
    def holder_at(self) -> Optional[int]:
        """Where the GIL holder's bytes lie in a read of ``batch``'s regions, if read."""
        return 1 if self._gil is not None else None

    def holder_in(self, read: List[Optional[bytes]]) -> Optional[int]:
        """The GIL holder's thread state in a read of ``batch``'s regions."""
        if self._gil is None or read[1] is None:
            return None
        return self._gil.holder(read[1]) or None

    def snapshot_with(
        self,
        ahead: Sequence[Tuple[int, int]],
        stages: Sequence[int] = (),
        made: Optional[Tuple[List[Tuple[int, int]], List[Optional[bytes]]]] = None,
    ) -> Tuple[List[ThreadState], Optional[int], List[Optional[bytes]]]:
        """``snapshot``, also reading ``ahead`` (what the caller guesses it will need
        next, read in ``stages`` after the thread states) in the same system call; None
        for a region that could not be read. ``made`` is that call made already: (the
        regions, what was read), used when those are ``batch(ahead, stages)``'s."""
        self.rereads = 0
        while True:
            regions, order = self.batch(ahead, stages)
            read = made[1] if made is not None and made[0] is regions else None
            made = None
            if read is None:
                read = read_regions(self.memory, regions, order)
            try:
                found = self._snapshot_once(read, len(regions) - len(ahead))
                self.last_read = (regions, order, read)
                return found
            except RemoteReadError:
                if self.rereads == LIST_READS - 1:
                    raise
                self.rereads += 1

    def _snapshot_once(
        self, read: List[Optional[bytes]], own: int
    ) -> Tuple[List[ThreadState], Optional[int], List[Optional[bytes]]]:
        """The thread states and GIL holder in ``read`` (a read of ``batch``'s regions,
        the first ``own`` of them the thread list's), and what it holds of ``ahead``."""
        guess_interp = self._guess_interp
        guess = self._guess.get(guess_interp, []) if guess_interp else []
        data, ahead_data = read[:own], read[own:]
        self.from_batch = False
        gil = self._gil
        if data[0] is None:
            raise RemoteReadError("cannot read the interpreter list")
        holder = self.holder_in(read)
        if self._gil is not None:
            del data[1]
        first = _PTR.unpack_from(data[0], 0)[0]
        states: List[ThreadState] = []
        seen = set()
        interp = first
        from_batch = True
        while interp and len(seen) < MAX_INTERPRETERS and interp not in seen:
            seen.add(interp)
            if interp == guess_interp and data[1] is not None and data[2] is not None:
                next_interp = _PTR.unpack_from(data[1], 0)[0]
                head = _PTR.unpack_from(data[2], 0)[0]
                ahead_states = data[3:]
                found = self._states(interp, head, guess, ahead_states, MAX_THREADS - len(states))
                from_batch = (
                    from_batch and [s.addr for s in found] == guess and None not in ahead_states
                )
                states += found
            else:
                next_interp = _PTR.unpack_from(self.memory.read(interp + self._interp_next, 8), 0)[
                    0
                ]
                head = _PTR.unpack_from(self.memory.read(interp + self._tstate_head, 8), 0)[0]
                known = self._guess.get(interp, [])
                states += self._states(interp, head, known, [], MAX_THREADS - len(states))
                from_batch = False
            interp = next_interp
        self._guess_interp = first
        for gone in [a for a in self._guess if a not in seen]:  # garbage must not pile up
            del self._guess[gone]
        if self._gil is None and first:
            try:
                self._gil = self._gil_reader(first)
            except MemspyError:
                self._gil = None
        # Every byte came from the batch, whose regions ``batch`` gives again next time.
        self.from_batch = from_batch and first == guess_interp != 0 and self._gil is gil
        return states, holder, ahead_data

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
        return _new_state((addr, interp, data, tid, ntid or None))

