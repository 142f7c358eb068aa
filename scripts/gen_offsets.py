#!/usr/bin/env python3
"""Generate memspy/offsets/v*.py from the headers of every CPython build on this machine.

Numbers are never typed in by hand: for each build a C probe that includes that build's own
headers prints ``offsetof``/``sizeof``/enum/flag values, so a table can only be as wrong as
the compiler's view of the real structs. ``FIELDS`` below is the one place that says which C
expression gives a field on which version.

    python3 scripts/gen_offsets.py           # regenerate every table whose build is present
    python3 scripts/gen_offsets.py --check   # exit 1 if a committed table disagrees

Every build of a minor version (e.g. pyenv 3.11.7 and Debian's 3.11.2) must give the same
table: memspy keys tables by minor version, and a patch-level difference would break that.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from memspy.offsets.schema import FEATURES, SECTIONS, SYMBOL_FIELDS  # noqa: E402

Version = Tuple[int, int]
Rule = Tuple[Version, Version, str]  # (first version, last version, C expression)
LAST: Version = (3, 13)
OUT_DIR = os.path.join(ROOT, "memspy", "offsets")


def o(struct: str, member: str) -> str:
    return f"offsetof({struct}, {member})"


def always(expr: str) -> List[Rule]:
    return [((2, 7), LAST, expr)]


def py3(expr: str) -> List[Rule]:
    return [((3, 6), LAST, expr)]


def since(first: Version, expr: str) -> List[Rule]:
    return [(first, LAST, expr)]


def until(last: Version, expr: str) -> List[Rule]:
    return [((2, 7), last, expr)]


IFRAME = "_PyInterpreterFrame"
LONG_DIGIT = [((2, 7), (3, 11), o("PyLongObject", "ob_digit"))] + since(
    (3, 12), o("PyLongObject", "long_value.ob_digit")
)

# section -> field -> rules; a field with no rule for a version is None in its table.
FIELDS: Dict[str, Dict[str, List[Rule]]] = {
    "runtime": {
        "interpreters_head": since((3, 7), o("_PyRuntimeState", "interpreters.head")),
        "gilstate_tstate_current": [
            ((3, 7), (3, 11), o("_PyRuntimeState", "gilstate.tstate_current"))
        ],
        "gil_locked": [((3, 7), (3, 11), o("_PyRuntimeState", "ceval.gil.locked"))],
        "gil_last_holder": [((3, 7), (3, 11), o("_PyRuntimeState", "ceval.gil.last_holder"))],
        "debug_offsets": since((3, 13), o("_PyRuntimeState", "debug_offsets")),
    },
    "interp": {
        "next": always(o("PyInterpreterState", "next")),
        "tstate_head": until((3, 10), o("PyInterpreterState", "tstate_head"))
        + since((3, 11), o("PyInterpreterState", "threads.head")),
        "modules": until((3, 11), o("PyInterpreterState", "modules"))
        + since((3, 12), o("PyInterpreterState", "imports.modules")),
        "ceval_gil": since((3, 12), o("PyInterpreterState", "ceval.gil")),
        "own_gil": since((3, 12), o("PyInterpreterState", "_gil")),
    },
    "gil": {
        "locked": since((3, 12), o("struct _gil_runtime_state", "locked")),
        "last_holder": since((3, 12), o("struct _gil_runtime_state", "last_holder")),
    },
    "tstate": {
        "next": always(o("PyThreadState", "next")),
        "interp": always(o("PyThreadState", "interp")),
        "frame": until((3, 10), o("PyThreadState", "frame")),
        "cframe": [((3, 11), (3, 12), o("PyThreadState", "cframe"))],
        "current_frame": since((3, 13), o("PyThreadState", "current_frame")),
        "thread_id": always(o("PyThreadState", "thread_id")),
        "native_thread_id": since((3, 11), o("PyThreadState", "native_thread_id")),
        "datastack_chunk": since((3, 11), o("PyThreadState", "datastack_chunk")),
        "datastack_top": since((3, 11), o("PyThreadState", "datastack_top")),
        "datastack_limit": since((3, 11), o("PyThreadState", "datastack_limit")),
        "sizeof": always("sizeof(PyThreadState)"),
    },
    "cframe": {"current_frame": [((3, 11), (3, 12), o("_PyCFrame", "current_frame"))]},
    "pyframe": {
        "f_back": until((3, 10), o("PyFrameObject", "f_back")),
        "f_code": until((3, 10), o("PyFrameObject", "f_code")),
        "f_lasti": until((3, 10), o("PyFrameObject", "f_lasti")),
        "f_localsplus": until((3, 10), o("PyFrameObject", "f_localsplus")),
        "sizeof": until((3, 10), "sizeof(PyFrameObject)"),
    },
    "iframe": {
        "executable": [((3, 11), (3, 12), o(IFRAME, "f_code"))]
        + since((3, 13), o(IFRAME, "f_executable")),
        "previous": since((3, 11), o(IFRAME, "previous")),
        "instr": [((3, 11), (3, 12), o(IFRAME, "prev_instr"))]
        + since((3, 13), o(IFRAME, "instr_ptr")),
        "owner": since((3, 11), o(IFRAME, "owner")),
        "is_entry": [((3, 11), (3, 11), o(IFRAME, "is_entry"))],
        "localsplus": since((3, 11), o(IFRAME, "localsplus")),
        "sizeof": since((3, 11), f"sizeof({IFRAME})"),
    },
    "owner": {
        "thread": since((3, 11), "FRAME_OWNED_BY_THREAD"),
        "generator": since((3, 11), "FRAME_OWNED_BY_GENERATOR"),
        "frame_object": since((3, 11), "FRAME_OWNED_BY_FRAME_OBJECT"),
        "cstack": since((3, 12), "FRAME_OWNED_BY_CSTACK"),
    },
    "stack_chunk": {
        field: since((3, 11), o("_PyStackChunk", field))
        for field in ("previous", "size", "top", "data")
    },
    "code": {
        "filename": always(o("PyCodeObject", "co_filename")),
        "name": always(o("PyCodeObject", "co_name")),
        "qualname": since((3, 11), o("PyCodeObject", "co_qualname")),
        "firstlineno": always(o("PyCodeObject", "co_firstlineno")),
        "flags": always(o("PyCodeObject", "co_flags")),
        "linetable": until((3, 9), o("PyCodeObject", "co_lnotab"))
        + since((3, 10), o("PyCodeObject", "co_linetable")),
        "zombieframe": until((3, 10), o("PyCodeObject", "co_zombieframe")),
        "firsttraceable": since((3, 11), o("PyCodeObject", "_co_firsttraceable")),
        "code_adaptive": since((3, 11), o("PyCodeObject", "co_code_adaptive")),
        "nlocalsplus": since((3, 11), o("PyCodeObject", "co_nlocalsplus")),
        "stacksize": since((3, 11), o("PyCodeObject", "co_stacksize")),
        "argcount": always(o("PyCodeObject", "co_argcount")),
        "posonlyargcount": since((3, 8), o("PyCodeObject", "co_posonlyargcount")),
        "kwonlyargcount": py3(o("PyCodeObject", "co_kwonlyargcount")),
        "nlocals": always(o("PyCodeObject", "co_nlocals")),
        "varnames": until((3, 10), o("PyCodeObject", "co_varnames")),
        "cellvars": until((3, 10), o("PyCodeObject", "co_cellvars")),
        "freevars": until((3, 10), o("PyCodeObject", "co_freevars")),
        "localsplusnames": since((3, 11), o("PyCodeObject", "co_localsplusnames")),
        "localspluskinds": since((3, 11), o("PyCodeObject", "co_localspluskinds")),
        "sizeof": always("sizeof(PyCodeObject)"),
    },
    "coflags": {
        "generator": always("CO_GENERATOR"),
        "coroutine": py3("CO_COROUTINE"),
        "iterable_coroutine": py3("CO_ITERABLE_COROUTINE"),
        "async_generator": py3("CO_ASYNC_GENERATOR"),
        "varargs": always("CO_VARARGS"),
        "varkeywords": always("CO_VARKEYWORDS"),
    },
    "fastkinds": {
        "local": since((3, 11), "CO_FAST_LOCAL"),
        "cell": since((3, 11), "CO_FAST_CELL"),
        "free": since((3, 11), "CO_FAST_FREE"),
        "hidden": since((3, 12), "CO_FAST_HIDDEN"),
    },
    "float": {"fval": always(o("PyFloatObject", "ob_fval"))},
    "cell": {"ref": always(o("PyCellObject", "ob_ref"))},
    "set": {"used": always(o("PySetObject", "used"))},
    "object": {
        "refcnt": always(o("PyObject", "ob_refcnt")),
        "type": always(o("PyObject", "ob_type")),
        "sizeof": always("sizeof(PyObject)"),
    },
    "varobject": {
        "size": always(o("PyVarObject", "ob_size")),
        "sizeof": always("sizeof(PyVarObject)"),
    },
    "type": {
        "name": always(o("PyTypeObject", "tp_name")),
        "basicsize": always(o("PyTypeObject", "tp_basicsize")),
        "itemsize": always(o("PyTypeObject", "tp_itemsize")),
        "flags": always(o("PyTypeObject", "tp_flags")),
        "dictoffset": always(o("PyTypeObject", "tp_dictoffset")),
    },
    "heaptype": {"cached_keys": py3(o("PyHeapTypeObject", "ht_cached_keys"))},
    "tpflags": {
        "heaptype": always("Py_TPFLAGS_HEAPTYPE"),
        "managed_dict": since((3, 11), "Py_TPFLAGS_MANAGED_DICT"),
        "inline_values": since((3, 13), "Py_TPFLAGS_INLINE_VALUES"),
        "int_subclass": until((2, 7), "Py_TPFLAGS_INT_SUBCLASS"),
        "long_subclass": always("Py_TPFLAGS_LONG_SUBCLASS"),
        "unicode_subclass": always("Py_TPFLAGS_UNICODE_SUBCLASS"),
        "string_subclass": until((2, 7), "Py_TPFLAGS_STRING_SUBCLASS"),
        "dict_subclass": always("Py_TPFLAGS_DICT_SUBCLASS"),
        "tuple_subclass": always("Py_TPFLAGS_TUPLE_SUBCLASS"),
    },
    "unicode": {
        "state": py3(o("PyASCIIObject", "state")),
        "length": py3(o("PyASCIIObject", "length")),
        "ascii_sizeof": py3("sizeof(PyASCIIObject)"),
        "compact_sizeof": py3("sizeof(PyCompactUnicodeObject)"),
        "data_any": py3(o("PyUnicodeObject", "data.any")),
        "state_kind_shift": py3("STATE_SHIFT(kind)"),
        "state_kind_bits": py3("STATE_WIDTH(kind)"),
        "state_compact_shift": py3("STATE_SHIFT(compact)"),
        "state_ascii_shift": py3("STATE_SHIFT(ascii)"),
    },
    "py2str": {
        "size": until((2, 7), o("PyStringObject", "ob_size")),
        "sval": until((2, 7), o("PyStringObject", "ob_sval")),
    },
    "py2unicode": {
        "length": until((2, 7), o("PyUnicodeObject", "length")),
        "str": until((2, 7), o("PyUnicodeObject", "str")),
        "unicode_size": until((2, 7), "sizeof(Py_UNICODE)"),
    },
    "py2int": {"ival": until((2, 7), o("PyIntObject", "ob_ival"))},
    "bytes": {
        "size": py3(o("PyBytesObject", "ob_base.ob_size")),
        "sval": py3(o("PyBytesObject", "ob_sval")),
    },
    "long": {
        "digit": LONG_DIGIT,
        "lv_tag": since((3, 12), o("PyLongObject", "long_value.lv_tag")),
        "lv_tag_size_shift": since((3, 12), "_PyLong_NON_SIZE_BITS"),
        "lv_tag_sign_mask": since((3, 12), "_PyLong_SIGN_MASK"),
        "digit_bits": always("PyLong_SHIFT"),
        "digit_size": always("sizeof(digit)"),
    },
    "tuple": {"item": always(o("PyTupleObject", "ob_item"))},
    "list": {
        "item": always(o("PyListObject", "ob_item")),
        "allocated": always(o("PyListObject", "allocated")),
    },
    "dict": {
        "ma_used": always(o("PyDictObject", "ma_used")),
        "ma_keys": py3(o("PyDictObject", "ma_keys")),
        "ma_values": py3(o("PyDictObject", "ma_values")),
        "ma_mask": until((2, 7), o("PyDictObject", "ma_mask")),
        "ma_table": until((2, 7), o("PyDictObject", "ma_table")),
        "entry_sizeof": until((2, 7), "sizeof(PyDictEntry)") + py3("sizeof(PyDictKeyEntry)"),
        "entry_key": until((2, 7), o("PyDictEntry", "me_key")) + py3(o("PyDictKeyEntry", "me_key")),
        "entry_value": until((2, 7), o("PyDictEntry", "me_value"))
        + py3(o("PyDictKeyEntry", "me_value")),
        "unicode_entry_sizeof": since((3, 11), "sizeof(PyDictUnicodeEntry)"),
        "unicode_entry_key": since((3, 11), o("PyDictUnicodeEntry", "me_key")),
        "unicode_entry_value": since((3, 11), o("PyDictUnicodeEntry", "me_value")),
    },
    "dict_keys": {
        "dk_size": [((3, 6), (3, 10), o("PyDictKeysObject", "dk_size"))],
        "dk_log2_size": since((3, 11), o("PyDictKeysObject", "dk_log2_size")),
        "dk_log2_index_bytes": since((3, 11), o("PyDictKeysObject", "dk_log2_index_bytes")),
        "dk_kind": since((3, 11), o("PyDictKeysObject", "dk_kind")),
        "kind_general": since((3, 11), "DICT_KEYS_GENERAL"),
        "dk_nentries": py3(o("PyDictKeysObject", "dk_nentries")),
        "dk_indices": py3(o("PyDictKeysObject", "dk_indices")),
    },
    "module": {"md_dict": always(o("PyModuleObject", "md_dict"))},
    "managed": {
        "dict": [
            ((3, 11), (3, 11), "PTR_DELTA(_PyObject_ManagedDictPointer(FAKE_OBJ), FAKE_OBJ)"),
            ((3, 12), (3, 12), "PTR_DELTA(_PyObject_DictOrValuesPointer(FAKE_OBJ), FAKE_OBJ)"),
        ]
        + since((3, 13), "PTR_DELTA(_PyObject_ManagedDictPointer(FAKE_OBJ), FAKE_OBJ)"),
        "values": [((3, 11), (3, 11), "PTR_DELTA(_PyObject_ValuesPointer(FAKE_OBJ), FAKE_OBJ)")],
        "values_tag": [((3, 12), (3, 12), "DORV_TAG")],
    },
    "inline_values": {
        "values": since((3, 11), o("PyDictValues", "values")),
        "valid": since((3, 13), o("PyDictValues", "valid")),
        "capacity": since((3, 13), o("PyDictValues", "capacity")),
        "sizeof": since((3, 11), "sizeof(PyDictValues)"),
    },
}

FEATURE_RULES: Dict[str, List[Tuple[Version, Version, str]]] = {
    "head_model": [((2, 7), (3, 6), "interp_head"), ((3, 7), LAST, "runtime")],
    "gil_model": [
        ((2, 7), (3, 6), "tstate_current"),
        ((3, 7), (3, 11), "runtime_gilstate"),
        ((3, 12), LAST, "interp_gil"),
    ],
    "frame_model": [((2, 7), (3, 10), "pyframe"), ((3, 11), LAST, "iframe")],
    "linetable": [
        ((2, 7), (2, 7), "lnotab_unsigned"),
        ((3, 6), (3, 9), "lnotab"),
        ((3, 10), (3, 10), "linetable310"),
        ((3, 11), LAST, "locations"),
    ],
    "string_model": [((2, 7), (2, 7), "bytes"), ((3, 6), LAST, "unicode")],
    "dict_model": [((2, 7), (2, 7), "py27"), ((3, 6), (3, 10), "py36"), ((3, 11), LAST, "py311")],
    "instance_dict": [
        ((2, 7), (3, 10), "dictoffset"),
        ((3, 11), (3, 12), "managed_dict"),
        ((3, 13), LAST, "inline_values"),
    ],
    "long_model": [((2, 7), (3, 11), "ob_size"), ((3, 12), LAST, "lv_tag")],
}

SYMBOL_RULES: Dict[str, List[Tuple[Version, Version, str]]] = {
    "head": [((2, 7), (3, 6), "interp_head"), ((3, 7), LAST, "_PyRuntime")],
    "tstate_current": [((2, 7), (3, 6), "_PyThreadState_Current")],
}

BASE_HEADERS = ["Python.h", "frameobject.h"]
HEADER_RULES: List[Tuple[Version, Version, Sequence[str]]] = [
    ((2, 7), (3, 10), ["code.h", "longintrepr.h"]),
    ((3, 7), (3, 7), ["internal/pystate.h"]),
    ((3, 8), (3, 8), ["internal/pycore_pystate.h"]),
    ((3, 9), LAST, ["internal/pycore_interp.h", "internal/pycore_runtime.h"]),
    ((3, 10), LAST, ["internal/pycore_moduleobject.h"]),
    ((3, 11), LAST, ["internal/pycore_frame.h", "internal/pycore_dict.h"]),
    ((3, 11), LAST, ["internal/pycore_object.h", "internal/pycore_code.h"]),
    ((3, 12), LAST, ["internal/pycore_long.h", "internal/pycore_gil.h"]),
]

# Structs these builds keep in .c files or uninstalled headers. They are transcribed from
# CPython's Objects/dict-common.h (3.6-3.10) and Objects/moduleobject.c (<=3.9); only the
# leading members are needed, and tests/integration/interpreter/test_offsets_live.py checks
# them from inside each interpreter.
REPLICAS: List[Tuple[Version, Version, str]] = [
    (
        (2, 7),
        (3, 9),
        "typedef struct { PyObject_HEAD PyObject *md_dict; } PyModuleObject;",
    ),
    (
        (3, 6),
        (3, 10),
        """typedef struct { Py_hash_t me_hash; PyObject *me_key; PyObject *me_value; }
    PyDictKeyEntry;
