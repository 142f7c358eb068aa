"""A deterministic workload with a known split of CPU time, for demos and accuracy tests.

The main thread alternates between ``heavy`` and ``light`` so that ``heavy`` gets
``--split`` of the CPU time; a worker thread waits on a queue (idle) and a second one
parses JSON now and then. At the end it prints the split it measured itself with
``time.process_time`` (thread CPU time), which is the truth a profiler's share is
compared with.

It runs under any interpreter memspy reads, 2.7 included, given its path
(``python2.7 .../memspy/demo/__main__.py``): before 3.7 the clock is the process's CPU
time, which also counts the JSON thread's small share.
"""

import argparse
import json
import threading
import time

try:
    import queue
except ImportError:  # 2.7
    import Queue as queue

# Per-thread CPU time where the interpreter has it (3.7+), else the process's.
if hasattr(time, "thread_time"):
    thread_time = time.thread_time
elif hasattr(time, "process_time"):
    thread_time = time.process_time
else:
    thread_time = time.clock  # 2.7
monotonic = getattr(time, "monotonic", time.time)


def spin(rounds):
    # A fixed amount of work, not a loop on the clock: a thread that reads its CPU clock
    # every few microseconds gives the kernel a place to preempt it just as often, and a sampler on
    # a busy machine then finds it waiting for a CPU there far more often than its CPU
    # time says (the clock is read in main(), once per call).
    total = 0
    for _ in range(rounds):
        total += sum(i * i for i in range(200))
    return total


def heavy(rounds):
    return spin(rounds)


def light(rounds):
    return spin(rounds)


def rounds_per_second():
    """How many of spin's rounds this interpreter runs in a second of CPU time."""
    rounds, done, start = 1, 0, thread_time()
    while thread_time() - start < 0.05:
        spin(rounds)
        done += rounds
        rounds *= 2
    return done / (thread_time() - start)


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
    args.add_argument("--split", type=float, default=0.7, help="share of CPU time for heavy()")
    args.add_argument("--slice", type=float, default=0.01, help="seconds per heavy+light round")
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
    end = monotonic() + options.seconds
    try:
        while monotonic() < end:
            rounds = (("heavy", heavy, options.split), ("light", light, 1 - options.split))
            for name, function, share in rounds:
                start = thread_time()
                function(max(1, int(speed * options.slice * share)))
                spent[name] += thread_time() - start
    finally:
        stop.set()
        jobs.put(None)
        for thread in threads:
            thread.join()
    total = spent["heavy"] + spent["light"]
    print(json.dumps({name: round(value / total, 4) for name, value in spent.items()}))


if __name__ == "__main__":
    main()
