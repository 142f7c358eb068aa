"""The timer loop: sample every target at the requested rate until told to stop.

Lateness, missed ticks and read errors are data, reported at the end, never a crash:
a target changes under us, so some reads fail. The loop never bursts to catch up after
falling behind (a burst would over-weight whatever runs right then); it skips the missed
ticks and counts them.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import psutil

from memspy.errors import MemspyError, TargetExited
from memspy.model import Sample
from memspy.pause import Pauser
from memspy.process import PythonProcess

DISCOVERY_INTERVAL = 0.2  # seconds between looks for new child processes


@dataclass
class RunStats:
    requested_rate: float
    started: float = 0.0  # monotonic
    ended: float = 0.0
    ticks: int = 0  # sampling attempts
    samples: int = 0  # samples delivered
    missed: int = 0  # ticks skipped because the loop fell behind
    late: int = 0  # ticks taken more than one interval late
    errors: Counter = field(default_factory=Counter)  # reason -> count
    end_reason: str = ""
    processes: int = 0  # processes sampled over the run

    @property
    def duration(self) -> float:
        return max(self.ended - self.started, 0.0)

    @property
    def achieved_rate(self) -> float:
        return self.ticks / self.duration if self.duration > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] not in (b"Z", b"X")


class Targets:
    """The processes being sampled: the root, and with ``follow`` its Python descendants."""

    def __init__(self, root: PythonProcess, follow: bool, blocking: bool, max_depth: int) -> None:
        self.root_pid = root.pid
        self.follow = follow
        self.blocking = blocking
        self.max_depth = max_depth
        self.processes: Dict[int, PythonProcess] = {root.pid: root}
        self.pausers: Dict[int, Pauser] = {}
        self._rejected: set = set()
        self._next_discovery = 0.0
        self.seen = 1
        if blocking:
            self.pausers[root.pid] = Pauser(root.pid)

    def discover(self, now: float) -> None:
        if not self.follow or now < self._next_discovery:
            return
        self._next_discovery = now + DISCOVERY_INTERVAL
        try:
            children = psutil.Process(self.root_pid).children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            pid = child.pid
            if pid in self.processes or pid in self._rejected:
                continue
            try:
                process = PythonProcess(pid, max_depth=self.max_depth, init_timeout=0)
            except MemspyError:
                # Not Python (yet: a fork about to exec is retried until it settles).
                if _settled(child):
                    self._rejected.add(pid)
                continue
            self.processes[pid] = process
            self.seen += 1
            if self.blocking:
                self.pausers[pid] = Pauser(pid)

    def drop(self, pid: int) -> None:
        process = self.processes.pop(pid, None)
        if process is not None:
            process.close()
        pauser = self.pausers.pop(pid, None)
        if pauser is not None:
            pauser.close()

    def close(self) -> None:
        for pid in list(self.processes):
            self.drop(pid)


def _settled(child: psutil.Process) -> bool:
    """A process that has run for a while without becoming Python will not become Python."""
    try:
        return time.time() - child.create_time() > 2.0
    except psutil.Error:
        return True


class Sampler:
    def __init__(
        self,
        targets: Targets,
        rate: float,
        on_sample: Callable[[Sample], None],
        duration: Optional[float] = None,
        stop: Optional[threading.Event] = None,
        on_tick: Optional[Callable[[RunStats], None]] = None,
        verbose: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.targets = targets
        self.interval = 1.0 / rate
        self.on_sample = on_sample
        self.duration = duration
        self.stop = stop or threading.Event()
        self.on_tick = on_tick
        self.verbose = verbose
        self.stats = RunStats(requested_rate=rate)

    def _sample_one(self, pid: int, process: PythonProcess) -> Optional[Sample]:
        pauser = self.targets.pausers.get(pid)
        try:
            if pauser is not None:
                pauser.pause()
            try:
                sample = process.sample()
            finally:
                if pauser is not None:
                    pauser.resume()
        except MemspyError as error:
            if isinstance(error, TargetExited) or not _alive(pid):
                self.targets.drop(pid)
                return None
            self._error(type(error).__name__, error.message)
            return None
        if process.errors:
            for message in process.errors:
                self._error("unreadable thread", message)
            return None
        return sample

    def _error(self, kind: str, message: str) -> None:
        self.stats.errors[kind] += 1
        if self.verbose is not None:
            self.verbose(f"sample dropped: {message}")

    def run(self) -> RunStats:
        stats = self.stats
        stats.started = start = time.monotonic()
        deadline = start + self.duration if self.duration else None
        next_tick = start
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    stats.end_reason = "duration reached"
                    break
                if next_tick > now:
                    self.stop.wait(next_tick - now)
                    continue
                behind = now - next_tick
                if behind > self.interval:
                    skipped = int(behind / self.interval)
                    stats.missed += skipped
                    stats.late += 1
                    next_tick += skipped * self.interval
                next_tick += self.interval
                self.targets.discover(now)
                stats.ticks += 1
                for pid, process in list(self.targets.processes.items()):
                    sample = self._sample_one(pid, process)
                    if sample is not None:
                        stats.samples += 1
                        self.on_sample(sample)
                if self.targets.root_pid not in self.targets.processes:
                    stats.end_reason = "target exited"
                    break
                if self.on_tick is not None:
                    self.on_tick(stats)
            else:
                stats.end_reason = stats.end_reason or "interrupted"
        finally:
            stats.ended = time.monotonic()
            stats.processes = self.targets.seen
        return stats


def filter_threads(sample: Sample, idle: bool, gil: bool) -> Sample:
    """Keep what the user asked for: idle threads only with --idle, only the GIL holder
    with --gil."""
    threads = [
        t for t in sample.threads if (idle or not t.idle) and (not gil or t.holds_gil)
    ]
    if len(threads) == len(sample.threads):
        return sample
    return Sample(sample.time, sample.pid, tuple(threads))


def cpu_seconds() -> float:
    """CPU time memspy itself has used (user + system)."""
    times = os.times()
    return times.user + times.system


__all__: List[str] = ["RunStats", "Sampler", "Targets", "filter_threads", "cpu_seconds"]
