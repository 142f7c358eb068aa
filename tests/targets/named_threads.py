# -*- coding: utf-8 -*-
"""A target whose threads have known names, stored in every way CPython stores attributes.

Usage: python named_threads.py READY_FD

Runs unchanged on CPython 2.7 and 3.6-3.13. Starts threads that block forever, then writes
one JSON line to the inherited pipe descriptor READY_FD: the pid and {ident: name} as the
target's own `threading` sees them, and the ident of a thread that `threading` does not
know. The process then stays as it is until it is killed.
"""

import json
import os
import sys
import threading

try:
    import _thread as thread_module
except ImportError:  # Python 2
    import thread as thread_module

FOREVER = threading.Lock()
FOREVER.acquire()
# One name per str storage: ASCII, latin-1, UCS-2 and UCS-4 (2.7: UTF-8 bytes).
NAMES = [u"plain", u"ünïcode", u"θread-Ω", u"spool-🧵"]


def park():
    FOREVER.acquire()


class Subclassed(threading.Thread):
    """A subclass with attributes of its own: another type, other cached keys."""

    def __init__(self, name):
        threading.Thread.__init__(self, name=name, target=park)
        self.extra = 1
        self.more = [2]


def native_name(name):
    return name.encode("utf-8") if sys.version_info[0] < 3 else name


def start(thread):
    thread.daemon = True
    thread.start()
    return thread


def main():
    ready_fd = int(sys.argv[1])
    for name in NAMES:
        start(threading.Thread(name=native_name(name), target=park))
    start(Subclassed("subclassed"))
    materialised = start(threading.Thread(name="materialised", target=park))
    vars(materialised)["seen"] = True  # 3.11+: the attributes move into a real dict
    general = start(threading.Thread(name="general-keys", target=park))
    vars(general)[42] = "not a str key"  # a combined dict with non-str keys (DICT_KEYS_GENERAL)
    threading.current_thread().name = "renamed-main"

    anonymous = []
    started = threading.Event()

    def raw(register):
        if register:
            threading.current_thread()  # registers a _DummyThread under this ident
        anonymous.append(thread_module.get_ident())
        started.set()
        park()

    for register in (True, False):
        started.clear()
        thread_module.start_new_thread(raw, (register,))
        started.wait()
    view = {
        "pid": os.getpid(),
        "names": dict((str(ident), t.name) for ident, t in threading._active.items()),
        "unregistered": anonymous[1],
    }
    os.write(ready_fd, json.dumps(view).encode("ascii") + b"\n")
    os.close(ready_fd)
    park()


if __name__ == "__main__":
    main()
