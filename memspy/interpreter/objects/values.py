"""Short, bounded text for any object of the target: the values ``dump --locals`` shows.

Nothing runs in the target, so ``repr`` is rebuilt from memory for the types whose value
is its contents (None, bool, int, float, str, bytes) and for small containers of those;
anything else is named by its type and address, as ``<list of 12>``, ``<Job at 0x…>``.

A builtin type is recognised by ``tp_name`` only when it is a static type: a class in
the program can be named ``int``, but it is a heap type. Target memory is untrusted:
every length is bounded, text is cut with a marker, and an object that cannot be read
is shown as unreadable, never raising past ``describe``.
"""

from __future__ import annotations

import struct
from typing import Callable, Dict, List, Optional, Tuple

from memspy.errors import MemspyError, RemoteReadError, TargetExited
from memspy.interpreter.objects.containers import digits_value, long_size
from memspy.interpreter.objects.strings import MAX_READ_SIZE, RemoteObjects
from memspy.memory.base import Memory
from memspy.offsets import Layout
from memspy.printable import printable

MAX_TEXT = 120  # characters of a str or bytes value shown before it is cut
MAX_INT_DIGITS = 200  # internal digits of an int shown in full (about 1800 decimal digits)
MAX_ITEMS = 6  # items of a container shown inline, when they are all simple values
MAX_TYPE_NAME = 200  # bytes of a tp_name read
CUT = "…"

_PTR = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_I32 = struct.Struct("<i")
_F64 = struct.Struct("<d")

Unreadable = "<unreadable>"


