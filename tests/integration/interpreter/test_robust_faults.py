"""Faults during a run: the target or memspy dies at a random moment, the output cannot be
written, two memspys share a target, a target churns. Nothing recorded is lost, nothing is
left half-written, the target is never left stopped.

The repeated cases run several memspys at once (short random durations) so that 50 runs
stay within seconds; the long churn run is slow-marked.
"""

from __future__ import annotations

import gc
import os
import random
import re
import resource
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Tuple

import pytest
from descriptors import open_descriptors
from interpreters import INTERPRETERS
from robust import (
    end,
    frames_of,
    leftovers,
    load_profile,
    memspy,
    start,
    wait_for_line,
)
from target import _task_states as task_states

from memspy.errors import MemspyError
from memspy.interpreter.process import PythonProcess
from memspy.interpreter.thread_facts import KEEP_GONE

RUNS = int(os.environ.get("MEMSPY_ROBUST_RUNS", "50"))
PARALLEL = 4
SAMPLING = "sampling process"  # what record says once it samples


def _one_run(tmp: Path, index: int, kill: Callable[[Any, Any], None]) -> Tuple[int, str, Path]:
    """Start a churning target and memspy on it; ``kill(target, memspy)`` at a random time."""
    rng = random.Random(index)
    out = tmp / f"run{index}.speedscope.json"
    target = start("churn.py", "2")
    try:
        recorder = memspy("record", "-p", str(target.pid), "-o", str(out), "-r", "500")
        said = "".join(wait_for_line(recorder, SAMPLING))
        time.sleep(rng.uniform(0.0, 0.25))
        kill(target, recorder)
        _, err = recorder.communicate(timeout=60)
    finally:
        end(target)
    return recorder.returncode, said + err, out


def _repeat(tmp_path: Path, kill: Callable[[Any, Any], None], speedscope_errors) -> list:
    with ThreadPoolExecutor(PARALLEL) as pool:
        runs = list(pool.map(lambda i: _one_run(tmp_path, i, kill), range(RUNS)))
    messages = []
    for code, err, out in runs:
        assert code == 0, err
        assert "Traceback" not in err, err
        load_profile(out, speedscope_errors)  # complete and valid, every time
        messages.append(err)
    assert leftovers(tmp_path, [out for _, _, out in runs]) == []
    return messages


def test_the_target_dies_at_a_random_moment(tmp_path: Path, speedscope_errors) -> None:
    def kill_target(target, recorder) -> None:
        target.send_signal(random.choice([signal.SIGKILL, signal.SIGTERM]))

    for err in _repeat(tmp_path, kill_target, speedscope_errors):
        assert "the target exited" in err, err


def test_memspy_is_interrupted_at_a_random_moment(tmp_path: Path, speedscope_errors) -> None:
    def interrupt(target, recorder) -> None:
        recorder.send_signal(random.choice([signal.SIGINT, signal.SIGTERM]))

    for err in _repeat(tmp_path, interrupt, speedscope_errors):
        assert "interrupted" in err, err


def test_a_sigkilled_blocking_memspy_leaves_the_target_running(tmp_path: Path) -> None:
    target = start("churn.py", "2")
    try:
        for index in range(10):
            recorder = memspy(
                "record", "--blocking", "-p", str(target.pid), "-o",
                str(tmp_path / f"b{index}.json"), "-r", "1000",
            )
            wait_for_line(recorder, SAMPLING)
            time.sleep(random.uniform(0.0, 0.2))
            recorder.kill()
            recorder.communicate(timeout=30)
            deadline = time.monotonic() + 5
            while True:  # the kernel detaches a dead tracer's tracees at once; allow a moment
                stopped = {t: s for t, s in task_states(target.pid).items() if s in "Tt"}
                if not stopped or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            assert stopped == {}, f"run {index}: threads left stopped: {stopped}"
            assert target.poll() is None
    finally:
        end(target)


_ANONYMOUS = {"<module>", "<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>"}


