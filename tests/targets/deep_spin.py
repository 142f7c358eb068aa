"""A deep stack whose top never holds still: 250 frames of recursion (one of them a
generator, which on 3.11+ keeps its frame outside the thread's data stack), then a loop
that calls and returns. Runs on 2.7 and 3.x alike. Prints "ready" once the whole depth is reached: printed
before the recursion, a busy machine could let a reader see a stack still growing."""

import sys

DEPTH = 250
THROUGH_GENERATOR = 120


def leaf(n):
    total = 0
    for i in range(n):
        total += i
    return total


def spin():
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        leaf(50)
        leaf(10)


def generator(depth):
    yield descend(depth)


def descend(depth):
    if depth == 0:
        spin()
    if depth == THROUGH_GENERATOR:
        return next(generator(depth - 1))
    return descend(depth - 1)


if __name__ == "__main__":
    sys.setrecursionlimit(5000)
    descend(DEPTH)
