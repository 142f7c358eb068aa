"""What ``record`` does around the sampler: attach to a command it started, filter and
route each sample to the writer, and describe the run at the end."""

from __future__ import annotations

import subprocess
import time
from typing import Callable, List, Optional

import psutil

from memspy.collectors.base import Collector
from memspy.collectors.stacks import MAX_STACKS
from memspy.errors import MemspyError, NotAPythonProcess, TargetExited
from memspy.interpreter.process import PythonProcess
from memspy.kernel.priority import RAISE
from memspy.model import ProfileInfo, Sample
from memspy.reports.summary import SampleTally, Summary, function_shares
from memspy.sampling.sampler import RunStats, Sampler, Stop, Targets, filter_threads

ATTACH_TIMEOUT = 10.0  # seconds a started command has to become a readable Python process
_ATTACH_POLL = 0.001


def _has_children(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).children())
    except psutil.Error:
        return False


def attach_child(
    child: subprocess.Popen, max_depth: int, stop: Stop, follow: bool
) -> Optional[PythonProcess]:
    """Attach to a command memspy started, as soon as its interpreter is up.

    The command may be a wrapper that execs Python later (a pyenv shim, ``env``), so
    "not Python" is retried until the command settles. Returns None if it exits first or
    never becomes Python; with ``follow`` also as soon as it starts children, since it is
    then a launcher (``bash -c``) whose Python descendants ``Targets`` finds.
    """
    deadline = time.monotonic() + ATTACH_TIMEOUT
    while child.poll() is None and not stop.is_set():
        try:
            return PythonProcess(child.pid, max_depth=max_depth, init_timeout=0)
        except TargetExited:
            return None
        except NotAPythonProcess:
            if time.monotonic() > deadline or (follow and _has_children(child.pid)):
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


def sample_targets(
    root_pid: int,
    root: Optional[PythonProcess],
    rate: float,
    on_sample: Callable[[Sample], None],
    *,
    idle_states: bool,
    duration: Optional[float],
    follow: bool,
    blocking: bool,
    max_depth: int,
    stop: Stop,
    on_tick: Optional[Callable[[RunStats], None]] = None,
    verbose: Optional[Callable[[str], None]] = None,
    priority: bool = True,
) -> RunStats:
    """Sample ``root_pid`` (and with ``follow`` its Python descendants) into ``on_sample``
    until ``stop``, the root's exit or ``duration``; every pause is undone. With
    ``priority``, the sampling thread runs above memspy's own priority where allowed
    (see ``kernel.priority``)."""
    targets = Targets(root_pid, root, follow=follow, blocking=blocking, max_depth=max_depth)
    sampler = Sampler(
        targets, rate, on_sample, duration=duration, stop=stop, on_tick=on_tick,
        verbose=verbose, idle_states=idle_states, priority=priority,
    )
    try:
        return sampler.run()
    finally:
        targets.close()


class Recording:
    """Routes filtered samples to the writer and keeps what the end-of-run report needs."""

    def __init__(self, collector: Collector, idle: bool, gil: bool) -> None:
        self.collector = collector
        self.idle = idle
        self.gil = gil
        self.tally = SampleTally()

    def add(self, sample: Sample) -> None:
        kept = filter_threads(sample, self.idle, self.gil)
        self.collector.collect(kept)
        self.tally.add(kept)

    def finish(self, info: ProfileInfo) -> None:
        self.collector.info = info

    def summary_lines(self, stats: RunStats) -> List[str]:
        lines = [
            f"{stats.samples} samples of {stats.processes} process(es) in "
            f"{stats.duration:.2f}s: {_rate(stats)}",
            f"{stats.missed} ticks missed (memspy fell behind), {stats.late} late; "
            f"{stats.error_count} samples dropped for read errors",
        ]
        if stats.raised:
            lines.append(
                f"sampled {RAISE} nice levels above memspy's own priority "
                "(--same-priority: not)"
            )
        lines.extend(f"  {count} x {kind}" for kind, count in stats.errors.most_common())
        lines.append(f"stacks: {stack_quality(stats)}")
        if stats.relisted:
            lines.append(
                f"{stats.relisted} thread lists read again in their sample (a thread ended "
                "while the list was read)"
            )
        if stats.retaken:
            lines.append(
                f"{stats.retaken} reads made again at once: held up while they read (memspy's "
                "CPU went to another task meanwhile), they were not one instant's"
            )
        if self.collector.overflow:
            lines.append(
                f"{self.collector.overflow} samples of new stacks counted as <other>: the "
                f"profile holds {MAX_STACKS} distinct stacks at most"
            )
        if stats.exiting:
            lines.append(f"{stats.exiting} samples not taken while a process was exiting")
        return lines

    def summary(self, stats: RunStats) -> Summary:
        """The run's facts and top functions, for stderr and for ``--summary``."""
        info = self.collector.info
        errors = f"{stats.error_count} samples dropped for read errors"
        if stats.errors:
            kinds = ", ".join(f"{n} {kind}" for kind, n in stats.errors.most_common())
            errors += f" ({kinds})"
        facts = [
            ("command", info.command or f"pid {info.pid}"),
            ("Python", info.python_version or "unknown"),
            ("samples", f"{stats.samples} of {stats.processes} process(es) in "
                        f"{stats.duration:.2f} s"),
            ("rate", _rate(stats)),
            ("missed", f"{stats.missed} ticks missed, {stats.late} late"),
            ("errors", errors),
            ("stacks", stack_quality(stats)),
            ("threads", "idle ones included (wall time)" if self.idle else "active ones only"),
        ]
        return Summary("memspy profile", facts, function_shares(self.tally.stacks()))


def stack_quality(stats: RunStats) -> str:
    """How the thread stacks were read, as the end-of-run report and ``--summary`` say it."""
    exact, repaired, unknown = stats.stacks
    return (
        f"{exact} exact, {repaired} repaired (partly read after the sample's instant, "
        f"checked), {unknown} partly unknown (ending in <unknown>)"
    )


def _rate(stats: RunStats) -> str:
    """Achieved against requested rate, as both the stderr report and the summary say it."""
    share = stats.achieved_rate / stats.requested_rate if stats.requested_rate else 0.0
    return f"{stats.achieved_rate:.1f} Hz of {stats.requested_rate:g} Hz requested ({share:.0%})"
