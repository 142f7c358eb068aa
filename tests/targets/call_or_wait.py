"""Worker threads that alternate between one known Python call (``K.m``) and one known
C-level wait (``time.sleep``), so the set of stacks they can have is known exactly: a
stack that shows ``m`` called from the sleep line never existed. Runs on 2.7 and 3.x
alike. Prints "ready" once every worker has started."""

import sys
import threading
import time

WORKERS = 3


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


started = threading.Semaphore(0)
for _ in range(WORKERS):
    threading.Thread(target=worker, args=(started,), name="worker").start()
for _ in range(WORKERS):
    started.acquire()
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(1)
