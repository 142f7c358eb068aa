"""Numbers out of what the profilers and workloads print, for scripts/bench.py.

Kept apart from the benchmark's process juggling so that it can be tested on strings: a
profiler that changes its wording must make these fail loudly, not turn into a silent
zero in a table someone reads as a result.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

_MEMSPY_SAMPLES = re.compile(r"memspy: (\d+) samples of \d+ process")
_MEMSPY_COUNTS = re.compile(
    r"memspy: (\d+) ticks missed .*?, (\d+) late; (\d+) samples dropped for read errors"
)
_PYSPY_SAMPLES = re.compile(r"Samples: (\d+) Errors: (\d+)")
_FLOOR_COUNTS = re.compile(r"floor: (\d+) samples, (\d+) ticks missed")
_ELAPSED = re.compile(r"^elapsed (\d+(?:\.\d*)?)$")


@dataclass(frozen=True)
class ProfilerCounts:
    """A profiler's own account of a run; ``dropped`` are attempted samples it threw away
    (memspy: read errors; py-spy: errors), ``missed`` ticks it never attempted."""

    samples: int
    dropped: int
    missed: Optional[int] = None  # py-spy does not say

    @property
    def dropped_share(self) -> float:
        attempted = self.samples + self.dropped
        return self.dropped / attempted if attempted else 0.0


def folded_total(text: str) -> int:
    """Sum of the counts of a folded-stacks file (``frame;frame;... COUNT`` per line).

    With several threads per sample this counts thread stacks, not sampling ticks."""
    total = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        count = line.rsplit(None, 1)[-1]
        if not count.isdigit():
            raise ValueError(f"folded line {number} does not end in a count: {line[:80]!r}")
        total += int(count)
    return total


def memspy_counts(stderr: str) -> ProfilerCounts:
    """memspy's closing statistics lines; ``samples`` excludes the dropped ones."""
    samples = _MEMSPY_SAMPLES.search(stderr)
    counts = _MEMSPY_COUNTS.search(stderr)
    if not samples or not counts:
        raise ValueError(f"no memspy statistics in its output: {stderr[-300:]!r}")
    missed, _late, dropped = (int(group) for group in counts.groups())
    return ProfilerCounts(int(samples.group(1)), dropped, missed)


def pyspy_counts(stderr: str) -> ProfilerCounts:
    """py-spy's "Samples: N Errors: M" line. Its N counts thread stacks, like the file."""
    found = _PYSPY_SAMPLES.search(stderr)
    if not found:
        raise ValueError(f"no py-spy statistics in its output: {stderr[-300:]!r}")
    return ProfilerCounts(int(found.group(1)), int(found.group(2)))


def floor_counts(stderr: str) -> ProfilerCounts:
    """The floor sampler's closing line (scripts/bench_floor.py); it drops nothing."""
    found = _FLOOR_COUNTS.search(stderr)
    if not found:
        raise ValueError(f"no floor statistics in its output: {stderr[-300:]!r}")
    return ProfilerCounts(int(found.group(1)), 0, int(found.group(2)))


class Said(NamedTuple):
    """One line a profiler wrote, with the monotonic time it arrived."""

    at: float
    line: str


def transcript(said: Sequence[Said]) -> str:
    return "".join(entry.line for entry in said)


def sampling_seconds(said: Sequence[Said], started: str, stopped: str) -> float:
    """Wall time between the lines saying that sampling started and stopped.

    Not the ``--duration`` asked for: py-spy takes rate x duration samples however long
    that lasts, so only its real sampling time shows when it falls behind. Not the
    process's lifetime either, which adds memspy's interpreter start-up."""
    first = next((entry.at for entry in said if started in entry.line), None)
    last = next((entry.at for entry in said if stopped in entry.line), None)
    if first is None or last is None or last <= first:
        raise ValueError(f"no {started!r} then {stopped!r} lines in: {transcript(said)[-300:]!r}")
    return last - first


def workload_elapsed(line: str) -> float:
    """Seconds of work the fixed workload timed itself (its ``elapsed S`` line)."""
    found = _ELAPSED.match(line.strip())
    if not found:
        raise ValueError(f"expected 'elapsed SECONDS' from the workload, got {line!r}")
    return float(found.group(1))


def marginal_per_sample(
    short_cpu: float, short_samples: float, long_cpu: float, long_samples: float
) -> Optional[float]:
    """CPU seconds per extra sample between a short and a long run: the fixed cost of
    starting (memspy's interpreter start-up, attaching, writing the file) cancels out.
    None when the long run took no more samples than the short one."""
    extra = long_samples - short_samples
    if extra <= 0:
        return None
    return (long_cpu - short_cpu) / extra


def min_median(values: Sequence[Optional[float]]) -> tuple[Optional[float], Optional[float]]:
    """(min, median) of the known values, (None, None) when there are none."""
    known = [value for value in values if value is not None]
    if not known:
        return None, None
    return min(known), statistics.median(known)
