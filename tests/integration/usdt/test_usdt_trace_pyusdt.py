"""`memspy trace` on every interpreter that can be traced: Debian's 3.11 through CPython's
own probes, each 3.12+ through pyusdt (installed into a venv of it by ``tracing``).

A target that times its own phases (scripts/bench_workloads/phases.py, phases of
milliseconds: a tracer adds microseconds to every call, some on the caller's side of its
events) is the truth: a trace is exact, so its shares are held to 1 point of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
from interpreters import Interpreter
from phase_truth import phase_shares, truth_of
from recorder import folded, frame_names, record
from tracing import TRACEABLE, needs_bpftrace, traced_python

ROOT = Path(__file__).resolve().parents[3]
PHASES = ROOT / "scripts" / "bench_workloads" / "phases.py"
WORKLOAD = ROOT / "tests" / "data" / "usdt" / "workload.py"
MEMSPY = [sys.executable, "-m", "memspy"]
IDS = [i.id for i in TRACEABLE]
TRACE_TOLERANCE = 0.01  # trace against the target's own split
# Trace against record of the same run: record's bound (2 points at 250 Hz on a quiet
# machine), and 1 more for a busy one, where record's sampler waits for a CPU too.
RECORD_BOUND = 0.03

pytestmark = needs_bpftrace


def _memspy(args: List[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MEMSPY, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _traced_shares(python: Path, out: Path, seconds: float):
    result = _memspy(["trace", "-o", str(out), "--", str(python), str(PHASES), "ms", str(seconds)])
    assert result.returncode == 0, result.stderr
    truth = truth_of(result.stdout)
    shares, total = phase_shares(folded(out).items(), truth)
    # Traced from its first instruction on: all of Timed.run, as long as it timed itself.
    measured = json.loads(result.stdout.splitlines()[-1])["total"]
    assert total / 1e6 == pytest.approx(measured, rel=0.05), result.stderr
    return result, truth, shares


def _rounded(shares: Dict[str, float]) -> Dict[str, float]:
    return {phase: round(share, 4) for phase, share in shares.items()}


@pytest.mark.parametrize("base", TRACEABLE, ids=IDS)
def test_traced_shares_are_the_targets_own(base: Interpreter, tmp_path: Path) -> None:
    python = traced_python(base)
    result, truth, shares = _traced_shares(python, tmp_path / "t.collapsed", 1.5)
    worst = max(abs(shares[p] - truth[p]) for p in truth)
    assert worst <= TRACE_TOLERANCE, (_rounded(shares), _rounded(truth))
    names = {name for stack in folded(tmp_path / "t.collapsed") for name in frame_names(stack)}
    # Named as record names them: qualified from the source, the probes give "run".
    assert "Timed.run" in names and "run" not in names
    if base.origin != "debian":
        assert "running the command under pyusdt" in result.stderr


@pytest.mark.parametrize("base", [i for i in TRACEABLE if i.version >= (3, 12)], ids=str)
def test_attach_late_starts_mid_stack_without_inventing_frames(
    base: Interpreter, tmp_path: Path
) -> None:
    python = traced_python(base)
    target = subprocess.Popen(
        [str(python), "-m", "pyusdt", str(WORKLOAD), "30"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert int(target.stdout.readline()) == target.pid  # in its loop, pyusdt loaded
        probes = _memspy(["probes", "-p", str(target.pid)])
        out = tmp_path / "late.collapsed"
        traced = _memspy(["trace", "-p", str(target.pid), "-d", "1", "-o", str(out)])
        assert target.poll() is None, "the target must survive tracing"
    finally:
        target.kill()
        target.wait()
    assert probes.returncode == 0, probes.stderr
    assert "pyusdt    PY_START" in probes.stdout
    assert "memspy trace would read provider pyusdt" in probes.stdout
    assert traced.returncode == 0, traced.stderr
    # main() and <module> never return while traced: nothing may stand for them. Every
    # stack is a tail of the workload's real stack <module>;main;step;heavy|light.
    stacks = set(folded(out))
    allowed = {"step", "heavy", "light", "step;heavy", "step;light"}
    assert {";".join(frame_names(stack)) for stack in stacks} <= allowed, stacks
    # Tracing began inside step() (or heavy/light): their returns closed frames opened
    # before the trace, and the count is said.
    assert "tracing began mid-stack" in traced.stderr
    assert " returns of frames never seen entering" in traced.stderr


@pytest.mark.parametrize("base", [i for i in TRACEABLE if i.version >= (3, 12)], ids=str)
def test_a_command_run_under_pyusdt_keeps_its_status_arguments_and_output(
    base: Interpreter, tmp_path: Path
) -> None:
    """As under bpftrace's -c: the command's status and stdout are memspy's; and it runs
    as `python job.py` would (its own argv, its directory first on sys.path)."""
    python = traced_python(base)
    (tmp_path / "sibling.py").write_text("def work():\n    return sum(range(1000))\n")
    (tmp_path / "job.py").write_text(
        "import sys\n"
        "import sibling\n"
        "for _ in range(100):\n"
        "    sibling.work()\n"
        "print(sys.argv[1:], __name__)\n"
        "sys.exit(3)\n"
    )
    out = tmp_path / "out.collapsed"
    done = subprocess.run(
        [*MEMSPY, "trace", "-o", str(out), "--", str(python), str(tmp_path / "job.py"), "a b"],
        capture_output=True, text=True, timeout=120, cwd="/",
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert done.stdout == "['a b'] __main__\n"
    assert "the command exited with status 3" in done.stderr
    # job.py's own module is the root: the gate's frame under it never returns (SystemExit)
    # so it is not seen, and nothing is made up for it.
    stack = f"<module> ({tmp_path}/job.py:1);work ({tmp_path}/sibling.py:1) "
    assert any(line.startswith(stack) for line in out.read_text().splitlines())


@pytest.mark.parametrize("base", [i for i in TRACEABLE if i.version >= (3, 12)], ids=str)
def test_a_traced_commands_stacks_start_at_its_own_module(
    base: Interpreter, tmp_path: Path
) -> None:
    """The gate memspy runs the command through is under every frame of it, running
    before tracing began: left out, as `record` never sees it, and not counted as a
    mid-stack start. Its own Python work happens before tracing, so nothing else of it
    shows either."""
    (tmp_path / "job.py").write_text(
        "def work():\n    return sum(range(1000))\n\nfor _ in range(200):\n    work()\n"
    )
    out = tmp_path / "out.collapsed"
    done = subprocess.run(
        [*MEMSPY, "trace", "-o", str(out), "--", str(traced_python(base)), "job.py"],
        capture_output=True, text=True, timeout=120, cwd=str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert lines and all(line.startswith(f"<module> ({tmp_path}/job.py:1)") for line in lines)
    assert "mid-stack" not in done.stderr


def test_a_command_is_not_run_untraced_when_bpftrace_fails(tmp_path: Path) -> None:
    """The error comes at once, in one line, not after a whole untraced run."""
    base = next((i for i in TRACEABLE if i.version >= (3, 12) and i.present), None)
    if base is None:
        pytest.skip("no 3.12+ interpreter")
    python = traced_python(base)
    fake = tmp_path / "bin" / "bpftrace"  # a bpftrace that fails as it starts
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'ERROR: could not attach' >&2\nexit 1\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    started = time.monotonic()
    done = subprocess.run(
        [*MEMSPY, "trace", "-o", str(tmp_path / "x.collapsed"), "--",
         str(python), str(WORKLOAD), "30"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 11
    assert time.monotonic() - started < 20  # the workload alone runs 30 s
    errors = [line for line in done.stderr.splitlines() if line.startswith("memspy")]
    assert errors == [
        "memspy: error: bpftrace failed: ERROR: could not attach "
        "(use `memspy record`, which samples without probes or BPF)"
    ]
    assert not (tmp_path / "x.collapsed").exists()


def _descendant_running(pid: int, exe: Path) -> int:
    """The process under ``pid`` that runs ``exe`` on the phases script: the target that
    bpftrace or memspy started (not memspy's brief query of the interpreter)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = _descendants(pid, exe)
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no process runs {exe} under {pid}")


def _descendants(pid: int, exe: Path) -> List[int]:
    children: Dict[int, List[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, found = list(children.get(pid, [])), []
    while todo:
        child = todo.pop()
        try:
            running = Path(f"/proc/{child}/exe").resolve() == exe.resolve()
            if running and str(PHASES).encode() in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            pass
        todo += children.get(child, [])
    return found


@pytest.mark.slow
@pytest.mark.parametrize("base", TRACEABLE, ids=IDS)
def test_trace_and_record_of_one_run_agree(base: Interpreter, tmp_path: Path) -> None:
    """Sampled and traced at once, so both see the same run: tracing changes the split
    (every call costs microseconds more), record of another run would differ by that."""
    python = traced_python(base)
    traced_out, sampled_out = tmp_path / "t.collapsed", tmp_path / "s.collapsed"
    command = [str(python), str(PHASES), "ms", "4"]
    tracer = subprocess.Popen(
        [*MEMSPY, "trace", "-o", str(traced_out), "--", *command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # Sampled from its start-up on: the shares count only the time in Timed.run.
        target = _descendant_running(tracer.pid, python)
        sampled = record(["--rate", "1000", "-p", str(target), "-o", str(sampled_out)])
        truth_line, errors = tracer.communicate(timeout=120)
    finally:
        tracer.kill()
        tracer.wait()
    assert tracer.returncode == 0 and sampled.returncode == 0, errors + sampled.stderr
    truth = truth_of(truth_line)
    traced, _ = phase_shares(folded(traced_out).items(), truth)
    recorded, total = phase_shares(folded(sampled_out).items(), truth)
    assert total > 1500, sampled.stderr  # 4 s at 1000 Hz, less the ticks a busy machine misses
    worst = max(abs(traced[p] - recorded[p]) for p in truth)
    assert worst <= RECORD_BOUND, (_rounded(traced), _rounded(recorded), _rounded(truth))
