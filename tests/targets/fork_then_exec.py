"""A child forked from this interpreter that waits, then execs a fresh interpreter that
spins in ``late_child``: a recorder following children attaches to the forked copy first
(it is an initialised interpreter), and must attach again after the exec. Runs on 2.7
and 3.x alike."""
import os
import sys
import time

CHILD = "import time\ndef late_child():\n    end = time.time() + 1.5\n    while time.time() < end: pass\nlate_child()\n"

pid = os.fork()
if pid == 0:
    time.sleep(0.6)  # a forked copy of this interpreter, then another program
    os.execv(sys.executable, [sys.executable, "-c", CHILD])
os.waitpid(pid, 0)
