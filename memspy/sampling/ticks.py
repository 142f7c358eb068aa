"""When the ticks of a sampling run fall.

Each tick is taken at an instant drawn at random within its interval (the first at
once), not at the interval's start. A fixed grid locks onto a program whose work repeats
with a period near the sampling period; and where the sampler shares the target's CPU,
the target stands still while a sample is taken, so on a grid each sample's own cost
(small where the stack did not change, larger where it must be walked) sets where in the
program the next one falls. On a workload of ~1 ms rounds (one call of ~550 µs, then
many short ones) with memspy on the target's CPU, the grid put 3-6 points of the short
calls' samples into the long call; random instants within each interval keep the rate
exact and break both couplings.

A tick whose instant has passed is taken late, unless the next tick's instant has passed
too: then it is missed, never taken in a burst (a burst would over-weight whatever runs
right then), so ``taken + missed`` is always the number of ticks scheduled. Kept apart
from the sampler so that the benchmarks' floor keeps the same schedule as memspy.
"""

from __future__ import annotations

import random
from typing import Callable, Optional

LATE = 0.5  # a tick taken more than this many intervals after its instant is late


class Ticks:
    """The schedule of one run: ``due`` is the next tick's instant; once it has passed,
    ``take`` says whether to take that tick now or count it missed."""

    def __init__(
        self, interval: float, start: float, draw: Optional[Callable[[], float]] = None
    ) -> None:
        self.interval = interval
        self.start = start
        self.scheduled = 0  # ticks scheduled so far (taken or missed)
        self.missed = 0
        self.late = 0  # taken, but more than LATE intervals after their instant
        self._offset = 0.0  # where in its interval the next tick falls, in intervals
        self._draw = draw or random.Random().random

    @property
    def due(self) -> float:
        return self.start + (self.scheduled + self._offset) * self.interval

    def take(self, now: float) -> bool:
        """For ``now`` at or past ``due``: True to take the tick now, False if it is
        missed (the next tick's instant has passed too). Either way the next tick is
        scheduled."""
        due = self.due
        self.scheduled += 1
        self._offset = self._draw()
        if now >= self.due:
            self.missed += 1
            return False
        if now - due > LATE * self.interval:
            self.late += 1
        return True