struct _dictkeysobject {
    Py_ssize_t dk_refcnt;
    Py_ssize_t dk_size;
    void *dk_lookup;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[8];
};""",
    ),
]

PRELUDE = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PTR_DELTA(p, base) ((long long)((char *)(p) - (char *)(base)))
#define STATE_BITS(member) ({ \
    PyASCIIObject o_; unsigned int w_ = 0; \
    memset(&o_, 0, sizeof o_); \
    o_.state.member = ~0u; \
    memcpy(&w_, &o_.state, sizeof w_); \
    w_; })
#define STATE_SHIFT(member) __builtin_ctz(STATE_BITS(member))
#define STATE_WIDTH(member) __builtin_popcount(STATE_BITS(member))
#define FAKE_OBJ ((PyObject *)(fake_object + 64))
#define DORV_TAG ({ PyDictOrValues d_; d_.values = (char *)0x1000; \
    (long long)((char *)_PyDictOrValues_GetValues(d_) - (char *)0x1000); })
static char fake_object[128];
#define EMIT(name, expr) printf("%s %lld\n", name, (long long)(expr))
"""

# 3.13+: _Py_DebugOffsets fields that restate a table field (summing several fields).
DEBUG_CROSS_CHECK: Dict[str, Tuple[str, ...]] = {
    "runtime_state.interpreters_head": ("runtime.interpreters_head",),
    "interpreter_state.next": ("interp.next",),
    "interpreter_state.threads_head": ("interp.tstate_head",),
    "interpreter_state.imports_modules": ("interp.modules",),
    "interpreter_state.ceval_gil": ("interp.ceval_gil",),
    "interpreter_state.gil_runtime_state": ("interp.own_gil",),
    "interpreter_state.gil_runtime_state_locked": ("interp.own_gil", "gil.locked"),
    "interpreter_state.gil_runtime_state_holder": ("interp.own_gil", "gil.last_holder"),
    "thread_state.size": ("tstate.sizeof",),
    "thread_state.next": ("tstate.next",),
    "thread_state.interp": ("tstate.interp",),
    "thread_state.current_frame": ("tstate.current_frame",),
    "thread_state.thread_id": ("tstate.thread_id",),
    "thread_state.native_thread_id": ("tstate.native_thread_id",),
    "thread_state.datastack_chunk": ("tstate.datastack_chunk",),
    "interpreter_frame.size": ("iframe.sizeof",),
    "interpreter_frame.previous": ("iframe.previous",),
    "interpreter_frame.executable": ("iframe.executable",),
    "interpreter_frame.instr_ptr": ("iframe.instr",),
    "interpreter_frame.localsplus": ("iframe.localsplus",),
    "interpreter_frame.owner": ("iframe.owner",),
    "code_object.size": ("code.sizeof",),
    "code_object.filename": ("code.filename",),
    "code_object.name": ("code.name",),
    "code_object.qualname": ("code.qualname",),
    "code_object.linetable": ("code.linetable",),
    "code_object.firstlineno": ("code.firstlineno",),
    "code_object.co_code_adaptive": ("code.code_adaptive",),
    "pyobject.size": ("object.sizeof",),
    "pyobject.ob_type": ("object.type",),
    "type_object.tp_name": ("type.name",),
    "type_object.tp_flags": ("type.flags",),
    "tuple_object.ob_item": ("tuple.item",),
    "tuple_object.ob_size": ("varobject.size",),
    "list_object.ob_item": ("list.item",),
    "dict_object.ma_keys": ("dict.ma_keys",),
    "dict_object.ma_values": ("dict.ma_values",),
    "long_object.lv_tag": ("long.lv_tag",),
    "long_object.ob_digit": ("long.digit",),
    "bytes_object.ob_size": ("bytes.size",),
    "bytes_object.ob_sval": ("bytes.sval",),
    "unicode_object.state": ("unicode.state",),
    "unicode_object.length": ("unicode.length",),
    "unicode_object.asciiobject_size": ("unicode.ascii_sizeof",),
}


