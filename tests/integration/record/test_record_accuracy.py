"""Is what ``memspy record`` reports true? The demo measures its own split between heavy()
and light(); memspy's share must match it. The rate asked for must be the rate
taken, and the counts in the report must add up."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from interpreters import INTERPRETERS, Interpreter
from recorder import DEMO, folded, record, share

ACCURACY_VERSIONS = [i for i in INTERPRETERS if i.version in ((3, 8), (3, 11), (3, 13))]


@pytest.mark.parametrize("interpreter", ACCURACY_VERSIONS, ids=[i.id for i in ACCURACY_VERSIONS])
def test_split_between_heavy_and_light_is_within_two_points(
    interpreter: Interpreter, tmp_path: Path
):
    interpreter.require()
    out = tmp_path / "split.folded"
    # A slice that is no multiple of the sampling interval, so ticks do not alias with it.
    # 1000 Hz: over 5 s at 250 Hz a busy machine spread the error by 0.9 points (sd).
    result = record([
        "--function", "--rate", "1000", "-o", str(out), "--",
        str(interpreter.path), str(DEMO), "--seconds", "3", "--split", "0.7", "--slice", "0.0137",
    ])
    assert result.returncode == 0, result.stderr
    truth = json.loads(result.stdout)["heavy"]
    stacks = folded(out)
    measured = share(stacks, ["heavy", "light"])["heavy"]
    assert sum(stacks.values()) > 1500, result.stderr
    assert abs(measured - truth) <= 0.02, f"memspy {measured:.4f}, demo {truth:.4f}"


def _numbers(stderr: str) -> dict:
    found = re.search(
        r"(?P<samples>\d+) samples of 1 process\(es\) in (?P<duration>[\d.]+)s: "
        r"(?P<achieved>[\d.]+) Hz of (?P<requested>[\d.]+) Hz requested.*\n"
        r".*?(?P<missed>\d+) ticks missed .*?, (?P<late>\d+) late; (?P<errors>\d+) samples dropped",
        stderr,
    )
    assert found, stderr
    numbers = {name: float(value) for name, value in found.groupdict().items()}
    exiting = re.search(r"(\d+) samples not taken while a process was exiting", stderr)
    numbers["exiting"] = float(exiting.group(1)) if exiting else 0.0
    return numbers


def _record_for(seconds: float, rate: int, tmp_path: Path) -> dict:
    demo = subprocess.Popen(
        ["python3", str(DEMO), "--seconds", "60"], stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(0.3)
        result = record([
            "-p", str(demo.pid), "--rate", str(rate), "--duration", str(seconds),
            "-o", str(tmp_path / "rate.folded"),
        ])
        assert result.returncode == 0, result.stderr
        return _numbers(result.stderr)
    finally:
        demo.kill()
        demo.wait()


@pytest.mark.parametrize("rate", [100, 250])
def test_rate_is_honoured_and_the_counts_add_up(rate: int, tmp_path: Path):
    """Achieved within 5% of requested. The machine is shared: a run that falls behind
    (and says so, as missed ticks) is retried; three in a row fail the test."""
    attempts = []
    for _ in range(3):
        n = _record_for(2.0, rate, tmp_path)
        attempts.append(n)
        # Every tick the clock scheduled was taken (a sample or a dropped one) or missed.
        scheduled = int(n["duration"] * rate) + 1
        taken = n["samples"] + n["errors"] + n["exiting"]
        assert abs(taken + n["missed"] - scheduled) <= 2, n
        if abs(n["achieved"] - rate) <= 0.05 * rate:
            return
    pytest.fail(f"achieved rate off by more than 5% in 3 runs: {attempts}")
