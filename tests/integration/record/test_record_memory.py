"""Memory stays bounded: twenty minutes at 100 Hz (120,000 samples) of a live target through
every output format at once. Run with ``-s`` to see the numbers (``scripts/bench_memory.py``
measures longer runs)."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest
from recorder import DEMO

from memspy.collectors import FORMATS, create
from memspy.interpreter.process import PythonProcess
from memspy.model import ProfileInfo
from memspy.sampling.recording import Recording

SAMPLES = 120_000
# What the last 108,000 samples may add to the profiler, every format together: 200 bytes
# a sample (4.2 MB measured; the timeline formats keep a few bytes per sample).
GROWTH_LIMIT_MB = 21


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


@pytest.mark.slow
def test_twenty_minutes_of_samples_keep_memory_bounded():
    demo = subprocess.Popen(
        [sys.executable, str(DEMO), "--seconds", "1200"], stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(0.3)
        with PythonProcess(demo.pid) as process:
            info = ProfileInfo(pid=demo.pid, rate_hz=100.0)
            recordings = [Recording(create(name, info), idle=True, gil=False) for name in FORMATS]
            taken, began, checkpoint = 0, time.monotonic(), None
            while taken < SAMPLES:
                sample = process.sample()
                for recording in recordings:
                    recording.add(sample)
                taken += 1
                if taken == SAMPLES // 10:
                    checkpoint = _rss_mb()
            end = _rss_mb()
            assert checkpoint is not None
            print(f"\n{taken} samples in {time.monotonic() - began:.0f}s; RSS {checkpoint:.1f} MB "
                  f"after {SAMPLES // 10:,}, {end:.1f} MB after {SAMPLES:,}")
            assert end - checkpoint < GROWTH_LIMIT_MB
    finally:
        demo.kill()
        demo.wait()
