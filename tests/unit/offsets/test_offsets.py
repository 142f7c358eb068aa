"""The generated layout tables: complete, self-consistent, and what the headers give."""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from memspy.errors import UnsupportedVersion
from memspy.offsets import SUPPORTED, load_layout
from memspy.offsets.schema import SECTIONS

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("version", SUPPORTED, ids=lambda v: f"{v[0]}.{v[1]}")
def test_every_supported_version_loads_with_every_field(version) -> None:
    layout = load_layout(*version)
    assert layout.version == version
    assert f"CPython {version[0]}.{version[1]}." in layout.source
    for name, fields in SECTIONS.items():
        if name != "symbols":
            assert set(getattr(layout, name).as_dict()) == set(fields)


@pytest.mark.parametrize("version", SUPPORTED, ids=lambda v: f"{v[0]}.{v[1]}")
def test_structurally_certain_values(version) -> None:
    layout = load_layout(*version)
    assert (layout.object.refcnt, layout.object.type, layout.object.sizeof) == (0, 8, 16)
    assert (layout.varobject.size, layout.varobject.sizeof) == (16, 24)
    assert layout.tuple.item == 24
    assert layout.list.item == 24
    assert layout.module.md_dict == 16
    assert layout.long.digit_bits == 30 and layout.long.digit_size == 4
    assert layout.interp.next == (7264 if version == (3, 13) else 0)  # 3.13 moved it
    if layout.iframe.sizeof is not None:  # localsplus is the trailing PyObject *[1]
        assert layout.iframe.sizeof == layout.iframe.localsplus + 8
    if layout.pyframe.f_code is not None:  # PyFrameChain unpacks the two in this order
        assert layout.pyframe.f_code < layout.pyframe.f_lasti
    if version >= (3, 6):
        assert (layout.bytes.size, layout.bytes.sval) == (16, 32)
        assert layout.unicode.length == 16 and layout.unicode.state == 32
        assert layout.unicode.state_kind_bits == 3
    else:
        assert layout.py2str.sval == 36


@pytest.mark.parametrize("version", SUPPORTED, ids=lambda v: f"{v[0]}.{v[1]}")
def test_features_agree_with_the_fields_present(version) -> None:
    """A strategy string must never point the walker at fields the table lacks."""
    layout = load_layout(*version)
    f = layout.features
    pyframe = f.frame_model == "pyframe"
    assert (layout.tstate.frame is not None) == pyframe
    assert (layout.pyframe.f_back is not None) == pyframe
    assert (layout.iframe.previous is None) == pyframe
    assert (layout.cframe.current_frame is None) == (layout.tstate.cframe is None)
    if not pyframe:
        assert (layout.tstate.cframe is None) != (layout.tstate.current_frame is None)
    assert (f.head_model == "runtime") == (layout.symbols.head == "_PyRuntime")
    assert (f.head_model == "runtime") == (layout.runtime.interpreters_head is not None)
    assert (f.gil_model == "tstate_current") == (layout.symbols.tstate_current is not None)
    assert (f.gil_model == "runtime_gilstate") == (layout.runtime.gil_locked is not None)
    assert (f.gil_model == "interp_gil") == (layout.interp.ceval_gil is not None)
    assert (f.long_model == "lv_tag") == (layout.long.lv_tag is not None)
    assert (f.string_model == "unicode") == (layout.unicode.state is not None)
    assert (f.instance_dict == "dictoffset") == (layout.managed.dict is None)
    assert (f.instance_dict == "inline_values") == (layout.tpflags.inline_values is not None)
    assert (f.dict_model == "py311") == (layout.dict_keys.dk_kind is not None)


def test_debug_offsets_describe_a_parsable_struct_matching_the_table() -> None:
    layout = load_layout(3, 13)
    dbg = layout.debug_offsets
    assert dbg["cookie"] == "xdebugpy" and dbg["offsets"]["cookie"] == 0
    spans = sorted((off, 8) for off in dbg["offsets"].values())
    assert all(a[0] + a[1] <= b[0] for a, b in zip(spans, spans[1:])), "fields overlap"
    assert spans[-1][0] + 8 == dbg["sizeof"]
    assert set(dbg["expected"]) == set(dbg["offsets"]) - {"cookie", "version"}
    for name, parts in dbg["cross_check"].items():
        total = sum(getattr(getattr(layout, s), f) for s, f in (p.split(".") for p in parts))
        assert dbg["expected"][name] == total, name
    for version in SUPPORTED[:-1]:
        assert load_layout(*version).debug_offsets is None


def test_unknown_version_is_a_memspy_error() -> None:
    with pytest.raises(UnsupportedVersion):
        load_layout(3, 5)


def test_committed_tables_match_the_headers() -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    if not glob.glob("/root/.pyenv/versions/*/include/python*/Python.h"):
        pytest.skip("no CPython headers under /root/.pyenv/versions")
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_offsets.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
