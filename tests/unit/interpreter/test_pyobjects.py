"""Dict and int decoders on objects built by hand from the generated layouts.

Every offset comes from the layout under test, so these check the decoding rules (index
widths, entry kinds, split values, deleted entries, digit order, signs, bounds); whether
the offsets match real builds is the integration tests' job.
"""

from __future__ import annotations

import struct
from typing import Dict, List, Optional, Tuple

import pytest

from memspy.interpreter.objects.containers import PyObjects
from memspy.interpreter.objects.strings import RemoteObjects
from memspy.memory import BufferMemory
from memspy.offsets import Layout, load_layout

STR_TYPE, DICT_TYPE, LONG_TYPE, INT_TYPE = 0x1000, 0x2000, 0x3000, 0x4000
VERSIONS = [(2, 7), (3, 6), (3, 10), (3, 11), (3, 12), (3, 13)]


class Heap:
    """Objects of one layout, laid out one after another in a BufferMemory."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.memory = BufferMemory()
        self._next = 0x100000
        self.types = {"PyDict_Type": DICT_TYPE}
        if layout.features.string_model == "bytes":
            self.types["PyString_Type"] = STR_TYPE
        else:
            self.types["PyUnicode_Type"] = STR_TYPE
        t, flags = layout.type, layout.tpflags
        for addr, flag in ((LONG_TYPE, flags.long_subclass), (INT_TYPE, flags.int_subclass)):
            raw = bytearray(t.dictoffset + 8)  # static types end before ht_cached_keys
            struct.pack_into("<Q", raw, t.flags, flag or 0)
            struct.pack_into("<q", raw, t.basicsize, 24)
            self.memory.add(addr, bytes(raw))

    def put(self, raw: bytes) -> int:
        addr = self._next
        self.memory.add(addr, bytes(raw))
        self._next += (len(raw) + 64) // 16 * 16
        return addr

    def obj(self, size: int, type_addr: int, fields: Dict[int, int]) -> bytearray:
        raw = bytearray(size)
        struct.pack_into("<Q", raw, self.layout.object.type, type_addr)
        for off, value in fields.items():
            struct.pack_into("<q" if value < 0 else "<Q", raw, off, value)
        return raw

    def str(self, text: str) -> int:
        data = text.encode("ascii")
        if self.layout.features.string_model == "bytes":
            s = self.layout.py2str
            raw = self.obj(s.sval + len(data) + 1, STR_TYPE, {s.size: len(data)})
            raw[s.sval : s.sval + len(data)] = data
        else:
            u = self.layout.unicode
            state = (1 << u.state_kind_shift) | (1 << u.state_compact_shift)
            state |= 1 << u.state_ascii_shift
            raw = self.obj(u.ascii_sizeof + len(data) + 1, STR_TYPE, {u.length: len(data)})
            struct.pack_into("<I", raw, u.state, state)
            raw[u.ascii_sizeof : u.ascii_sizeof + len(data)] = data
        return self.put(raw)

    def entries(self, items: List[Tuple[int, int]], general: bool = True) -> bytes:
        d = self.layout.dict
        size, key, value = d.entry_sizeof, d.entry_key, d.entry_value
        if not general and d.unicode_entry_sizeof is not None:  # 3.11+
            size, key, value = d.unicode_entry_sizeof, d.unicode_entry_key, d.unicode_entry_value
        raw = bytearray(size * len(items))
        for i, (k, v) in enumerate(items):
            struct.pack_into("<QQ", raw, i * size + key, k, 0)
            struct.pack_into("<Q", raw, i * size + value, v)
        return bytes(raw)

    def keys(self, items: List[Tuple[int, int]], slots: int, general: bool = True) -> int:
        """A PyDictKeysObject with ``slots`` index slots (3.x)."""
        k = self.layout.dict_keys
        width = 1 if slots <= 0xFF else 2 if slots <= 0xFFFF else 4
        raw = self.obj(k.dk_indices + slots * width, 0, {k.dk_nentries: len(items)})
        if k.dk_size is not None:
            struct.pack_into("<q", raw, k.dk_size, slots)
        else:
            log2 = slots.bit_length() - 1
            raw[k.dk_log2_size] = log2
            raw[k.dk_log2_index_bytes] = log2 + width.bit_length() - 1
            raw[k.dk_kind] = k.kind_general if general else k.kind_general + 1
        return self.put(raw + self.entries(items, general))

    def values(self, values: List[int], capacity: Optional[int] = None) -> int:
        """A split table's values: a bare array (<=3.10) or a PyDictValues (3.11+)."""
        iv = self.layout.inline_values
        off = iv.values or 0
        raw = bytearray(off) + b"".join(struct.pack("<Q", v) for v in values)
        if iv.capacity is not None:
            raw[iv.capacity] = len(values) if capacity is None else capacity
        return self.put(raw)

    def dict(
        self,
        items: List[Tuple[int, int]],
        slots: int = 8,
        general: bool = True,
        keys: int = 0,
        values: int = 0,
    ) -> int:
        """A dict of ``items``, or a split one of shared ``keys`` and its own ``values``."""
        d = self.layout.dict
        if self.layout.features.dict_model == "py27":
            table = self.put(self.entries(items + [(0, 0)] * (slots - len(items))))
            fields = {d.ma_used: len(items), d.ma_mask: slots - 1, d.ma_table: table}
            return self.put(self.obj(d.ma_table + 8, DICT_TYPE, fields))
        keys = keys or self.keys(items, slots, general)
        fields = {d.ma_used: len(items), d.ma_keys: keys, d.ma_values: values}
        return self.put(self.obj(d.ma_values + 8, DICT_TYPE, fields))

    def long(self, value: int) -> int:
        lg, v = self.layout.long, self.layout.varobject
        digits = []
        magnitude = abs(value)
        while magnitude:
            digits.append(magnitude & ((1 << lg.digit_bits) - 1))
            magnitude >>= lg.digit_bits
        if lg.lv_tag is not None:
            sign = 0 if value > 0 else 1 if value == 0 else 2
            fields = {lg.lv_tag: len(digits) << lg.lv_tag_size_shift | sign}
        else:
            fields = {v.size: len(digits) if value >= 0 else -len(digits)}
        raw = self.obj(lg.digit + 4 * max(1, len(digits)), LONG_TYPE, fields)
        for i, digit in enumerate(digits):
            struct.pack_into("<I", raw, lg.digit + i * lg.digit_size, digit)
        return self.put(raw)

    def reader(self) -> PyObjects:
        objects = RemoteObjects(self.memory, self.layout, self.types)
        return PyObjects(self.memory, self.layout, objects, self.types)


