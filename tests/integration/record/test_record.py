"""``memspy record`` on real targets: every format, every stack option, how a run ends,
and what the user is told."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from interpreters import Interpreter
from recorder import DEMO, folded, frame_names, record, samples_in, start_record
from schema import speedscope_errors

PY = sys.executable
SPIN = (
    "import time\n"
    "def spinning(seconds):\n"
    "    end = time.time() + seconds\n"
    "    while time.time() < end:\n"
    "        pass\n"
    "spinning({seconds})\n"
)


def _demo(seconds: float = 1.5) -> list:
    return ["--", PY, str(DEMO), "--seconds", str(seconds)]


def _ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "name,fmt",
    [
        ("out.speedscope.json", "speedscope"),
        ("out.folded", "collapsed"),
        ("out.svg", "flamegraph"),
        ("out.trace.json", "chrometrace"),
    ],
)
def test_each_format_is_inferred_and_holds_the_workload(tmp_path: Path, name: str, fmt: str):
    out = tmp_path / name
    result = record(["-o", str(out), *_demo()])
    _ok(result)
    assert f"wrote {fmt} profile to {out}" in result.stderr
    text = out.read_text()
    assert "heavy" in text and "light" in text
    if fmt == "speedscope":
        assert speedscope_errors(json.loads(text)) == []
    elif fmt == "chrometrace":
        events = json.loads(text)["traceEvents"]
        assert any(e.get("name", "").startswith("heavy") for e in events)
    elif fmt == "flamegraph":
        assert text.lstrip().startswith(("<?xml", "<svg"))
    else:
        assert all(re.fullmatch(r".+ \d+", line) for line in text.splitlines())


def test_format_option_overrides_the_extension(tmp_path: Path):
    out = tmp_path / "profile.out"
    _ok(record(["-o", str(out), "--format", "collapsed", *_demo(1)]))
    assert any("heavy" in frame_names(stack) for stack in folded(out))


def test_unknown_extension_is_an_error_before_anything_runs(tmp_path: Path):
    result = record(["-o", str(tmp_path / "x.unknown"), "--", PY, "-c", "raise SystemExit(9)"])
    assert result.returncode == 8 and "--format" in result.stderr
    assert "Traceback" not in result.stderr


def _stacks(tmp_path: Path, *options: str) -> dict:
    out = tmp_path / f"run{len(list(tmp_path.iterdir()))}.folded"
    _ok(record(["-o", str(out), *options, *_demo()]))
    return folded(out)


def test_stack_options(tmp_path: Path):
    line = re.compile(r":\d+\)$")
    default = _stacks(tmp_path)
    frames = [frame for stack in default for frame in stack.split(";")]
    assert any(line.search(frame) for frame in frames)
    total = sum(default.values())
    # Without --idle the waiting worker is (nearly) absent; with it, in every sample.
    assert samples_in(default, "idle_worker") < 0.05 * total

    idle = _stacks(tmp_path, "--idle", "--threads")
    assert samples_in(idle, "idle_worker") > 0.5 * samples_in(idle, "heavy")
    roots = {stack.split(";")[0] for stack in idle}
    assert all(re.search(r" \((\d+|0x[0-9a-f]+)\)$", root) for root in roots), roots
    thread_of = {name: {s.split(";")[0] for s in idle if name in frame_names(s)}
                 for name in ("heavy", "idle_worker", "parser")}
    assert all(len(found) == 1 for found in thread_of.values()), thread_of
    assert len(set.union(*thread_of.values())) == 3, thread_of

    # --gil keeps only the GIL holder: never the worker blocked on its queue.
    gil = _stacks(tmp_path, "--idle", "--gil", "--function")
    assert samples_in(gil, "idle_worker") == 0 and samples_in(gil, "heavy") > 0
    assert not any(line.search(f) for stack in gil for f in stack.split(";"))

    nolineno = _stacks(tmp_path, "--nolineno")
    assert samples_in(nolineno, "heavy") > 0
    assert not any(line.search(f) for stack in nolineno for f in stack.split(";"))


def _reported_duration(stderr: str) -> float:
    return float(re.search(r" in ([\d.]+)s: ", stderr).group(1))


def _start_demo(seconds: float = 60) -> subprocess.Popen:
    demo = subprocess.Popen([PY, str(DEMO), "--seconds", str(seconds)], stdout=subprocess.PIPE)
    time.sleep(0.3)  # past interpreter start-up: -p attaches to a running program
    return demo


def test_duration_ends_the_run_on_time(tmp_path: Path):
    demo = _start_demo()
    try:
        out = tmp_path / "d.speedscope.json"
        began = time.monotonic()
        result = record(["-p", str(demo.pid), "--duration", "2", "-o", str(out)])
        wall = time.monotonic() - began
        _ok(result)
        assert "--duration reached" in result.stderr
        # From the first sample to the last: a late last tick on a busy machine adds a
        # little; the rate kept is the benchmark's business, not this test's.
        assert 1.99 <= _reported_duration(result.stderr) <= 2.5
        assert wall < 2 + 10, "memspy took far longer than --duration"
        assert demo.poll() is None, "the target must outlive a -p recording"
        assert speedscope_errors(json.loads(out.read_text())) == []
    finally:
        demo.kill()
        demo.wait()


def _wait_for_sampling(memspy: subprocess.Popen) -> str:
    line = memspy.stderr.readline()
    assert "sampling process" in line, line + memspy.stderr.read()
    return line


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_writes_a_complete_profile(tmp_path: Path, signum: int):
    demo = _start_demo()
    out = tmp_path / "s.speedscope.json"
    try:
        memspy = start_record(["-p", str(demo.pid), "-o", str(out)])
        _wait_for_sampling(memspy)
        time.sleep(1.0)
        memspy.send_signal(signum)
        _, stderr = memspy.communicate(timeout=30)
        assert memspy.returncode == 0, stderr
        assert "stopped: interrupted" in stderr
        document = json.loads(out.read_text())
        assert speedscope_errors(document) == []
        assert document["profiles"], "a second of sampling must leave samples"
        assert demo.poll() is None, "SIGINT/SIGTERM to memspy -p must not reach the target"
        assert not list(tmp_path.glob(".*.tmp")), "no temporary file left behind"
    finally:
        demo.kill()
        demo.wait()


def test_sigterm_reaches_the_command_and_memspy_exits_with_its_status(tmp_path: Path):
    out = tmp_path / "t.speedscope.json"
    memspy = start_record(["-o", str(out), *_demo(60)])
    _wait_for_sampling(memspy)
    time.sleep(0.5)
    memspy.send_signal(signal.SIGTERM)
    _, stderr = memspy.communicate(timeout=30)
    assert memspy.returncode == 128 + signal.SIGTERM, stderr
    assert speedscope_errors(json.loads(out.read_text())) == []


@pytest.mark.parametrize(
    "code,status",
    [("raise SystemExit(3)", 3), ("import os; os.kill(os.getpid(), 9)", 128 + 9)],
)
def test_exit_status_of_the_command_is_memspys(tmp_path: Path, code: str, status: int):
    out = tmp_path / "c.folded"
    script = SPIN.format(seconds=0.5) + code + "\n"
    result = record(["-o", str(out), "--", PY, "-c", script])
    assert result.returncode == status, result.stderr
    assert "stopped: the target exited" in result.stderr
    assert any("spinning" in frame_names(stack) for stack in folded(out)), result.stderr


def test_command_that_never_runs_python_still_leaves_a_valid_file(tmp_path: Path):
    out = tmp_path / "n.speedscope.json"
    result = record(["-o", str(out), "--", "/bin/sh", "-c", "exit 4"])
    assert result.returncode == 4
    assert "never became a Python process" in result.stderr
    assert speedscope_errors(json.loads(out.read_text())) == []


def test_profile_starts_at_the_commands_first_line(tmp_path: Path):
    """The first thing the program does, for only 300 ms, is in the profile: memspy is
    attached as the interpreter comes up, not after a fixed wait."""
    out = tmp_path / "f.folded"
    script = (
        "import time\n"
        "def first():\n"
        "    end = time.time() + 0.3\n"
        "    while time.time() < end:\n"
        "        pass\n"
        "first()\n"
    )
    _ok(record(["-o", str(out), "--rate", "1000", "--", PY, "-c", script]))
    assert samples_in(folded(out), "first") >= 10


def test_end_report_and_no_status_line_off_a_terminal(tmp_path: Path):
    out = tmp_path / "r.speedscope.json"
    result = record(["-o", str(out), *_demo(1)])
    _ok(result)
    assert "\r" not in result.stderr and "Ctrl-C" not in result.stderr
    summary = r"\d+ samples of 1 process\(es\) in [\d.]+s: [\d.]+ Hz of 100 Hz"
    assert re.search(summary, result.stderr)
    assert re.search(r"\d+ ticks missed .*, \d+ late; \d+ samples dropped", result.stderr)
    assert f"wrote speedscope profile to {out}" in result.stderr
    assert result.stdout.strip().startswith("{"), "the command's stdout is its own"


@pytest.mark.skipif(os.geteuid() != 0, reason="raising a priority needs root here")
@pytest.mark.parametrize("same", [False, True], ids=["raised", "same-priority"])
def test_the_sampling_thread_alone_runs_above_memspy_s_priority(tmp_path: Path, same: bool):
    """As root, the sampling thread runs 5 nice levels up and says so (not with
    ``--same-priority``); the command it started runs at memspy's own priority."""
    out = tmp_path / "r.folded"
    script = "import os\nprint(os.getpriority(os.PRIO_PROCESS, 0))\n" + SPIN.format(seconds=1)
    flags = ["--same-priority"] if same else []
    result = record(["-o", str(out), *flags, "--", PY, "-c", script])
    _ok(result)
    assert int(result.stdout) == os.getpriority(os.PRIO_PROCESS, 0)
    said = "sampled 5 nice levels above memspy's own priority" in result.stderr
    assert said != same, result.stderr


