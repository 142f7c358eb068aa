"""A target that never holds still: threads start and end, recursion grows and shrinks.

Usage: churn.py THREADS [SECONDS]. Prints "ready" once churning. Every function a sample
can show is defined in this file or in the standard library, so a test can check that
returned stacks are real ones.
"""

import random
import sys
import threading
import time


def recurse(depth):
    if depth > 0:
        return recurse(depth - 1) + 1
    return spin()


def spin():
    total = 0
    for i in range(random.randint(10, 2000)):
        total += i
    return total


def worker():
    for _ in range(random.randint(1, 20)):
        recurse(random.randint(0, 80))


def churn(threads, seconds):
    deadline = time.time() + seconds
    alive = []
    while time.time() < deadline:
        alive = [t for t in alive if t.is_alive()]
        while len(alive) < threads:
            thread = threading.Thread(target=worker)
            thread.start()
            alive.append(thread)
        recurse(random.randint(0, 40))
        time.sleep(0.0005)


if __name__ == "__main__":
    sys.setrecursionlimit(1000)
    print("ready", flush=True)
    churn(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else float("inf"))
