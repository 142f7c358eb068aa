"""Thread names read from the target's `threading` registry equal the target's own view.

tests/targets/named_threads.py stores its names every way CPython stores attributes on the
version at hand (split dicts, 3.11/3.12 values, 3.13 inline values, materialised and
general-keys dicts, a subclass, a renamed main thread, a _DummyThread) and in every str
width, and reports {ident: name} itself; memspy must return exactly that.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest
from interpreters import INTERPRETERS, Interpreter

from memspy.interpreter.process import PythonProcess
from memspy.interpreter.thread_names import ThreadNames

TARGET = Path(__file__).resolve().parents[2] / "targets" / "named_threads.py"
READY_TIMEOUT = 60.0
NAMES = {"plain", "ünïcode", "θread-Ω", "spool-🧵", "subclassed", "materialised"}
NAMES |= {"general-keys", "renamed-main", "Dummy-1"}


class Named:
    """A running named_threads.py and what it said about its threads."""

    def __init__(self, process: subprocess.Popen, view: Dict[str, Any]) -> None:
        self.process = process
        self.names = {int(ident): name for ident, name in view["names"].items()}
        self.unregistered: int = view["unregistered"]


def _start(python: Path, workdir: Path) -> Tuple[subprocess.Popen, Dict[str, Any]]:
    """Start the target; return once it has written its view (one JSON line) to the pipe."""
    read_end, write_end = os.pipe()
    stderr = workdir / "stderr.txt"
    try:
        with open(stderr, "wb") as err:
            process = subprocess.Popen(
                [str(python), str(TARGET), str(write_end)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                pass_fds=(write_end,),
                env=dict(os.environ, LC_ALL="C.UTF-8"),
                cwd=str(workdir),
            )
        os.close(write_end)
        write_end = -1
        line = b""
        while not line.endswith(b"\n"):
            if not select.select([read_end], [], [], READY_TIMEOUT)[0]:
                break
            chunk = os.read(read_end, 4096)
            if not chunk:
                break
            line += chunk
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    if not line.endswith(b"\n"):
        process.kill()
        process.wait()
        raise AssertionError(f"{TARGET.name} never became ready:\n{stderr.read_text()}")
    return process, json.loads(line)


@pytest.fixture(params=INTERPRETERS, ids=[i.id for i in INTERPRETERS])
def named(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Named]:
    interpreter: Interpreter = request.param
    interpreter.require()
    process, view = _start(interpreter.path, tmp_path)
    try:
        yield Named(process, view)
    finally:
        process.kill()
        process.wait(timeout=30)


def test_names_equal_the_targets_own_registry(named: Named) -> None:
    assert set(named.names.values()) == NAMES  # the target did what this test expects
    with PythonProcess(named.process.pid) as process:
        states, _ = process.threads.snapshot()
        names = ThreadNames(
            process.memory, process.layout, process.objects, process.image.addresses
        ).lookup(states[0].interp)
    assert names == named.names
    # The idents are the thread states' ids: every thread but the unregistered one is named.
    assert {s.thread_id for s in states} - set(names) == {named.unregistered}
