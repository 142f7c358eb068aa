"""The target's _Py_DebugOffsets (3.13+) are untrusted: random and damaged structs give a
result or one of our errors, never anything else. MEMSPY_FUZZ_EXAMPLES raises the count."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memspy.errors import MemspyError
from memspy.interpreter import debugoffsets
from memspy.memory import BufferMemory
from memspy.offsets import SUPPORTED, load_layout

EXAMPLES = int(os.environ.get("MEMSPY_FUZZ_EXAMPLES", "200"))
LAYOUTS = [load_layout(*v) for v in SUPPORTED if load_layout(*v).debug_offsets]
RUNTIME = 0x10000

fuzz_settings = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def intact(layout) -> bytearray:
    spec = layout.debug_offsets
    raw = bytearray(spec["sizeof"])
    raw[:8] = spec["cookie"].encode()
    values = {**spec["expected"], "version": layout.version[0] << 24 | layout.version[1] << 16}
    for name, value in values.items():
        struct.pack_into("<Q", raw, spec["offsets"][name], value)
    return raw


def check(layout, raw: bytes) -> None:
    try:
        debugoffsets.check(BufferMemory({RUNTIME: raw}), RUNTIME, layout)
    except MemspyError:
        pass


def test_there_is_something_to_fuzz() -> None:
    assert LAYOUTS, "no layout with _Py_DebugOffsets: the fuzz tests below fuzz nothing"
    for layout in LAYOUTS:
        assert debugoffsets.check(
            BufferMemory({RUNTIME: bytes(intact(layout))}), RUNTIME, layout
        ) == []


@pytest.mark.fuzz
@fuzz_settings
@given(st.sampled_from(LAYOUTS), st.binary(max_size=4096))
def test_random_structs(layout, noise: bytes) -> None:
    check(layout, noise)
    check(layout, layout.debug_offsets["cookie"].encode() + noise)  # past the cookie check


@pytest.mark.fuzz
@fuzz_settings
@given(
    st.sampled_from(LAYOUTS),
    st.lists(
        st.tuples(st.integers(0, 2**12), st.integers(0, 2**64 - 1)), min_size=1, max_size=8
    ),
    st.integers(0, 2**12),
)
def test_damaged_structs(layout, edits, cut: int) -> None:
    raw = intact(layout)
    for where, value in edits:
        at = (where % (len(raw) - 8)) & ~7
        struct.pack_into("<Q", raw, at, value)
    check(layout, bytes(raw))
    check(layout, bytes(raw[: len(raw) - cut % len(raw)]))  # shorter than the struct
