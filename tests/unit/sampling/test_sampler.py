"""The sampler's bookkeeping: ticks, missed ticks, errors, a target's exit, stopping.

The processes here are scripted stand-ins for PythonProcess (the loop only calls
``sample()`` and reads ``quality`` and ``relisted``); stack reading itself is tested on
real targets.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from typing import List, Optional

import pytest
from descriptors import open_descriptors

from memspy.collectors import create
from memspy.errors import RemoteReadError, TargetExited
from memspy.model import Frame, ProfileInfo, Sample, ThreadStack
from memspy.sampling.recording import Recording
from memspy.sampling.sampler import (
    RunStats,
    Sampler,
    Stop,
    Targets,
    filter_threads,
    running_before_pause,
)
from memspy.sampling.ticks import Ticks

# A live pid, so that a failed read is not taken for the process's exit: only "exit" is.
LIVE = os.getpid()


def _thread(tid: int, idle: bool = False, gil: bool = False) -> ThreadStack:
    return ThreadStack(tid, tid, None, gil, idle, (Frame("f", "f.py", 1),))


class Scripted:
    """Plays a list of outcomes, one per tick: "ok" (its one thread read exactly),
    "repaired" or "unknown" (read as such: kept and counted), "relisted" (exact, after a
    second read of the thread list), "retaken" (exact, after a read held up was made
    again), "raise" (a failed read), "exit" (the process is gone), or a float (seconds of
    work)."""

    QUALITY = {"repaired": [0, 1, 0], "unknown": [0, 0, 1]}

    def __init__(self, pid: int, script: List[object]) -> None:
        self.pid = pid
        self.script = list(script)
        self.quality = [1, 0, 0]
        self.relisted = 0
        self.retaken = 0

    def sample(self, idle_states: bool = True) -> Sample:
        step = self.script.pop(0) if self.script else "ok"
        self.quality = self.QUALITY.get(step, [1, 0, 0])  # type: ignore[call-overload]
        self.relisted = int(step == "relisted")
        self.retaken = int(step == "retaken")
        if step == "raise":
            raise RemoteReadError("torn read")
        if step == "exit":
            raise TargetExited("gone")
        if isinstance(step, float):
            time.sleep(step)
        return Sample(time.monotonic(), self.pid, (_thread(1),))

    def close(self) -> None:
        pass


def _report(stats: RunStats) -> str:
    """The end-of-run report's lines for ``stats``, as one text."""
    recording = Recording(create("collapsed", ProfileInfo(pid=1)), False, False)
    return "\n".join(recording.summary_lines(stats))


def _run(script: List[object], rate: float = 200.0, duration: float = 0.3,
         pid: int = LIVE, seen: Optional[List[Sample]] = None) -> RunStats:
    targets = Targets(pid, None, follow=False, blocking=False, max_depth=10)
    targets.processes[pid] = Scripted(pid, script)  # type: ignore[assignment]
    seen = [] if seen is None else seen
    opened = len(open_descriptors())
    stats = Sampler(targets, rate, seen.append, duration=duration).run()
    assert stats.samples == len(seen)
    # The stop request the run made for itself is closed.
    assert len(open_descriptors()) == opened
    return stats


def test_failures_just_before_the_target_exits_are_not_read_errors():
    stats = _run(["ok", "ok", "raise", "raise", "raise", "exit"])
    assert stats.end_reason == "target exited"
    assert stats.samples == 2 and stats.ticks == 6
    assert stats.error_count == 0 and stats.exiting == 3


def test_failures_the_target_recovers_from_are_read_errors():
    stats = _run(["ok", "raise", "raise", "ok", "raise", "exit"])
    assert dict(stats.errors) == {"RemoteReadError": 2}
    assert stats.exiting == 1


def test_stacks_repaired_or_partly_unknown_are_kept_and_counted():
    stats = _run(["ok", "repaired", "unknown", "repaired", "exit"])
    assert stats.samples == 4 and stats.stacks == [1, 2, 1]


def test_thread_lists_read_again_are_counted_and_reported():
    stats = _run(["ok", "relisted", "relisted", "ok", "exit"])
    assert stats.samples == 4 and stats.stacks == [4, 0, 0] and stats.relisted == 2
    assert "2 thread lists read again in their sample" in _report(stats)


def test_reads_made_again_after_a_hold_up_are_counted_and_reported():
    stats = _run(["ok", "retaken", "ok", "retaken", "retaken", "exit"])
    assert stats.samples == 5 and stats.stacks == [5, 0, 0] and stats.retaken == 3
    assert "3 reads made again at once: held up while they read" in _report(stats)
    stats = _run(["ok", "ok", "exit"])
    assert "made again" not in _report(stats)


def test_failures_still_pending_when_the_run_ends_are_read_errors():
    stats = _run(["ok"] + ["raise"] * 1000, duration=0.1)
    assert stats.end_reason == "duration reached"
    assert stats.error_count == stats.ticks - 1 and stats.exiting == 0


