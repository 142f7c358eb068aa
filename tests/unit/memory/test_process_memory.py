"""ProcessMemory on this very process: batched reads give each region's bytes, also when
the iovecs packed for an earlier batch are reused or must be packed again."""

from __future__ import annotations

import ctypes
import mmap
import os
import random
import time
from typing import List

import pytest

import memspy.memory.process as process_memory
from memspy.errors import RemoteReadError
from memspy.memory.base import AGAIN, ALSO, FIRST, LAST, THEN
from memspy.memory.process import MAX_RETAKES, MERGE_GAP, ProcessMemory, _runs


def _buffers(*contents: bytes):
    buffers = [ctypes.create_string_buffer(c, len(c)) for c in contents]
    return buffers, [(ctypes.addressof(b), len(b)) for b in buffers]


def test_batches_in_turn_and_after_the_buffer_grew() -> None:
    memory = ProcessMemory(os.getpid())
    a_bufs, a = _buffers(b"one", b"two!", b"x" * 100)
    b_bufs, b = _buffers(b"alpha", b"beta", b"gamma", b"delta")
    big_bufs, big = _buffers(os.urandom(100_000))
    for _ in range(2):
        assert memory.read_many(a) == [b"one", b"two!", b"x" * 100]
        assert memory.read_many(b) == [b"alpha", b"beta", b"gamma", b"delta"]
    a_bufs[0].raw = b"ONE"  # the same regions again read what is there now
    assert memory.read_many(a)[0] == b"ONE"
    assert memory.read(*big[0]) == big_bufs[0].raw  # a read that needs a larger buffer
    assert memory.read_many(a) == [b"ONE", b"two!", b"x" * 100]
    assert memory.read_many(a + big)[-1] == big_bufs[0].raw


def test_a_bad_region_fails_the_batch_and_the_next_batch_still_reads() -> None:
    memory = ProcessMemory(os.getpid())
    buffers, good = _buffers(b"keep", b"this")
    with pytest.raises(RemoteReadError):
        memory.read_many(good + [(8, 8)])
    with pytest.raises(RemoteReadError):
        memory.read_many(good + [(0, 8)])  # refused before any system call
    assert memory.read_many(good) == [b"keep", b"this"]


def test_close_regions_share_a_read_and_each_gets_its_own_bytes() -> None:
    memory = ProcessMemory(os.getpid())
    block = ctypes.create_string_buffer(os.urandom(20_000), 20_000)
    base = ctypes.addressof(block)
    wanted = [(9000, 50), (0, 16), (100, 8), (104, 64), (5000, 8), (19_990, 10), (4_200, 700)]
    got = memory.read_many([(base + offset, size) for offset, size in wanted])
    assert got == [block.raw[offset : offset + size] for offset, size in wanted]
    assert memory._iov_count < len(wanted)  # merged: fewer iovecs than regions


def test_regions_either_side_of_an_unreadable_page_are_not_merged() -> None:
    page = mmap.PAGESIZE
    area = mmap.mmap(-1, 3 * page)
    area[:] = os.urandom(3 * page)
    base = ctypes.addressof(ctypes.c_char.from_buffer(area))
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.mprotect(ctypes.c_void_p(base + page), page, 0) == 0  # PROT_NONE
    try:
        memory = ProcessMemory(os.getpid())
        regions = [(base + page - 16, 16), (base + 2 * page, 16)]
        assert memory.read_many(regions) == [
            area[page - 16 : page], area[2 * page : 2 * page + 16]
        ]
    finally:
        libc.mprotect(ctypes.c_void_p(base + page), page, 3)


