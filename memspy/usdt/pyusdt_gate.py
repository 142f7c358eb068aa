"""Run a script or module under pyusdt, but only once memspy's tracer sees its events.

The traced interpreter runs this file's text: ``python -c TEXT FD SCRIPT ARGS...`` or
``python -c TEXT FD -m MODULE ARGS...``. Importing ``libpyusdt`` is what ``python -m
pyusdt`` does; bpftrace cannot attach to the library before it is mapped, and pyusdt turns
its callbacks on up to 100 ms after that, so the program waits for memspy's word (a byte
on FD, or its end when memspy is gone) and for the callbacks, then runs as ``python
SCRIPT`` or ``python -m MODULE`` would. Standard library only: it runs in the target's
interpreter, where memspy is not installed.
"""

import os
import runpy
import sys
import time

import libpyusdt  # noqa: F401

_fd = int(sys.argv[1])
# Python code run before the gate opens is not traced: the script's path is found now
# (absolute, as python names a script's code since 3.9).
_script = os.path.abspath(sys.argv[2]) if sys.argv[2] != "-m" else ""
_script_dir = os.path.dirname(_script)
os.read(_fd, 1)
os.close(_fd)
_deadline = time.monotonic() + 5.0
while not sys.monitoring.get_events(sys.monitoring.PROFILER_ID) and time.monotonic() < _deadline:
    time.sleep(0.002)
if sys.argv[2] == "-m":
    sys.argv = sys.argv[3:]
    sys.path[0] = os.getcwd()
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    # As python runs a script (runpy.run_path would first import pkgutil, in the trace).
    sys.argv = sys.argv[2:]
    sys.path[0] = _script_dir
    _main = type(sys)("__main__")
    _main.__file__ = _script
    sys.modules["__main__"] = _main
    with open(_script, "rb") as _source:
        _code = compile(_source.read(), _script, "exec")
    exec(_code, _main.__dict__)