def test_a_slow_tick_skips_the_ticks_it_overran_and_says_so():
    rate = 100.0
    stats = _run(["ok", 0.035, "ok"], rate=rate, duration=0.2)
    # A 35 ms tick in an interval of 10 ms overruns the instants of the next two or
    # three ticks: all but the latest of them are missed, not taken in a burst.
    assert stats.missed >= 1
    # Every tick whose instant fell within the 0.2 s is taken or missed, also the last
    # ones when the loop woke after the deadline (a busy machine).
    assert stats.ticks + stats.missed == round(0.2 * rate)
    assert stats.late <= stats.ticks


def test_ticks_due_before_the_deadline_are_accounted_when_a_sample_overran_it():
    """The ninth tick's sample lasts past the deadline: the tenth tick's instant fell
    before it, so that tick is the run's too (here missed, as the eleventh's instant has
    passed as well), not dropped from the count."""
    rate = 100.0
    stats = _run(["ok"] * 8 + [0.03], rate=rate, duration=0.1)
    assert stats.end_reason == "duration reached"
    assert stats.ticks + stats.missed == round(0.1 * rate), stats


def test_each_tick_falls_at_a_random_instant_of_its_interval():
    """Not at the interval's start: a fixed grid locks onto work that repeats near the
    sampling period, and, where memspy shares the target's CPU, lets each sample's own
    cost decide where in the program the next one falls (see ``sampling.ticks``)."""
    rate = 100.0
    seen: List[Sample] = []
    stats = _run([], rate=rate, duration=0.6, seen=seen)
    places = [(sample.time - stats.started) * rate % 1.0 for sample in seen[1:]]
    # A grid puts every tick near 0 (a wake-up is late by well under half an interval).
    assert sum(place >= 0.5 for place in places) >= len(places) // 5, places
    assert sum(place < 0.5 for place in places) >= len(places) // 5, places


def test_a_tick_is_taken_late_unless_the_next_ones_instant_passed_too():
    draws = iter([0.5, 0.9, 0.2, 0.8, 0.9])
    ticks = Ticks(1.0, 0.0, draw=lambda: next(draws))
    assert ticks.due == 0.0 and ticks.take(0.0)  # the first at once
    assert ticks.due == 1.5 and ticks.take(1.6)
    assert ticks.due == 2.9 and not ticks.take(3.5)  # the next one's instant, 3.2, passed
    assert ticks.due == 3.2 and ticks.take(3.5)  # 0.3 of an interval after it: not late
    assert ticks.due == 4.8 and ticks.take(5.5)  # 0.7 after: late
    assert (ticks.scheduled, ticks.missed, ticks.late) == (5, 1, 1)


def test_achieved_rate_is_exact_when_nothing_is_missed():
    stats = RunStats(requested_rate=100.0, started=10.0, last_tick=11.0, ticks=101, ended=11.005)
    assert stats.achieved_rate == 100.0


@pytest.mark.parametrize("crowded", [False, True], ids=["few-files", "past-1023"])
def test_stop_set_from_a_signal_handler_wakes_a_wait(crowded: bool):
    """Also when memspy's process has so many files open (used as a library) that the
    stop's pipe is numbered past the 1023 that ``select`` can wait on."""
    held = _crowd(1100) if crowded else []
    try:
        stop = Stop()
    finally:
        for fd in held:
            os.close(fd)
    previous = signal.signal(signal.SIGALRM, lambda *_: stop.set())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        began = time.monotonic()
        assert stop.wait(5.0) is True
        assert time.monotonic() - began < 1.0
        assert stop.wait(5.0) is True  # stays set, returns at once
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        stop.close()


def _crowd(count: int) -> List[int]:
    """``count`` open descriptors, so that the next one opened is numbered past them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 100:
        if hard != resource.RLIM_INFINITY and hard < count + 100:
            pytest.skip(f"at most {hard} open files allowed, {count + 100} needed")
        resource.setrlimit(resource.RLIMIT_NOFILE, (count + 100, hard))
    return [os.open("/dev/null", os.O_RDONLY) for _ in range(count)]


def test_filter_threads_and_paused_idleness():
    sample = Sample(0.0, 1, (_thread(1, gil=True), _thread(2, idle=True), _thread(3)))
    assert [t.thread_id for t in filter_threads(sample, idle=False, gil=False).threads] == [1, 3]
    assert [t.thread_id for t in filter_threads(sample, idle=True, gil=True).threads] == [1]
    assert filter_threads(sample, idle=True, gil=False) is sample
    # Under --blocking every thread reads as stopped; what it did before the pause counts.
    paused = running_before_pause(sample, {1: True, 2: True, 3: False})
    assert [t.idle for t in paused.threads] == [False, False, True]