def test_status_line_on_a_terminal(tmp_path: Path):
    primary, secondary = pty.openpty()
    out = tmp_path / "p.speedscope.json"
    memspy = subprocess.Popen(
        [sys.executable, "-m", "memspy", "record", "-o", str(out), *_demo(1.5)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=secondary,
    )
    os.close(secondary)
    seen = b""
    while True:
        ready, _, _ = select.select([primary], [], [], 60)
        try:
            chunk = os.read(primary, 4096) if ready else b""
        except OSError:  # EIO: the terminal's last writer is gone
            chunk = b""
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert memspy.wait(timeout=60) == 0
    text = seen.decode(errors="replace")
    assert re.search(r"\r\S*memspy: +[\d.]+s +\d+ samples +[\d.]+ Hz +\d+ errors", text), text


def test_every_interpreter(interpreter: Interpreter, tmp_path: Path):
    out = tmp_path / "i.speedscope.json"
    result = record(
        ["-o", str(out), "--", str(interpreter.path), "-c", SPIN.format(seconds=1.0)]
    )
    _ok(result)
    document = json.loads(out.read_text())
    assert speedscope_errors(document) == []
    assert any(f["name"] == "spinning" for f in document["shared"]["frames"]), result.stderr


def test_how_the_stacks_were_read_is_reported_and_kept_in_the_file(tmp_path: Path):
    """The report counts every stack as exact, repaired or partly unknown, and formats
    with room for facts (pprof comments, a Chrome trace's otherData) keep that line."""
    import gzip

    from memspy.collectors.pprof_proto import profile_pb2

    trace, pprof = tmp_path / "r.trace.json", tmp_path / "r.pb.gz"
    counts = r"stacks: (\d+) exact, (\d+) repaired .*, (\d+) partly unknown"
    for out in (trace, pprof):
        result = record(["-o", str(out), *_demo(1)])
        _ok(result)
        found = re.search(counts, result.stderr)
        assert found, result.stderr
        samples = int(re.search(r"(\d+) samples of 1 process", result.stderr).group(1))
        # The demo runs three threads: each sample counts each thread's stack once.
        assert sum(map(int, found.groups())) >= samples > 0
    other = json.loads(trace.read_text())["otherData"]
    assert re.match(counts[len("stacks: "):], other["stacks"]) and other["dropped"] == "0 samples"
    profile = profile_pb2.Profile.FromString(gzip.decompress(pprof.read_bytes()))
    comments = [profile.string_table[index] for index in profile.comment]
    assert any(re.match(counts, comment) for comment in comments), comments