class GenError(Exception):
    """A build whose headers do not give a complete, consistent table."""


@dataclass(frozen=True)
class Build:
    version: Version
    patch: str  # "3.11.7"
    include: str
    origin: str  # "pyenv" | "Debian"

    @property
    def label(self) -> str:
        return f"CPython {self.patch} headers ({self.origin})"


def _in(version: Version, first: Version, last: Version) -> bool:
    return first <= version <= last


def _pick(rules: Sequence[Tuple[Version, Version, str]], version: Version) -> Optional[str]:
    hits = [expr for first, last, expr in rules if _in(version, first, last)]
    if len(hits) > 1:
        raise GenError(f"overlapping rules for {version}: {hits}")
    return hits[0] if hits else None


def _patch_level(include: str) -> Optional[str]:
    try:
        with open(os.path.join(include, "patchlevel.h")) as f:
            text = f.read()
    except OSError:
        return None
    match = re.search(r'#define\s+PY_VERSION\s+"([^"]+)"', text)
    return match.group(1) if match else None


def discover_builds() -> List[Build]:
    """Every build with headers: pyenv's, then the system's."""
    found: List[Tuple[str, str]] = []
    for inc in sorted(glob.glob("/root/.pyenv/versions/*/include/python*")):
        found.append((inc, "pyenv"))
    for inc in sorted(glob.glob("/usr/include/python[23].*")):
        found.append((inc, "Debian"))
    builds = []
    for inc, origin in found:
        patch = _patch_level(inc)
        if patch is None:
            continue
        major, minor = (int(p) for p in patch.split(".")[:2])
        if _in((major, minor), (2, 7), LAST):
            builds.append(Build((major, minor), patch, inc, origin))
    return builds