def test_regions_of_every_stage_read_their_own_bytes_in_runs_stage_after_stage() -> None:
    """Random regions of a block, overlapping and in random stages: each gets its bytes,
    and the runs read hold whole regions of one stage, stage after stage, in address
    order, merged where under ``MERGE_GAP`` apart."""
    memory = ProcessMemory(os.getpid())
    block = ctypes.create_string_buffer(os.urandom(200_000), 200_000)
    base = ctypes.addressof(block)
    rnd = random.Random(7)
    for _ in range(200):
        count = rnd.randint(2, 80)
        wanted = [
            (rnd.randrange(0, 190_000, rnd.choice([1, 8, 64])), rnd.randint(1, 9_000))
            for _ in range(count)
        ]
        stages = [rnd.choice([FIRST, THEN, ALSO, AGAIN, LAST]) for _ in range(count)]
        regions = [(base + offset, size) for offset, size in wanted]
        assert memory.read_some(regions, stages) == [
            block.raw[offset : offset + size] for offset, size in wanted
        ]
        starts, ends, run_of = _runs(regions, stages)
        for (addr, size), stage, run in zip(regions, stages, run_of):
            assert starts[run] <= addr and addr + size <= ends[run]
            assert all(stages[i] == stage for i, r in enumerate(run_of) if r == run)
        stage_of = {run: stage for run, stage in zip(run_of, stages)}
        order = [stage_of[run] for run in range(len(starts))]
        assert order == sorted(order)
        for run in range(1, len(starts)):
            if order[run] == order[run - 1]:
                assert starts[run] - ends[run - 1] >= MERGE_GAP


class _Held:
    """``process_vm_readv`` that sleeps ``pause`` seconds in the next ``held`` calls (a
    call held up: the kernel gave the CPU away midway), then reads; counts every call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, pause: float = 0.02) -> None:
        self.read = process_memory._process_vm_readv
        self.pause, self.held, self.calls = pause, 0, 0
        monkeypatch.setattr(process_memory, "_process_vm_readv", self)

    def __call__(self, *args: object) -> int:
        self.calls += 1
        if self.held:
            self.held -= 1
            time.sleep(self.pause)
        return self.read(*args)


def _block(size: int):
    block = ctypes.create_string_buffer(os.urandom(size), size)
    return block, ctypes.addressof(block)


def _bytes_of(block: ctypes.Array, regions: List) -> List[bytes]:
    """What ``regions`` of ``block`` hold, as read from this side."""
    base = ctypes.addressof(block)
    return [block.raw[addr - base : addr - base + size] for addr, size in regions]


def test_a_batched_call_held_up_is_made_again_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The call is judged by its time alone; the bytes returned are the second call's.
    A pause shorter than the fastest call's times HELD_UP (plus the slack) is none."""
    memory = ProcessMemory(os.getpid())
    block, base = _block(100_000)
    regions = [(base + offset, 64) for offset in range(0, 100_000, 10_000)]
    for _ in range(20):  # the fastest call of these iovecs
        memory.read_some(regions)
    held, before = _Held(monkeypatch), memory.retakes
    held.held = 1
    block[0:4] = b"new!"
    got = memory.read_some(regions)
    assert got[0][:4] == b"new!" and got == _bytes_of(block, regions)
    # Made again once; once more only if the machine held up the second call too.
    assert 2 <= held.calls == 1 + memory.retakes - before <= 1 + MAX_RETAKES


def test_a_call_held_up_every_time_is_made_again_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    memory = ProcessMemory(os.getpid())
    block, base = _block(50_000)
    regions = [(base + offset, 8) for offset in range(0, 50_000, 5_000)]
    for _ in range(20):
        memory.read_some(regions)
    held, before = _Held(monkeypatch), memory.retakes
    held.held = 100
    assert memory.read_some(regions) == _bytes_of(block, regions)
    assert held.calls == 1 + MAX_RETAKES and memory.retakes - before == MAX_RETAKES


def test_a_first_call_of_as_many_iovecs_is_judged_by_the_calls_of_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A layout of a new count of iovecs whose first call is held up is still made again
    (then its fastest would be the pause, and no later pause would be seen); with nothing
    measured yet, a first call is taken as it comes."""
    memory = ProcessMemory(os.getpid())
    block, base = _block(200_000)
    held = _Held(monkeypatch)
    held.held = 1
    memory.read_some([(base, 8), (base + 100_000, 8)])  # nothing to judge it by
    assert memory.retakes == 0
    for _ in range(20):
        memory.read_some([(base, 8), (base + 100_000, 8)])
    wider: List = [(base + offset, 8) for offset in range(0, 200_000, 8_192)]
    held.held, before = 1, memory.retakes
    assert memory.read_some(wider) == _bytes_of(block, wider)
    assert 1 <= memory.retakes - before <= MAX_RETAKES
