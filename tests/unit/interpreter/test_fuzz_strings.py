"""String and bytes objects of every kind, intact, at the end of a mapping, and damaged.

Names, file names and line tables are read out of the target: a damaged one must give a
value or RemoteReadError, quickly, and never a string longer than the bound.
MEMSPY_FUZZ_EXAMPLES raises the number of examples per test.
"""

from __future__ import annotations

import os
import time

import pytest
from fakeprocess import SLACK, FakeProcess, build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memspy.errors import MemspyError, RemoteReadError
from memspy.interpreter.objects.strings import MAX_BYTES, MAX_STRING, RemoteObjects
from memspy.memory import BufferMemory
from memspy.offsets import SUPPORTED, load_layout

EXAMPLES = int(os.environ.get("MEMSPY_FUZZ_EXAMPLES", "200"))
VERSIONS = [f"{a}.{b}" for a, b in SUPPORTED]
TEXTS = ["", "ascii", "latin-1 é", "ucs2 λΩ", "ucs4 \U0001f600", "\x1b]0;pwned\x07", "x" * 300]

fuzz_settings = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def process_for(version: str) -> FakeProcess:
    major, minor = version.split(".")
    return build(load_layout(int(major), int(minor)))


def objects(process: FakeProcess, memory: BufferMemory) -> RemoteObjects:
    return RemoteObjects(memory, process.layout, process.types)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("compact", [True, False], ids=["compact", "legacy"])
def test_every_kind_reads_back(version: str, compact: bool) -> None:
    process = process_for(version)
    addrs = [process.string(text, compact=compact) for text in TEXTS]
    table = process.bytes_object(b"\x01\x02" * 50)
    reader = objects(process, process.memory())
    assert [reader.string(a) for a in addrs] == TEXTS
    assert reader.bytes(table) == b"\x01\x02" * 50


@pytest.mark.parametrize("version", VERSIONS)
def test_an_object_ending_a_mapping_is_read(version: str) -> None:
    """The speculative read past a header must not fail a string at the end of a mapping."""
    process = process_for(version)
    addrs = [process.string("name"), process.string("λ", compact=False)]
    table = process.bytes_object(b"\x00\x07")
    for addr in addrs + [table]:  # cut the readable slack off each object
        process.regions[addr] = process.regions[addr][:-SLACK]
    reader = objects(process, process.memory())
    assert [reader.string(a) for a in addrs] == ["name", "λ"]
    assert reader.bytes(table) == b"\x00\x07"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_wrong_type_or_size_is_refused(version: str) -> None:
    process = process_for(version)
    string = process.string("name")
    table = process.bytes_object(b"\x00\x07")
    reader = objects(process, process.memory())
    py2 = process.layout.features.string_model == "bytes"
    if not py2:  # where str and bytes are two types
        with pytest.raises(RemoteReadError, match="not a"):
            reader.string(table)  # a bytes object where a str is expected
        with pytest.raises(RemoteReadError, match="not a"):
            reader.bytes(string)
    with pytest.raises(RemoteReadError, match="not a"):
        reader.string(process.code_type)  # no type pointer at all
    length = process.layout.py2str.size if py2 else process.layout.unicode.length
    process.put(string + length, "<q", MAX_STRING + 1)
    size = process.layout.py2str.size if py2 else process.layout.bytes.size
    process.put(table + size, "<q", MAX_BYTES + 1)
    reader = objects(process, process.memory())
    with pytest.raises(RemoteReadError, match="impossible"):
        reader.string(string)
    with pytest.raises(RemoteReadError, match="impossible"):
        reader.bytes(table)


def bounded(read, addr: int) -> None:
    start = time.thread_time()
    try:
        value = read(addr)
    except MemspyError:
        value = None
    assert time.thread_time() - start < 0.5
    if isinstance(value, str):
        assert len(value) <= MAX_STRING
    elif value is not None:
        assert type(value) is bytes and len(value) <= MAX_BYTES


@pytest.mark.fuzz
@fuzz_settings
@given(
    st.sampled_from(VERSIONS),
    st.sampled_from(TEXTS),
    st.booleans(),
    st.lists(st.tuples(st.integers(0, 400), st.binary(min_size=1, max_size=8)), max_size=6),
)
def test_damaged_strings(version: str, text: str, compact: bool, edits) -> None:
    process = process_for(version)
    addrs = [process.string(text, compact=compact), process.bytes_object(text.encode())]
    for addr in addrs:
        region = process.regions[addr]
        for where, data in edits:
            region[where : where + len(data)] = data
    reader = objects(process, process.memory())
    for addr in addrs:
        bounded(reader.string, addr)
        bounded(reader.bytes, addr)


@pytest.mark.fuzz
@fuzz_settings
@given(st.sampled_from(VERSIONS), st.binary(max_size=600), st.integers(0, 64))
def test_random_bytes_as_objects(version: str, noise: bytes, shift: int) -> None:
    process = process_for(version)
    addr = 0x1000_0000
    memory = BufferMemory({addr: noise})
    reader = objects(process, memory)
    bounded(reader.string, addr + shift)
    bounded(reader.bytes, addr + shift)
    # Type checks off (a binary without the type symbols): sizes and kinds still hold.
    unchecked = RemoteObjects(memory, process.layout, {})
    bounded(unchecked.string, addr + shift)
    bounded(unchecked.bytes, addr + shift)
