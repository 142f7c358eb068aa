# -*- coding: utf-8 -*-
"""A target that aborts, for a core written by the kernel.

Usage: python aborting.py READY_FD

Runs unchanged on CPython 2.7 and 3.6-3.13. Two threads park (a recursion DEPTH deep and
a generator); once both are in place and asleep in the kernel, the main thread, holding the GIL, writes one line to
the inherited pipe descriptor READY_FD and calls os.abort(). Under `ulimit -c unlimited`
the kernel then writes a core of the process as it was at that call.
"""

from __future__ import print_function

import os
import sys
import threading
import time

from parking import park_forever

DEPTH = 50


def recurse(n):
    if n > 1:
        return recurse(n - 1)
    park_forever()


def recursion():
    recurse(DEPTH)


def generator_body():
    park_forever()
    yield 1


def generator():
    next(generator_body())


def crash(ready_fd):
    os.write(ready_fd, b"ready\n")
    os.abort()  # the main thread's innermost frame in the core


def _others_asleep():
    """Every thread but this one blocked in the kernel, not merely about to block: a core
    written before then would show a thread running on its way into the lock."""
    me = os.getpid()  # the main thread's kernel id
    for tid in os.listdir("/proc/self/task"):
        if int(tid) == me:
            continue
        with open("/proc/self/task/%s/stat" % tid) as stat:
            if stat.read().rpartition(")")[2].split()[0] != "S":
                return False
    return True


def main():
    ready_fd = int(sys.argv[1])
    threads = [threading.Thread(target=f, name=f.__name__) for f in (recursion, generator)]
    for thread in threads:
        thread.daemon = True
        thread.start()
    deadline = time.time() + 60
    while True:
        frames = sys._current_frames()
        parked = [frames.get(t.ident) for t in threads]
        in_place = all(f is not None and f.f_code is park_forever.__code__ for f in parked)
        if in_place and _others_asleep():
            break
        if time.time() > deadline:
            raise RuntimeError("threads never parked")
        time.sleep(0.002)
    crash(ready_fd)


if __name__ == "__main__":
    main()
