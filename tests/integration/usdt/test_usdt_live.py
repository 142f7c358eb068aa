"""Probe listing, semaphores and live tracing on the interpreters of this machine.

Debian's /usr/bin/python3.11 is built --with-dtrace (8 probes); the pyenv builds are not.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from tracing import needs_bpftrace

from memspy.cli import main
from memspy.usdt.inspect import probes_of_file, probes_of_process

SYSTEM_311 = "/usr/bin/python3.11"
MEMSPY = [sys.executable, "-m", "memspy"]
PYENV = Path("/root/.pyenv/versions")
WORKLOAD = Path(__file__).parents[2] / "data" / "usdt" / "workload.py"
EXPECTED = {
    "audit", "gc__done", "gc__start", "line", "import__find__load__start",
    "import__find__load__done", "function__entry", "function__return",
}  # fmt: skip

needs_311 = pytest.mark.skipif(not os.path.exists(SYSTEM_311), reason=f"{SYSTEM_311} not installed")


def _pyenv_libpythons():
    return sorted(PYENV.glob("3.*/lib/libpython3.*.so.1.0"))


def _start(python: str, seconds: float = 30.0) -> subprocess.Popen:
    process = subprocess.Popen(
        [python, str(WORKLOAD), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert int(process.stdout.readline()) == process.pid  # running its loop now
    return process


def _stop(process: subprocess.Popen) -> None:
    process.kill()
    process.wait()


@needs_311
def test_system_python_has_the_eight_probes():
    report = probes_of_file(SYSTEM_311)
    assert {p.name for p in report.probes} == EXPECTED
    assert all(p.provider == "python" and p.semaphore and p.address for p in report.probes)
    entry = report.probe("function__entry")
    # Three arguments: filename, function name, line.
    assert len(entry.arguments.split()) == 3


@pytest.mark.skipif(not _pyenv_libpythons(), reason="no pyenv builds installed")
def test_pyenv_builds_have_no_probes():
    for library in _pyenv_libpythons():
        assert probes_of_file(str(library)).probes == [], library
    result = CliRunner().invoke(main, ["probes", str(_pyenv_libpythons()[0])])
    assert result.exit_code == 0
    assert "no USDT probes" in result.output and "--with-dtrace" in result.output


@needs_311
def test_semaphores_of_a_live_process():
    process = _start(SYSTEM_311)
    try:
        report, *others = probes_of_process(process.pid)
        assert others == []  # no other mapped file declares probes
        assert report.path == SYSTEM_311 and report.version.text == "3.11.2"
        assert len(report.probes) == 8
        assert report.semaphores == [0] * 8  # nobody traces it
        result = CliRunner().invoke(main, ["probes", "-p", str(process.pid)])
        assert result.exit_code == 0 and "ENABLED" in result.output
    finally:
        _stop(process)


@needs_311
@needs_bpftrace
def test_semaphore_reads_one_while_bpftrace_is_attached():
    process = _start(SYSTEM_311)
    program = f"usdt:{SYSTEM_311}:python:gc__start {{ @n = count(); }}"
    tracer = subprocess.Popen(
        ["bpftrace", "-p", str(process.pid), "-e", program],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert tracer.stdout.readline().startswith("Attaching")
        deadline = time.monotonic() + 10
        while True:
            report = probes_of_process(process.pid)[0]
            counts = dict(zip((p.name for p in report.probes), report.semaphores))
            if counts["gc__start"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert counts["gc__start"] == 1
        assert counts["function__entry"] == 0
    finally:
        tracer.terminate()
        tracer.wait()
        _stop(process)


@needs_311
@needs_bpftrace
def test_live_trace_on_311_works_around_missing_entries(tmp_path, speedscope_errors):
    process = _start(SYSTEM_311)
    output = tmp_path / "out.speedscope.json"
    log = tmp_path / "events.log"
    try:
        result = CliRunner().invoke(
            main,
            ["trace", "-p", str(process.pid), "-d", "1", "-o", str(output), "--save-log", str(log)],
        )
        assert result.exit_code == 0, result.stderr
        assert process.poll() is None, "the target must survive tracing"
    finally:
        _stop(process)
    assert "98894" in result.stderr
    lines = log.read_text().splitlines()
    # While line is traced, entries fire (without it: 0); bpftrace detaches line first on
    # exit, after which only returns arrive, so count up to the last line event.
    traced = lines[: max(i for i, line in enumerate(lines) if line.startswith("L\t"))]
    entries = sum(line.startswith("E\t") for line in traced)
    returns = sum(line.startswith("R\t") for line in traced)
    assert entries > 50 and abs(entries - returns) <= 5, (entries, returns)
    document = json.loads(output.read_text())
    assert speedscope_errors(document) == []
    assert document["profiles"][0]["type"] == "evented"
    names = {frame["name"] for frame in document["shared"]["frames"]}
    assert {"heavy", "light", "step"} <= names


def _top_function(folded: str) -> str:
    self_weight: dict = {}
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        leaf = stack.split(";")[-1].split(" (")[0]
        self_weight[leaf] = self_weight.get(leaf, 0) + int(count)
    for idle in ("main", "<module>"):
        self_weight.pop(idle, None)
    return max(self_weight, key=self_weight.get)


@needs_311
@needs_bpftrace
@pytest.mark.slow
def test_sample_and_trace_agree_on_the_dominant_function(tmp_path):
    traced, sampled = tmp_path / "t.collapsed", tmp_path / "s.collapsed"
    process = _start(SYSTEM_311)
    try:
        runner = CliRunner()
        result = runner.invoke(
            main, ["trace", "-p", str(process.pid), "-d", "1", "-o", str(traced)]
        )
        assert result.exit_code == 0, result.stderr
        result = runner.invoke(
            main, ["record", "-p", str(process.pid), "-d", "2", "-o", str(sampled)]
        )
        assert result.exit_code == 0, result.stderr
    finally:
        _stop(process)
    assert _top_function(traced.read_text()) == _top_function(sampled.read_text()) == "heavy"


def test_trace_without_probes_says_why_in_one_line(tmp_path):
    python = next((str(p) for p in sorted(PYENV.glob("3.12*/bin/python3"))), None)
    if python is None:
        pytest.skip("no pyenv 3.12 build")
    process = _start(python)
    try:
        result = CliRunner().invoke(
            main, ["trace", "-p", str(process.pid), "-o", str(tmp_path / "x.collapsed")]
        )
    finally:
        _stop(process)
    assert result.exit_code != 0
    assert "no USDT probes" in result.stderr and "memspy record" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_print_program_names_the_probes():
    if not os.path.exists(SYSTEM_311):
        pytest.skip(f"{SYSTEM_311} not installed")
    result = CliRunner().invoke(main, ["trace", "--print-program", "--binary", SYSTEM_311])
    assert result.exit_code == 0
    assert f"usdt:{SYSTEM_311}:python:function__return" in result.stdout


@needs_311
@needs_bpftrace
def test_trace_a_command_from_its_start(tmp_path):
    output = tmp_path / "out.trace.json"
    command = [SYSTEM_311, str(WORKLOAD), "0.3"]
    result = CliRunner().invoke(main, ["trace", "-o", str(output), "--", *command])
    assert result.exit_code == 0, result.stderr
    # Started under the tracer with line traced, every return has its entry.
    entries, returns = re.search(r"(\d+) entries, (\d+) returns", result.stderr).groups()
    assert int(entries) == int(returns) > 100
    names = {e["name"] for e in json.loads(output.read_text())["traceEvents"] if "name" in e}
    assert {"heavy", "light"} <= names


@needs_311
@needs_bpftrace
def test_trace_passes_on_the_commands_status_and_its_output_only(tmp_path):
    """A CI step that traces its job must fail when the job fails, and its stdout must be
    the job's (bpftrace's own closing empty lines are not)."""
    script = tmp_path / "job.py"
    script.write_text(
        "import sys\n"
        "def work():\n"
        "    return sum(range(1000))\n"
        "for _ in range(100):\n"
        "    work()\n"
        "print('job output')\n"
        "sys.exit(3)\n"
    )
    done = subprocess.run(
        [*MEMSPY, "trace", "-o", str(tmp_path / "out.collapsed"), "--", SYSTEM_311, str(script)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == "job output\n"
    assert "the command exited with status 3" in done.stderr
    assert "work" in (tmp_path / "out.collapsed").read_text()


@needs_311
@needs_bpftrace
def test_a_traced_commands_output_line_is_shown_when_it_is_printed(tmp_path):
    """A line the command prints reaches memspy's stdout whole while the command goes on
    (the bytes held back for bpftrace's closing empty lines are let go when nothing
    follows), not at its next write or its exit."""
    script = tmp_path / "job.py"
    script.write_text("import time\nprint('ready', flush=True)\ntime.sleep(20)\n")
    traced = subprocess.Popen(
        [*MEMSPY, "trace", "-o", str(tmp_path / "out.collapsed"), "--", SYSTEM_311, str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        seen = b""
        deadline = time.monotonic() + 15  # bpftrace starting on a busy machine included
        while not seen.endswith(b"\n") and time.monotonic() < deadline:
            if select.select([traced.stdout], [], [], 0.1)[0]:
                seen += os.read(traced.stdout.fileno(), 100)
        assert seen == b"ready\n"
    finally:
        traced.send_signal(signal.SIGINT)
        traced.wait(timeout=60)