class Values:
    """Describes objects of one interpreter version; caches what it learns of types."""

    def __init__(self, memory: Memory, layout: Layout, objects: RemoteObjects) -> None:
        self.memory = memory
        self.layout = layout
        self.objects = objects
        self._type_off = layout.object.type
        self._size_off = layout.varobject.size
        self._types: Dict[int, Tuple[str, bool]] = {}  # type address -> (tp_name, static)
        py2 = layout.features.string_model == "bytes"
        self._simple: Dict[str, Callable[[int, bytes], str]] = {
            "NoneType": lambda addr, head: "None",
            "bool": self._bool,
            "int": self._py2_int if py2 else self._long,
            "long": self._py2_long,
            "float": self._float,
            "str": self._py2_str if py2 else self._str,
            "bytes": self._bytes,
            "unicode": self._py2_unicode,
        }
        if not py2:
            del self._simple["long"], self._simple["unicode"]
        self._containers: Dict[str, Callable[[int, bytes], Tuple[int, List[int]]]] = {
            "tuple": self._tuple_items,
            "list": self._list_items,
            "dict": self._counted(layout.dict.ma_used),
            "set": self._counted(layout.set.used),
            "frozenset": self._counted(layout.set.used),
        }
        self._brackets = {"tuple": ("(", ")"), "list": ("[", "]")}

    def describe(self, addr: int) -> str:
        """``addr``'s value as text (``<unreadable>`` if its memory says nothing sane);
        a small tuple or list of simple values shown inline, one level deep."""
        try:
            return self._describe(addr)
        except TargetExited:
            raise
        except (MemspyError, struct.error, ValueError, OverflowError, UnicodeError):
            return Unreadable

    def _describe(self, addr: int) -> str:
        head = self.memory.read(addr, self.layout.varobject.sizeof)
        type_addr = _PTR.unpack_from(head, self._type_off)[0]
        name, static = self.type_of(type_addr)
        if static and name in self._simple:
            return self._simple[name](addr, head)
        if static and name in self._containers:
            count, items = self._containers[name](addr, head)
            shown = self._inline(name, count, items)
            return shown if shown is not None else f"<{name} of {count}>"
        return f"<{printable(name)} at 0x{addr:x}>"

    def type_of(self, addr: int) -> Tuple[str, bool]:
        """(tp_name, whether a static type) of the type at ``addr``."""
        known = self._types.get(addr)
        if known is None:
            t = self.layout.type
            head = self.memory.read(addr, max(t.name, t.flags) + 8)
            flags = _PTR.unpack_from(head, t.flags)[0]
            name = self._c_string(_PTR.unpack_from(head, t.name)[0])
            known = self._types[addr] = (name, not flags & self.layout.tpflags.heaptype)
        return known

    def _c_string(self, addr: int) -> str:
        """A NUL-terminated name, read in pieces that do not cross a page, smaller ones
        where those fail (the string may end right before memory that cannot be read)."""
        out = b""
        while len(out) < MAX_TYPE_NAME:
            piece = self._piece(addr)
            end = piece.find(b"\0")
            if end >= 0:
                return (out + piece[:end]).decode("utf-8", "replace")
            out, addr = out + piece, addr + len(piece)
        return out.decode("utf-8", "replace") + CUT

    def _piece(self, addr: int) -> bytes:
        for size in (min(64, 4096 - addr % 4096), 8):
            try:
                return self.memory.read(addr, size)
            except TargetExited:
                raise
            except MemspyError:
                pass
        return self.memory.read(addr, 1)

    # -- simple values ------------------------------------------------------------------------

    def _bool(self, addr: int, head: bytes) -> str:
        number = self._py2_int if self.layout.py2int.ival is not None else self._long
        return "False" if number(addr, head) == "0" else "True"

    def _py2_int(self, addr: int, head: bytes) -> str:
        return str(_I64.unpack_from(self.memory.read(addr + self.layout.py2int.ival, 8), 0)[0])

    def _long(self, addr: int, head: bytes) -> str:
        lg = self.layout.long
        ndigits, sign = long_size(self.layout, head)
        if ndigits > MAX_INT_DIGITS:
            return f"<int of {ndigits * lg.digit_bits} bits>"
        raw = self.memory.read(addr + lg.digit, ndigits * lg.digit_size) if ndigits else b""
        return str(sign * digits_value(raw, lg.digit_size, lg.digit_bits))

    def _float(self, addr: int, head: bytes) -> str:
        return repr(_F64.unpack_from(self.memory.read(addr + self.layout.float.fval, 8), 0)[0])

    def _str(self, addr: int, head: bytes) -> str:
        return _cut_repr(*self.objects.string_head(addr, MAX_TEXT))

    def _bytes(self, addr: int, head: bytes) -> str:
        return _cut_repr(*self.objects.bytes_head(addr, MAX_TEXT))

    def _py2_str(self, addr: int, head: bytes) -> str:
        """2.7's ``str`` is bytes, and its repr has no ``b``."""
        return self._bytes(addr, head)[1:]

    def _py2_long(self, addr: int, head: bytes) -> str:
        text = self._long(addr, head)
        return text if text.startswith("<") else text + "L"

    def _py2_unicode(self, addr: int, head: bytes) -> str:
        u = self.layout.py2unicode
        data = self.memory.read(addr, max(u.length, u.str) + 8)
        length = _I64.unpack_from(data, u.length)[0]
        if not 0 <= length <= MAX_READ_SIZE:
            raise RemoteReadError(f"unicode at 0x{addr:x} has impossible length {length}")
        shown = min(length, MAX_TEXT)
        pointer = _PTR.unpack_from(data, u.str)[0]
        raw = self.memory.read(pointer, shown * u.unicode_size) if shown else b""
        text = raw.decode("utf-16-le" if u.unicode_size == 2 else "utf-32-le", "replace")
        return "u" + _cut_repr(text, length, ascii)  # 2.7 escapes every non-ASCII character

    # -- containers -----------------------------------------------------------------------------

    def _counted(self, offset: int) -> Callable[[int, bytes], Tuple[int, List[int]]]:
        def count(addr: int, head: bytes) -> Tuple[int, List[int]]:
            return _I64.unpack_from(self.memory.read(addr + offset, 8), 0)[0], []

        return count

    def _tuple_items(self, addr: int, head: bytes) -> Tuple[int, List[int]]:
        count = _I64.unpack_from(head, self._size_off)[0]
        if not 0 < count <= MAX_ITEMS:
            return count, []
        raw = self.memory.read(addr + self.layout.tuple.item, 8 * count)
        return count, [_PTR.unpack_from(raw, 8 * i)[0] for i in range(count)]

    def _list_items(self, addr: int, head: bytes) -> Tuple[int, List[int]]:
        count = _I64.unpack_from(head, self._size_off)[0]
        if not 0 < count <= MAX_ITEMS:
            return count, []
        array = _PTR.unpack_from(self.memory.read(addr + self.layout.list.item, 8), 0)[0]
        raw = self.memory.read(array, 8 * count)
        return count, [_PTR.unpack_from(raw, 8 * i)[0] for i in range(count)]

    def _inline(self, kind: str, count: int, items: List[int]) -> Optional[str]:
        """A small tuple or list of simple values as Python would print it, else None."""
        if kind not in self._brackets or (count and not items):
            return None
        shown = []
        for item in items:
            head = self.memory.read(item, self.layout.varobject.sizeof)
            name, static = self.type_of(_PTR.unpack_from(head, self._type_off)[0])
            if not (static and name in self._simple):
                return None
            shown.append(self._simple[name](item, head))
        opening, closing = self._brackets[kind]
        if kind == "tuple" and count == 1:
            closing = ",)"
        return opening + ", ".join(shown) + closing


def _cut_repr(value: object, length: int, represent: Callable[[object], str] = repr) -> str:
    """``repr`` of the start of a str or bytes ``length`` long, with a marker that says
    how long it was if it is cut; control characters come out escaped either way."""
    text = represent(value)
    if length > len(value):  # type: ignore[arg-type]
        text = f"{text[:-1]}{CUT}{text[-1]} ({length} long)"
    return printable(text)
