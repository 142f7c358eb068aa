"""Strings from the target are data: names holding terminal escape sequences come out
escaped in `memspy dump`'s text and in record's end-of-run messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from robust import MEMSPY, end, start

RAW = ("\x1b", "\x07")


@pytest.fixture
def evil():
    if sys.version_info < (3, 11):
        pytest.skip("the target needs co_qualname (3.11+)")
    target = start("evil_names.py")
    try:
        yield target
    finally:
        end(target)


def test_dump_text_escapes_names(evil) -> None:
    result = subprocess.run(
        [*MEMSPY, "dump", "-p", str(evil.pid)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert not any(c in result.stdout + result.stderr for c in RAW)
    assert "\\x1b]0;pwned\\x07\\x1b[2Jname (/tmp/\\x1b]0;pwned" in result.stdout, result.stdout


def test_record_messages_escape_names(evil, tmp_path: Path) -> None:
    out = tmp_path / "evil.speedscope.json"
    result = subprocess.run(
        [*MEMSPY, "record", "-v", "-p", str(evil.pid), "-o", str(out), "-d", "1",
         "--summary", str(tmp_path / "evil.md")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert not any(c in result.stdout + result.stderr for c in RAW)
    assert "pwned" in out.read_text(encoding="utf-8")  # the profile keeps the real name
