"""A parent that starts one multiprocessing child at once and another a second later.

Each child spins in its own function, so a profile shows which processes were sampled.
"""
import multiprocessing
import sys
import time


def spin(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass


def early_child():
    spin(1.5)


def late_child():
    spin(1.5)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        multiprocessing.set_start_method(sys.argv[1])
    first = multiprocessing.Process(target=early_child)
    first.start()
    time.sleep(1.0)
    second = multiprocessing.Process(target=late_child)
    second.start()
    first.join()
    second.join()
