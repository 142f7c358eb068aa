"""The timer loop: sample every target at the requested rate until told to stop.

The ticks fall at random instants of their intervals, missed rather than taken in a
burst when the loop falls behind (see ``ticks``). Lateness, missed ticks and read errors
are data, reported at the end, never a crash: a target changes under us, so some reads
fail.
"""

from __future__ import annotations

import os
import select
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import psutil

from memspy.errors import MemspyError, TargetExited
from memspy.interpreter.process import PythonProcess
from memspy.kernel.pause import Pauser
from memspy.kernel.priority import raised
from memspy.model import Sample
from memspy.sampling.ticks import Ticks

DISCOVERY_INTERVAL = 0.2  # seconds between looks for new child processes
SETTLE_TIME = 2.0  # seconds a process may take to become Python (exec, a pyenv shim)
SHORT_WAIT = 0.02  # seconds: waits up to this long are plain sleeps (see Stop.wait)


class Stop:
    """A stop request that a signal handler can make safely.

    ``threading.Event.set`` takes a lock that the interrupted main thread may hold (it is
    inside ``Event.wait``), so calling it from a signal handler can deadlock. This sets a
    flag and writes a byte to a pipe that ``wait`` polls: a wait in progress wakes.
    """

    def __init__(self) -> None:
        self._set = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        # poll, not select: select fails on a descriptor numbered past 1023, which a
        # process that opened many files (memspy used as a library) hands out.
        self._poll = select.poll()
        self._poll.register(self._read, select.POLLIN)

    def set(self) -> None:
        self._set = True
        if self._write < 0:
            return  # closed: the run it could stop is over
        try:
            os.write(self._write, b"x")
        except OSError:
            pass  # the pipe is full: it is woken already

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        """Sleep ``timeout`` seconds or until ``set``. A short wait (the gap between two
        samples at a high rate) is a plain sleep, which costs less CPU than ``poll``; a
        signal handler that sets the flag then ends it within ``SHORT_WAIT`` at most."""
        if not self._set and timeout > 0:
            if timeout <= SHORT_WAIT:
                time.sleep(timeout)
            else:
                self._poll.poll(timeout * 1000)
        return self._set

    def close(self) -> None:
        if self._read >= 0:
            self._poll.unregister(self._read)
            os.close(self._read)
            os.close(self._write)
            self._read = self._write = -1