def _debug_offsets_fields(include: str) -> List[str]:
    """Dotted names of every u64 field of _Py_DebugOffsets, read from pycore_runtime.h."""
    with open(os.path.join(include, "internal", "pycore_runtime.h")) as f:
        text = f.read()
    body = re.search(r"typedef struct _Py_DebugOffsets \{(.*?)\n\} _Py_DebugOffsets;", text, re.S)
    if body is None:
        raise GenError("no _Py_DebugOffsets in pycore_runtime.h")
    fields: List[str] = []
    members: Optional[List[str]] = None  # inside a nested struct: its members so far
    for raw in body.group(1).splitlines():
        line = raw.split("//")[0].strip()
        member = re.fullmatch(r"uint64_t (\w+);", line)
        closing = re.fullmatch(r"\} (\w+);", line)
        if not line or line == "char cookie[8];":
            continue
        if re.fullmatch(r"struct \w+\s*\{", line) and members is None:
            members = []
        elif member:
            (fields if members is None else members).append(member.group(1))
        elif closing and members is not None:
            fields += [f"{closing.group(1)}.{name}" for name in members]
            members = None
        else:
            raise GenError(f"unexpected line in _Py_DebugOffsets: {raw!r}")
    return fields


def _debug_offsets_initializer(include: str) -> str:
    """The `.debug_offsets = {...}` initializer CPython fills _PyRuntime with."""
    with open(os.path.join(include, "internal", "pycore_runtime_init.h")) as f:
        text = f.read().replace("\\\n", "\n")
    start = text.index("{", text.index(".debug_offsets ="))
    depth = 0
    for end in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            return text[start : end + 1].replace("debug_cookie", "_Py_Debug_Cookie")
    raise GenError("unbalanced .debug_offsets initializer")


