"""A deterministic workload with a known split of time, for demos and accuracy tests.

The main thread alternates between ``heavy`` and ``light`` so that ``heavy`` gets
``--split`` of its time; a worker thread waits on a queue (idle) and a second one parses
JSON now and then. At the end it prints the split it measured itself, the time of each
call, which is the truth a profiler's share is compared with.

The clock is one read without a system call (``perf_counter``; ``time.time`` on 2.7), and
the work between two reads has none either: on a busy machine the kernel preempts a thread
preferably where it enters the kernel, and a thread waiting for a CPU is runnable, so a
profile of running threads counts that wait where the thread stopped. With a thread CPU
clock read in ``spin`` the wait showed on that line; with one read between the calls it
showed on neither call, and the shorter call lost most. Time on this clock includes such
waits, as a sampler's count does.

It runs under any interpreter memspy reads, 2.7 included, given its path
(``python2.7 .../memspy/demo/__main__.py``).
"""

import argparse
import json
import random
import threading
import time

try:
    import queue
except ImportError:  # 2.7
    import Queue as queue

clock = getattr(time, "perf_counter", time.time)


def spin(rounds):
    total = 0
    for _ in range(rounds):
        total += sum(i * i for i in range(200))
    return total


def heavy(rounds):
    return spin(rounds)


def light(rounds):
    return spin(rounds)


def rounds_per_second():
    """How many of spin's rounds this interpreter runs in a second."""
    rounds, done, start = 1, 0, clock()
    while clock() - start < 0.05:
        spin(rounds)
        done += rounds
        rounds *= 2
    return done / (clock() - start)


def idle_worker(jobs):
    while True:
        job = jobs.get()
        if job is None:
            return


def parser(stop):
    document = json.dumps({"items": list(range(2000))})
    while not stop.wait(0.05):
        json.loads(document)


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--seconds", type=float, default=3.0, help="how long to run")
    args.add_argument("--split", type=float, default=0.7, help="share of time for heavy()")
    args.add_argument("--slice", type=float, default=0.01, help="mean seconds per round")
    options = args.parse_args()

    jobs, stop = queue.Queue(), threading.Event()
    threads = [
        threading.Thread(target=idle_worker, args=(jobs,), name="idle-worker"),
        threading.Thread(target=parser, args=(stop,), name="json-parser"),
    ]
    for thread in threads:
        thread.daemon = True  # should the main thread fail, the demo still ends
        thread.start()
    spent = {"heavy": 0.0, "light": 0.0}
    speed = rounds_per_second()
    jitter = random.Random(0)
    end = clock() + options.seconds
    try:
        while clock() < end:
            calls = (("heavy", heavy, options.split), ("light", light, 1 - options.split))
            # Slices of random length (the same split in each): a slice as long as a
            # sampling period would put every sample at the same point of it.
            work = speed * options.slice * jitter.uniform(0.5, 1.5)
            for name, function, share in calls:
                start = clock()
                function(max(1, int(work * share)))
                spent[name] += clock() - start
    finally:
        stop.set()
        jobs.put(None)
        for thread in threads:
            thread.join()
    total = spent["heavy"] + spent["light"]
    print(json.dumps({name: round(value / total, 4) for name, value in spent.items()}))


if __name__ == "__main__":
    main()