@pytest.fixture(params=VERSIONS, ids=[f"{a}.{b}" for a, b in VERSIONS])
def heap(request: pytest.FixtureRequest) -> Heap:
    return Heap(load_layout(*request.param))


# Each case where the version has it: unicode-keys tables are 3.11+, split tables 3.x.
DICT_CASES = [(v, True) for v in VERSIONS] + [
    (v, False) for v in VERSIONS if load_layout(*v).dict.unicode_entry_sizeof is not None
]
SPLIT_VERSIONS = [v for v in VERSIONS if load_layout(*v).features.dict_model != "py27"]


@pytest.mark.parametrize(
    "version,general",
    DICT_CASES,
    ids=[f"{a}.{b}-{'general' if g else 'unicode-keys'}" for (a, b), g in DICT_CASES],
)
@pytest.mark.parametrize("slots", [8, 256], ids=["1-byte-indices", "2-byte-indices"])
def test_a_dict_gives_its_live_entries_and_finds_str_keys(
    version: Tuple[int, int], slots: int, general: bool
) -> None:
    heap = Heap(load_layout(*version))
    a, bb, gone = heap.str("a"), heap.str("bb"), heap.str("gone")
    addr = heap.dict([(a, 0x111), (gone, 0), (bb, 0x222)], slots, general)
    reader = heap.reader()
    items = reader.dicts([addr])
    assert items == {addr: [(a, 0x111), (bb, 0x222)]}
    assert reader.find(items, "bb") == {addr: 0x222}
    assert reader.find(items, "b") == {}


@pytest.mark.parametrize("version", SPLIT_VERSIONS, ids=[f"{a}.{b}" for a, b in SPLIT_VERSIONS])
def test_split_values_are_indexed_like_the_shared_keys(version: Tuple[int, int]) -> None:
    heap = Heap(load_layout(*version))
    x, y, z = heap.str("x"), heap.str("y"), heap.str("z")
    keys = heap.keys([(x, 0), (y, 0), (z, 0)], 8, general=False)
    addr = heap.dict([], keys=keys, values=heap.values([0x10, 0, 0x30]))
    assert heap.reader().dicts([addr]) == {addr: [(x, 0x10), (z, 0x30)]}


def test_3_13_values_stop_at_their_capacity() -> None:
    heap = Heap(load_layout(3, 13))
    x, y = heap.str("x"), heap.str("y")
    keys = heap.keys([(x, 0), (y, 0)], 8, general=False)
    addr = heap.dict([], keys=keys, values=heap.values([0x10, 0x20], capacity=1))
    assert heap.reader().dicts([addr]) == {addr: [(x, 0x10)]}


def test_impossible_or_mistyped_dicts_are_left_out(heap: Heap) -> None:
    good = heap.dict([(heap.str("k"), 1)])
    d = heap.layout.dict
    if heap.layout.features.dict_model == "py27":
        bad_size = heap.put(heap.obj(d.ma_table + 8, DICT_TYPE, {d.ma_mask: 6}))
    else:
        k = heap.layout.dict_keys
        keys = heap.put(heap.obj(k.dk_indices, 0, {k.dk_nentries: 1 << 40}))
        bad_size = heap.put(heap.obj(d.ma_values + 8, DICT_TYPE, {d.ma_keys: keys}))
    not_a_dict = heap.put(heap.obj(64, STR_TYPE, {}))
    unmapped = 0xDEAD0000
    assert set(heap.reader().dicts([good, bad_size, not_a_dict, unmapped])) == {good}


@pytest.mark.parametrize("value", [0, 1, -5, (1 << 30) + 7, 0x7F12_3456_7000, (1 << 64) - 1])
def test_ints(heap: Heap, value: int) -> None:
    addr = heap.long(value)
    assert heap.reader().ints([addr]) == {addr: value}


def test_python2_ints_and_non_ints() -> None:
    heap = Heap(load_layout(2, 7))
    small = heap.put(heap.obj(24, INT_TYPE, {heap.layout.py2int.ival: -42}))
    text = heap.str("42")
    assert heap.reader().ints([small, text]) == {small: -42}