def probe_source(build: Build) -> Tuple[str, Dict[str, Optional[str]]]:
    """C source printing every field, and the expression chosen for each field."""
    v = build.version
    lines = ["#define NDEBUG 1", "#include <stddef.h>"]
    if v >= (3, 7):
        lines.append("#define Py_BUILD_CORE 1")
    headers = list(BASE_HEADERS)
    for first, last, extra in HEADER_RULES:
        if _in(v, first, last):
            headers += extra
    lines += [f'#include "{h}"' for h in headers]
    lines += [text for first, last, text in REPLICAS if _in(v, first, last)]
    lines.append(PRELUDE)
    chosen: Dict[str, Optional[str]] = {}
    body = []
    for section, fields in FIELDS.items():
        for field, rules in fields.items():
            expr = _pick(rules, v)
            chosen[f"{section}.{field}"] = expr
            if expr is not None:
                body.append(f'    EMIT("{section}.{field}", {expr});')
    if v >= (3, 13):
        initializer = _debug_offsets_initializer(build.include)
        lines.append(f"static const _Py_DebugOffsets DBG = {initializer};")
        body.append('    printf("dbg.cookie %.8s\\n", DBG.cookie);')
        body.append('    EMIT("dbg.sizeof", sizeof(_Py_DebugOffsets));')
        body.append('    EMIT("dbg.off.cookie", offsetof(_Py_DebugOffsets, cookie));')
        for name in ["version", "free_threaded"] + _debug_offsets_fields(build.include):
            body.append(f'    EMIT("dbg.off.{name}", offsetof(_Py_DebugOffsets, {name}));')
            body.append(f'    EMIT("dbg.width.{name}", sizeof(DBG.{name}));')
            body.append(f'    EMIT("dbg.val.{name}", DBG.{name});')
    lines += ["int main(void)", "{", *body, "    return 0;", "}", ""]
    return "\n".join(lines), chosen


