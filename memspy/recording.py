"""What ``record`` does around the sampler: attach to a command it started, filter and
route each sample to the writer, and describe the run at the end."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import List, Optional

from memspy.collectors.base import Collector
from memspy.errors import MemspyError, NotAPythonProcess, TargetExited
from memspy.model import ProfileInfo, Sample
from memspy.process import PythonProcess
from memspy.sampler import RunStats, filter_threads

ATTACH_TIMEOUT = 10.0  # seconds a started command has to become a readable Python process
_ATTACH_POLL = 0.001


def attach_child(
    child: subprocess.Popen, max_depth: int, stop: threading.Event, follow: bool
) -> Optional[PythonProcess]:
    """Attach to a command memspy started, as soon as its interpreter is up.

    The command may be a wrapper that execs Python later (a pyenv shim, ``env``), so
    "not Python" is retried until the command settles. Returns None if it exits first,
    or never becomes Python; with ``follow`` that is fine when it starts Python children
    (the caller then samples... nothing of its own: the children are found by Targets).
    """
    deadline = time.monotonic() + ATTACH_TIMEOUT
    while child.poll() is None and not stop.is_set():
        try:
            return PythonProcess(child.pid, max_depth=max_depth, init_timeout=0)
        except TargetExited:
            return None
        except NotAPythonProcess:
            if time.monotonic() > deadline:
                return None
        except MemspyError:
            if time.monotonic() > deadline:
                raise
        time.sleep(_ATTACH_POLL)
    return None


def exit_status(child: subprocess.Popen) -> int:
    """The command's status as a shell reports it (128 + signal when killed)."""
    code = child.wait()
    return 128 - code if code < 0 else code


class Recording:
    """Routes filtered samples to the writer and keeps what the end-of-run report needs."""

    def __init__(self, collector: Collector, idle: bool, gil: bool) -> None:
        self.collector = collector
        self.idle = idle
        self.gil = gil

    def add(self, sample: Sample) -> None:
        self.collector.collect(filter_threads(sample, self.idle, self.gil))

    def finish(self, info: ProfileInfo) -> None:
        self.collector.info = info

    def summary_lines(self, stats: RunStats) -> List[str]:
        achieved = stats.achieved_rate
        share = achieved / stats.requested_rate if stats.requested_rate else 0.0
        lines = [
            f"memspy: {stats.samples} samples in {stats.duration:.2f}s, "
            f"{achieved:.1f} Hz of {stats.requested_rate:g} Hz requested ({share:.0%})",
            f"memspy: {stats.missed} ticks missed, {stats.late} late, "
            f"{stats.error_count} samples dropped for read errors",
        ]
        lines.extend(f"memspy:   {count} x {kind}" for kind, count in stats.errors.most_common())
        return lines

    def summary_markdown(self, stats: RunStats) -> str:
        lines = [f"- {line[len('memspy: '):]}" for line in self.summary_lines(stats)]
        return "\n".join(["# memspy profile", "", *lines]) + "\n"

