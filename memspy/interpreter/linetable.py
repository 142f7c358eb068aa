"""Map an instruction position to a source line, as CPython's ``PyCode_Addr2Line`` would.

The walker needs the line CPython itself reports for a frame (``frame.f_lineno``,
traceback lines), so each decoder reproduces that function for one table format
rather than the friendlier views (``dis``, ``co_lines``) built on top of it.

Every decoder is total and linear in the table length: it returns an int or raises
``RemoteReadError``. A table no CPython could have produced (odd length for the pair
formats, a location table not starting with an entry byte, an over-long or truncated
varint) raises, since it means we read garbage from the target. A position outside
the table gives 0, memspy's "line unknown", as does an entry that CPython marks as
having no line; a negative position (a frame that has not started yet) gives
``firstlineno``, as CPython does.
"""

from __future__ import annotations

from typing import Callable

from memspy.errors import RemoteReadError, UnsupportedVersion

_NO_LINE_310 = 0x80  # 3.10's "no line" line delta, -128 as a signed byte
_NO_LOCATION = 15  # 3.11+ entry code for "no location"
_MAX_VARINT_CHUNKS = 6  # 36 bits: CPython writes at most a 32-bit value

_HINT = "the target may have changed the code object while we read it; the sample is skipped"


def _check_pairs(table: bytes, what: str) -> None:
    if len(table) & 1:
        raise RemoteReadError(f"{what} has odd length {len(table)}", _HINT)


def lnotab_line(table: bytes, firstlineno: int, lasti: int, signed: bool) -> int:
    """Line for byte offset ``lasti`` from a ``co_lnotab`` (2.7: ``signed=False``; 3.6-3.9)."""
    _check_pairs(table, "co_lnotab")
    line = firstlineno
    addr = 0
    for i in range(0, len(table), 2):
        addr += table[i]
        if addr > lasti:
            break
        delta = table[i + 1]
        if signed and delta >= 0x80:
            delta -= 0x100
        line += delta
    return line


def linetable310_line(table: bytes, firstlineno: int, lasti: int) -> int:
    """Line for 3.10's ``f_lasti`` (in code units) from its ``co_linetable``."""
    if lasti < 0:
        return firstlineno
    _check_pairs(table, "co_linetable")
    target = 2 * lasti  # the table counts bytes
    line = firstlineno
    end = 0
    for i in range(0, len(table), 2):
        end += table[i]
        delta = table[i + 1]
        if delta == _NO_LINE_310:
            if target < end:
                return 0
            continue
        line += delta - 0x100 if delta > _NO_LINE_310 else delta
        if target < end:  # earlier entries ended at or before target, so this one contains it
            return line
    return 0


def _svarint(table: bytes, i: int) -> int:
    """The signed varint starting at ``table[i]``."""
    value = 0
    for shift in range(0, 6 * _MAX_VARINT_CHUNKS, 6):
        if i >= len(table):
            raise RemoteReadError("location table ends inside a varint", _HINT)
        byte = table[i]
        if byte & 0x80:
            raise RemoteReadError(f"location table varint interrupted at byte {i}", _HINT)
        value |= (byte & 0x3F) << shift
        if not byte & 0x40:
            return -(value >> 1) if value & 1 else value >> 1
        i += 1
    raise RemoteReadError(f"location table varint too long at byte {i}", _HINT)


def locations_line(table: bytes, firstlineno: int, index: int) -> int:
    """Line for instruction ``index`` (in code units) from a 3.11+ location table."""
    if index < 0:
        return firstlineno
    n = len(table)
    if n and not table[0] & 0x80:
        raise RemoteReadError("location table does not start with an entry byte", _HINT)
    line = firstlineno
    end = 0
    i = 0
    while i < n:
        head = table[i]
        code = (head >> 3) & 15
        end += (head & 7) + 1
        if code == _NO_LOCATION:
            if index < end:
                return 0
        else:
            if code >= 13:  # 13: line delta only; 14: long form, line delta comes first
                line += _svarint(table, i + 1)
            elif code >= 10:  # one-line forms carry the delta in the code
                line += code - 10
            if index < end:  # earlier entries ended at or before index, so this one contains it
                return line
        # Like CPython, find the next entry by its high bit instead of parsing the payload.
        i += 1
        while i < n and not table[i] & 0x80:
            i += 1
    return 0


_DECODERS: dict[str, Callable[[bytes, int, int], int]] = {
    "lnotab_unsigned": lambda t, first, pos: lnotab_line(t, first, pos, False),
    "lnotab": lambda t, first, pos: lnotab_line(t, first, pos, True),
    "linetable310": linetable310_line,
    "locations": locations_line,
}


def decode_line(kind: str, table: bytes, firstlineno: int, position: int) -> int:
    """Line for ``position`` using the table format named by the layout's ``linetable`` feature."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise UnsupportedVersion(
            f"unknown line-table format {kind!r}",
            f"expected one of {', '.join(sorted(_DECODERS))}; the offsets table is inconsistent",
        )
    return decoder(table, firstlineno, position)
