"""An interpreter binary's ELF facts are read once, then kept by build id: a second run
of memspy on the same binary neither parses it nor imports pyelftools (a third of a
dump's own start-up), and gets exactly the facts a parse gives."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from dataclasses import asdict
from pathlib import Path

import pytest

from memspy.binary.elf import _parse, build_id, open_elf
from memspy.binary.locate import WANTED_SYMBOLS

WANTED = WANTED_SYMBOLS


def _binary() -> str:
    """This interpreter's libpython when it has one (the file memspy reads), else itself."""
    library = Path(sysconfig.get_config_var("LIBDIR") or "") / (
        sysconfig.get_config_var("INSTSONAME") or ""
    )
    return str(library) if library.is_file() else sys.executable


def _note_build_id(path: str) -> str:
    """The build id as pyelftools reads the notes: the reference for ours."""
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        for section in ELFFile(f).iter_sections():
            if section["sh_type"] == "SHT_NOTE":
                for note in section.iter_notes():
                    if note["n_type"] == "NT_GNU_BUILD_ID":
                        return note["n_desc"]
    pytest.skip(f"{path} has no build id")


def test_the_build_id_is_read_as_the_notes_say() -> None:
    assert build_id(_binary()) == _note_build_id(_binary())


def test_not_an_elf_file_has_no_build_id(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"#!/bin/sh\n" * 10)
    assert build_id(str(tmp_path / "x")) is None


_SECOND_RUN = """
import json, sys
from dataclasses import asdict
from memspy.binary.elf import open_elf
from memspy.binary.locate import WANTED_SYMBOLS
image = open_elf(sys.argv[1], WANTED_SYMBOLS)
print(json.dumps({"parsed": "elftools" in sys.modules, "image": asdict(image)}))
"""


def _run(path: str, cache: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _SECOND_RUN, path],
        capture_output=True, text=True, timeout=60,
        env={"XDG_CACHE_HOME": str(cache), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _parsed(path: str) -> dict:
    """What a parse gives, as it reads back from JSON."""
    return json.loads(json.dumps(asdict(_parse(path, WANTED))))


def test_a_binary_seen_before_is_not_parsed_again(tmp_path: Path) -> None:
    path = _binary()
    expected = _parsed(path)
    first = _run(path, tmp_path)
    assert first == {"parsed": True, "image": expected}
    assert len(list((tmp_path / "memspy" / "elf").iterdir())) == 1
    assert _run(path, tmp_path) == {"parsed": False, "image": expected}


def test_a_damaged_cache_is_parsed_again_and_rewritten(tmp_path: Path) -> None:
    path = _binary()
    _run(path, tmp_path)
    (kept,) = (tmp_path / "memspy" / "elf").iterdir()
    kept.write_text('{"symbols": ')
    again = _run(path, tmp_path)
    assert again["parsed"] and again["image"] == _parsed(path)
    assert json.loads(kept.read_text())["symbols"] == again["image"]["symbols"]


def test_a_cache_that_cannot_be_written_costs_nothing_but_time(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")  # the cache directory would have to be made inside a file
    assert _run(_binary(), blocked)["parsed"]
    assert open_elf(_binary(), WANTED) is not None
