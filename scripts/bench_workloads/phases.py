"""Workloads whose split of CPU time is known: phases that each thread times itself.

Usage: python phases.py KIND SECONDS   (KIND: alternate, calls, generator, threads, ms)

Each phase is one function (``phase_*``) that a round calls in turn; the thread reads the
monotonic clock around each call and adds the difference to that phase. For one busy
thread that is its CPU time; where two threads share the GIL it is wall time, waits for
the GIL included, to compare with a profile of every thread, idle ones too (``--idle``).
The clock is read without a system call: a clock that is one (the thread CPU clock) is
where the kernel preempts a thread on a busy machine, and the time the thread then waits
would show, in a profile of running threads, as the clock's.
At the end one JSON line gives every phase's seconds and every thread's total spent
in ``Timed.run`` (start-up and calibration are not in it: a profile is compared over
its samples inside ``Timed.run``): the truth a profiler's shares are compared with. The
phases are made of calls of very different lengths, since a sampler that loses samples
whose stack changes while it is read moves time out of exactly the phases that call and
return often.

Runs on 2.7 and 3.x alike: no f-strings, no print statement.
"""

import json
import sys
import threading
import time

from _common import clock, say
from _common import work as spin  # pure-Python bytecode with no calls

ITERS_PER_US = [1.0]  # set by calibrate()
_SEED = [12345]


def us(micros):
    """Iterations of ``spin`` for about ``micros`` microseconds, 0.6 to 1.4 times that at random:
    phases of fixed length make rounds of fixed length, and a round as long as a
    sampler's period (or a fraction of it) would show the sampler the same point of the
    round every time."""
    _SEED[0] = (_SEED[0] * 1103515245 + 12345) & 0x7FFFFFFF
    factor = 0.6 + 0.8 * _SEED[0] / 0x7FFFFFFF
    return max(1, int(micros * factor * ITERS_PER_US[0]))


CLOCK_COST = [0.0]  # set by calibrate()
# Calibration counts the thread's CPU time where it can (3.7+): in wall time, the time
# slices the thread waits for a CPU would count as work, and on a busy machine (or beside
# a tracer that shares its CPUs) make a microsecond of ``us`` many times too few
# iterations: phases of milliseconds would become phases of tenths of one, many more of
# them, and whatever a profiler adds to each call many times more of the total.
cpu_clock = getattr(time, "thread_time", clock)


def calibrate():
    n = 200000
    start = cpu_clock()
    spin(n)
    ITERS_PER_US[0] = n / ((cpu_clock() - start) * 1e6)
    # A phase is timed between two clock reads, each in the middle of a clock call: the
    # end of the first call and the start of the second are counted in the phase, about
    # one whole call. Measured here and taken off each phase.
    calls = 2000
    start = cpu_clock()
    for _ in range(calls):
        clock()
    CLOCK_COST[0] = (cpu_clock() - start) / calls


def tiny(n):
    """A loop of its own, not ``spin``: each phase of "calls" then ends in a function of
    its own (spin, tiny, mid), so a sampler that loses samples where the innermost
    function changes is seen to."""
    while n > 0:
        n -= 1


def mid(n):
    while n > 0:
        n -= 1


def phase_long():
    spin(us(550))


def phase_tiny():
    """40 calls of a few microseconds each."""
    n = us(3)
    for _ in range(40):
        tiny(n)


def phase_mid():
    """4 calls of about 75 microseconds."""
    n = us(75)
    for _ in range(4):
        mid(n)


def phase_a():
    spin(us(300))


def phase_b():
    spin(us(130))


def steps(count, n):
    for _ in range(count):
        spin(n)
        yield n


def phase_gen():
    """A generator that yields every few microseconds, driven by a for loop."""
    for _ in steps(40, us(3)):
        pass


def phase_plain():
    spin(us(250))


def phase_wide():
    spin(us(80000))


def phase_narrow():
    spin(us(32000))


ROUNDS = {
    "alternate": (phase_a, phase_b),
    "calls": (phase_long, phase_tiny, phase_mid),
    "generator": (phase_plain, phase_gen),
    "threads": (phase_a, phase_b),
    # Phases of tens of milliseconds, for a tracer: it adds microseconds to every call,
    # some of them on the caller's side of the events (its prints after a return) and all
    # inside the target's own clock reads, and a busy machine preempts the target there
    # (whole time slices): long phases make few calls.
    "ms": (phase_wide, phase_narrow),
}
SECOND_THREAD = {"threads": (phase_tiny, phase_mid)}


class Timed:
    """One thread's phases run in rounds until ``deadline``, with their seconds."""

    def __init__(self, phases, deadline):
        self.phases = phases
        self.deadline = deadline
        self.spent = dict((p.__name__, 0.0) for p in phases)
        self.total = 0.0

    def run(self):
        spent, cost = self.spent, CLOCK_COST[0]
        first = clock()
        while time.time() < self.deadline:
            for phase in self.phases:
                start = clock()
                phase()
                spent[phase.__name__] += clock() - start - cost
        self.total = clock() - first


def main():
    kind, seconds = sys.argv[1], float(sys.argv[2])
    calibrate()
    deadline = time.time() + seconds
    timed = [Timed(ROUNDS[kind], deadline)]
    if kind in SECOND_THREAD:
        timed.append(Timed(SECOND_THREAD[kind], deadline))
    workers = [threading.Thread(target=t.run) for t in timed[1:]]
    for worker in workers:
        worker.daemon = True
        worker.start()
    say("ready")
    timed[0].run()
    for worker in workers:
        worker.join()
    phases = {}
    for t in timed:
        for name, value in t.spent.items():
            phases[name] = phases.get(name, 0.0) + value
    say(json.dumps({"phases": phases, "total": sum(t.total for t in timed)}))


if __name__ == "__main__":
    main()
