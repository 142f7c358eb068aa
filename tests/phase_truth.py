"""Comparing a profile with what scripts/bench_workloads/phases.py measured of itself.

Shared by the accuracy test and the accuracy benchmark, so both judge a profile the same
way: over the samples inside ``Timed.run`` (the workload's truth leaves out its start-up
and calibration), a phase's share is the fraction of them whose stack holds the phase's
function; its true share is its CPU time over the threads' time in ``Timed.run``.
"""

from __future__ import annotations

import json
from typing import Dict, Iterable, Tuple

RUN = {"run", "Timed.run"}  # the function's name before and after 3.11's qualified names


def truth_of(output: str) -> Dict[str, float]:
    """Each phase's true share, from the JSON line the workload prints last."""
    measured = json.loads(output.strip().splitlines()[-1])
    return {phase: cpu / measured["total"] for phase, cpu in measured["phases"].items()}


def phase_shares(
    folded: Iterable[Tuple[str, int]], phases: Iterable[str]
) -> Tuple[Dict[str, float], int]:
    """Each phase's share of the samples inside ``Timed.run``, and how many those are,
    from (folded stack, count) pairs (py-spy's raw format and memspy's collapsed one)."""
    counts = dict.fromkeys(phases, 0)
    total = 0
    for stack, count in folded:
        names = {frame.split(" (", 1)[0] for frame in stack.split(";")}
        if not names & RUN:
            continue
        total += count
        for phase in counts:
            if phase in names:
                counts[phase] += count
    return {phase: (n / total if total else 0.0) for phase, n in counts.items()}, total


def worst_error(truth: Dict[str, float], shares: Dict[str, float]) -> float:
    """The largest difference between a phase's share and its truth, as a share."""
    return max(abs(shares[phase] - truth[phase]) for phase in truth)
