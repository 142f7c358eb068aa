"""One profile per interval, for continuous profiling: ``record --rotate SECONDS``.

A profile store (anything that ingests pprof, say) wants one self-contained file per
interval, each with its own time range, handed over as soon as the interval ends; a run
that lasts for days must not hold more than the current interval in memory. The output
path is a template, filled once per interval:

- ``{pid}``: the process recorded;
- ``{start}``: when the interval began, UTC, as ``20261202T051500Z``;
- ``{index}``: the interval's number in this run, from 0.

It must name each interval apart (``{start}`` or ``{index}``). ``--keep N`` deletes the
oldest files this run wrote once there are more than N.
"""

from __future__ import annotations

import os
import time
from typing import List, Optional

from memspy.errors import InputError


def check_template(template: str) -> None:
    """Refuse, before anything starts, a template whose files would replace each other."""
    if "{start}" not in template and "{index}" not in template:
        raise InputError(
            f"--rotate needs an output template that names each interval: {template}",
            hint="put {start} or {index} in it, e.g. -o 'profiles/{pid}-{start}.pb.gz'",
        )


class Rotation:
    """Where each interval's profile goes, and when the current one ends."""

    def __init__(self, template: str, every: float, keep: Optional[int], pid: int) -> None:
        self.template = template
        self.every = every
        self.keep = keep
        self.pid = pid
        self.index = 0
        self.started = time.monotonic()  # the current interval's start, monotonic
        self.started_ns = time.time_ns()  # and on the wall clock
        self.written: List[str] = []

    def path(self) -> str:
        """The current interval's file."""
        start = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.started_ns / 1e9))
        return (
            self.template.replace("{pid}", str(self.pid))
            .replace("{start}", start)
            .replace("{index}", str(self.index))
        )

    def due(self) -> bool:
        return time.monotonic() >= self.started + self.every

    def advance(self) -> None:
        """The current interval is over (its file is being written): the next begins."""
        self.written.append(self.path())
        self.index += 1
        self.started += self.every
        self.started_ns += round(self.every * 1e9)
        self.prune()

    def prune(self) -> None:
        """Delete this run's oldest files beyond ``keep`` (the newest stay)."""
        if self.keep is None:
            return
        while len(self.written) > self.keep:
            try:
                os.unlink(self.written.pop(0))
            except OSError:
                pass
