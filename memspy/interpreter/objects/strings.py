"""Decoding the few object kinds a stack needs (str, bytes) out of target memory.

Target memory is untrusted: every object's type pointer is checked against the runtime
address of its type, every length is bounded, and failures raise ``RemoteReadError``.
"""

from __future__ import annotations

import struct
from typing import Dict, Optional, Tuple

from memspy.errors import MemspyError, RemoteReadError, TargetExited
from memspy.memory.base import Memory
from memspy.offsets import Layout

MAX_STRING = 64 * 1024  # characters: names and paths longer than this are not real
MAX_BYTES = 1024 * 1024  # line tables larger than this are not real
MAX_READ_SIZE = 1 << 40  # a value's size beyond this is garbage, even if only its start is read
_SPECULATIVE = 128  # bytes read past a header on the first try; most names fit

_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_PTR = struct.Struct("<Q")


class RemoteObjects:
    """Reads ``str`` and ``bytes`` objects of one interpreter version."""

    def __init__(self, memory: Memory, layout: Layout, types: Dict[str, int]) -> None:
        self.memory = memory
        self.layout = layout
        self._type_off = layout.object.type
        if layout.features.string_model == "bytes":
            self._str_type = types.get("PyString_Type")
            self._string = self._py2_string
        else:
            self._str_type = types.get("PyUnicode_Type")
            self._string = self._unicode
        self._bytes_type = types.get(
            "PyString_Type" if layout.features.string_model == "bytes" else "PyBytes_Type"
        )
        bytes_section = layout.py2str if layout.features.string_model == "bytes" else layout.bytes
        self._bytes_size_off = bytes_section.size
        self._bytes_data_off = bytes_section.sval

    def _check_type(self, addr: int, head: bytes, expected: Optional[int], what: str) -> None:
        if expected is not None and _PTR.unpack_from(head, self._type_off)[0] != expected:
            raise RemoteReadError(f"object at 0x{addr:x} is not a {what}")

    def _sized(self, addr: int, data_off: int, nbytes: int, head: bytes) -> bytes:
        end = data_off + nbytes
        if end <= len(head):
            return head[data_off:end]
        return self.memory.read(addr + data_off, nbytes)

    def _head(self, addr: int, size: int, minimum: int) -> bytes:
        """``size`` bytes of header and, speculatively, what follows; only the ``minimum``
        every such object has when it ends a mapping (the rest then does not exist)."""
        try:
            return self.memory.read(addr, size + _SPECULATIVE)
        except TargetExited:
            raise
        except MemspyError:
            return self.memory.read(addr, minimum)

    def _bytes_like(
        self, addr: int, expected: Optional[int], limit: int, what: str, cut: int = 0
    ) -> Tuple[bytes, int]:
        """The data and the size of a bytes-like object; only its first ``cut`` bytes if
        given (a value shown cut short may be of any size)."""
        head = self._head(addr, self._bytes_data_off, self._bytes_data_off)
        self._check_type(addr, head, expected, what)
        size = _I64.unpack_from(head, self._bytes_size_off)[0]
        if not 0 <= size <= (MAX_READ_SIZE if cut else limit):
            raise RemoteReadError(f"{what} at 0x{addr:x} has impossible size {size}")
        return self._sized(addr, self._bytes_data_off, min(size, cut) if cut else size, head), size

    def bytes(self, addr: int) -> bytes:
        """A ``bytes`` object (2.7: ``str``), such as a line table."""
        return self._bytes_like(addr, self._bytes_type, MAX_BYTES, "bytes object")[0]

    def bytes_head(self, addr: int, cut: int) -> Tuple[bytes, int]:
        """A ``bytes`` object's first ``cut`` bytes, and its size."""
        return self._bytes_like(addr, self._bytes_type, MAX_BYTES, "bytes object", cut)

    def _py2_string(self, addr: int, cut: int = 0) -> Tuple[str, int]:
        raw, size = self._bytes_like(addr, self._str_type, MAX_STRING, "str object", cut)
        return raw.decode("utf-8", "replace"), size

    def string(self, addr: int) -> str:
        """A ``str`` object (a name, a path)."""
        return self._string(addr)[0]

    def string_head(self, addr: int, cut: int) -> Tuple[str, int]:
        """A ``str`` object's first ``cut`` characters (2.7: bytes), and its length."""
        return self._string(addr, cut)

    def _unicode(self, addr: int, cut: int = 0) -> Tuple[str, int]:
        u = self.layout.unicode
        head = self._head(addr, u.compact_sizeof, u.ascii_sizeof)
        self._check_type(addr, head, self._str_type, "str object")
        total = _I64.unpack_from(head, u.length)[0]
        if not 0 <= total <= (MAX_READ_SIZE if cut else MAX_STRING):
            raise RemoteReadError(f"str at 0x{addr:x} has impossible length {total}")
        length = min(total, cut) if cut else total
        state = _U32.unpack_from(head, u.state)[0]
        kind = (state >> u.state_kind_shift) & ((1 << u.state_kind_bits) - 1)
        if kind not in (1, 2, 4):
            raise RemoteReadError(f"str at 0x{addr:x} has impossible kind {kind}")
        if (state >> u.state_compact_shift) & 1:
            ascii_ = (state >> u.state_ascii_shift) & 1
            data = self._sized(
                addr, u.ascii_sizeof if ascii_ else u.compact_sizeof, length * kind, head
            )
        else:
            pointer = _PTR.unpack_from(self._sized(addr, u.data_any, 8, head), 0)[0]
            data = self.memory.read(pointer, length * kind) if length else b""
        try:
            return data.decode(_CODECS[kind], "surrogatepass" if kind > 1 else "strict"), total
        except (UnicodeDecodeError, MemspyError) as error:
            raise RemoteReadError(f"str at 0x{addr:x} does not decode: {error}") from None


_CODECS = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}
