"""Checking memspy's table against the target's own ``_Py_DebugOffsets`` (3.13+).

CPython 3.13 publishes, at the start of ``_PyRuntime``, the offsets a debugger needs.
memspy still walks with its generated table (the debug struct does not cover everything
a stack needs: chunk layout, ``_co_firsttraceable``, string bits), but reading the
target's copy catches a build whose layout differs from the headers the table came from
(a patched or differently configured interpreter) before it yields wrong stacks.

The struct is target memory and so untrusted: the cookie, version and every size are
checked before any offset in it is believed.
"""

from __future__ import annotations

import struct
from typing import Any, Dict, List, Mapping

from memspy.binary.version import from_hex
from memspy.errors import LayoutMismatch, RemoteReadError, UnsupportedVersion
from memspy.memory.base import Memory
from memspy.offsets import Layout

_U64 = struct.Struct("<Q")
MAX_STRUCT_SIZE = 16 * 1024 * 1024


def _layout_value(layout: Layout, paths: tuple) -> int:
    """The sum of the table fields named by ``paths`` ("section.field")."""
    total = 0
    for path in paths:
        section, field = path.split(".")
        value = getattr(getattr(layout, section), field)
        if value is None:
            raise LayoutMismatch(f"memspy's table has no {path} to compare with")
        total += value
    return total


def parse(raw: bytes, spec: Mapping[str, Any]) -> Dict[str, int]:
    """Decode the target's struct into field -> value, validating cookie and sizes."""
    if len(raw) < spec["sizeof"]:
        raise RemoteReadError("_Py_DebugOffsets is shorter than expected")
    cookie = spec["cookie"].encode()
    if raw[: len(cookie)] != cookie:
        raise LayoutMismatch(
            "the target has no _Py_DebugOffsets where 3.13 keeps them (bad cookie)",
            "is this really CPython 3.13?",
        )
    values = {
        name: _U64.unpack_from(raw, offset)[0]
        for name, offset in spec["offsets"].items()
        if name != "cookie"
    }
    for name, value in values.items():
        if name.endswith(".size") and not 0 < value <= MAX_STRUCT_SIZE:
            raise LayoutMismatch(f"_Py_DebugOffsets field {name} has impossible value {value}")
    return values


def check(memory: Memory, runtime_addr: int, layout: Layout) -> List[str]:
    """Validate the target's ``_Py_DebugOffsets`` and compare it with the table.

    Returns nothing when they agree; raises ``LayoutMismatch`` naming each difference.
    """
    spec = layout.debug_offsets
    if not spec:
        return []
    values = parse(memory.read(runtime_addr + layout.runtime.debug_offsets, spec["sizeof"]), spec)
    version = from_hex(values["version"])
    if version is None or version.minor_key != layout.version:
        raise LayoutMismatch(
            f"_Py_DebugOffsets says version 0x{values['version']:x}, "
            f"but the table is for {layout.version[0]}.{layout.version[1]}"
        )
    if values.get("free_threaded"):
        raise UnsupportedVersion(
            "free-threaded (no-GIL) CPython builds are not supported",
            "profile a build with the GIL",
        )
    differences = [
        f"{name}: target {values[name]}, table {_layout_value(layout, paths)}"
        for name, paths in spec["cross_check"].items()
        if values[name] != _layout_value(layout, paths)
    ]
    if differences:
        raise LayoutMismatch(
            "the target's _Py_DebugOffsets disagree with memspy's table for "
            f"{layout.version[0]}.{layout.version[1]}: " + "; ".join(differences),
            "this interpreter was built differently from the headers memspy's table came "
            "from; regenerate the table with scripts/gen_offsets.py from its headers",
        )
    return []
