"""A recording killed with SIGKILL leaves a complete, valid profile of what it sampled up
to its last checkpoint, in every format.

Each trial records a busy target with `--checkpoint 1`, is killed at a random moment
between 1 and 15 s after its first sample, and the file left must parse (with the readers
`memspy report` uses; the SVG flame graph as complete XML) and hold the samples of all but
the last checkpoint interval. Trials of all five formats run side by side, four rounds: 20.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
from interpreters import INTERPRETERS

from memspy.readers import load_profile

REPO = Path(__file__).resolve().parents[3]
WORKLOAD = REPO / "scripts" / "bench_workloads" / "phases.py"
FORMATS = ("x.speedscope.json", "x.folded", "x.pb.gz", "x.trace.json", "x.svg")
RATE = 100
INTERVAL = 1.0
ROUNDS = 2
# Samples the file must hold: those of every whole interval before the kill but the last,
# at half the requested rate (a trial shares two CPUs with four others and their targets).
KEPT = 0.5


def _samples(path: Path) -> int:
    if path.suffix == ".svg":  # no reader: a complete document, its total in the subtitle
        root = ElementTree.parse(path).getroot()
        subtitle = next(e for e in root.iter() if e.get("id") == "subtitle")
        return int((subtitle.text or "").split(" ")[0].replace(",", ""))
    profile = load_profile(str(path))  # one busy thread: its weights add up to the samples
    per_sample = {"samples": 1.0, "seconds": 1 / RATE, "microseconds": 1e6 / RATE}
    return round(sum(profile.stacks.values()) / per_sample[profile.unit])


def _started(stderr: Path, deadline: float) -> Optional[float]:
    """When memspy said it samples (its first sample follows at once)."""
    while time.monotonic() < deadline:
        if "sampling process" in stderr.read_text(errors="replace"):
            return time.monotonic()
        time.sleep(0.02)
    return None


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_a_valid_profile(tmp_path: Path) -> None:
    present = [i for i in INTERPRETERS if i.present]
    if not present:
        pytest.skip("no interpreter of tests/interpreters.py is installed")
    python = str(present[-1].path)
    chance = random.Random(os.environ.get("MEMSPY_TRIAL_SEED", str(time.time())))
    results: List[Tuple[str, float, int]] = []
    for round_ in range(ROUNDS):
        runs = []
        for name in FORMATS:
            out = tmp_path / f"r{round_}-{name}"
            stderr = tmp_path / f"r{round_}-{name}.err"
            memspy = subprocess.Popen(
                [sys.executable, "-m", "memspy", "record", "--checkpoint", str(INTERVAL),
                 "-r", str(RATE), "-o", str(out), "--", python, str(WORKLOAD), "alternate",
                 "60"],
                stdout=subprocess.DEVNULL, stderr=stderr.open("wb"), cwd=str(REPO),
                start_new_session=True,  # its target too is killed by the group
            )
            runs.append((memspy, out, stderr, chance.uniform(1.0, 15.0)))
        try:
            begun = [_started(stderr, time.monotonic() + 60) for _, _, stderr, _ in runs]
            assert None not in begun, [s.read_text() for _, _, s, _ in runs]
            killed = []
            for start, (memspy, out, stderr, after) in sorted(
                zip(begun, runs), key=lambda pair: pair[0] + pair[1][3]  # type: ignore[operator]
            ):
                time.sleep(max(0.0, start + after - time.monotonic()))  # type: ignore[operator]
                os.kill(memspy.pid, signal.SIGKILL)
                killed.append((out, stderr, time.monotonic() - start))  # type: ignore[operator]
                memspy.wait(timeout=30)
            time.sleep(INTERVAL * 3)  # a checkpoint being written when the kill came ends
            for out, stderr, after in killed:
                results.append((out.name, after, _samples(out)))
                whole = int(after / INTERVAL) - 1
                assert results[-1][2] >= KEPT * RATE * whole * INTERVAL, (
                    results[-1], stderr.read_text())
            leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
            assert not leftovers, leftovers
        finally:
            for memspy, _, _, _ in runs:
                try:
                    os.killpg(memspy.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                memspy.wait(timeout=30)
    assert len(results) == ROUNDS * len(FORMATS)
    for name, after, count in results:
        print(f"{name}: killed after {after:.1f} s, {count} samples")
