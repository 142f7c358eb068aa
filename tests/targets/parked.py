# -*- coding: utf-8 -*-
"""A target that parks threads in many stack shapes and records its own view of them.

Usage: python parked.py SELF_VIEW_JSON READY_FD

Runs unchanged on CPython 2.7 and 3.6-3.13 (3.x-only shapes live in parked3.py). Every
thread but one blocks forever on a lock (parking.park_forever) or on threading.Event.wait;
one thread spins in pure Python so that some thread is running and holds the GIL at times.
The main thread parks too. A short-lived reporter thread waits until all of them are in
place, writes what sys._current_frames() says about every other thread to SELF_VIEW_JSON,
writes one line to the inherited pipe descriptor READY_FD, and exits; the process then stays
as it is until it is killed. Its stacks no longer change, except the spinner's.
"""

from __future__ import print_function

import ctypes
import json
import linecache
import os
import platform
import sys
import threading
import time

from parking import park_forever

RECURSION_DEPTH = 300  # deep enough to cross 3.11+ data-stack chunk boundaries
SPINNER = "spinner"
_SYS_GETTID = {"x86_64": 186, "aarch64": 178, "i686": 224, "armv7l": 224}


def _gettid():
    """Kernel id of the calling thread, on versions without threading.get_native_id."""
    number = _SYS_GETTID.get(platform.machine())
    if number is None:
        return None
    return ctypes.CDLL(None, use_errno=True).syscall(number)


class Outer(object):
    class Inner(object):
        def method(self):
            park_forever()


def nested_class():
    Outer.Inner().method()


def closure():
    def inner():
        park_forever()

    inner()


def recurse(n):
    if n > 1:
        return recurse(n - 1)
    park_forever()


def recursion():
    recurse(RECURSION_DEPTH)


def generator_body():
    park_forever()
    yield 1


def generator():
    next(generator_body())


def blocking_key(item):
    park_forever()
    return item


def callback_from_c():
    sorted([2, 1], key=blocking_key)


def comprehension():
    return [park_forever() for _ in range(1)]


def generator_expression():
    return list(park_forever() for _ in range(1))


LAMBDA = lambda: park_forever()  # noqa: E731


def event_wait():
    threading.Event().wait()


def spin():
    n = 0
    while True:
        n += 1


# (thread name, function). Names are unique: tests find threads by them.
SHAPES = [
    ("nested-class", nested_class),
    ("closure", closure),
    ("recursion", recursion),
    ("generator", generator),
    ("callback-from-c", callback_from_c),
    ("comprehension", comprehension),
    ("generator-expression", generator_expression),
    (u"lämbdä-θ", LAMBDA),
    ("event-wait", event_wait),
    (SPINNER, spin),
]
if sys.version_info[0] >= 3:
    import parked3

    SHAPES.extend(parked3.SHAPES)


class Parked(threading.Thread):
    def __init__(self, name, shape):
        if sys.version_info[0] < 3:
            name = name.encode("utf-8")  # 2.7 threading applies str() to the name
        threading.Thread.__init__(self, name=name)
        self.daemon = True
        self.shape = shape
        self.tid = None

    def run(self):
        self.tid = getattr(threading, "get_native_id", _gettid)()
        self.shape()


def _loop_lines():
    first = spin.__code__.co_firstlineno
    return [first + 2, first + 3]  # `while True:` and `n += 1`


def _frames(frame):
    """The stack from ``frame`` outwards, as the expectation for a stack walker."""
    qualified = sys.version_info >= (3, 11)  # what memspy (and py-spy) report as the name
    out = []
    while frame is not None:
        code = frame.f_code
        qualname = getattr(code, "co_qualname", None)
        out.append(
            {
                "name": qualname if qualified else code.co_name,
                "co_name": code.co_name,
                "co_qualname": qualname,
                "filename": code.co_filename,
                "lineno": frame.f_lineno,
            }
        )
        frame = frame.f_back
    return out


def _in_place(frame, spinning):
    """Whether a thread has reached the line it will stay on."""
    if frame is None:
        return False
    if spinning:
        return frame.f_code is spin.__code__
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    return "acquire()" in line  # park_forever, or the waiter in Condition.wait


def _snapshot(threads, main_ident):
    """sys._current_frames() once every thread (but the caller) is parked."""
    me = threading.current_thread().ident
    deadline = time.time() + 60
    while True:
        frames = sys._current_frames()
        waiting = [
            t for t in threads if not _in_place(frames.get(t.ident), t.name == SPINNER)
        ]
        if frames.get(main_ident) is None or frames[main_ident].f_code is not park_forever.__code__:
            waiting.append("main")
        if not waiting:
            del frames[me]
            return frames
        if time.time() > deadline:
            raise RuntimeError("threads never parked: %r" % (waiting,))
        time.sleep(0.002)


def report(path, ready_fd, threads, main_ident):
    frames = _snapshot(threads, main_ident)
    by_ident = dict((t.ident, t) for t in threads)
    view_threads = []
    for ident, frame in sorted(frames.items()):
        thread = by_ident.get(ident)
        is_main = ident == main_ident
        spinning = thread is not None and thread.name == SPINNER
        view_threads.append(
            {
                "ident": ident,
                "native_id": os.getpid() if is_main else thread.tid,
                "name": "MainThread" if is_main else thread.name,
                # Lines the innermost frame may be on by the time anyone looks.
                "moving_lines": _loop_lines() if spinning else [],
                "frames": _frames(frame),
            }
        )
    view = {
        "pid": os.getpid(),
        "version": list(sys.version_info[:3]),
        "executable": sys.executable,
        "name_kind": "co_qualname" if sys.version_info >= (3, 11) else "co_name",
        "reporter_native_id": getattr(threading, "get_native_id", _gettid)(),
        "threads": view_threads,
    }
    with open(path + ".tmp", "w") as out:
        json.dump(view, out, indent=1)
    os.rename(path + ".tmp", path)
    os.write(ready_fd, b"ready\n")
    os.close(ready_fd)


def main():
    path, ready_fd = sys.argv[1], int(sys.argv[2])
    threads = [Parked(name, shape) for name, shape in SHAPES]
    for thread in threads:
        thread.start()
    reporter = threading.Thread(
        target=report, args=(path, ready_fd, threads, threading.current_thread().ident)
    )
    reporter.daemon = True
    reporter.start()
    park_forever()


if __name__ == "__main__":
    main()
