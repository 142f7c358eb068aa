"""`memspy dump --json` is exact: every frame of every thread, on every interpreter.

One parked.py per interpreter is SIGSTOPped, then read by memspy and by py-spy. memspy
must equal the target's own view (names, files, lines, thread names and kernel ids; the
spinning thread within its loop), and equal py-spy wherever py-spy knows (both read the
same stopped process, so even the spinner must match exactly). Its JSON must have
py-spy's keys and types, so scripts written for `py-spy dump --json` work unchanged.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pyspy
import pytest
from interpreters import INTERPRETERS, Interpreter
from selfview import assert_stacks_match, threads_from_dump_json
from target import SPINNER, start_target

REPO = Path(__file__).resolve().parents[3]
# py-spy leaves these null where it cannot learn them (thread names on 2.7, kernel ids
# before 3.11); memspy may know more, and then must use py-spy's type for a known value.
KNOWN_BETTER = {"thread_name": str, "os_thread_id": int}


@dataclass
class Dumps:
    interpreter: Interpreter
    view: Dict[str, Any]
    memspy: subprocess.CompletedProcess
    pyspy: Optional[List[Any]]  # None when py-spy is not installed

    def memspy_json(self) -> List[Any]:
        run = self.memspy
        assert run.returncode == 0, f"memspy dump failed ({run.returncode}):\n{run.stderr}"
        return json.loads(run.stdout)

    def pyspy_json(self) -> List[Any]:
        if self.pyspy is None:
            pyspy.require()
        return self.pyspy


@pytest.fixture(scope="module", params=INTERPRETERS, ids=[i.id for i in INTERPRETERS])
def dumps(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Dumps]:
    """Both dumps of one stopped target per interpreter, shared by this file's tests."""
    interpreter: Interpreter = request.param
    interpreter.require()
    target = start_target(interpreter.path, tmp_path_factory.mktemp(f"dump-{interpreter.id}"))
    try:
        with target.stopped():
            memspy_run = subprocess.run(
                [sys.executable, "-m", "memspy", "dump", "--json", "-p", str(target.pid)],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=str(REPO),
            )
            spy = pyspy.dump_json(target.pid) if pyspy.available() else None
        yield Dumps(interpreter, target.view, memspy_run, spy)
    finally:
        target.kill()


def test_dump_equals_the_self_view(dumps: Dumps) -> None:
    assert_stacks_match(dumps.view, threads_from_dump_json(dumps.memspy_json()))


def test_dump_thread_states(dumps: Dumps) -> None:
    """Parked threads are idle and without the GIL; at most one thread holds it. The
    process is stopped, so no thread is active, the spinner neither: a stopped thread
    runs nothing (``record`` counts it idle too, see test_a_stopped_process_adds_no_cpu)."""
    threads = {t["thread_id"]: t for t in dumps.memspy_json()}
    holders = [t for t in threads.values() if t["owns_gil"]]
    assert len(holders) <= 1, holders
    for thread in dumps.view["threads"]:
        got = threads[thread["ident"]]
        assert got["active"] is False, thread["name"]
        if thread["name"] != SPINNER:
            assert got["owns_gil"] is False, thread["name"]


def test_a_stopped_process_adds_no_cpu(tmp_path: Path) -> None:
    """``record`` agrees with ``dump``: the threads of a stopped process are idle, so a
    CPU profile of it holds nothing, and with --idle every thread, each sample."""
    present = [interpreter for interpreter in INTERPRETERS if interpreter.present]
    if not present:
        pytest.skip("no interpreter of tests/interpreters.py is installed")
    target = start_target(present[-1].path, tmp_path)
    try:
        with target.stopped():
            for flags, name in (([], "cpu"), (["--idle"], "wall")):
                output = tmp_path / f"{name}.collapsed"
                done = subprocess.run(
                    [sys.executable, "-m", "memspy", "record", "-p", str(target.pid), "-d", "0.5",
                     "-o", str(output), *flags],
                    capture_output=True, text=True, timeout=60, cwd=str(REPO),
                )
                assert done.returncode == 0, done.stderr
                counts = [int(line.rpartition(" ")[2]) for line in output.read_text().splitlines()]
                if name == "cpu":
                    assert counts == [], output.read_text()
                else:
                    assert sum(counts) >= len(target.threads) * 10, counts
    finally:
        target.kill()


def test_dump_agrees_with_pyspy(dumps: Dumps) -> None:
    ours = {t["thread_id"]: t for t in dumps.memspy_json()}
    theirs = {t["thread_id"]: t for t in dumps.pyspy_json()}
    assert set(ours) == set(theirs)
    knows_tids = dumps.interpreter.version >= (3, 11)  # see test_harness_pyspy
    for ident, spy in theirs.items():
        mine = ours[ident]
        label = f"thread {ident:#x}"
        frames = [(f["name"], f["filename"], f["line"]) for f in mine["frames"]]
        assert frames == [(f["name"], f["filename"], f["line"]) for f in spy["frames"]], label
        assert mine["owns_gil"] == spy["owns_gil"], label
        for key in ("thread_name", "os_thread_id"):
            if spy[key] is not None:
                assert mine[key] == spy[key], (label, key)
        if knows_tids:
            assert mine["active"] == spy["active"], label


def _shape_problems(mine: Dict[str, Any], theirs: Dict[str, Any], where: str) -> List[str]:
    if set(mine) != set(theirs):
        return [f"{where}: keys {sorted(mine)} != py-spy's {sorted(theirs)}"]
    problems = []
    for key, value in theirs.items():
        allowed = {type(value)}
        if value is None and key in KNOWN_BETTER:
            allowed.add(KNOWN_BETTER[key])
        if type(mine[key]) not in allowed:
            problems.append(
                f"{where}.{key}: {type(mine[key]).__name__} ({mine[key]!r}), "
                f"py-spy has {type(value).__name__} ({value!r})"
            )
    return problems


def test_dump_json_has_pyspys_shape(dumps: Dumps) -> None:
    ours = {t["thread_id"]: t for t in dumps.memspy_json()}
    problems = []
    for spy in dumps.pyspy_json():
        mine = ours[spy["thread_id"]]
        problems += _shape_problems(mine, spy, "thread")
        for frame, spy_frame in zip(mine["frames"], spy["frames"]):
            problems += _shape_problems(frame, spy_frame, "frame")
    assert not problems, "differs from py-spy's JSON:\n" + "\n".join(sorted(set(problems)))
