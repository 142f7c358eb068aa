"""A known split for ``memspy top``: the main thread spends about nine parts in ``hot`` and
one in ``cool`` (each a loop with no calls, so its time is its own), while a thread named
"napper" waits in ``nap`` for good. Runs on 2.7 and 3.x.

Usage: top_workload.py [SECONDS [EXIT_STATUS]]: runs that long (default 600), then exits
with that status (default 0).
"""

import os
import sys
import threading
import time


def hot(n):
    total = 0
    for i in range(n):
        total += i
    return total


def cool(n):
    total = 0
    for i in range(n):
        total -= i
    return total


def nap(pipe):
    # Blocked in a read that never returns: idle, as only the kernel can tell (the frame
    # is no known waiting function).
    os.read(pipe, 1)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    status = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    read_end, write_end = os.pipe()
    napper = threading.Thread(target=nap, args=(read_end,), name="napper")
    napper.daemon = True
    napper.start()
    end = time.time() + seconds
    while time.time() < end:
        hot(90000)
        cool(10000)
    sys.exit(status)


if __name__ == "__main__":
    main()
