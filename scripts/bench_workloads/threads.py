"""50 threads about five frames deep, half busy in a loop, half asleep; the main thread
waits in join. Busy threads take turns on the GIL, so the process uses about one core.

The threads start their work together once all exist: busy threads hog the GIL and
would otherwise slow the start of the rest down to seconds."""

import threading
import time

from _common import forever, nest, say

THREADS = 50


def doze():
    while True:
        time.sleep(0.05)


def when_all_started(started, body):
    started.wait()
    nest(1, body)


if __name__ == "__main__":
    started = threading.Event()
    threads = []
    for index in range(THREADS):
        body = forever if index % 2 == 0 else doze
        threads.append(threading.Thread(target=when_all_started, args=(started, body)))
        threads[-1].daemon = True
        threads[-1].start()
    started.set()
    say("ready")
    while True:  # join() with no timeout ignores Ctrl-C on 2.7
        threads[0].join(3600)
