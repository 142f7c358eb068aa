"""The values `dump --locals` shows, rebuilt from hostile memory: escaped, bounded, never
an exception, never slow. Objects are hand-built from each version's real layout."""

from __future__ import annotations

import os
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memspy.errors import MemspyError
from memspy.interpreter.codes import CodeCache
from memspy.interpreter.objects.strings import RemoteObjects
from memspy.interpreter.objects.values import MAX_TEXT, Unreadable, Values
from memspy.interpreter.objects.variables import FrameVariables
from memspy.memory import BufferMemory
from memspy.offsets import SUPPORTED, load_layout

EXAMPLES = int(os.environ.get("MEMSPY_FUZZ_EXAMPLES", "100"))
VERSIONS = [(a, b) for a, b in SUPPORTED]
UNICODE = [v for v in VERSIONS if v[0] == 3]
TYPE, NAME, OBJECT = 0x10000, 0x20000, 0x30000


def _type(memory: BufferMemory, layout, name: bytes, heap: bool = False) -> None:
    """A type object at TYPE named ``name`` (a static type unless ``heap``)."""
    t = layout.type
    data = bytearray(max(t.name, t.flags) + 8)
    struct.pack_into("<Q", data, t.name, NAME)
    struct.pack_into("<Q", data, t.flags, layout.tpflags.heaptype if heap else 0)
    memory.add(TYPE, bytes(data))
    memory.add(NAME, name + b"\0")


def _compact_str(layout, text: bytes, length: int) -> bytes:
    """A compact ASCII str object claiming ``length`` characters, holding ``text``."""
    u = layout.unicode
    data = bytearray(u.ascii_sizeof) + text
    struct.pack_into("<Q", data, layout.object.type, TYPE)
    struct.pack_into("<q", data, u.length, length)
    state = (1 << u.state_kind_shift) | (1 << u.state_compact_shift) | (1 << u.state_ascii_shift)
    struct.pack_into("<I", data, u.state, state)
    return bytes(data)


def _values(memory: BufferMemory, version) -> Values:
    layout = load_layout(*version)
    return Values(memory, layout, RemoteObjects(memory, layout, {}))


@pytest.mark.parametrize("version", UNICODE, ids=[f"{a}.{b}" for a, b in UNICODE])
def test_a_hostile_string_is_escaped_and_a_huge_one_cut(version) -> None:
    layout = load_layout(*version)
    memory = BufferMemory()
    _type(memory, layout, b"str")
    memory.add(OBJECT, _compact_str(layout, b"\x1b]0;pwned\x07", 10))
    assert _values(memory, version).describe(OBJECT) == "'\\x1b]0;pwned\\x07'"
    huge = BufferMemory()
    _type(huge, layout, b"str")
    huge.add(OBJECT, _compact_str(layout, b"y" * MAX_TEXT, 10**12))  # only the start is mapped
    shown = _values(huge, version).describe(OBJECT)
    assert shown == "'" + "y" * MAX_TEXT + "…' (1000000000000 long)"


@pytest.mark.parametrize("version", UNICODE, ids=[f"{a}.{b}" for a, b in UNICODE])
def test_a_class_named_like_a_builtin_is_not_taken_for_it(version) -> None:
    """A heap type named ``str`` is a program's class: shown by name and address."""
    layout = load_layout(*version)
    memory = BufferMemory()
    _type(memory, layout, b"str", heap=True)
    memory.add(OBJECT, _compact_str(layout, b"abc", 3))
    assert _values(memory, version).describe(OBJECT) == f"<str at 0x{OBJECT:x}>"


@pytest.mark.parametrize("version", VERSIONS, ids=[f"{a}.{b}" for a, b in VERSIONS])
def test_a_type_name_with_control_characters_or_no_end(version) -> None:
    layout = load_layout(*version)
    memory = BufferMemory()
    _type(memory, layout, b"\x1b[2Jclear")
    head = bytearray(64)
    struct.pack_into("<Q", head, layout.object.type, TYPE)
    memory.add(OBJECT, bytes(head))
    assert _values(memory, version).describe(OBJECT) == f"<\\x1b[2Jclear at 0x{OBJECT:x}>"
    endless = BufferMemory()
    _type(endless, layout, b"")
    endless.add(NAME, b"n" * 5000)  # no NUL within any bound
    endless.add(OBJECT, bytes(head))
    assert _values(endless, version).describe(OBJECT).startswith("<nnnn")


@pytest.mark.fuzz
@pytest.mark.parametrize("version", VERSIONS, ids=[f"{a}.{b}" for a, b in VERSIONS])
@settings(max_examples=EXAMPLES, deadline=None)
@given(
    noise=st.binary(min_size=64, max_size=512),
    name=st.sampled_from([b"int", b"str", b"bytes", b"float", b"list", b"tuple", b"dict",
                          b"bool", b"long", b"unicode", b"set", b"NoneType", b"x"]),
)
def test_random_objects_give_text_quickly(version, noise: bytes, name: bytes) -> None:
    """Whatever an object's bytes say (sizes, pointers, kinds), its value is some text,
    given quickly, or unreadable."""
    layout = load_layout(*version)
    memory = BufferMemory()
    _type(memory, layout, name)
    data = bytearray(noise)
    struct.pack_into("<Q", data, layout.object.type, TYPE)
    memory.add(OBJECT, bytes(data))
    memory.add(0x40000, noise * 4)  # something for wild pointers to land on
    start = time.thread_time()
    shown = _values(memory, version).describe(OBJECT)
    assert time.thread_time() - start < 1.0
    assert isinstance(shown, str) and shown
    assert shown == Unreadable or len(shown) < 4 * MAX_TEXT + 2000
    assert "\x1b" not in shown


@pytest.mark.fuzz
@pytest.mark.parametrize("version", VERSIONS, ids=[f"{a}.{b}" for a, b in VERSIONS])
@settings(max_examples=EXAMPLES, deadline=None)
@given(code=st.binary(min_size=256, max_size=256), frame=st.binary(min_size=64, max_size=1024))
def test_a_garbage_frame_and_code_object_fail_as_ours_quickly(version, code: bytes, frame: bytes):
    """A frame's variables read over garbage: our errors only (which the dump turns into
    one unreadable entry for that frame), and quickly, whatever counts the bytes claim."""
    layout = load_layout(*version)
    memory = BufferMemory({0x50000: code, 0x60000: frame, 0x40000: frame * 8})
    objects = RemoteObjects(memory, layout, {})
    codes = CodeCache(memory, layout, objects, None)
    start = time.thread_time()
    try:
        FrameVariables(memory, layout, codes, objects).of(0x60000, 0x50000)
    except (MemspyError, struct.error, ValueError, UnicodeError):
        pass
    assert time.thread_time() - start < 2.0