def run_probe(build: Build) -> Tuple[Dict[str, str], Dict[str, Optional[str]]]:
    source, chosen = probe_source(build)
    with tempfile.TemporaryDirectory(prefix="memspy-offsets-") as tmp:
        c_path, exe = os.path.join(tmp, "probe.c"), os.path.join(tmp, "probe")
        with open(c_path, "w") as f:
            f.write(source)
        cc = subprocess.run(
            ["gcc", "-std=gnu11", "-O0", "-w", "-I", build.include, "-o", exe, c_path],
            capture_output=True,
            text=True,
        )
        if cc.returncode != 0:
            raise GenError(f"probe for {build.label} failed to compile:\n{cc.stderr[-4000:]}")
        out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
    values = dict(line.split(" ", 1) for line in out.splitlines())
    return values, chosen


def _lookup(sections: Dict[str, Dict[str, Optional[int]]], dotted: str) -> Optional[int]:
    section, field = dotted.split(".")
    return sections[section][field]


def _debug_offsets(values: Dict[str, str], sections) -> Optional[dict]:
    if "dbg.sizeof" not in values:
        return None
    offsets = {"cookie": int(values["dbg.off.cookie"])}
    expected = {}
    for key, raw in values.items():
        if key.startswith("dbg.off.") and key != "dbg.off.cookie":
            name = key[len("dbg.off.") :]
            if values[f"dbg.width.{name}"] != "8":
                raise GenError(f"_Py_DebugOffsets.{name} is not a u64")
            offsets[name] = int(raw)
            if name != "version":  # PY_VERSION_HEX: the patch level, checked separately
                expected[name] = int(values[f"dbg.val.{name}"])
    for name, parts in DEBUG_CROSS_CHECK.items():
        total = sum(_lookup(sections, part) for part in parts)
        if expected[name] != total:
            raise GenError(f"_Py_DebugOffsets.{name} = {expected[name]}, table gives {total}")
    return {
        "cookie": values["dbg.cookie"],
        "sizeof": int(values["dbg.sizeof"]),
        "offsets": offsets,
        "expected": expected,
        "cross_check": dict(DEBUG_CROSS_CHECK),
    }


