"""The benchmark's reading of profiler and workload output (scripts/bench_parse.py).

The texts are what memspy and py-spy 0.4.3 really print; a change of wording must fail
here rather than turn into a zero in the benchmark's table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))

import bench_parse as bench  # noqa: E402

MEMSPY = """\
memspy: sampling process 16891 (Python 3.12.1) at 1000 Hz
memspy: stopped: --duration reached
memspy: 1940 samples of 1 process(es) in 2.00s: 970.0 Hz of 1000 Hz requested (97%)
memspy: 3 ticks missed (memspy fell behind), 7 late; 57 samples dropped for read errors
memspy: wrote collapsed profile to /tmp/m.folded
"""

PYSPY = """\
py-spy> Sampling process 1000 times a second for 2 seconds. Press Control-C to exit.

py-spy> Wrote raw flamegraph data to '/tmp/p.folded'. Samples: 1999 Errors: 12
py-spy> You can use the flamegraph.pl script from https://github.com/brendangregg/flamegraph
"""


def test_folded_total_sums_the_last_field_of_each_line():
    text = (
        "<module> (/tmp/w.py:6);f (/tmp/w.py:4) 1998\n"
        "\n"
        "Thread.run (threading.py:1010);nest (_common.py:36) 2\n"
        "f (a file with spaces.py:3) 40\n"
    )
    assert bench.folded_total(text) == 2040


def test_folded_total_rejects_a_line_without_a_count():
    with pytest.raises(ValueError, match="line 2"):
        bench.folded_total("f (a.py:1) 3\nf (a.py:2)\n")


def test_memspy_counts():
    counts = bench.memspy_counts(MEMSPY)
    assert counts == bench.ProfilerCounts(samples=1940, dropped=57, missed=3)
    assert counts.dropped_share == pytest.approx(57 / 1997)


def test_pyspy_counts():
    counts = bench.pyspy_counts(PYSPY)
    assert counts == bench.ProfilerCounts(samples=1999, dropped=12)
    assert counts.dropped_share == pytest.approx(12 / 2011)


def test_floor_counts():
    text = "floor: sampling process 7\nfloor: stopped\nfloor: 1987 samples, 13 ticks missed\n"
    assert bench.floor_counts(text) == bench.ProfilerCounts(samples=1987, dropped=0, missed=13)
    with pytest.raises(ValueError, match="floor"):
        bench.floor_counts(MEMSPY)


def test_no_statistics_is_an_error_not_a_zero():
    with pytest.raises(ValueError, match="memspy"):
        bench.memspy_counts(PYSPY)
    with pytest.raises(ValueError, match="py-spy"):
        bench.pyspy_counts(MEMSPY)


def test_dropped_share_of_nothing_is_zero():
    assert bench.ProfilerCounts(0, 0).dropped_share == 0.0


def test_workload_elapsed():
    assert bench.workload_elapsed("elapsed 1.229054\n") == pytest.approx(1.229054)
    with pytest.raises(ValueError):
        bench.workload_elapsed("Traceback (most recent call last):\n")


def test_sampling_seconds_runs_from_the_start_line_to_the_stop_line():
    said = [bench.Said(10.0, line + "\n") for line in MEMSPY.splitlines()]
    said[1] = bench.Said(12.5, said[1].line)
    said[4] = bench.Said(13.0, said[4].line)
    assert bench.sampling_seconds(said, "memspy: sampling", "memspy: stopped") == 2.5


def test_sampling_seconds_without_a_stop_line_is_an_error():
    said = [bench.Said(1.0, "memspy: sampling process 1\n")]
    with pytest.raises(ValueError, match="stopped"):
        bench.sampling_seconds(said, "memspy: sampling", "memspy: stopped")


def test_marginal_cost_cancels_the_start_up_cost():
    start_up, per_sample = 0.35, 50e-6
    short = start_up + 1000 * per_sample
    long = start_up + 3000 * per_sample
    assert bench.marginal_per_sample(short, 1000, long, 3000) == pytest.approx(per_sample)


def test_marginal_cost_needs_more_samples_in_the_long_run():
    assert bench.marginal_per_sample(0.1, 1000, 0.2, 1000) is None


def test_min_median_ignores_unknowns():
    assert bench.min_median([3.0, None, 1.0, 2.0]) == (1.0, 2.0)
    assert bench.min_median([None]) == (None, None)
