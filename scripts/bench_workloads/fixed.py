"""A fixed amount of the shallow workload's work, timed by the workload itself.

Usage: python fixed.py ITERATIONS [CHUNK]. CHUNK (10000) iterations make one call: a
small CHUNK makes the work calls, for a tracer's cost per call. Prints "ready", waits
for a line on stdin (the benchmark sends it once a profiler is attached), does the work
and prints "elapsed SECONDS", then (3.3+) "cpu SECONDS", the process's CPU time for it,
which waits for a busy machine's CPUs do not lengthen. Only the work is timed, not
start-up or attaching.
"""

import sys
import time

from _common import clock, nest, say, work


def run(iterations, chunk=10000):
    for _ in range(iterations // chunk):
        work(chunk)


if __name__ == "__main__":
    iterations = int(sys.argv[1])
    chunk = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    say("ready")
    sys.stdin.readline()
    cpu = getattr(time, "process_time", None)
    start, cpu_start = clock(), cpu and cpu()
    nest(5, run, iterations, chunk)
    say("elapsed %.6f" % (clock() - start))
    if cpu:
        say("cpu %.6f" % (cpu() - cpu_start))
