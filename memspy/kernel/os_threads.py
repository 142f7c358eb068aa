"""What the kernel knows of a process's threads: their ids and whether they are running.

A thread is "active" when the kernel reports it runnable ('R') in
``/proc/PID/task/TID/stat``; the stat files are kept open and re-read with ``pread``
(5 µs instead of 16 µs for open/read/close).

Before 3.11 a thread state holds only the pthread id. glibc keeps the kernel tid inside
``struct pthread`` (which ``pthread_t`` points at) at an offset that depends on the glibc
build, so the offset is learnt once from the live threads, not assumed. A core file lists
its threads' kernel ids in its notes, so the same learning works on it.
"""

from __future__ import annotations

import os
import struct
import weakref
from collections import Counter
from typing import Dict, Iterable, List, Optional, Set

from memspy.errors import MemspyError
from memspy.memory.base import Memory

_PTHREAD_SCAN = 2048  # bytes of struct pthread searched for the tid
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_POINTERS = (1 << 32, 1 << 47)  # user-space addresses beyond the first 4 GiB (x86-64, arm64)


def _close_all(fds: Dict[int, int]) -> None:
    for fd in fds.values():
        os.close(fd)
    fds.clear()


class Tasks:
    def __init__(self, pid: int, memory: Memory) -> None:
        self.pid = pid
        self.memory = memory
        self._fds: Dict[int, int] = {}
        self._tid_offset: Optional[int] = None
        # Raw descriptors are not closed by the garbage collector: a reader dropped without
        # ``close`` (a library caller's, a test's) would leak one per thread it ever saw.
        weakref.finalize(self, _close_all, self._fds)

    def close(self) -> None:
        _close_all(self._fds)

    def tids(self) -> Set[int]:
        try:
            return {int(name) for name in os.listdir(f"/proc/{self.pid}/task")}
        except OSError:
            return set()

    def is_running(self, tid: Optional[int]) -> Optional[bool]:
        """True if runnable, False if sleeping/stopped, None when the kernel cannot say."""
        if tid is None:
            return None
        fd = self._fds.get(tid)
        try:
            if fd is None:
                fd = self._fds[tid] = os.open(f"/proc/{self.pid}/task/{tid}/stat", os.O_RDONLY)
            stat = os.pread(fd, 512, 0)
        except OSError:
            if fd is not None:
                os.close(self._fds.pop(tid))
            return None
        close = stat.rfind(b")")
        return stat[close + 2 : close + 3] == b"R"

    def forget(self, live: Iterable[int]) -> None:
        """Close the stat files of threads other than ``live``."""
        keep = set(live)
        for tid in [t for t in self._fds if t not in keep]:
            os.close(self._fds.pop(tid))

    @property
    def open_files(self) -> int:
        return len(self._fds)

    def native_tids(self, pthreads: List[int]) -> Dict[int, int]:
        """Kernel tid for each pthread id, where it can be learnt (glibc only)."""
        tids = self.tids()
        if not tids or not pthreads:
            return {}
        if self._tid_offset is None:
            self._tid_offset = self._learn_offset(pthreads, tids)
            if self._tid_offset is None:
                return {}
        out = {}
        for pthread in pthreads:
            try:
                tid = _I32.unpack_from(self.memory.read(pthread + self._tid_offset, 4), 0)[0]
            except MemspyError:
                continue
            if tid in tids:
                out[pthread] = tid
        return out

    def _learn_offset(self, pthreads: List[int], tids: Set[int]) -> Optional[int]:
        """The offset at which every thread's struct pthread holds a live tid, its own.

        A pointer's upper half is a number the size of a tid (0x7fff for a thread's stack
        without ASLR, 0x55.. for the heap). A live tid equal to it shows at that pointer's
        offset in every thread, as the same number: the tid field holds a different tid
        in each thread, and is a word of its own, not the upper half of a pointer."""
        found: Dict[int, List[int]] = {}
        pointers: Counter = Counter()  # offsets of the upper half of a pointer, by thread
        for pthread in pthreads:
            try:
                raw = self.memory.read(pthread, _PTHREAD_SCAN)
            except MemspyError:
                continue
            for off in range(0, _PTHREAD_SCAN, 4):
                tid = _I32.unpack_from(raw, off)[0]
                if tid in tids:
                    found.setdefault(off, []).append(tid)
                    if off % 8 and _POINTERS[0] <= _U64.unpack_from(raw, off - 4)[0] < _POINTERS[1]:
                        pointers[off] += 1
        unanimous = [
            off for off, seen in found.items()
            if len(seen) == len(pthreads) == len(set(seen))
        ]  # fmt: skip
        if len(unanimous) > 1:  # one thread: no second tid tells the fields apart
            unanimous = [off for off in unanimous if pointers[off] < len(pthreads)]
        # Still ambiguous: try again with more threads.
        return unanimous[0] if len(unanimous) == 1 else None


class CoreTasks(Tasks):
    """The threads a core file lists: their kernel ids, and whether each was running
    (in user space, not waiting in a system call) at the instant the core was written."""

    def __init__(self, pid: int, memory: Memory, running: Dict[int, Optional[bool]]) -> None:
        super().__init__(pid, memory)
        self._running = running

    def tids(self) -> Set[int]:
        return set(self._running)

    def is_running(self, tid: Optional[int]) -> Optional[bool]:
        return self._running.get(tid) if tid is not None else None
