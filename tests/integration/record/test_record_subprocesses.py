"""``record --subprocesses``: child Python processes are sampled too, including ones
started after the recording began, whatever starts them."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from recorder import folded, frame_names, record
from schema import speedscope_errors

MP_CHILDREN = Path(__file__).resolve().parents[2] / "targets" / "mp_children.py"
FORK_EXEC = MP_CHILDREN.parent / "fork_then_exec.py"


def _functions(stacks: dict) -> dict:
    found: dict = {}
    for stack, count in stacks.items():
        for name in set(frame_names(stack)):
            found[name] = found.get(name, 0) + count
    return found


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_children_early_and_late(tmp_path: Path, method: str):
    out = tmp_path / "mp.folded"
    result = record(["--subprocesses", "-o", str(out), "--",
                     sys.executable, str(MP_CHILDREN), method])
    assert result.returncode == 0, result.stderr
    functions = _functions(folded(out))
    seen = f"{functions}\n{result.stderr}"  # whole: a tuple's repr would be cut short
    # Each child spins 1.5 s at 100 Hz: well over half of that must be seen.
    assert functions.get("early_child", 0) > 50, seen
    assert functions.get("late_child", 0) > 50, seen
    # The parent, both children, and with spawn multiprocessing's resource tracker.
    processes = int(re.search(r"samples of (\d+) process", result.stderr).group(1))
    assert processes >= 3, result.stderr


def test_a_child_attached_before_its_exec_is_attached_again(tmp_path: Path):
    """A child found between its fork and its exec is its parent's copy, an initialised
    interpreter: after the exec what memspy learnt of its memory is wrong, and it must
    attach again, not fail every sample of the new program."""
    out = tmp_path / "exec.folded"
    result = record(["--subprocesses", "-o", str(out), "--", sys.executable, str(FORK_EXEC)])
    assert result.returncode == 0, result.stderr
    functions = _functions(folded(out))
    # The new program spins 1.5 s at 100 Hz: well over half of that must be seen.
    assert functions.get("late_child", 0) > 50, f"{functions}\n{result.stderr}"
    assert "samples of 2 process(es)" in result.stderr, result.stderr


def test_without_subprocesses_children_are_not_sampled(tmp_path: Path):
    out = tmp_path / "no.folded"
    result = record(["-o", str(out), "--", sys.executable, str(MP_CHILDREN), "fork"])
    assert result.returncode == 0, result.stderr
    functions = _functions(folded(out))
    assert "early_child" not in functions and "late_child" not in functions


def test_a_shell_launching_python(tmp_path: Path):
    """The command itself is not Python: its Python descendants are what is sampled."""
    out = tmp_path / "sh.speedscope.json"
    spin = "import time\\nend = time.time() + 1\\nwhile time.time() < end: pass"
    script = tmp_path / "s.py"
    command = f"sleep 0.2; printf '{spin}' > {script}; {sys.executable} {script}; exit 6"
    result = record(["--subprocesses", "-o", str(out), "--", "/bin/sh", "-c", command])
    assert result.returncode == 6, result.stderr
    document = json.loads(out.read_text())
    assert speedscope_errors(document) == []
    weights = sum(sum(p["weights"]) for p in document["profiles"])
    assert weights > 0.5, result.stderr  # seconds of samples of the 1 s spin
