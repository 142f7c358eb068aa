"""Reading a live process with ``process_vm_readv`` through ctypes.

``process_vm_readv`` needs no open file and no ptrace attach, only the permission to
ptrace the target (same user under ``ptrace_scope`` 0/1-as-parent, or CAP_SYS_PTRACE).
One call can carry many iovecs, which is what makes batched reads cheap.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import itertools
import operator
import os
import struct
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from memspy.errors import PermissionDenied, RemoteReadError, TargetExited

# The C library this Python already runs on: its symbols are in the process's global
# namespace. (``ctypes.util.find_library`` would run ldconfig or a compiler in a child
# process to name it: tens of milliseconds of start-up on a busy machine.)
_libc = ctypes.CDLL(None, use_errno=True)


class _IOVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


_process_vm_readv = _libc.process_vm_readv
_process_vm_readv.argtypes = [
    ctypes.c_int,
    ctypes.POINTER(_IOVec),
    ctypes.c_ulong,
    ctypes.POINTER(_IOVec),
    ctypes.c_ulong,
    ctypes.c_ulong,
]
_process_vm_readv.restype = ctypes.c_ssize_t

# The kernel refuses more iovecs than this in one call (UIO_MAXIOV).
_IOV_MAX = 1024
# Regions closer than this are read as one (see _pack).
MERGE_GAP = 4096
# A batched call that took longer than HELD_UP times the fastest call of as many iovecs,
# plus HELD_UP_SLACK_NS, was held up on its way (see _call_packed): it is made again, at
# most MAX_RETAKES times.
HELD_UP = 4
HELD_UP_SLACK_NS = 50_000
MAX_RETAKES = 2
MAX_NS = 1 << 62  # longer than any call takes
# Reads larger than this are never asked for: target memory is untrusted, sizes come from it.
MAX_READ = 64 * 1024 * 1024

PERMISSION_HINT = (
    "run memspy as the same user as the target with kernel.yama.ptrace_scope=0, "
    "as root or with CAP_SYS_PTRACE (in a container: --cap-add SYS_PTRACE), "
    "or start the target under memspy: memspy record -- CMD"
)


def permission_error(pid: int) -> PermissionDenied:
    return PermissionDenied(
        f"permission denied reading the memory of process {pid}", PERMISSION_HINT
    )


class ProcessMemory:
    """Memory of process ``pid``; reads raise ``RemoteReadError`` for unmapped addresses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._local = _IOVec()
        self._remote = _IOVec()
        self._buf = ctypes.create_string_buffer(4096)
        self._buf_size = 4096
        self._iov_capacity = 0
        self._local_iov = self._remote_iov = ctypes.create_string_buffer(0)
        self._iov_pointers: Tuple = ()
        # What the iovec arrays hold now (see _read_batch).
        self._packed_regions: List[Tuple[int, int]] = []
        self._packed_stages: List[int] = []
        # The very lists last packed from (a steady sampler passes the same objects).
        self._packed_from: Tuple[object, object] = (None, None)
        self._packed_buf = ctypes.create_string_buffer(0)  # exactly the packed runs' size
        self._spans: List[Tuple[int, int]] = []
        self._cut: Callable[[bytes], Sequence[bytes]] = tuple  # the slices of each region
        self._total = 0
        self._iov_count = 0
        self._run_of: List[int] = []  # packed run of each region
        self._run_sizes: List[int] = []
        # The fastest call (ns) of any iovecs packed, by their count: a new layout of a
        # steady program's batch mostly has the count, and the cost, of the last one.
        self._fastest: Dict[int, int] = {}
        self.retakes = 0  # batched calls made again because they were held up

    def _buffer(self, size: int) -> ctypes.Array:
        if size > self._buf_size:
            self._buf_size = max(size, self._buf_size * 2)
            self._buf = ctypes.create_string_buffer(self._buf_size)
        return self._buf

    def _fail(self, addr: int, size: int) -> Exception:
        err = ctypes.get_errno()
        if err == errno.ESRCH:
            return TargetExited(f"process {self.pid} exited")
        if err == errno.EPERM:
            return permission_error(self.pid)
        if err == errno.ENOMEM and not os.path.exists(f"/proc/{self.pid}"):
            return TargetExited(f"process {self.pid} exited")
        return RemoteReadError(
            f"cannot read 0x{addr:x} (+{size}) in process {self.pid}: {os.strerror(err)}"
        )

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0 or size > MAX_READ or addr <= 0:
            if size == 0:
                return b""
            raise RemoteReadError(f"refusing to read 0x{addr:x} (+{size})")
        buf = self._buffer(size)
        local, remote = self._local, self._remote
        local.iov_base = ctypes.addressof(buf)
        local.iov_len = size
        remote.iov_base = addr
        remote.iov_len = size
        got = _process_vm_readv(self.pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        if got != size:
            if got < 0:
                raise self._fail(addr, size)
            raise RemoteReadError(f"short read at 0x{addr:x}: {got} of {size} bytes")
        return ctypes.string_at(local.iov_base, size)

    def read_many(self, regions: Sequence[Tuple[int, int]]) -> List[bytes]:
        """Read several regions with as few system calls as the kernel allows.

        A region that fails makes the whole batch fail (the kernel stops at the first bad
        iovec); callers that want partial results read such regions one by one.
        """
        out: List[bytes] = []
        for start in range(0, len(regions), _IOV_MAX):
            out.extend(self._read_batch(regions[start : start + _IOV_MAX]))
        return out

    def read_some(
        self, regions: Sequence[Tuple[int, int]], stages: Sequence[int] = ()
    ) -> List[Optional[bytes]]:
        """``read_many``, with None for a region that cannot be read, the others read as
        close together in time as the kernel allows: the kernel stops a call at the first
        bad iovec, and the call goes on at once from the next one, with nothing decoded
        in between. A sample's bytes then stay one instant's even when a guess was stale.

        ``stages`` (one per region) orders the copy: the kernel copies iovecs in turn, so
        a pointer read in an earlier stage names memory that was written before it, and
        a frame it points to is then read whole, never before it was made.

        Lists passed again as the same objects are taken to hold what they held: a
        caller that asks for the same regions keeps its lists unchanged."""
        if len(regions) <= _IOV_MAX:  # one call: no copies of the lists
            return self._read_batch(regions, partial=True, stages=stages)
        out: List[Optional[bytes]] = []
        for start in range(0, len(regions), _IOV_MAX):
            part = slice(start, start + _IOV_MAX)
            out.extend(self._read_batch(regions[part], partial=True, stages=stages[part]))
        return out

    def _iovecs(self, n: int) -> Tuple[ctypes.Array, ctypes.Array]:
        """Two reusable arrays of at least ``n`` iovecs (local, remote)."""
        if n > self._iov_capacity:
            self._iov_capacity = max(n, 2 * self._iov_capacity)
            self._local_iov = ctypes.create_string_buffer(16 * self._iov_capacity)
            self._remote_iov = ctypes.create_string_buffer(16 * self._iov_capacity)
            self._iov_pointers = (_as_iov(self._local_iov), _as_iov(self._remote_iov))
        return self._local_iov, self._remote_iov

    def _read_batch(
        self, regions: Sequence[Tuple[int, int]], partial: bool = False,
        stages: Sequence[int] = (),
    ) -> List[Optional[bytes]]:
        n = len(regions)
        if n == 0:
            return []
        if n == 1 and not partial:
            return [self.read(*regions[0])]
        # A steady sampler asks for the same regions sample after sample, mostly as the
        # same list objects: the iovecs packed for them last time are used again.
        if self._packed_from[0] is not regions or self._packed_from[1] is not stages:
            listed = list(stages) or [0] * n
            if regions != self._packed_regions or listed != self._packed_stages:
                self._pack(regions, listed)
            self._packed_from = (regions, stages)
        total = self._total
        got = self._call_packed()
        if got == total:
            # Every region's slice, in C, from the buffer itself: copying the buffer out
            # whole first (``.raw``) would move hundreds of KiB of gaps between regions.
            return list(self._cut(self._packed_buf))
        if not partial:
            if got < 0:
                raise self._fail(regions[0][0], total)
            raise RemoteReadError(f"short batched read: {got} of {total} bytes")
        bad = self._bad_runs(got)
        raw = self._packed_buf.raw
        return [
            None if run in bad else raw[start:end]
            for (start, end), run in zip(self._spans, self._run_of)
        ]

    def _call_packed(self) -> int:
        """One ``process_vm_readv`` of the packed iovecs, made again while it was held up.

        The kernel copies iovec after iovec, and may give the CPU to another task between
        two (or the hypervisor may stop this CPU); the target runs on meanwhile, so the
        bytes of one call then span that pause, not an instant. A callee can return and
        its caller go round its loop and call it again between the read of its frame and
        the read of the frame pointer that checks it (``frames.pyframe``): a stack that
        never existed, which no check sees. A call that took far longer than the fastest
        of as many iovecs is made again. Whether it is is decided by the clock alone,
        before any byte is looked at, so no kind of stack is read again more than another:
        the sample's instant moves by the pause, as a late tick's does."""
        count, pid = self._iov_count, self.pid
        local_p, remote_p = self._iov_pointers
        fastest = self._fastest.get(count)
        limit = HELD_UP * (fastest or self._estimate(count)) + HELD_UP_SLACK_NS
        clock = time.perf_counter_ns
        retakes = 0
        while True:
            began = clock()
            got = _process_vm_readv(pid, local_p, count, remote_p, count, 0)
            took = clock() - began
            if took <= limit or retakes == MAX_RETAKES:
                break
            retakes += 1
        if fastest is None or took < fastest:
            self._fastest[count] = took
        self.retakes += retakes
        return got

    def _estimate(self, count: int) -> int:
        """The fastest a call of ``count`` iovecs may take, from calls of other counts: at
        the dearest rate per iovec seen (a new count's first call may be held up too)."""
        known = self._fastest
        if not known:
            return MAX_NS
        return int(count * max(took / seen for seen, took in known.items()))

    def _bad_runs(self, got: int) -> set:
        """The packed runs that cannot be read, given that a call of them all read
        ``got`` bytes: the call is made again from the run after each bad one."""
        bad = set()
        sizes, first, count = self._run_sizes, 0, self._iov_count
        local, remote = ctypes.addressof(self._local_iov), ctypes.addressof(self._remote_iov)
        while True:
            if got < 0:
                if ctypes.get_errno() != errno.EFAULT:  # not a bad address: the target
                    raise self._fail(0, 0)  # exited, or the read is not allowed
                got = 0
            while first < count and got >= sizes[first]:
                got -= sizes[first]
                first += 1
            if first >= count:
                return bad
            bad.add(first)  # the kernel stopped in this run
            first += 1
            if first >= count:
                return bad
            left = count - first
            got = _process_vm_readv(
                self.pid, _iov_at(local, first), left, _iov_at(remote, first), left, 0
            )

    def _pack(self, regions: Sequence[Tuple[int, int]], stages: List[int]) -> None:
        """Fill the iovec arrays for ``regions``: one iovec per run of regions of one
        stage less than a page apart (the kernel's cost is mostly per iovec, and heap
        objects of one thread sit close together), stage after stage, read into one
        buffer back to back.

        Merging cannot make a read fail that would not have failed anyway: bytes between
        two regions under a page apart lie in the pages holding those regions.
        """
        starts, ends, run_of = _runs(regions, stages)
        sizes = [end - start for start, end in zip(starts, ends)]
        placed = list(itertools.accumulate(sizes, initial=0))  # where each run lands
        total = placed.pop()
        buf = ctypes.create_string_buffer(total)
        base = ctypes.addressof(buf)
        # Where each region lands: its run's place, plus its offset in the run.
        shift = [place - start for place, start in zip(placed, starts)]
        offsets = [addr + shift[run] for (addr, _), run in zip(regions, run_of)]
        local, remote = self._iovecs(len(sizes))
        # One pack_into per array: filling ctypes structs field by field costs ~0.2 µs each.
        layout = _words(2 * len(sizes))
        layout.pack_into(local, 0, *_pairs([base + place for place in placed], sizes))
        layout.pack_into(remote, 0, *_pairs(starts, sizes))
        self._packed_regions, self._packed_stages = list(regions), stages
        self._packed_buf = buf
        self._spans = [
            (offset, offset + size) for offset, (_, size) in zip(offsets, regions)
        ]
        self._total, self._iov_count = total, len(sizes)
        cut = operator.itemgetter(*[slice(start, end) for start, end in self._spans])
        self._cut = cut if len(regions) > 1 else lambda raw: [cut(raw)]
        self._run_of, self._run_sizes = run_of, sizes


def _runs(
    regions: Sequence[Tuple[int, int]], stages: List[int]
) -> Tuple[List[int], List[int], List[int]]:
    """The runs to read (their starts and ends in the target, stage after stage, each
    in address order) and the run of each region."""
    addrs = [addr for addr, _ in regions]
    sizes = [size for _, size in regions]
    if min(sizes) <= 0 or max(sizes) > MAX_READ or min(addrs) <= 0:
        addr, size = next(r for r in regions if not 0 < r[1] <= MAX_READ or r[0] <= 0)
        raise RemoteReadError(f"refusing to read 0x{addr:x} (+{size})")
    # One int per region sorts as (stage, address): user-space addresses fit in 48 bits.
    keys = [(stage << 48) | addr for stage, addr in zip(stages, addrs)]
    starts: List[int] = []
    ends: List[int] = []
    run_of = [0] * len(regions)
    last = -1
    start = end = 0
    for index in sorted(range(len(regions)), key=keys.__getitem__):
        stage, addr = stages[index], addrs[index]
        top = addr + sizes[index]
        if stage == last and addr - end < MERGE_GAP and top - start <= MAX_READ:
            end = max(end, top)
        else:
            if last != -1:
                starts.append(start)
                ends.append(end)
            start, end, last = addr, top, stage
        run_of[index] = len(starts)
    starts.append(start)
    ends.append(end)
    return starts, ends, run_of


def _pairs(firsts: List[int], seconds: List[int]) -> List[int]:
    """``firsts`` and ``seconds`` interleaved: an iovec array's words."""
    words = firsts + seconds
    words[::2], words[1::2] = firsts, seconds
    return words


@functools.lru_cache(maxsize=64)
def _words(count: int) -> struct.Struct:
    return struct.Struct(f"<{count}Q")


def _as_iov(buffer: ctypes.Array) -> ctypes._Pointer[_IOVec]:
    return ctypes.cast(buffer, ctypes.POINTER(_IOVec))


def _iov_at(base: int, index: int) -> ctypes._Pointer[_IOVec]:
    return ctypes.cast(base + 16 * index, ctypes.POINTER(_IOVec))
