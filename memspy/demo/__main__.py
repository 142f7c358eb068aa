"""A deterministic workload with a known split of CPU time, for demos and accuracy tests.

The main thread alternates between ``heavy`` and ``light`` so that ``heavy`` gets
``--split`` of the CPU time; a worker thread waits on a queue (idle) and a second one
parses JSON now and then. At the end it prints the split it measured itself with
``time.process_time`` (thread CPU time), which is the truth a profiler's share is
compared with.
"""

import argparse
import json
import queue
import threading
import time


def spin(seconds):
    end = time.thread_time() + seconds
    total = 0
    while time.thread_time() < end:
        total += sum(i * i for i in range(200))
    return total


def heavy(seconds):
    return spin(seconds)


def light(seconds):
    return spin(seconds)


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
        thread.start()
    spent = {"heavy": 0.0, "light": 0.0}
    end = time.monotonic() + options.seconds
    while time.monotonic() < end:
        rounds = (("heavy", heavy, options.split), ("light", light, 1 - options.split))
        for name, function, share in rounds:
            start = time.thread_time()
            function(options.slice * share)
            spent[name] += time.thread_time() - start
    stop.set()
    jobs.put(None)
    for thread in threads:
        thread.join()
    total = spent["heavy"] + spent["light"]
    print(json.dumps({name: round(value / total, 4) for name, value in spent.items()}))


if __name__ == "__main__":
    main()
