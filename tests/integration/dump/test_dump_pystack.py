"""`memspy dump --json` equals pystack's stacks on the same stopped process.

pystack is the second reference beside py-spy (test_dump_exact.py): another reader with its
own code for every CPython layout, so a mistake that memspy shares with py-spy still shows.
One parked.py per interpreter is SIGSTOPped and read by both; pystack 1.7.2 reads every
interpreter here (2.7, 3.6-3.13, Debian's static 3.11), so none is skipped for want of support.

How pystack's text is read, and how memspy's frames are turned into what pystack prints
where the two differ by design: pystacktext.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from interpreters import Interpreter
from pystacktext import (
    GARBLED,
    PystackThread,
    as_pystack_prints,
    parse_pystack,
    problems,
    rows,
    run_pystack,
)
from target import Target

pytest.importorskip("pystack", reason="pystack is not installed (pip install pystack==1.7.2)")

REPO = Path(__file__).resolve().parents[3]


def _memspy_dump(pid: int) -> List[Dict[str, Any]]:
    run = subprocess.run(
        [sys.executable, "-m", "memspy", "dump", "-p", str(pid), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(REPO),
    )
    assert run.returncode == 0, f"memspy dump failed ({run.returncode}):\n{run.stderr}"
    return json.loads(run.stdout)


def _one_line_off(text: str, tid: int, index: int) -> Dict[int, PystackThread]:
    """pystack's threads with one frame's line number changed, to see it reported."""
    threads = parse_pystack(text)
    name, filename, line = threads[tid].frames[index]
    threads[tid].frames[index] = (name, filename, line + 1)
    return threads


def test_dump_agrees_with_pystack(interpreter: Interpreter, parked: Target) -> None:
    """Both read the same SIGSTOPped target: every thread and frame pystack can read agrees."""
    with parked.stopped():
        memspy = _memspy_dump(parked.pid)
        text = run_pystack(parked.pid)
    qualified = interpreter.version >= (3, 11)
    assert problems(memspy, parse_pystack(text), qualified) == []

    # Not blind: one line off in the 300-deep recursion, or in the frame whose text pystack
    # garbles, is reported, and so is a GIL holder that memspy does not see.
    tids = {t["name"]: t["native_id"] for t in parked.threads}
    found = problems(memspy, _one_line_off(text, tids["recursion"], 150), qualified)
    assert len(found) == 1 and "'recursion'" in found[0], found
    gil = parse_pystack(text)
    gil[tids["recursion"]].has_gil = True
    found = problems(memspy, gil, qualified)
    assert len(found) == 1 and "'recursion'" in found[0], found
    if interpreter.version >= (3, 0):
        tid = tids["ünïcødé-θread"]
        mine = next(t for t in memspy if t["os_thread_id"] == tid)
        garbled = [row[0] for row in as_pystack_prints(rows(mine), qualified)].index(GARBLED)
        found = problems(memspy, _one_line_off(text, tid, garbled), qualified)
        assert len(found) == 1 and "'ünïcødé-θread'" in found[0], found
