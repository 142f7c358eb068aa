"""The interpreters and thread states of a process, and which thread holds the GIL.

How the GIL holder is found differs by version (a global pointer, a field of
``_PyRuntime``, or the interpreter's own GIL struct); the layout's ``gil_model`` picks one
of the readers below and nothing else branches on it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from memspy.errors import MemspyError, RemoteReadError
from memspy.memory.base import Memory
from memspy.offsets import Layout

_PTR = struct.Struct("<Q")
_I32 = struct.Struct("<i")

MAX_INTERPRETERS = 256
MAX_THREADS = 4096


@dataclass(frozen=True)
class ThreadState:
    addr: int
    interp: int
    data: bytes  # the PyThreadState struct as read this sample
    thread_id: int
    native_tid: Optional[int]  # from the struct (3.11+) else learnt elsewhere


def _ptr(memory: Memory, addr: int) -> int:
    return _PTR.unpack_from(memory.read(addr, 8), 0)[0]


def _walk_list(
    memory: Memory, first: int, next_off: int, size: int, limit: int, what: str
) -> Iterator[Tuple[int, bytes]]:
    """(address, struct bytes) of each node of a target linked list, bounded and cycle-safe."""
    seen = set()
    addr = first
    while addr:
        if addr in seen:
            raise RemoteReadError(f"cycle in the {what} list")
        if len(seen) >= limit:
            raise RemoteReadError(f"more than {limit} {what}s: not a real list")
        seen.add(addr)
        data = memory.read(addr, size)
        yield addr, data
        addr = _PTR.unpack_from(data, next_off)[0]


class Threads:
    """Reads the thread states of every interpreter, and the GIL holder."""

    def __init__(
        self, memory: Memory, layout: Layout, head_addr: int, tstate_current: Optional[int]
    ) -> None:
        self.memory = memory
        self.layout = layout
        self._head_addr = head_addr  # address of the pointer to the first interpreter
        self._tstate_current = tstate_current
        t = layout.tstate
        self._size = t.sizeof
        self._next, self._tid, self._ntid = t.next, t.thread_id, t.native_thread_id
        self._gil = _GIL_READERS[layout.features.gil_model]

    def interpreters(self) -> List[int]:
        """Addresses of the interpreters; empty while the runtime is not initialised."""
        first = _ptr(self.memory, self._head_addr)
        nxt = self.layout.interp.next
        chain = _walk_list(self.memory, first, nxt, nxt + 8, MAX_INTERPRETERS, "interpreter")
        return [addr for addr, _ in chain]

    def states(self, interps: List[int]) -> List[ThreadState]:
        out = []
        for interp in interps:
            first = _ptr(self.memory, interp + self.layout.interp.tstate_head)
            for addr, data in _walk_list(
                self.memory, first, self._next, self._size, MAX_THREADS, "thread"
            ):
                ntid = _I32.unpack_from(data, self._ntid)[0] if self._ntid is not None else None
                tid = _PTR.unpack_from(data, self._tid)[0]
                out.append(ThreadState(addr, interp, data, tid, ntid or None))
        return out

    def gil_holder(self, interps: List[int]) -> Optional[int]:
        """The address of the thread state holding the GIL, or None when it is free."""
        try:
            return self._gil(self, interps) or None
        except MemspyError:
            return None

    def _from_global(self, interps: List[int]) -> int:
        return _ptr(self.memory, self._tstate_current) if self._tstate_current else 0

    def _from_runtime(self, interps: List[int]) -> int:
        runtime = self._head_addr - self.layout.runtime.interpreters_head
        return _ptr(self.memory, runtime + self.layout.runtime.gilstate_tstate_current)

    def _from_interp(self, interps: List[int]) -> int:
        if not interps:
            return 0
        gil = _ptr(self.memory, interps[0] + self.layout.interp.ceval_gil)
        g = self.layout.gil
        size = max(g.locked, g.last_holder) + 8
        data = self.memory.read(gil, size)
        if not _I32.unpack_from(data, g.locked)[0]:
            return 0
        return _PTR.unpack_from(data, g.last_holder)[0]


_GIL_READERS: Dict[str, Callable[[Threads, List[int]], int]] = {
    "tstate_current": Threads._from_global,
    "runtime_gilstate": Threads._from_runtime,
    "interp_gil": Threads._from_interp,
}
