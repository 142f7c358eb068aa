"""Dicts, ints and instance attributes read out of a target's memory.

Thread names are ordinary Python data (a module global holding a dict of Thread objects),
so reading them takes CPython's container layouts, which change more than any other
struct: 2.7's open-addressing table, 3.6's compact dict with variable-width indices, 3.11's
key kinds, and three ways of storing instance attributes. The layout's ``dict_model`` and
``instance_dict`` features choose the decoding once; nothing else branches on the version.

Every method takes many objects at once and does one batched read per link of the pointer
chain, because what it serves is a fan-out (one dict of N Thread objects, each with its own
attributes) where N round trips per link would dominate. Target memory is untrusted: sizes
are bounded, types are checked where the runtime address of the type is known, and an
object that cannot be read is left out of the answer instead of failing the others.
A ``PyObjects`` caches by address, so it is meant to live for one walk only: between walks
the target frees and reuses memory.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from memspy.errors import RemoteReadError
from memspy.interpreter.objects.strings import RemoteObjects
from memspy.memory.base import Memory, read_regions
from memspy.offsets import Layout

MAX_DICT_ENTRIES = 1 << 20  # a dict claiming more is not a real one (or is being rebuilt)
MAX_INT_DIGITS = 8  # thread idents are machine words; bigger ints are not idents
MAX_TYPE_SIZE = 1 << 20  # tp_basicsize / |tp_dictoffset| beyond this are not real

Item = Tuple[int, int]  # (key address, value address) of one dict entry

_PTR = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_U8 = struct.Struct("<B")
_PTR_SIZE = _PTR.size


def _ptr(data: bytes, off: int) -> int:
    return _PTR.unpack_from(data, off)[0]


def _i64(data: bytes, off: int) -> int:
    return _I64.unpack_from(data, off)[0]


def _u8(data: bytes, off: int) -> int:
    return _U8.unpack_from(data, off)[0]


@dataclass(frozen=True)
class _Table:
    """``count`` dict entries of ``size`` bytes each, from ``addr`` on."""

    addr: int
    count: int
    size: int
    key: int  # offset of the key pointer in an entry
    value: int  # offset of the value pointer in an entry


@dataclass(frozen=True)
class TypeInfo:
    """The fields of a type object that say where its instances keep their attributes."""

    basicsize: int
    itemsize: int
    flags: int
    dictoffset: int
    cached_keys: int  # ht_cached_keys of a heap type (3.x), else 0


@dataclass(frozen=True)
class _Split:
    """Attribute values stored apart from their keys (a split dict, or 3.11+ values)."""

    values: int  # address of the PyDictValues / PyObject* array
    keys: int  # the PyDictKeysObject its slots are indexed by
    inline: bool  # 3.13 values inside the object: only valid while their `valid` flag is set


class PyObjects:
    """Reads dicts, ints and instance attributes of one interpreter version, in batches."""

    def __init__(
        self, memory: Memory, layout: Layout, objects: RemoteObjects, addresses: Mapping[str, int]
    ) -> None:
        self.memory = memory
        self.layout = layout
        self.objects = objects
        bytes_strings = layout.features.string_model == "bytes"
        self._str_type = addresses.get("PyString_Type" if bytes_strings else "PyUnicode_Type")
        self._str_length = layout.py2str.size if bytes_strings else layout.unicode.length
        self._str_data = layout.py2str.sval if bytes_strings else layout.unicode.ascii_sizeof
        self._dict_type = addresses.get("PyDict_Type")
        self._module_type = addresses.get("PyModule_Type")
        self._type_off = layout.object.type
        d, iv = layout.dict, layout.inline_values
        self._dict_head = _span(d.ma_used, d.ma_keys, d.ma_values, d.ma_mask, d.ma_table)
        # <=3.10 ma_values is a bare PyObject* array; 3.11+ wraps it in PyDictValues.
        self._values_off = iv.values if iv.values is not None else 0
        t = layout.type
        # PyTypeObject fields only: a static type ends long before ht_cached_keys would be,
        # perhaps at the end of a mapping, so that pointer is read as a region of its own.
        self._type_size = _span(t.basicsize, t.itemsize, t.flags, t.dictoffset)
        m = layout.managed
        self._pre_header = -min([0] + [f for f in (m.dict, m.values) if f is not None])
        self._types: Dict[int, Optional[TypeInfo]] = {}
        self._keys: Dict[int, Optional[List[Item]]] = {}
        self._is_name: Dict[Tuple[int, str], bool] = {}
        model = layout.features.dict_model
        self._dict_tables: Callable[[Dict[int, bytes]], Dict[int, List[Item]]] = {
            "py27": self._tables_py27,
            "py36": self._tables_py3,
            "py311": self._tables_py3,
        }[model]
        self._keys_table: Optional[Callable[[int, bytes], Optional[_Table]]] = {
            "py27": None,
            "py36": self._keys_py36,
            "py311": self._keys_py311,
        }[model]
        self._locate: Callable[[int, bytes, TypeInfo], Tuple[str, int]] = {
            "dictoffset": self._locate_dictoffset,
            "managed_dict": self._locate_managed,
            "inline_values": self._locate_inline,
        }[layout.features.instance_dict]

    # -- plumbing ---------------------------------------------------------------------------

    def _read(self, regions: Mapping[Any, Tuple[int, int]]) -> Dict[Any, bytes]:
        """One batched read of ``{owner: (addr, size)}``; failed regions' owners are left out."""
        owners = [o for o, (addr, size) in regions.items() if addr > 0 and size > 0]
        data = read_regions(self.memory, [regions[o] for o in owners])
        return {o: d for o, d in zip(owners, data) if d is not None}

    def _typed(self, heads: Dict[int, bytes], expected: Optional[int]) -> Dict[int, bytes]:
        """The heads whose type pointer is ``expected`` (all of them when it is unknown)."""
        if expected is None:
            return heads
        return {a: h for a, h in heads.items() if _ptr(h, self._type_off) == expected}

    def pointers(self, addrs: Iterable[int]) -> Dict[int, int]:
        """The pointer stored at each address (the ones that could be read)."""
        return {a: _ptr(d, 0) for a, d in self._read({a: (a, _PTR_SIZE) for a in addrs}).items()}

    def module_dicts(self, modules: Iterable[int]) -> Dict[int, int]:
        """``module.__dict__`` of each module object."""
        off = self.layout.module.md_dict
        heads = self._read({m: (m, off + _PTR_SIZE) for m in modules})
        return {m: _ptr(h, off) for m, h in self._typed(heads, self._module_type).items()}

    # -- types ------------------------------------------------------------------------------

    def types(self, addrs: Iterable[int]) -> Dict[int, TypeInfo]:
        """Type objects by address (cached: every Thread shares a handful of types)."""
        addrs = set(addrs)
        cached = self.layout.heaptype.cached_keys
        wanted: Dict[Tuple[int, bool], Tuple[int, int]] = {}
        for a in addrs - set(self._types):
            wanted[(a, False)] = (a, self._type_size)
            if cached is not None:
                wanted[(a, True)] = (a + cached, _PTR_SIZE)
        read = self._read(wanted)
        for addr in addrs - set(self._types):
            if (addr, False) in read:
                self._types[addr] = self._type_info(read[(addr, False)], read.get((addr, True)))
        return {a: info for a in addrs if (info := self._types.get(a)) is not None}

    def _type_info(self, data: bytes, cached_keys: Optional[bytes]) -> Optional[TypeInfo]:
        t = self.layout.type
        flags = _ptr(data, t.flags)
        basicsize, itemsize, dictoffset = (
            _i64(data, f) for f in (t.basicsize, t.itemsize, t.dictoffset)
        )
        if not (0 < basicsize <= MAX_TYPE_SIZE and 0 <= itemsize <= MAX_TYPE_SIZE):
            return None
        if abs(dictoffset) > MAX_TYPE_SIZE:
            return None
        heap = flags & self.layout.tpflags.heaptype and cached_keys is not None
        keys = _ptr(cached_keys, 0) if heap else 0
        return TypeInfo(basicsize, itemsize, flags, dictoffset, keys)

    # -- dicts ------------------------------------------------------------------------------

    def dicts(self, addrs: Iterable[int]) -> Dict[int, List[Item]]:
        """Each dict's live (key, value) pairs; a dict that cannot be read is left out."""
        heads = self._read({a: (a, self._dict_head) for a in set(addrs)})
        return self._dict_tables(self._typed(heads, self._dict_type))

    def _tables_py27(self, heads: Dict[int, bytes]) -> Dict[int, List[Item]]:
        d = self.layout.dict
        tables = {}
        for addr, head in heads.items():
            slots = _i64(head, d.ma_mask) + 1
            if 0 < slots <= MAX_DICT_ENTRIES and slots & (slots - 1) == 0:
                tables[addr] = _Table(
                    _ptr(head, d.ma_table), slots, d.entry_sizeof, d.entry_key, d.entry_value
                )
        return {a: _live(entries) for a, entries in self._entries(tables).items()}

    def _tables_py3(self, heads: Dict[int, bytes]) -> Dict[int, List[Item]]:
        d = self.layout.dict
        keys_of = {a: _ptr(h, d.ma_keys) for a, h in heads.items()}
        values_of = {a: _ptr(h, d.ma_values) for a, h in heads.items()}
        keys = self._keys_tables(keys_of.values())
        out = {a: _live(keys[k]) for a, k in keys_of.items() if k in keys and not values_of[a]}
        split = {
            a: _Split(values_of[a], k, False)
            for a, k in keys_of.items()
            if k in keys and values_of[a]
        }
        out.update(self._split_items(split))
        return out

    def _keys_tables(self, addrs: Iterable[int]) -> Dict[int, List[Item]]:
        """PyDictKeysObjects' entries, as stored (a split table's values are all NULL)."""
        assert self._keys_table is not None
        addrs = set(addrs)
        header = self.layout.dict_keys.dk_indices
        todo = {a: (a, header) for a in addrs if a not in self._keys}
        tables = {}
        for addr, head in self._read(todo).items():
            table = self._keys_table(addr, head)
            if table is not None:
                tables[addr] = table
        read = self._entries(tables)
        for addr in todo:
            self._keys[addr] = read.get(addr)
        return {a: entries for a in addrs if (entries := self._keys.get(a)) is not None}

    def _keys_py36(self, addr: int, head: bytes) -> Optional[_Table]:
        k, d = self.layout.dict_keys, self.layout.dict
        size, count = _i64(head, k.dk_size), _i64(head, k.dk_nentries)
        if not (0 < size <= MAX_DICT_ENTRIES and size & (size - 1) == 0 and 0 <= count <= size):
            return None
        # Objects/dictobject.c DK_IXSIZE: the narrowest index type that can hold any slot.
        width = 1 if size <= 0xFF else 2 if size <= 0xFFFF else 4
        entries = addr + k.dk_indices + size * width
        return _Table(entries, count, d.entry_sizeof, d.entry_key, d.entry_value)

    def _keys_py311(self, addr: int, head: bytes) -> Optional[_Table]:
        k, d = self.layout.dict_keys, self.layout.dict
        log2_size, log2_index = _u8(head, k.dk_log2_size), _u8(head, k.dk_log2_index_bytes)
        count = _i64(head, k.dk_nentries)
        if not (1 << log2_size <= MAX_DICT_ENTRIES and log2_size <= log2_index <= log2_size + 3):
            return None
        if not 0 <= count <= 1 << log2_size:
            return None
        entries = addr + k.dk_indices + (1 << log2_index)
        if _u8(head, k.dk_kind) == k.kind_general:
            return _Table(entries, count, d.entry_sizeof, d.entry_key, d.entry_value)
        return _Table(
            entries, count, d.unicode_entry_sizeof, d.unicode_entry_key, d.unicode_entry_value
        )

    def _entries(self, tables: Mapping[int, _Table]) -> Dict[int, List[Item]]:
        """Every entry of each table, empty and deleted ones included."""
        out: Dict[int, List[Item]] = {a: [] for a, t in tables.items() if t.count == 0}
        data = self._read({a: (t.addr, t.count * t.size) for a, t in tables.items() if t.count})
        for addr, raw in data.items():
            t = tables[addr]
            out[addr] = [
                (_ptr(raw, i + t.key), _ptr(raw, i + t.value)) for i in range(0, len(raw), t.size)
            ]
        return out

    def _split_items(self, splits: Mapping[int, _Split]) -> Dict[int, List[Item]]:
        """Live items of values stored apart from their keys, by owner."""
        if not splits:  # always so for 2.7, which has no split tables
            return {}
        keys = self._keys_tables(s.keys for s in splits.values())
        counts = {o: len(keys[s.keys]) for o, s in splits.items() if s.keys in keys}
        iv = self.layout.inline_values
        if iv.capacity is not None:  # 3.13: the keys may have outgrown this values array
            heads = self._read({o: (splits[o].values, self._values_off) for o in counts})
            counts = {
                o: min(n, _u8(heads[o], iv.capacity))
                for o, n in counts.items()
                if o in heads and (not splits[o].inline or _u8(heads[o], iv.valid))
            }
        arrays = self._read(
            {o: (splits[o].values + self._values_off, n * _PTR_SIZE) for o, n in counts.items()}
        )
        out: Dict[int, List[Item]] = {o: [] for o, n in counts.items() if n == 0}
        for owner, raw in arrays.items():
            entries = keys[splits[owner].keys]
            values = [_ptr(raw, i) for i in range(0, len(raw), _PTR_SIZE)]
            out[owner] = _live((key, value) for (key, _), value in zip(entries, values))
        return out

    # -- str keys ---------------------------------------------------------------------------

    def find(self, items: Mapping[int, Sequence[Item]], name: str) -> Dict[int, int]:
        """For each owner, the value whose key is the str ``name``; owners without it are left out.

        Keys are compared by address first: identifiers are interned, so once one key object
        is known to be ``name`` every dict using it matches without a read. Unknown keys of
        the right length are confirmed by decoding, the ones whose bytes match first.
        """
        raw = name.encode("ascii")
        unknown = {
            k for entries in items.values() for k, _ in entries if (k, name) not in self._is_name
        }
        heads = self._read({k: (k, self._str_data + len(raw)) for k in unknown})
        candidates = {}
        for key in unknown:
            head = heads.get(key)
            same_length = head is not None and _i64(head, self._str_length) == len(raw)
            if same_length and (
                self._str_type is None or _ptr(head, self._type_off) == self._str_type
            ):
                candidates[key] = head[self._str_data :] == raw
            else:
                self._is_name[(key, name)] = False
        out = {}
        for owner, entries in items.items():
            ordered = sorted(entries, key=lambda e: not candidates.get(e[0], False))
            for key, value in ordered:
                if self._key_is(key, name):
                    out[owner] = value
                    break
        return out

    def _key_is(self, key: int, name: str) -> bool:
        known = self._is_name.get((key, name))
        if known is None:
            try:
                known = self.objects.string(key) == name
            except RemoteReadError:
                known = False
            self._is_name[(key, name)] = known
        return known

    # -- ints -------------------------------------------------------------------------------

    def ints(self, addrs: Iterable[int]) -> Dict[int, int]:
        """The value of each int (2.7: int or long) object; other objects are left out."""
        layout = self.layout
        heads = self._read({a: (a, layout.varobject.sizeof) for a in set(addrs)})
        types = self.types(_ptr(h, self._type_off) for h in heads.values())
        flags = layout.tpflags
        out: Dict[int, int] = {}
        longs: Dict[int, bytes] = {}
        for addr, head in heads.items():
            info = types.get(_ptr(head, self._type_off))
            if info is None:
                continue
            if flags.int_subclass is not None and info.flags & flags.int_subclass:
                out[addr] = _i64(head, layout.py2int.ival)
            elif info.flags & flags.long_subclass:
                longs[addr] = head
        sizes = {a: long_size(layout, h) for a, h in longs.items()}
        lg = layout.long
        digits = self._read(
            {
                a: (a + lg.digit, n * lg.digit_size)
                for a, (n, _) in sizes.items()
                if 0 < n <= MAX_INT_DIGITS
            }
        )
        for addr, (ndigits, sign) in sizes.items():
            if ndigits == 0:
                out[addr] = 0
            elif addr in digits:
                out[addr] = sign * digits_value(digits[addr], lg.digit_size, lg.digit_bits)
        return out

    # -- instance attributes ----------------------------------------------------------------

    def attributes(self, objs: Iterable[int]) -> Dict[int, List[Item]]:
        """Each object's instance attributes as (name, value) pairs; unreadable ones left out."""
        pre, v = self._pre_header, self.layout.varobject
        heads = self._read({o: (o - pre, pre + v.sizeof) for o in set(objs)})
        types = self.types(_ptr(h, pre + self._type_off) for h in heads.values())
        dicts: Dict[int, int] = {}
        slots: Dict[int, int] = {}
        splits: Dict[int, _Split] = {}
        for obj, head in heads.items():
            info = types.get(_ptr(head, pre + self._type_off))
            if info is None:
                continue
            kind, where = self._locate(obj, head, info)
            if kind == "dict" and where:
                dicts[obj] = where
            elif kind == "slot":
                slots[obj] = where
            elif kind in ("values", "inline"):
                splits[obj] = _Split(where, info.cached_keys, kind == "inline")
        pointers = self.pointers(slots.values())
        dicts.update({o: pointers[s] for o, s in slots.items() if pointers.get(s)})
        read = self.dicts(dicts.values())
        out = {o: read[d] for o, d in dicts.items() if d in read}
        out.update(self._split_items({o: s for o, s in splits.items() if s.keys}))
        return out

    # Each _locate_* says where one object's attributes are: ("dict", dict address),
    # ("slot", address of a dict pointer), ("values"/"inline", PyDictValues address) or
    # ("none", 0). ``head`` starts at the object minus the pre-header.

    def _locate_dictoffset(self, obj: int, head: bytes, info: TypeInfo) -> Tuple[str, int]:
        offset = info.dictoffset
        if offset == 0:
            return "none", 0
        if offset < 0:  # from the end of a variable-size object (Objects/object.c)
            items = abs(_i64(head, self._pre_header + self.layout.varobject.size))
            size = info.basicsize + items * info.itemsize
            offset += (size + _PTR_SIZE - 1) // _PTR_SIZE * _PTR_SIZE
        return "slot", obj + offset

    def _locate_managed(self, obj: int, head: bytes, info: TypeInfo) -> Tuple[str, int]:
        """3.11: dict and values pointers before the header; 3.12: one tagged word."""
        m = self.layout.managed
        if not info.flags & self.layout.tpflags.managed_dict:
            return self._locate_dictoffset(obj, head, info)
        pre = self._pre_header
        if m.values is not None:
            values = _ptr(head, pre + m.values)
            if values:
                return "values", values
            return "dict", _ptr(head, pre + m.dict)
        word = _ptr(head, pre + m.dict)
        if word & 1:
            return "values", word + m.values_tag
        return "dict", word

    def _locate_inline(self, obj: int, head: bytes, info: TypeInfo) -> Tuple[str, int]:
        """3.13: a materialised dict wins; otherwise the values follow the object."""
        flags = self.layout.tpflags
        if not info.flags & flags.managed_dict:
            return self._locate_dictoffset(obj, head, info)
        managed = _ptr(head, self._pre_header + self.layout.managed.dict)
        if managed or not info.flags & flags.inline_values:
            return "dict", managed
        return "inline", obj + info.basicsize


def _span(*offsets: Optional[int]) -> int:
    """Bytes to read to cover every pointer-sized field at ``offsets`` a version has."""
    return max(off for off in offsets if off is not None) + _PTR_SIZE


def _live(entries: Iterable[Item]) -> List[Item]:
    """Entries that hold a value: empty, deleted and absent-in-this-split slots have none."""
    return [(k, v) for k, v in entries if k and v]


def long_size(layout: Layout, head: bytes) -> Tuple[int, int]:
    """(number of digits, sign) from a PyLongObject's header (``varobject.sizeof`` bytes)."""
    lg = layout.long
    if layout.features.long_model == "lv_tag":
        tag = _ptr(head, lg.lv_tag)
        return tag >> lg.lv_tag_size_shift, 1 - (tag & lg.lv_tag_sign_mask)
    size = _i64(head, layout.varobject.size)
    return abs(size), -1 if size < 0 else 1


def digits_value(raw: bytes, digit_size: int, digit_bits: int) -> int:
    value = 0
    for i in range(len(raw) // digit_size - 1, -1, -1):
        digit = int.from_bytes(raw[i * digit_size : (i + 1) * digit_size], "little")
        value = (value << digit_bits) | digit
    return value
