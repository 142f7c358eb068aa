"""Hand-built line tables, one per branch of each decoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memspy.errors import RemoteReadError, UnsupportedVersion
from memspy.interpreter.linetable import decode_line, linetable310_line, lnotab_line, locations_line

# --- co_lnotab (2.7, 3.6-3.9) ------------------------------------------------------------

# addr 0 -> line 10; addr 6 -> +2; addr 10 -> +1
SIMPLE_LNOTAB = bytes([6, 2, 4, 1])


@pytest.mark.parametrize(
    ("lasti", "line"), [(-1, 10), (0, 10), (5, 10), (6, 12), (9, 12), (10, 13), (500, 13)]
)
def test_lnotab_increments_apply_once_their_address_is_reached(lasti: int, line: int) -> None:
    assert lnotab_line(SIMPLE_LNOTAB, 10, lasti, signed=True) == line


def test_lnotab_empty_table_is_firstlineno() -> None:
    assert lnotab_line(b"", 7, 40, signed=False) == 7


def test_lnotab_large_deltas_are_split_over_pairs() -> None:
    # +300 addresses (255 + 45) and +300 lines (255 + 45), as the compiler writes them.
    table = bytes([255, 0, 45, 255, 0, 45])
    assert lnotab_line(table, 1, 299, signed=False) == 1
    assert lnotab_line(table, 1, 300, signed=False) == 301


def test_lnotab_sign_of_line_increment_depends_on_version() -> None:
    table = bytes([4, 5, 4, 0xFE])  # second increment: -2 signed (3.6+), 254 unsigned (2.7)
    assert lnotab_line(table, 100, 8, signed=True) == 103
    assert lnotab_line(table, 100, 8, signed=False) == 359


def test_lnotab_odd_length_is_a_read_error() -> None:
    with pytest.raises(RemoteReadError, match="odd length"):
        lnotab_line(bytes([2, 1, 2]), 1, 0, signed=True)


# --- 3.10 co_linetable ---------------------------------------------------------------------

# bytes [0,4): line 20; [4,6): no line; [6,6): +3 (zero width); [6,10): -1 -> 22
TABLE_310 = bytes([4, 0, 2, 0x80, 0, 3, 4, 0xFF])


@pytest.mark.parametrize(
    ("lasti", "line"), [(-1, 20), (0, 20), (1, 20), (2, 0), (3, 22), (4, 22), (5, 0)]
)
def test_310_ranges_in_code_units(lasti: int, line: int) -> None:
    assert linetable310_line(TABLE_310, 20, lasti) == line


def test_310_no_line_entry_leaves_running_line_unchanged() -> None:
    table = bytes([2, 1, 2, 0x80, 2, 1])
    assert [linetable310_line(table, 5, i) for i in range(3)] == [6, 0, 7]


def test_310_odd_length_is_a_read_error() -> None:
    with pytest.raises(RemoteReadError):
        linetable310_line(bytes([2, 0, 2]), 1, 0)


# --- 3.11+ location table ------------------------------------------------------------------


def entry(code: int, units: int, payload: bytes = b"") -> bytes:
    return bytes([0x80 | code << 3 | (units - 1)]) + payload


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 64:
        out.append(0x40 | value & 63)
        value >>= 6
    return bytes(out + bytes([value]))


def svarint(value: int) -> bytes:
    return varint(-value << 1 | 1 if value < 0 else value << 1)


def test_short_form_keeps_the_line() -> None:
    table = entry(13, 1, svarint(2)) + entry(3, 4, bytes([0x12]))
    assert [locations_line(table, 10, i) for i in range(6)] == [12, 12, 12, 12, 12, 0]


@pytest.mark.parametrize(("code", "delta"), [(10, 0), (11, 1), (12, 2)])
def test_one_line_forms_carry_delta_in_code(code: int, delta: int) -> None:
    table = entry(0, 1, b"\x00") + entry(code, 2, bytes([4, 9]))
    assert [locations_line(table, 50, i) for i in range(3)] == [50, 50 + delta, 50 + delta]


@pytest.mark.parametrize("delta", [0, 1, -1, 31, -32, 1000, -5000, 2**31 - 1])
def test_no_columns_form_signed_varint(delta: int) -> None:
    table = entry(13, 8, svarint(delta))
    assert locations_line(table, 100, 7) == 100 + delta


def test_long_form_reads_line_delta_and_skips_end_line_and_columns() -> None:
    table = (
        entry(14, 2, svarint(-3) + varint(4) + varint(130) + varint(200))
        + entry(14, 1, svarint(700) + varint(0) + varint(0) + varint(1))
        + entry(10, 1, b"\x01\x02")
    )
    assert [locations_line(table, 10, i) for i in range(5)] == [7, 7, 707, 707, 0]


def test_no_location_entry_is_zero_and_keeps_running_line() -> None:
    table = entry(11, 1, b"\x00\x01") + entry(15, 3) + entry(11, 1, b"\x00\x01")
    assert [locations_line(table, 1, i) for i in range(5)] == [2, 0, 0, 0, 3]


def test_containment_is_strict_at_entry_start() -> None:
    table = entry(13, 2, svarint(1)) + entry(13, 2, svarint(5))
    assert locations_line(table, 0, 1) == 1
    assert locations_line(table, 0, 2) == 6  # py-spy's `end >= idx` would answer 1 here


def test_negative_index_is_firstlineno_and_empty_table_has_no_line() -> None:
    assert locations_line(entry(15, 1), 42, -1) == 42
    assert locations_line(b"", 42, 0) == 0


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (b"\x05\x80", "does not start with an entry byte"),
        (entry(13, 1), "ends inside a varint"),
        (entry(13, 1, b"\x41"), "ends inside a varint"),
        (entry(13, 1, b"\x41") + entry(0, 1, b"\x00"), "interrupted"),
        (entry(13, 1, b"\x7f" * 6 + b"\x01"), "too long"),
    ],
)
def test_malformed_location_tables_are_read_errors(table: bytes, message: str) -> None:
    with pytest.raises(RemoteReadError, match=message):
        locations_line(table, 1, 5)


# --- dispatch ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "table", "position", "line"),
    [
        ("lnotab_unsigned", bytes([2, 0xFF]), 2, 256),
        ("lnotab", bytes([2, 0xFF]), 2, 0),
        ("linetable310", bytes([2, 1, 2, 0x80]), 1, 0),
        ("locations", entry(12, 1, b"\x00\x00"), 0, 3),
    ],
)
def test_decode_line_dispatches_on_layout_feature(
    kind: str, table: bytes, position: int, line: int
) -> None:
    assert decode_line(kind, table, 1, position) == line


def test_unknown_table_kind_is_reported() -> None:
    with pytest.raises(UnsupportedVersion, match="unknown line-table format"):
        decode_line("co_lines", b"", 1, 0)


# --- real tables ---------------------------------------------------------------------------

REAL = json.loads((Path(__file__).parents[1] / "data" / "real_linetables.json").read_text())


@pytest.mark.parametrize("kind", sorted(REAL))
def test_real_tables_give_the_interpreters_lines(kind: str) -> None:
    # Saved by scripts/check_linetables.py --fixture: PyCode_Addr2Line from position -1 on.
    for code in REAL[kind]:
        table = bytes.fromhex(code["table"])
        got = [
            decode_line(kind, table, code["firstlineno"], p)
            for p in range(-1, -1 + len(code["lines"]))
        ]
        assert got == [max(line, 0) for line in code["lines"]], code["name"]
