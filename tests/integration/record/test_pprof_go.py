"""pprof files as pprof itself reads them: ``go tool pprof`` accepts every file memspy writes,
and the function shares it reports for the demo's 70/30 workload are memspy's own."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from interpreters import INTERPRETERS, Interpreter
from recorder import DEMO, record

from memspy.collectors import StackOptions, create
from memspy.model import Frame, ProfileInfo, Sample, ThreadStack, TraceEvent
from memspy.readers.pprof import read_pprof
from memspy.readers.profile import LoadedProfile

GO = shutil.which("go")
pytestmark = pytest.mark.skipif(
    GO is None, reason="go is not installed (Debian's golang-go; scripts/test.sh installs it)"
)
DEMO_VERSIONS = [i for i in INTERPRETERS if i.version in ((3, 9), (3, 13))]


def go_pprof(tmp_path: Path, *args: str) -> str:
    """``go tool pprof ARGS``, with a home of its own (it keeps settings there)."""
    env = dict(os.environ, HOME=str(tmp_path), GOCACHE=str(tmp_path / "gocache"))
    result = subprocess.run(
        [str(GO), "tool", "pprof", *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def go_top(tmp_path: Path, path: Path) -> Dict[str, Tuple[float, float]]:
    """Every function's (flat%, cum%) as ``-top`` prints them, none left out."""
    out = go_pprof(tmp_path, "-top", "-nodefraction=0", "-nodecount=100000", str(path))
    rows = out.split("flat%", 1)[1].splitlines()[1:]
    shares = {}
    for row in rows:
        _, flat, _, _, cum, name = row.split(maxsplit=5)
        shares[name] = (float(flat.rstrip("%")), float(cum.rstrip("%")))
    return shares


def memspy_top(profile: LoadedProfile) -> Dict[str, Tuple[float, float]]:
    """The same from memspy's reading of the file: by function name, as pprof groups them."""
    flat: Counter = Counter()
    cum: Counter = Counter()
    for stack, weight in profile.weighted_stacks():
        flat[stack[-1].name] += weight
        for name in {frame.name for frame in stack}:
            cum[name] += weight
    total = profile.total
    return {name: (100 * flat[name] / total, 100 * cum[name] / total) for name in cum}


@pytest.mark.slow
@pytest.mark.parametrize("interpreter", DEMO_VERSIONS, ids=[i.id for i in DEMO_VERSIONS])
def test_go_pprof_reports_memspys_shares_of_the_demo(interpreter: Interpreter, tmp_path: Path):
    interpreter.require()
    out = tmp_path / "x.pb.gz"
    result = record([
        "--format", "pprof", "-r", "500", "-d", "3", "-o", str(out), "--",
        str(interpreter.path), str(DEMO), "--seconds", "3", "--split", "0.7",
    ])
    assert result.returncode == 0, result.stderr
    truth = json.loads(result.stdout)["heavy"]  # the demo's own measure of its split
    assert truth > 0.6
    profile = read_pprof(str(out), out.read_bytes())
    assert profile.total > 100, result.stderr

    ours = memspy_top(profile)
    theirs = go_top(tmp_path, out)
    assert set(theirs) == set(ours)
    for name in ("heavy", "light", "spin"):
        assert theirs[name] == pytest.approx(ours[name], abs=0.01), name
    for name, shares in theirs.items():  # within the two decimals pprof prints
        assert shares == pytest.approx(ours[name], abs=0.01), name
    assert theirs["heavy"][1] > theirs["light"][1] > 0
    # Independent of memspy's reader: go's shares against what the demo measured itself.
    heavy, light = theirs["heavy"][1], theirs["light"][1]
    assert heavy / (heavy + light) == pytest.approx(truth, abs=0.05), (theirs, truth)

    raw = go_pprof(tmp_path, "-raw", str(out))
    assert "samples/count cpu/nanoseconds[dflt]" in raw
    assert f"pid:[{profile.facts['pid']}]" in raw
    assert "thread_name:[MainThread]" in raw
    # Each function's start line, as pprof prints it ("s=N"): where its ``def`` is.
    for name in ("heavy", "spin"):
        start = DEMO.read_text().splitlines().index(f"def {name}(rounds):") + 1
        assert f" {name} {DEMO}:" in raw and f" s={start}(py::{name}:{DEMO})" in raw, name


def _thread(frames: Tuple[Frame, ...], tid: int, name: str) -> ThreadStack:
    return ThreadStack(tid, 1000 + tid, name, True, False, frames)


def _write(tmp_path: Path, name: str, feed: List, options: StackOptions) -> Path:
    collector = create("pprof", ProfileInfo(pid=7, rate_hz=100.0, mode="cpu"), options)
    for item in feed:
        if isinstance(item, Sample):
            collector.collect(item)
        else:
            collector.collect_event(item)
    stream = io.BytesIO()
    collector.export(stream)
    path = tmp_path / name
    path.write_bytes(stream.getvalue())
    return path


MODULE = Frame("<module>", "app.py", 30)
WORK = Frame("work", "app.py", 12)
LAMBDA = Frame("<lambda>", "lib.py", 0)
SAMPLES = [
    Sample(i / 100, 7, (_thread((WORK, MODULE), 1, "MainThread"), _thread((LAMBDA,), 2, "w [x]")))
    for i in range(10)
]


@pytest.mark.parametrize(
    "options",
    [StackOptions(), StackOptions(threads=True), StackOptions(function=True),
     StackOptions(lineno=False)],
    ids=["default", "threads", "function", "nolineno"],
)
def test_go_pprof_reads_every_option_with_names_intact(tmp_path: Path, options: StackOptions):
    path = _write(tmp_path, "s.pb.gz", SAMPLES, options)
    theirs = go_top(tmp_path, path)
    # pprof simplifies names it takes for C++ ("<...>" dropped): memspy's must survive.
    expected = {"<module>", "work", "<lambda>"}
    if options.threads:
        expected |= {"MainThread (1001)", "w [x] (1002)"}
    assert set(theirs) == expected
    assert theirs == memspy_top(read_pprof(str(path), path.read_bytes()))


def test_go_pprof_reads_a_traced_profile(tmp_path: Path):
    events = [
        TraceEvent(1.0, 7, 5, "enter", MODULE, "MainThread"),
        TraceEvent(2.0, 7, 5, "enter", WORK),
        TraceEvent(3.5, 7, 5, "leave", WORK),
        TraceEvent(4.0, 7, 5, "leave", MODULE),
    ]
    path = _write(tmp_path, "t.pb.gz", events, StackOptions())
    raw = go_pprof(tmp_path, "-raw", str(path))
    assert "wall/nanoseconds[dflt]" in raw
    assert "thread_name:[MainThread]" in raw
    theirs = go_top(tmp_path, path)
    assert theirs["work"] == (50.0, 50.0)
    assert theirs["<module>"] == (50.0, 100.0)
