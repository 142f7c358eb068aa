"""The options whose code differs by interpreter, run on real targets of each kind: how the
GIL holder is found (a global, a field of ``_PyRuntime``, the interpreter's own GIL
struct), idle threads, the depth limit, ``-v``'s drop reasons, dropped samples counted,
and SIGINT/SIGTERM ending a run that had them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
from interpreters import INTERPRETERS, Interpreter
from recorder import DEMO, TIMEOUT, folded, record, samples_in, start_record
from robust import TARGETS, end, start, wait_for_line
from schema import speedscope_errors

from memspy.offsets import load_layout

# One interpreter per way of finding the GIL holder (2.7: a global; 3.7-3.11: the
# runtime's gilstate; 3.12+: the interpreter's GIL), which also spans both frame models.
GIL_MODELS = [i for i in INTERPRETERS if i.id in ("2.7", "3.9", "3.13")]
ERAS = [i for i in INTERPRETERS if i.id in ("3.9", "3.13")]
DEPTH = 12


@pytest.mark.parametrize("python", GIL_MODELS, ids=[i.id for i in GIL_MODELS])
def test_idle_and_gil_select_threads_on_each_gil_model(python: Interpreter, tmp_path: Path):
    python.require()
    demo = ["--", str(python.path), str(DEMO), "--seconds", "1.5"]
    runs = {}
    for name, flags in {"cpu": [], "idle": ["--idle"], "gil": ["--idle", "--gil"]}.items():
        out = tmp_path / f"{name}.folded"
        result = record(["-o", str(out), "-r", "200", *flags, *demo])
        assert result.returncode == 0, result.stderr
        runs[name] = folded(out)
    # The worker blocked on its queue: absent from a CPU profile, in (nearly) every
    # sample with --idle, never the GIL holder.
    cpu, idle, gil = runs["cpu"], runs["idle"], runs["gil"]
    assert samples_in(cpu, "idle_worker") < 0.05 * sum(cpu.values()), cpu
    assert samples_in(idle, "idle_worker") > 0.8 * samples_in(idle, "main"), idle
    # (It holds the GIL only while it starts: a busy machine can catch it there.)
    assert samples_in(gil, "idle_worker") < 0.02 * sum(gil.values()), gil
    assert samples_in(gil, "heavy") > 0, gil
    # The GIL holder is the busy main thread nearly always: a reader that never found
    # the holder would keep nothing, one that ignored --gil the worker too.
    assert samples_in(gil, "main") > 0.8 * sum(gil.values()), gil


@pytest.mark.parametrize("python", ERAS, ids=[i.id for i in ERAS])
def test_max_depth_cuts_real_stacks_in_record_and_dump(python: Interpreter, tmp_path: Path):
    python.require()
    target = start("deep_spin.py", python=str(python.path))
    try:
        out = tmp_path / "deep.folded"
        result = record(["-p", str(target.pid), "-d", "0.5", "--max-depth", str(DEPTH),
                         "-o", str(out)])
        assert result.returncode == 0, result.stderr
        stacks = folded(out)
        assert stacks, result.stderr
        for stack in stacks:
            frames = stack.split(";")
            # The innermost DEPTH frames, and the marker where the rest was cut.
            assert len(frames) == DEPTH + 1, stack
            assert frames[0].startswith(f"<truncated: deeper than {DEPTH} frames>"), stack
        dumped = subprocess.run(
            [sys.executable, "-m", "memspy", "dump", "-p", str(target.pid), "--json",
             "--max-depth", str(DEPTH)],
            capture_output=True, text=True, timeout=TIMEOUT,
        )
        assert dumped.returncode == 0, dumped.stderr
        (thread,) = json.loads(dumped.stdout)
        names = [frame["name"] for frame in thread["frames"]]
        assert len(names) == DEPTH + 1 and names[-1].startswith("<truncated"), names
        assert names[0] in ("leaf", "spin"), names
    finally:
        end(target)


def _broken_list_target(python: Interpreter) -> subprocess.Popen:
    """tests/targets/broken_list.py, started: its thread list is whole until ``_tell``."""
    offset = load_layout(*python.version).tstate.next
    target = subprocess.Popen(
        [str(python.path), str(TARGETS / "broken_list.py"), str(offset)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert target.stdout.readline() == "ready\n", target.stderr.read()
    return target


def _tell(target: subprocess.Popen, answer: str) -> None:
    """Move the target on to its next state (broken, then mended) and wait until it is."""
    target.stdin.write("\n")
    target.stdin.flush()
    assert target.stdout.readline() == answer + "\n"


def _dump(pid: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memspy", "dump", "-p", str(pid)],
                          capture_output=True, text=True, timeout=TIMEOUT)


def _read_until(process: subprocess.Popen, needle: str, count: int = 1) -> List[str]:
    """Lines of ``process``'s stderr up to the ``count``-th containing ``needle``."""
    lines: List[str] = []
    while sum(needle in line for line in lines) < count:
        lines += wait_for_line(process, needle, timeout=30)
    return lines


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
@pytest.mark.parametrize("python", ERAS, ids=[i.id for i in ERAS])
def test_dropped_samples_are_named_counted_and_a_signal_keeps_the_rest(
    python: Interpreter, signum: int, tmp_path: Path
):
    python.require()
    target = _broken_list_target(python)
    out = tmp_path / "broken.speedscope.json"
    recorder = start_record(["-v", "--idle", "-p", str(target.pid), "-o", str(out)])
    try:
        lines = _read_until(recorder, "sampling process")
        _tell(target, "broken")
        lines += _read_until(recorder, "dropped:", 5)
        if signum == signal.SIGINT:
            # A dump cannot say every thread's stack now: it says why, in one line.
            dumped = _dump(target.pid)
            assert dumped.returncode == 10, dumped.stderr
            assert "cannot read 0x1000" in dumped.stderr and "Traceback" not in dumped.stderr
            assert len(dumped.stderr.strip().splitlines()) == 1, dumped.stderr
        _tell(target, "mended")
        assert _dump(target.pid).returncode == 0  # whole again, for memspy too
        recorder.send_signal(signum)
        # Read on through the text buffer that readline filled (communicate would skip it).
        stderr = "".join(lines) + recorder.stderr.read()
        recorder.wait(timeout=TIMEOUT)
        assert recorder.returncode == 0, stderr
        assert "stopped: interrupted" in stderr and "Traceback" not in stderr
        assert target.poll() is None, "a signal to memspy -p must not reach the target"
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.communicate()
        end(target)
    reasons = [line for line in stderr.splitlines() if "dropped:" in line]
    assert all(f"sample of process {target.pid} dropped: cannot read 0x1000" in line
               for line in reasons), reasons
    counted = int(stderr.split(" samples dropped for read errors")[0].rsplit(" ", 1)[1])
    assert counted == len(reasons) >= 5, stderr
    assert f"  {counted} x RemoteReadError" in stderr, stderr
    document = json.loads(out.read_text())
    assert speedscope_errors(document) == []
    # What was sampled before the list broke and after it was mended is in the file.
    assert sum(len(p["samples"]) for p in document["profiles"]) > 0, stderr
