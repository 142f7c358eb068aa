"""`memspy dump --locals` shows every frame's variables as the target itself sees them.

tests/targets/locals_target.py parks two frames holding one variable of each kind, and
prints, worked out by the interpreter itself, what the dump must show for each: its
``repr`` for what the dump rebuilds (None, bool, int, float, str, bytes, small tuples and
lists of those), ``<dict of 2>``-like counts, ``<Job at 0x…>`` with the object's ``id``,
null for a variable not yet bound. memspy must show exactly that, on every interpreter,
arguments first; and agree with py-spy's values where py-spy prints the same thing, on the
same stopped process, while naming every variable py-spy names.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pyspy
import pytest
from interpreters import INTERPRETERS, Interpreter
from target import TARGETS
from test_core_dump import gcore

REPO = Path(__file__).resolve().parents[3]
READY_TIMEOUT = 60.0
FRAMES = ("holder", "reader")  # the parked frames, by co_name (3.11+ dumps qualnames)
# Where memspy differs from py-spy on purpose, printing type and size or address:
BY_DESIGN = {
    "number": "an int subclass, whose own repr may differ from the int's (py-spy: 5)",
    "bigger": "an int of 14,000 bits, cut to its size (py-spy prints it whole)",
}


def _start(interpreter: Interpreter) -> Tuple[subprocess.Popen, Dict[str, Any]]:
    process = subprocess.Popen(
        [str(interpreter.path), str(TARGETS / "locals_target.py")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    deadline = threading.Timer(READY_TIMEOUT, process.kill)  # a hung target ends the wait
    deadline.start()
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
    finally:
        deadline.cancel()
    if not lines[1]:
        process.kill()
        pytest.fail(f"locals_target.py never became ready: {process.stderr.read()!r}")
    assert lines[0] == b"ready\n", lines
    return process, json.loads(lines[1].decode("utf-8"))


def _memspy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "memspy", "dump", "--locals", *args],
        capture_output=True, text=True, timeout=60, cwd=str(REPO),
    )


def _frames(dump: List[Any]) -> Dict[str, Dict[str, Any]]:
    """The parked frames of a JSON dump, by co_name."""
    out = {}
    for thread in dump:
        for frame in thread["frames"]:
            name = frame["name"].rpartition(".")[2]
            if name in FRAMES:
                out[name] = frame
    return out


@pytest.fixture(scope="module", params=INTERPRETERS, ids=[i.id for i in INTERPRETERS])
def parked(request: pytest.FixtureRequest) -> Iterator[Tuple[subprocess.Popen, Dict[str, Any]]]:
    interpreter: Interpreter = request.param
    interpreter.require()
    process, view = _start(interpreter)
    try:
        yield process, view
    finally:
        process.kill()
        process.wait(timeout=30)


def test_every_variable_shows_what_the_target_itself_sees(parked) -> None:
    process, view = parked
    run = _memspy("--json", "-p", str(process.pid))
    assert run.returncode == 0, run.stderr
    frames = _frames(json.loads(run.stdout))
    assert sorted(frames) == sorted(FRAMES)
    for name in FRAMES:
        variables = frames[name]["locals"]
        got = {v["name"]: [v["arg"], v["repr"]] for v in variables}
        assert got == view[name], name
        flags = [v["arg"] for v in variables]
        assert flags == sorted(flags, reverse=True), f"{name}: arguments first"
        assert all(v["addr"] or v["repr"] is None for v in variables)


def test_the_text_dump_lists_arguments_then_locals_safely(parked) -> None:
    process, view = parked
    run = _memspy("-p", str(process.pid))
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert "\x1b" not in text and "\x07" not in text  # the hostile string comes out escaped
    holder = text[text.index(" holder ("):]
    arguments, local = holder.index("        Arguments:"), holder.index("        Locals:")
    assert arguments < holder.index("            a: 1") < local
    assert local < holder.index("            unbound: (unset)")
    assert "            options: <dict of 1>" in holder[arguments:local]


def test_agrees_with_pyspy_on_the_same_stopped_process(parked) -> None:
    """py-spy names a subset (it leaves out cell variables) and prints str and dict
    values its own way; every variable it names is there, and where it prints a number,
    None or a bool, memspy prints the same."""
    pyspy.require()
    process, _ = parked
    os.kill(process.pid, signal.SIGSTOP)
    try:
        spy = subprocess.run(
            ["py-spy", "dump", "--locals", "--json", "--nonblocking", "--pid", str(process.pid)],
            capture_output=True, text=True, timeout=60,
        )
        assert spy.returncode == 0, spy.stderr
        run = _memspy("--json", "-p", str(process.pid))  # pausing a stopped process works
        assert run.returncode == 0, run.stderr
    finally:
        os.kill(process.pid, signal.SIGCONT)
    mine, theirs = _frames(json.loads(run.stdout)), _frames(json.loads(spy.stdout))
    compared = 0
    for name in FRAMES:
        ours = {v["name"]: v for v in mine[name]["locals"]}
        for variable in theirs[name]["locals"]:
            assert variable["name"] in ours, (name, variable["name"])
            mine_value = ours[variable["name"]]["repr"]
            if variable["name"] in BY_DESIGN:
                assert mine_value.startswith("<"), (name, variable["name"], mine_value)
                continue
            if variable["repr"] in ("None", "True", "False"):
                assert mine_value == variable["repr"], (name, variable["name"])
                compared += 1
            elif _number(variable["repr"]):  # py-spy prints -0.0 as -0
                assert float(mine_value.rstrip("L")) == float(variable["repr"]), (
                    name, variable["name"], mine_value, variable["repr"])
                compared += 1
    assert compared >= 8


def test_a_core_file_shows_the_same_variables(parked, tmp_path: Path) -> None:
    """``dump --core --locals`` of a gcore of the target equals the live dump's."""
    process, _ = parked
    run = _memspy("--json", "-p", str(process.pid))
    core = gcore(process.pid, tmp_path / "core")
    try:
        from_core = _memspy("--json", "--core", str(core))
    finally:
        core.unlink()
    assert run.returncode == 0 and from_core.returncode == 0, (run.stderr, from_core.stderr)
    live, dumped = _frames(json.loads(run.stdout)), _frames(json.loads(from_core.stdout))
    assert {n: f["locals"] for n, f in dumped.items()} == {n: f["locals"] for n, f in live.items()}


def _number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True
