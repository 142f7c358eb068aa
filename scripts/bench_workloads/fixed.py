"""A fixed amount of the shallow workload's work, timed by the workload itself.

Usage: python fixed.py ITERATIONS. Prints "ready", waits for a line on stdin (the
benchmark sends it once a profiler is attached), does the work and prints
"elapsed SECONDS". Only the work is timed, not start-up or attaching.
"""

import sys

from _common import clock, nest, say, work


def run(iterations, chunk=10000):
    for _ in range(iterations // chunk):
        work(chunk)


if __name__ == "__main__":
    iterations = int(sys.argv[1])
    say("ready")
    sys.stdin.readline()
    start = clock()
    nest(5, run, iterations)
    say("elapsed %.6f" % (clock() - start))
