"""A stack whose depth never stays put: recursion to a depth that changes every few
microseconds, between 1 and 300 frames. A non-blocking profiler reads such a stack while
it changes under it; the benchmark counts the samples memspy drops for that."""

from _common import nest, say, work


def churn():
    depth = 1
    while True:
        nest(depth, work, 20)
        depth = depth * 7 % 300 + 1


if __name__ == "__main__":
    say("ready")
    churn()
