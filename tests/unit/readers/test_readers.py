"""Every format that keeps stacks reads back into the stacks that were written, and damaged
files give a clear error, never a traceback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from memspy.cli.report import recorded
from memspy.collectors import create
from memspy.collectors.stacks import FrameKey
from memspy.errors import InputError
from memspy.model import Frame, ProfileInfo, Sample, ThreadStack, TraceEvent
from memspy.readers import load_profile
from memspy.reports.summary import function_shares

STACKS_FORMATS = ["speedscope", "collapsed", "chrometrace"]
SUFFIX = {
    "speedscope": ".speedscope.json", "collapsed": ".folded", "chrometrace": ".trace.json",
    "pprof": ".pb.gz",
}  # fmt: skip


def _thread(tid: int, *names: str) -> ThreadStack:
    frames = tuple(Frame(name, "w.py", i + 1) for i, name in enumerate(names))
    return ThreadStack(tid, tid + 100, f"t{tid}", True, False, frames)


def _samples() -> list:
    """70 samples of heavy, 30 of light, and a second thread always in wait."""
    samples = []
    for i in range(100):
        leaf = "heavy" if i % 10 < 7 else "light"
        threads = (_thread(1, leaf, "main"), _thread(2, "wait", "worker"))
        samples.append(Sample(i / 100, 42, threads))
    return samples


INFO = ProfileInfo(pid=42, rate_hz=100.0)


def _write(tmp_path: Path, fmt: str, samples: list, info: ProfileInfo = INFO) -> Path:
    collector = create(fmt, info)
    for sample in samples:
        collector.collect(sample)
    buffer = io.BytesIO()
    collector.export(buffer)
    path = tmp_path / f"p{SUFFIX[fmt]}"
    path.write_bytes(buffer.getvalue())
    return path


def _own(path: Path) -> dict:
    shares = function_shares(load_profile(str(path)).weighted_stacks())
    return {s.name: round(s.own, 3) for s in shares if s.own}


@pytest.mark.parametrize("fmt", STACKS_FORMATS)
def test_shares_survive_the_round_trip(tmp_path: Path, fmt: str):
    assert _own(_write(tmp_path, fmt, _samples())) == {"heavy": 0.35, "light": 0.15, "wait": 0.5}


@pytest.mark.parametrize("fmt", STACKS_FORMATS)
def test_stacks_keep_their_frames_root_first(tmp_path: Path, fmt: str):
    profile = load_profile(str(_write(tmp_path, fmt, _samples())))
    assert profile.format == fmt
    stacks = {tuple(f.name for f in stack) for stack in profile.stacks}
    assert stacks == {("main", "heavy"), ("main", "light"), ("worker", "wait")}
    frame = next(iter(profile.stacks))[0]
    assert frame.filename == "w.py" and frame.line == 2


def test_collapsed_counts_are_exact_and_thread_roots_are_not_functions(tmp_path: Path):
    path = tmp_path / "t.folded"
    path.write_text("t1 (101);main (w.py:2);heavy (w.py:1) 7\nt1 (0x7f);main (w.py:2) 3\n")
    profile = load_profile(str(path))
    assert profile.total == 10
    root = next(iter(profile.stacks))[0]
    assert root == FrameKey("t1 (101)", None, None)
    assert {s.name for s in function_shares(profile.weighted_stacks())} == {"main", "heavy"}


def test_a_filename_with_colons_keeps_its_line(tmp_path: Path):
    path = tmp_path / "c.txt"
    path.write_text("f (C:/odd:name.py:12) 2\n")
    (stack,) = load_profile(str(path)).stacks
    assert stack == (FrameKey("f", "C:/odd:name.py", 12),)


def test_traced_speedscope_reads_back_as_durations(tmp_path: Path):
    collector = create("speedscope", ProfileInfo(pid=7))
    main, work = Frame("main", "m.py", 1), Frame("work", "m.py", 5)
    for time, kind, frame in [(0.0, "enter", main), (1.0, "enter", work), (4.0, "leave", work),
                              (5.0, "leave", main)]:
        collector.collect_event(TraceEvent(time, 7, 1, kind, frame))
    buffer = io.BytesIO()
    collector.export(buffer)
    path = tmp_path / "e.speedscope.json"
    path.write_bytes(buffer.getvalue())
    assert _own(path) == {"main": 0.4, "work": 0.6}
    assert recorded(load_profile(str(path))) == "5.000 s of wall time"


@pytest.mark.parametrize(
    "fmt,expected",
    [
        ("speedscope", "1.000 s of wall time"),
        ("chrometrace", "1.000 s of wall time, 100 samples"),
        ("pprof", "1.000 s of wall time, 100 samples"),
        ("collapsed", "200 thread samples (this format keeps no times)"),
    ],
)
def test_what_was_recorded_reads_in_seconds_and_samples_in_every_format(tmp_path, fmt, expected):
    """One second at 100 Hz of two threads: one second and 100 samples, not the weights
    summed over the threads, and in seconds whatever unit the format counts in."""
    info = ProfileInfo(pid=42, rate_hz=100.0, duration_s=1.0, extra=(("samples", "100"),))
    assert recorded(load_profile(str(_write(tmp_path, fmt, _samples(), info)))) == expected


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "is empty"),
        (b'{"shared": {"frames": []}, "profiles": [{"type": "sampled", "samp', "not valid JSON"),
        (b'{"shared": {"frames": []}, "profiles": [{"type": "sampled"}]}', "malformed"),
        (b'{"shared": {"frames": []}, "profiles": [{"type": "sampled", "samples": [[5]],'
         b' "weights": [1]}]}', "malformed"),
        (b'{"traceEvents": [{"ph": "B", "name": "f"}]}', "malformed"),
        (b'{"hello": 1}', "not a profile"),
        (b"main (a.py:1);f (a.py:2) x\n", "line 1"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG"),
        (b"\x00\x01\x02binary", "line 1"),
    ],
)
def test_damaged_or_foreign_files_are_clear_errors(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.profile"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_profile(str(path))


def test_missing_file_and_directory(tmp_path: Path):
    with pytest.raises(InputError, match="no such file"):
        load_profile(str(tmp_path / "nope.json"))
    with pytest.raises(InputError, match="directory"):
        load_profile(str(tmp_path))
