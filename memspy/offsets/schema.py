"""The names every generated layout table defines.

Each section maps field names to byte offsets (or sizes/constants, as the name says); a
field the version does not have is ``None``. ``scripts/gen_offsets.py`` fills these from the
headers of real builds, and ``memspy.offsets.load_layout`` refuses a table that lacks one.
"""

from __future__ import annotations

from typing import Dict, Tuple

# Strings that choose a decoding strategy: the only place a version branch is expressed.
FEATURES: Tuple[str, ...] = (
    "head_model",  # "interp_head" (2.7, 3.6: static symbol) | "runtime" (_PyRuntime)
    "gil_model",  # "tstate_current" | "runtime_gilstate" | "interp_gil"
    "frame_model",  # "pyframe" (PyFrameObject chain) | "iframe" (_PyInterpreterFrame)
    "linetable",  # "lnotab_unsigned" (2.7) | "lnotab" | "linetable310" | "locations"
    "string_model",  # "bytes" (2.7 str) | "unicode"
    "dict_model",  # "py27" | "py36" | "py311"
    "instance_dict",  # "dictoffset" | "managed_dict" (3.11, 3.12) | "inline_values" (3.13)
    "long_model",  # "ob_size" | "lv_tag" (3.12+)
)

SECTIONS: Dict[str, Tuple[str, ...]] = {
    "symbols": (),  # filled with symbol *names*, see SYMBOL_FIELDS
    "runtime": (
        "interpreters_head",  # _PyRuntime.interpreters.head (3.7+)
        "gilstate_tstate_current",  # _PyRuntime.gilstate.tstate_current (3.7-3.11)
        "gil_locked",  # _PyRuntime.ceval.gil.locked (3.7-3.11)
        "gil_last_holder",  # _PyRuntime.ceval.gil.last_holder (3.7-3.11)
        "debug_offsets",  # offset of _Py_DebugOffsets in _PyRuntime (3.13+: 0)
    ),
    "interp": (
        "next",
        "tstate_head",  # interp->tstate_head / interp->threads.head
        "modules",  # interp->modules / interp->imports.modules
        "ceval_gil",  # interp->ceval.gil, a pointer (3.12+)
        "own_gil",  # interp->_gil, the struct ceval_gil points to for the main interpreter (3.12+)
    ),
    "gil": (  # struct _gil_runtime_state, reached through interp.ceval_gil (3.12+)
        "locked",
        "last_holder",
    ),
    "tstate": (
        "next",
        "interp",
        "frame",  # PyFrameObject* (<=3.10)
        "cframe",  # _PyCFrame* (3.11, 3.12)
        "current_frame",  # _PyInterpreterFrame* directly on the tstate (3.13+)
        "thread_id",
        "native_thread_id",  # 3.11+
        "datastack_chunk",
        "datastack_top",
        "datastack_limit",
        "sizeof",
    ),
    "cframe": ("current_frame",),  # 3.11, 3.12
    "pyframe": ("f_back", "f_code", "f_lasti", "f_localsplus", "sizeof"),  # <=3.10
    "iframe": (  # 3.11+
        "executable",  # f_code (3.11, 3.12) / f_executable (3.13)
        "previous",
        "instr",  # prev_instr (3.11, 3.12) / instr_ptr (3.13)
        "owner",  # a char
        "is_entry",  # bool, 3.11 only
        "localsplus",
        "sizeof",
    ),
    "owner": (  # enum _frameowner values (3.11+)
        "thread",
        "generator",
        "frame_object",
        "cstack",  # 3.12+
    ),
    "stack_chunk": ("previous", "size", "top", "data"),  # _PyStackChunk (3.11+)
    "code": (
        "filename",
        "name",
        "qualname",  # 3.11+
        "firstlineno",  # an int
        "flags",  # co_flags, an int
        "linetable",  # co_lnotab (<=3.9) / co_linetable (3.10+): a bytes object
        # co_zombieframe (≤3.10): the frame kept for the code's next call; a freed frame
        # that is its code's zombie still links to the caller it had
        "zombieframe",
        "firsttraceable",  # _co_firsttraceable, an int (3.11+)
        "code_adaptive",  # co_code_adaptive (3.11+)
        # co_nlocalsplus and co_stacksize (3.11+), ints: a frame of this code takes
        # nlocalsplus + stacksize + (sizeof(_PyInterpreterFrame) - 1) / 8 words of the data
        # stack (CPython's _PyFrame_NumSlotsForCodeObject), so it ends exactly where the
        # next frame pushed above it begins
        "nlocalsplus",
        "stacksize",
        # What names a frame's variables (``dump --locals``): the counts of arguments, and
        # the names of the fast slots in the order of f_localsplus / localsplus: co_varnames,
        # then co_cellvars, then co_freevars (≤3.10); co_localsplusnames with a kind byte
        # per slot in co_localspluskinds (3.11+)
        "argcount",
        "posonlyargcount",  # 3.8+
        "kwonlyargcount",  # 3.x
        "nlocals",
        "varnames",
        "cellvars",
        "freevars",
        "localsplusnames",
        "localspluskinds",
        "sizeof",
    ),
    "coflags": (  # CO_* bits of co_flags whose frames a generator-like object owns
        "generator",
        "coroutine",  # 3.x
        "iterable_coroutine",  # 3.x
        "async_generator",  # 3.6+
        "varargs",  # a *args parameter follows the positional and keyword-only ones
        "varkeywords",  # a **kwargs parameter follows that
    ),
    "fastkinds": (  # CO_FAST_* bits of a co_localspluskinds byte (3.11+)
        "local",
        "cell",
        "free",
        "hidden",  # 3.12+: a variable of an inlined comprehension, not the function's own
    ),
    "float": ("fval",),
    "cell": ("ref",),  # PyCellObject.ob_ref: the value of a cell or free variable
    "set": ("used",),
    "object": ("refcnt", "type", "sizeof"),
    "varobject": ("size", "sizeof"),
    "type": (
        "name",
        "basicsize",
        "itemsize",  # needed to resolve a negative tp_dictoffset (var-sized objects)
        "flags",
        "dictoffset",
    ),
    "heaptype": (  # PyHeapTypeObject, 3.x
        "cached_keys",  # ht_cached_keys: the shared keys of split/managed instance dicts
    ),
    "tpflags": (  # Py_TPFLAGS_* bit values
        "heaptype",  # only heap types have the PyHeapTypeObject fields (ht_cached_keys)
        "managed_dict",  # 3.11+
        "inline_values",  # 3.13
        "int_subclass",  # 2.7 int
        "long_subclass",
        "unicode_subclass",  # 3.x
        "string_subclass",  # 2.7 str
        "dict_subclass",
        "tuple_subclass",
    ),
    "unicode": (  # 3.x str
        "state",  # a u32 bitfield
        "length",
        "ascii_sizeof",  # sizeof(PyASCIIObject): data of compact ASCII strings
        "compact_sizeof",  # sizeof(PyCompactUnicodeObject): data of other compact strings
        "data_any",  # PyUnicodeObject.data.any
        "state_kind_shift",  # bit position of `kind` in state
        "state_kind_bits",
        "state_compact_shift",
        "state_ascii_shift",
    ),
    "py2str": ("size", "sval"),  # 2.7 PyStringObject
    "py2unicode": ("length", "str", "unicode_size"),  # 2.7 PyUnicodeObject, Py_UNICODE size
    "py2int": ("ival",),  # 2.7 PyIntObject.ob_ival (a C long); thread idents are ints there
    "bytes": ("size", "sval"),  # 3.x PyBytesObject
    "long": (
        "digit",  # ob_digit / long_value.ob_digit
        "lv_tag",  # 3.12+
        "lv_tag_size_shift",  # _PyLong_NON_SIZE_BITS: ndigits = lv_tag >> this (3.12+)
        "lv_tag_sign_mask",  # _PyLong_SIGN_MASK: sign = 1 - (lv_tag & this) (3.12+)
        "digit_bits",  # PyLong_SHIFT
        "digit_size",  # sizeof(digit)
    ),
    "tuple": ("item",),
    "list": ("item", "allocated"),
    "dict": (
        "ma_used",
        "ma_keys",  # 3.x
        "ma_values",
        "ma_mask",  # 2.7
        "ma_table",  # 2.7
        "entry_sizeof",  # 2.7 PyDictEntry / 3.x general PyDictKeyEntry
        "entry_key",  # me_key in that entry
        "entry_value",  # me_value in that entry
        "unicode_entry_sizeof",  # 3.11+ PyDictUnicodeEntry (keys of kind other than general)
        "unicode_entry_key",
        "unicode_entry_value",
    ),
    "dict_keys": (  # PyDictKeysObject, 3.x
        "dk_size",  # 3.6-3.10
        "dk_log2_size",  # 3.11+
        "dk_log2_index_bytes",  # 3.11+
        "dk_kind",  # 3.11+
        "kind_general",  # DICT_KEYS_GENERAL: dk_kind whose entries are PyDictKeyEntry (3.11+)
        "dk_nentries",
        "dk_indices",
    ),
    "module": ("md_dict",),
    "managed": (  # where a Py_TPFLAGS_MANAGED_DICT object keeps its dict (3.11+)
        "dict",  # MANAGED_DICT_OFFSET: dict pointer slot, relative to the object (negative)
        "values",  # 3.11: PyDictValues* slot, relative to the object (negative)
        "values_tag",  # 3.12: an odd dict slot holds a PyDictValues* minus this; add it back
    ),
    "inline_values": (  # PyDictValues (3.11+); in 3.13 inline at object + tp_basicsize
        "values",  # the PyObject* array, indexed like the type's ht_cached_keys entries
        "valid",  # 3.13: u8, 0 once the values moved into a real dict
        "capacity",  # 3.13: u8, how many slots `values` has (the keys may have grown past it)
        "sizeof",
    ),
}

# A table's top-level "debug_offsets" is None before 3.13. From 3.13 it describes the
# target's own _Py_DebugOffsets (at _PyRuntime + runtime.debug_offsets) so a reader can parse
# and cross-check it:
#   "cookie": the 8 bytes it starts with ("xdebugpy");
#   "sizeof": bytes to read;
#   "offsets": {"section.field": byte offset}, every field a little-endian u64 except
#       "cookie" (char[8]); "version" holds the target's PY_VERSION_HEX;
#   "expected": {"section.field": value} for every u64 field except "version": what a release
#       (GIL) build of this minor version stores there, itself an offset or size in another struct;
#   "cross_check": {"section.field": ("table_section.field", ...)}: fields whose expected value
#       is the sum of those table fields, so disagreement means the table is wrong for the target.

# The symbols section holds names, not offsets.
SYMBOL_FIELDS: Tuple[str, ...] = (
    "head",  # "_PyRuntime" or "interp_head"
    "tstate_current",  # "_PyThreadState_Current" (2.7, 3.6) or None
)