def build_table(build: Build) -> dict:
    values, chosen = run_probe(build)
    sections: Dict[str, Dict[str, Optional[int]]] = {}
    for section, names in SECTIONS.items():
        if section == "symbols":
            continue
        sections[section] = {}
        for name in names:
            key = f"{section}.{name}"
            if key not in chosen:
                raise GenError(f"schema field {key} has no rule in FIELDS")
            sections[section][name] = int(values[key]) if chosen[key] is not None else None
    unknown = set(chosen) - {f"{s}.{f}" for s, fs in SECTIONS.items() for f in fs}
    if unknown:
        raise GenError(f"FIELDS names fields missing from schema.SECTIONS: {sorted(unknown)}")
    v = build.version
    features = {name: _pick(FEATURE_RULES[name], v) for name in FEATURES}
    symbols = {name: _pick(SYMBOL_RULES.get(name, []), v) for name in SYMBOL_FIELDS}
    return {
        "version": v,
        "source": build.label,
        "features": features,
        "symbols": symbols,
        "sections": sections,
        "debug_offsets": _debug_offsets(values, sections),
    }


def render(table: dict, build: Build) -> str:
    header = (
        f"# Generated by `python3 scripts/gen_offsets.py` from the headers of CPython "
        f"{build.patch}\n# ({build.origin}, {build.include}). Do not edit: rerun the script.\n"
    )
    major, minor = table["version"]
    return f'{header}"""Layout of CPython {major}.{minor}."""\n\nLAYOUT = {table!r}\n'


