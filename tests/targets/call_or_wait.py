"""Worker threads that alternate between one known Python call (``K.m``) and one known
C-level wait (``time.sleep``), so the set of stacks they can have is known exactly: a
stack that shows ``m`` called from the sleep line never existed. Each worker enters
``worker`` through a function of its own (``first``, ``second``, ``third``), so a stack
made of two threads' frames shows under the wrong one. Runs on 2.7 and 3.x alike.
Prints "ready" once every worker has started."""

import sys
import threading
import time


class K(object):
    def m(self):
        total = 0
        for i in range(1000):
            total += i
        return total


def worker(started):
    k = K()
    started.release()
    while True:
        k.m()  # CALL
        time.sleep(0.0002)  # WAIT


def first(started):
    worker(started)


def second(started):
    worker(started)


def third(started):
    worker(started)


started = threading.Semaphore(0)
entries = (first, second, third)
for entry in entries:
    threading.Thread(target=entry, args=(started,), name="worker").start()
for _ in entries:
    started.acquire()
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(1)
