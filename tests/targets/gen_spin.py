"""A main thread that spends most of its time in generators resumed from C (``sum`` over a
generator expression, and over a generator function): their frames leave the thread's
frame chain at every yield, hundreds of thousands of times a second. Runs on 2.7 and 3.x
alike. Prints "ready" once started."""

import sys


def numbers(n):
    for i in range(n):
        yield i


def inner():
    return sum(i * i for i in range(200)) + sum(numbers(200))


def outer():
    while True:
        inner()


sys.stdout.write("ready\n")
sys.stdout.flush()
outer()
