"""`record --rotate`: one self-contained pprof file per interval, none lost at the stop.

A target that runs 7.3 s is recorded twice at once: with `--rotate 2` (four files, the
last one partial, as the target exits in the middle of it) and as one file. Each rotated
file is read by `go tool pprof` (where Go is installed) and by memspy's reader; their
time ranges follow each other exactly, and their samples add up to the single file's
(the two recordings sample the same run, at moments a few hundred µs apart).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from interpreters import INTERPRETERS

from memspy.collectors.pprof_proto import profile_pb2
from memspy.readers import load_profile

REPO = Path(__file__).resolve().parents[3]
WORKLOAD = REPO / "scripts" / "bench_workloads" / "phases.py"
EVERY = 2.0
RATE = 100
GO = shutil.which("go")


def _profile(path: Path) -> profile_pb2.Profile:
    profile = profile_pb2.Profile()
    profile.ParseFromString(gzip.decompress(path.read_bytes()))
    return profile


def _index(path: Path) -> int:
    return int(path.name.split("-")[1].split(".")[0])


def _samples(profile: profile_pb2.Profile) -> int:
    return sum(sample.value[0] for sample in profile.sample)


@pytest.mark.slow
def test_one_file_per_interval_adding_up_to_the_whole_run(tmp_path: Path) -> None:
    present = [i for i in INTERPRETERS if i.present]
    if not present:
        pytest.skip("no interpreter of tests/interpreters.py is installed")
    target = subprocess.Popen(
        [str(present[-1].path), str(WORKLOAD), "alternate", "7.3"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        assert target.stdout is not None and target.stdout.readline() == b"ready\n"
        common = [sys.executable, "-m", "memspy", "record", "-p", str(target.pid), "-r", str(RATE)]
        rotated = subprocess.Popen(
            [*common, "--rotate", str(EVERY), "-o", str(tmp_path / "{pid}-{index}.pb.gz")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(REPO), text=True,
        )
        single = subprocess.run(
            [*common, "-o", str(tmp_path / "single.pb.gz")],
            capture_output=True, cwd=str(REPO), text=True, timeout=120,
        )
        _, errors = rotated.communicate(timeout=120)
        assert rotated.returncode == 0 and single.returncode == 0, (errors, single.stderr)
    finally:
        target.kill()
        target.wait(timeout=30)
    files = sorted(tmp_path.glob(f"{target.pid}-*.pb.gz"), key=_index)
    assert [p.name for p in files] == [f"{target.pid}-{i}.pb.gz" for i in range(len(files))]
    assert len(files) == 4, errors  # 7.3 s: three whole intervals and a partial one
    profiles = [_profile(path) for path in files]
    first = profiles[0].time_nanos
    for index, profile in enumerate(profiles):
        assert profile.time_nanos == first + round(index * EVERY * 1e9)
        if index < len(profiles) - 1:
            assert profile.duration_nanos == round(EVERY * 1e9)
            assert abs(_samples(profile) - EVERY * RATE) <= 0.1 * EVERY * RATE
        else:
            assert 0 < profile.duration_nanos < EVERY * 1e9
        assert load_profile(str(files[index])).stacks  # memspy's own reader takes it
    whole = _samples(_profile(tmp_path / "single.pb.gz"))
    assert abs(sum(_samples(p) for p in profiles) - whole) <= 0.03 * whole
    if GO is not None:
        env = dict(os.environ, HOME=str(tmp_path), GOCACHE=str(tmp_path / "gocache"))
        for path in files:
            result = subprocess.run(
                [GO, "tool", "pprof", "-raw", str(path)],
                capture_output=True, text=True, timeout=60, env=env,
            )
            assert result.returncode == 0, result.stderr
            assert "Samples:" in result.stdout or "samples/count" in result.stdout


def test_rotation_needs_a_template_that_names_each_interval(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "memspy", "record", "--rotate", "5", "-o", str(tmp_path / "x.pb.gz"),
         "--", sys.executable, "-c", "pass"],
        capture_output=True, text=True, timeout=60, cwd=str(REPO),
    )
    assert done.returncode != 0
    assert done.stderr.startswith("memspy: error: --rotate needs an output template")
    assert "Traceback" not in done.stderr