@dataclass
class RunStats:
    requested_rate: float
    started: float = 0.0  # monotonic
    ended: float = 0.0
    last_tick: float = 0.0  # when the last tick was taken
    ticks: int = 0  # sampling attempts
    samples: int = 0  # samples delivered (one per process per tick)
    missed: int = 0  # scheduled ticks skipped because the loop fell behind
    late: int = 0  # ticks taken, but more than ticks.LATE intervals after their instant
    errors: Counter = field(default_factory=Counter)  # reason -> samples dropped
    exiting: int = 0  # samples dropped because their process was exiting (not read errors)
    relisted: int = 0  # thread lists read again within their sample: a thread ended meanwhile
    retaken: int = 0  # reads made again at once: held up while they read, not one instant
    # Thread stacks by how they were read: exact (one instant's bytes), repaired (some
    # read after it, or a link learnt earlier, checked against it), partly unknown.
    stacks: List[int] = field(default_factory=lambda: [0, 0, 0])
    end_reason: str = ""
    processes: int = 0  # processes sampled over the run
    raised: bool = False  # whether the sampling thread ran above memspy's priority

    @property
    def duration(self) -> float:
        return max(self.ended - self.started, 0.0)

    @property
    def achieved_rate(self) -> float:
        """Ticks per second between the first tick and the last: exactly the requested
        rate when none was missed (ticks / duration would count one tick too many)."""
        span = self.last_tick - self.started
        return (self.ticks - 1) / span if self.ticks > 1 and span > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _proc_file(pid: int, name: str) -> bytes:
    """``/proc/PID/NAME``, b"" when it cannot be read (the process is gone)."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _exec_mark(pid: int) -> bytes:
    """What a new program changes in a process: its auxiliary vector (the program's entry
    point, where the kernel put its stack); b"" when it cannot be read."""
    return _proc_file(pid, "auxv")


def _alive(pid: int) -> bool:
    stat = _proc_file(pid, "stat")
    if not stat:
        return False
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    return state not in (b"Z", b"X")


class Targets:
    """The processes being sampled: the root, and with ``follow`` its Python descendants.

    The root may not be Python itself (``--subprocesses -- bash -c ...``): then ``root``
    is None, and it is tried like any new descendant until it settles.
    """

    def __init__(
        self,
        root_pid: int,
        root: Optional[PythonProcess],
        follow: bool,
        blocking: bool,
        max_depth: int,
    ) -> None:
        self.root_pid = root_pid
        self.follow = follow
        self.blocking = blocking
        self.max_depth = max_depth
        self.processes: Dict[int, PythonProcess] = {}
        self.pausers: Dict[int, Pauser] = {}
        self._marks: Dict[int, bytes] = {}  # pid -> its exec mark when attached
        self._attached: set = set()  # every pid ever attached (again after an exec)
        self._rejected: set = set()
        self._next_discovery = 0.0
        self._root_gone = False
        if root is not None:
            self._add(root)

    def _add(self, process: PythonProcess) -> None:
        """Sample ``process`` from now on; with ``blocking``, seize it first, so that a
        refused ptrace fails here once rather than at every sample."""
        if self.blocking:
            pauser = Pauser(process.pid)
            pauser.seize()
            self.pausers[process.pid] = pauser
        self.processes[process.pid] = process
        self._marks[process.pid] = _exec_mark(process.pid)
        self._attached.add(process.pid)

    @property
    def seen(self) -> int:
        """Processes sampled over the run, one attached again after an exec once."""
        return len(self._attached)

    def root_exited(self) -> bool:
        """The root was sampled and has gone, or, never Python itself, has exited."""
        if self.root_pid in self.processes:
            return False
        self._root_gone = self._root_gone or not _alive(self.root_pid)
        return self._root_gone

    def discover(self, now: float) -> None:
        if not self.follow or now < self._next_discovery:
            return
        self._next_discovery = now + DISCOVERY_INTERVAL
        candidates = []
        try:
            root = psutil.Process(self.root_pid)
            candidates = [root, *root.children(recursive=True)]
        except psutil.Error:
            pass
        for candidate in candidates:
            pid = candidate.pid
            if pid in self.processes or pid in self._rejected:
                continue
            try:
                process = PythonProcess(pid, max_depth=self.max_depth, init_timeout=0)
            except MemspyError:
                # Not Python (yet: a fork about to exec is retried until it settles).
                if _settled(candidate):
                    self._rejected.add(pid)
                continue
            try:
                self._add(process)
            except MemspyError:
                process.close()  # cannot be paused: ptrace refused, or it exited
                self._rejected.add(pid)

    def execed(self, pid: int) -> bool:
        """Whether the process runs another program than when it was attached: a child
        attached between its fork and its exec was read as its parent's copy, and what
        was learnt of its memory no longer holds."""
        mark = self._marks.get(pid)
        now = _exec_mark(pid)
        return bool(mark) and bool(now) and now != mark

    def drop(self, pid: int, again: bool = False) -> None:
        """Forget a process that exited, never tried again (its pid may be reused); or,
        ``again``, one that execed, for the next discovery to attach to anew."""
        if again:
            self._next_discovery = 0.0
        else:
            self._rejected.add(pid)
            self._root_gone = self._root_gone or pid == self.root_pid
        self._marks.pop(pid, None)
        process = self.processes.pop(pid, None)
        if process is not None:
            process.close()
        pauser = self.pausers.pop(pid, None)
        if pauser is not None:
            pauser.close()

    def close(self) -> None:
        for pid in list(self.processes):
            self.drop(pid)


def _settled(process: psutil.Process) -> bool:
    """A process that has run for a while without becoming Python will not become Python."""
    try:
        return time.time() - process.create_time() > SETTLE_TIME
    except psutil.Error:
        return True


class Sampler:
    def __init__(
        self,
        targets: Targets,
        rate: float,
        on_sample: Callable[[Sample], None],
        duration: Optional[float] = None,
        stop: Optional[Stop] = None,
        on_tick: Optional[Callable[[RunStats], None]] = None,
        verbose: Optional[Callable[[str], None]] = None,
        idle_states: bool = True,
        priority: bool = True,
    ) -> None:
        self.targets = targets
        self.priority = priority  # raise the sampling thread's (see ``kernel.priority``)
        self.interval = 1.0 / rate
        self.idle_states = idle_states  # False when idle threads are kept anyway
        self.on_sample = on_sample
        self.duration = duration
        self.stop = stop or Stop()
        self._owns_stop = stop is None  # closed when the run ends
        self.on_tick = on_tick
        self.verbose = verbose
        self.stats = RunStats(requested_rate=rate)
        # Errors of a process's latest unbroken run of failed samples: read errors if it
        # recovers or outlives the run, but only the sign of its exit if it then exits.
        self._pending: Dict[int, Counter] = {}

    def _sample_one(self, pid: int, process: PythonProcess) -> Optional[Sample]:
        pauser = self.targets.pausers.get(pid)
        try:
            if pauser is not None:
                pauser.pause()
            try:
                sample = process.sample(self.idle_states)
            finally:
                if pauser is not None:
                    pauser.resume()
        except MemspyError as error:
            if isinstance(error, TargetExited) or not _alive(pid):
                self._exited(pid)
                return None
            if self.targets.follow and self.targets.execed(pid):
                self._exited(pid, again=True)
                return None
            self._error(pid, type(error).__name__, error.message)
            return None
        stats, (exact, repaired, unknown) = self.stats, process.quality
        tally = stats.stacks
        tally[0] += exact
        tally[1] += repaired
        tally[2] += unknown
        stats.relisted += process.relisted
        stats.retaken += process.retaken
        if self._pending:
            self._commit(pid)
        return sample if pauser is None else running_before_pause(sample, pauser.running)

    def _error(self, pid: int, kind: str, message: str) -> None:
        self._pending.setdefault(pid, Counter())[kind] += 1
        if self.verbose is not None:
            self.verbose(f"sample of process {pid} dropped: {message}")

    def _commit(self, pid: int) -> None:
        pending = self._pending.pop(pid, None)
        if pending:
            self.stats.errors.update(pending)

    def _exited(self, pid: int, again: bool = False) -> None:
        """The process exited (or, ``again``, execed): its latest failed samples were
        not read errors."""
        pending = self._pending.pop(pid, None)
        if pending:
            self.stats.exiting += sum(pending.values())
        self.targets.drop(pid, again)

    def _tick(self) -> None:
        stats = self.stats
        stats.ticks += 1
        for pid, process in list(self.targets.processes.items()):
            sample = self._sample_one(pid, process)
            if sample is not None:
                stats.samples += 1
                self.on_sample(sample)

    def run(self) -> RunStats:
        with raised(self.priority) as up:
            self.stats.raised = up
            return self._run()

    def _run(self) -> RunStats:
        stats = self.stats
        stats.started = start = time.monotonic()
        deadline = start + self.duration if self.duration else None
        ticks = Ticks(self.interval, start)
        try:
            while True:
                if self.stop.is_set():
                    stats.end_reason = "interrupted"
                    break
                now, due = time.monotonic(), ticks.due
                # A tick whose instant fell before the deadline is the run's, however late
                # the loop woke: taken late or counted missed, as any other.
                if deadline is not None and now >= deadline and due >= deadline:
                    stats.end_reason = "duration reached"
                    break
                if due > now:
                    wake = due if deadline is None else min(due, deadline)
                    self.stop.wait(wake - now)
                    continue
                taken = ticks.take(now)
                stats.missed, stats.late = ticks.missed, ticks.late
                if not taken:
                    continue
                if self.targets.follow:
                    self.targets.discover(now)
                self._tick()
                stats.last_tick = now
                if self.targets.root_exited():
                    stats.end_reason = "target exited"
                    break
                if self.on_tick is not None:
                    self.on_tick(stats)
        finally:
            stats.ended = time.monotonic()
            stats.processes = self.targets.seen
            for pid in list(self._pending):
                self._commit(pid)
            if self._owns_stop:
                self.stop.close()
        return stats


def running_before_pause(sample: Sample, running: Dict[int, bool]) -> Sample:
    """A paused thread is never runnable: whether it is idle is what it was doing just
    before the pause."""
    threads = tuple(
        t._replace(idle=not running[t.native_tid]) if t.native_tid in running else t
        for t in sample.threads
    )
    return sample._replace(threads=threads)


def filter_threads(sample: Sample, idle: bool, gil: bool) -> Sample:
    """Keep what the user asked for: idle threads only with --idle, only the GIL holder
    with --gil."""
    threads = [
        t for t in sample.threads if (idle or not t.idle) and (not gil or t.holds_gil)
    ]
    if len(threads) == len(sample.threads):
        return sample
    return Sample(sample.time, sample.pid, tuple(threads))


__all__: List[str] = ["RunStats", "Sampler", "Stop", "Targets", "filter_threads"]
