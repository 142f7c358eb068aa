"""A deterministic target for the USDT tests: heavy() dominates, light() is a quarter of it.

Prints its PID once running, then loops for argv[1] seconds (default 30).
"""

import os
import sys
import time


def heavy():
    total = 0
    for i in range(4000):
        total += i * i
    return total


def light():
    total = 0
    for i in range(1000):
        total += i
    return total


def step():
    heavy()
    light()


def main(seconds):
    end = time.monotonic() + seconds
    print(os.getpid(), flush=True)
    while time.monotonic() < end:
        step()


main(float(sys.argv[1]) if len(sys.argv) > 1 else 30.0)