def _real_frames(document) -> Tuple[int, list]:
    """(frames checked, frames naming no function of their file)."""
    unknown = []
    sources = {}
    for frame in frames_of(document):
        name, path = frame["name"], frame.get("file", "")
        if name.startswith("<truncated") or (name, path) == ("<unknown>", "<memspy>"):
            continue  # memspy's markers: a cut stack, a part that could not be read
        if path not in sources:
            try:
                sources[path] = Path(path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                sources[path] = None
        source = sources[path]
        short = name.rsplit(".", 1)[-1]
        if source is None or not (
            short in _ANONYMOUS or re.search(rf"def {re.escape(short)}\b", source)
        ):
            unknown.append(frame)
    return len(frames_of(document)), unknown


def _churn(tmp_path: Path, seconds: float, speedscope_errors) -> None:
    out = tmp_path / "churn.speedscope.json"
    target = start("churn.py", "6")
    try:
        recorder = memspy(
            "record", "-p", str(target.pid), "-o", str(out), "-r", "1000", "-d", str(seconds)
        )
        _, err = recorder.communicate(timeout=seconds + 60)
    finally:
        end(target)
    assert recorder.returncode == 0, err
    assert "Traceback" not in err
    # A stack that changed while it was read is repaired or kept partly unknown, never
    # dropped; a thread list torn by a thread's end is read again in its sample. Without
    # that second read, 1-2% of this target's samples were lost.
    samples = int(re.search(r"(\d+) samples of \d+ process", err).group(1))
    dropped = int(re.search(r"(\d+) samples dropped for read errors", err).group(1))
    assert samples > 0 and dropped <= samples / 1000, err
    document = load_profile(out, speedscope_errors)
    checked, unknown = _real_frames(document)
    assert checked > 0
    assert unknown == []


def test_a_churning_target_briefly(tmp_path: Path, speedscope_errors) -> None:
    _churn(tmp_path, 3, speedscope_errors)


@pytest.mark.slow
def test_a_churning_target_for_15s_at_1000hz(tmp_path: Path, speedscope_errors) -> None:
    _churn(tmp_path, 15, speedscope_errors)


def test_an_unwritable_output_fails_before_sampling(tmp_path: Path) -> None:
    target = start("churn.py", "1")
    try:
        for path in ("/proc/memspy.speedscope.json", str(tmp_path / "nodir" / "x.json")):
            recorder = memspy("record", "-p", str(target.pid), "-o", path, "-d", "5")
            _, err = recorder.communicate(timeout=60)
            assert recorder.returncode == 8, err
            assert SAMPLING not in err and "Traceback" not in err
            assert err.count("\n") == 1 and "memspy: error: cannot write" in err
            assert not Path(path).exists()
    finally:
        end(target)


def test_a_full_disk_leaves_no_partial_file(tmp_path: Path) -> None:
    """A file size limit (EFBIG, as a full disk gives ENOSPC) hits when the profile is
    written: a clear error, and neither the profile nor its temporary file remains."""
    out = tmp_path / "full.speedscope.json"

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    target = start("churn.py", "2")
    try:
        recorder = memspy(
            "record", "-p", str(target.pid), "-o", str(out), "-d", "1", "-r", "500",
            preexec_fn=small_files,
        )
        _, err = recorder.communicate(timeout=60)
    finally:
        end(target)
    assert recorder.returncode == 8, err
    assert "Traceback" not in err and "too large" in err, err
    assert leftovers(tmp_path) == []


def test_two_memspys_on_one_target(tmp_path: Path, speedscope_errors) -> None:
    target = start("churn.py", "2")
    try:
        outs = [tmp_path / f"{n}.speedscope.json" for n in ("a", "b")]
        recorders = [
            memspy("record", "-p", str(target.pid), "-o", str(o), "-d", "2", "-r", "300")
            for o in outs
        ]
        errs = [r.communicate(timeout=60)[1] for r in recorders]
    finally:
        end(target)
    for recorder, err, out in zip(recorders, errs, outs):
        assert recorder.returncode == 0, err
        assert frames_of(load_profile(out, speedscope_errors)), err


@pytest.mark.parametrize(
    "interpreter, ask_kernel",
    [  # pthread ids, learnt again from the stat files or from the thread list; native tids
        (i, ask) for i in INTERPRETERS for ask in (True, False)
        if i.version == (3, 9) or (i.version == (3, 13) and ask)
    ],
    ids=lambda v: v.id if hasattr(v, "id") else ("kernel" if v else "idle"),
)
def test_thread_churn_leaves_no_open_files_behind(interpreter, ask_kernel: bool) -> None:
    """Hundreds of short-lived threads: what is kept about ended ones (stat files, names,
    kernel ids) stays bounded, and the files are closed. Before 3.11 a new thread often
    gets an ended one's pthread id: its kernel tid must be learnt again, not reused (so
    many tids are seen, not a handful)."""
    interpreter.require()
    target = start("churn.py", "4", python=str(interpreter.path))
    try:
        with PythonProcess(target.pid) as process:
            seen, most = set(), 0
            # Until the target has churned through enough threads (a busy machine gives it
            # fewer per second), within a deadline far beyond what an idle one needs (~2 s).
            deadline = time.monotonic() + 60
            while len(seen) <= 2 * KEEP_GONE + 8 and time.monotonic() < deadline:
                try:
                    sample = process.sample(idle_states=ask_kernel)
                except MemspyError:  # a thread list torn by the churn: the sampler counts those
                    continue
                seen.update(t.native_tid for t in sample.threads)
                most = max(most, _stat_files(target.pid))
                time.sleep(0.001)
    finally:
        end(target)
    assert len(seen) > 2 * KEEP_GONE  # the target did churn through threads
    assert most <= 8 + 2 * KEEP_GONE, f"{most} stat files open after {len(seen)} threads"
    assert _stat_files(target.pid) == 0


def test_a_reader_dropped_unclosed_leaves_no_open_files_behind() -> None:
    """A reader dropped without ``close`` (by a library's caller, or a test) closes its
    stat files when it is collected: a run of tests that each left theirs open once took
    the process's descriptors past what ``select`` can wait on."""
    target = start("call_or_wait.py")
    try:
        process = PythonProcess(target.pid)
        process.sample()
        opened = _stat_files(target.pid)
        del process
        gc.collect()
        left = _stat_files(target.pid)
    finally:
        end(target)
    assert opened > 0 and left == 0, (opened, left)


def _stat_files(pid: int) -> int:
    """memspy's open files on the target's thread stat files."""
    prefix = f"/proc/{pid}/task/"
    return sum(path.startswith(prefix) for path in open_descriptors().values())
