"""ProcessMemory on this very process: batched reads give each region's bytes, also when
the iovecs packed for an earlier batch are reused or must be packed again."""

from __future__ import annotations

import ctypes
import os

import pytest

from memspy.errors import RemoteReadError
from memspy.memory.process import ProcessMemory


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
