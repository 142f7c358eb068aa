"""A stack that comes back to the same few states: the main thread calls a short loop
over and over a few frames deep, while a second thread waits on an event for good. Runs
on 2.7 and 3.x alike. Prints "ready" once both run."""

import sys
import threading


def add(n):
    total = 0
    for i in range(n):
        total += i
    return total


def loop():
    while True:
        add(50)


def nest(depth):
    if depth:
        return nest(depth - 1)
    return loop()


waiter = threading.Thread(target=threading.Event().wait, name="waiter")
waiter.daemon = True
waiter.start()
sys.stdout.write("ready\n")
sys.stdout.flush()
nest(3)
