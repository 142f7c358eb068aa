"""The decoders are total and linear: any bytes give an int or RemoteReadError, quickly.

Tables come from memory the target may be rewriting, so the walker feeds them
whatever it read. MEMSPY_FUZZ_EXAMPLES raises the number of examples per test.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memspy.errors import RemoteReadError
from memspy.interpreter.linetable import decode_line

EXAMPLES = int(os.environ.get("MEMSPY_FUZZ_EXAMPLES", "200"))
KINDS = ["lnotab_unsigned", "lnotab", "linetable310", "locations"]
SECONDS_PER_CALL = 0.5  # a 4 KiB table takes about a millisecond; quadratic would take seconds

REAL = [
    (kind, bytes.fromhex(code["table"]))
    for kind, codes in json.loads(
        (Path(__file__).parents[1] / "data" / "real_linetables.json").read_text()
    ).items()
    for code in codes
]

fuzz_settings = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
positions = st.one_of(st.integers(-3, 5000), st.integers(-(2**40), 2**40))
firstlinenos = st.integers(-(2**31), 2**31 - 1)


def decode(kind: str, table: bytes, firstlineno: int, position: int) -> int | None:
    """The line, or None for a read error; fails on any other exception or a slow call."""
    start = time.thread_time()
    try:
        line: int | None = decode_line(kind, table, firstlineno, position)
    except RemoteReadError:
        line = None
    assert time.thread_time() - start < SECONDS_PER_CALL
    assert line is None or type(line) is int
    return line


@pytest.mark.fuzz
@fuzz_settings
@given(st.sampled_from(KINDS), st.binary(max_size=4096), firstlinenos, positions)
def test_random_tables(kind: str, table: bytes, firstlineno: int, position: int) -> None:
    decode(kind, table, firstlineno, position)


mutation = st.tuples(
    st.sampled_from(["overwrite", "insert", "delete", "truncate"]),
    st.integers(0, 2**12),
    st.binary(min_size=1, max_size=8),
)


def mutate(table: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(table)
    for op, where, data in edits:
        at = where % (len(out) + 1)
        if op == "overwrite":
            out[at : at + len(data)] = data
        elif op == "insert":
            out[at:at] = data
        elif op == "delete":
            del out[at : at + len(data)]
        else:
            del out[at:]
    return bytes(out)


@pytest.mark.fuzz
@fuzz_settings
@given(
    st.sampled_from(REAL),
    st.lists(mutation, max_size=5),
    st.one_of(st.none(), st.sampled_from(KINDS)),
    firstlinenos,
    positions,
)
def test_mutated_real_tables(
    real: tuple[str, bytes],
    edits: list[tuple[str, int, bytes]],
    other_kind: str | None,
    firstlineno: int,
    position: int,
) -> None:
    kind, table = real
    decode(other_kind or kind, mutate(table, edits), firstlineno, position)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("unit", [b"\x00", b"\x7f", b"\x80", b"\xe8", b"\xff", b"\xe9\x02"])
def test_huge_adversarial_tables_stay_linear(kind: str, unit: bytes) -> None:
    # b"\xe8...\x00": 3.11 "line delta only" entries whose varint flag is set, then a
    # terminator: a decoder that let varints run on would rescan the rest of the table
    # from every entry. b"\xe9\x02" is a valid entry (+1 line), so nothing stops early.
    table = unit * ((1 << 18) // len(unit)) + b"\x00\x00"
    start = time.thread_time()
    decode(kind, table, 1, 1 << 30)
    assert time.thread_time() - start < 2.0
