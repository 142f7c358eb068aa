"""What every benchmark workload shares: the ready handshake and the pure-Python work.

The workloads run on Python 2.7 and 3.x alike, so no f-strings, no print
(a statement on 2.7) and no ``range`` that builds a list on 2.7 in a hot loop.
"""

import sys
import time

# perf_counter does not exist on 2.7; time.time is precise enough for seconds of work there.
clock = getattr(time, "perf_counter", time.time)


def say(line):
    """One line to the benchmark on stdout, flushed: it reads the pipe line by line."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def work(n):
    """Pure-Python bytecode with no calls, so the sampled stack stays put while it runs."""
    total = 0
    i = 0
    while i < n:
        total += i
        i += 1
    return total


def nest(depth, then, *args):
    """Call ``then(*args)`` under ``depth`` more Python frames."""
    if depth <= 0:
        return then(*args)
    return nest(depth - 1, then, *args)


def forever(chunk=10000):
    """Busy for good, in chunks, so a sample usually finds the thread inside ``work``."""
    while True:
        work(chunk)