def format_source(text: str) -> str:
    """ruff's formatting, so the committed files stay stable under `ruff format`."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", "table.py", "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise GenError(f"ruff format failed: {result.stderr}")
    return result.stdout


def diff_tables(a: dict, b: dict, prefix: str = "") -> List[str]:
    out = []
    for key in sorted(set(a) | set(b), key=str):
        if key == "source":
            continue
        left, right = a.get(key, "<absent>"), b.get(key, "<absent>")
        if isinstance(left, dict) and isinstance(right, dict):
            out += diff_tables(left, right, f"{prefix}{key}.")
        elif left != right:
            out.append(f"{prefix}{key}: {left!r} != {right!r}")
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    builds = discover_builds()
    if not builds:
        print("no CPython headers found", file=sys.stderr)
        return 2
    primary: Dict[Version, Tuple[Build, dict]] = {}
    status = 0
    for build in builds:  # pyenv first: it is the source of each committed table
        table = build_table(build)
        name = f"v{build.version[0]}_{build.version[1]}.py"
        if build.version in primary:
            first, reference = primary[build.version]
            diffs = diff_tables(reference, table)
            verdict = "same table" if not diffs else f"{len(diffs)} differences"
            print(f"{build.label} vs {first.label}: {verdict}")
            for line in diffs:
                print(f"    {line}")
            status |= bool(diffs)
            continue
        primary[build.version] = (build, table)
        text = format_source(render(table, build))
        path = os.path.join(OUT_DIR, name)
        if args.check:
            try:
                with open(path) as f:
                    same = f.read() == text
            except FileNotFoundError:
                same = False
            print(f"{name}: {'ok' if same else 'DIFFERS from ' + build.label}")
            status |= not same
        else:
            with open(path, "w") as f:
                f.write(text)
            print(f"{name}: written from {build.label}")
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GenError as exc:
        print(f"gen_offsets: {exc}", file=sys.stderr)
        sys.exit(2)
