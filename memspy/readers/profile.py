"""A saved profile as ``report`` and ``diff`` see it: weighted stacks and a few facts.

Every reader turns its format into this one shape, so the summary code never knows which
format a profile came from.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import DefaultDict, Dict, Iterable, Iterator, List, Optional, Tuple

from memspy.collectors.stacks import FrameKey

Stack = Tuple[FrameKey, ...]  # root first; a thread root frame has no filename


@dataclass
class LoadedProfile:
    """``unit`` is what a weight counts: "samples", "seconds", "microseconds" or
    "nanoseconds" (traced runs). Shares are the same whatever the unit."""

    path: str
    format: str
    unit: str = "samples"
    stacks: DefaultDict[Stack, float] = field(default_factory=lambda: defaultdict(float))
    facts: Dict[str, str] = field(default_factory=dict)  # pid, python, command, rate...
    # How long and how many, the same way for every format (weights are summed over
    # threads, so their total is neither): None where the format does not keep it.
    seconds: Optional[float] = None  # wall time from the first sample or event to the last
    samples: Optional[int] = None  # moments sampled (each counts once, whatever the threads)

    def add(self, stack: Stack, weight: float) -> None:
        if stack and weight > 0:
            self.stacks[stack] += weight

    def add_timeline(self, events: Iterable[Tuple[float, Optional[FrameKey]]]) -> None:
        """One thread's (time, frame opened or None for a close) events in time order: the
        stack open between two events counts for the time between them. A close with
        nothing open is ignored."""
        open_frames: List[FrameKey] = []
        last = None
        for at, frame in events:
            if last is not None and open_frames:
                self.add(tuple(open_frames), at - last)
            last = at
            if frame is not None:
                open_frames.append(frame)
            elif open_frames:
                open_frames.pop()

    @property
    def total(self) -> float:
        return sum(self.stacks.values())

    def weighted_stacks(self) -> Iterator[Tuple[Stack, float]]:
        return iter(self.stacks.items())
