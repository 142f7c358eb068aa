"""The 3.13 _Py_DebugOffsets check, on structs built from the generated spec."""

import struct

import pytest

from memspy.errors import LayoutMismatch, UnsupportedVersion
from memspy.interpreter import debugoffsets
from memspy.memory import BufferMemory
from memspy.offsets import load_layout

LAYOUT = load_layout(3, 13)
SPEC = LAYOUT.debug_offsets
RUNTIME = 0x10000


def build(**changes: int) -> BufferMemory:
    """The struct a 3.13.0 built from the same headers holds, with ``changes`` applied."""
    raw = bytearray(SPEC["sizeof"])
    raw[:8] = SPEC["cookie"].encode()
    values = {**SPEC["expected"], "version": 0x030D00F0, **changes}
    for name, value in values.items():
        struct.pack_into("<Q", raw, SPEC["offsets"][name], value)
    return BufferMemory({RUNTIME: bytes(raw)})


def test_the_struct_the_headers_describe_passes():
    assert debugoffsets.check(build(), RUNTIME, LAYOUT) == []


def test_a_moved_field_is_named():
    moved = SPEC["expected"]["thread_state.current_frame"] + 8
    with pytest.raises(LayoutMismatch, match="thread_state.current_frame: target"):
        debugoffsets.check(build(**{"thread_state.current_frame": moved}), RUNTIME, LAYOUT)


def test_another_minor_version_is_refused():
    with pytest.raises(LayoutMismatch, match="version 0x30c01f0"):
        debugoffsets.check(build(version=0x030C01F0), RUNTIME, LAYOUT)


def test_free_threaded_builds_are_refused():
    with pytest.raises(UnsupportedVersion, match="free-threaded"):
        debugoffsets.check(build(free_threaded=1), RUNTIME, LAYOUT)


def test_a_bad_cookie_or_size_is_refused():
    memory = build()
    raw = bytearray(memory.read(RUNTIME, SPEC["sizeof"]))
    raw[:8] = b"notdebug"
    with pytest.raises(LayoutMismatch, match="cookie"):
        debugoffsets.check(BufferMemory({RUNTIME: bytes(raw)}), RUNTIME, LAYOUT)
    with pytest.raises(LayoutMismatch, match="impossible value"):
        debugoffsets.check(build(**{"thread_state.size": 0}), RUNTIME, LAYOUT)


def test_older_versions_have_nothing_to_check():
    assert load_layout(3, 12).debug_offsets is None
