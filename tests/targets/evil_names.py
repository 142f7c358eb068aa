"""A target whose function, file and thread names hold terminal escape sequences.

Names are data a hostile program controls; memspy must print them escaped. Python 3.11+
(``co_qualname``). Prints "ready" once the evil thread runs.
"""

import threading

EVIL = "\x1b]0;pwned\x07\x1b[2J"
SOURCE = "def busy():\n    while True:\n        sum(range(1000))\n"

namespace = {}
exec(compile(SOURCE, "/tmp/" + EVIL + "file.py", "exec"), namespace)
busy = namespace["busy"]
busy.__code__ = busy.__code__.replace(co_name=EVIL + "name", co_qualname=EVIL + "name")

thread = threading.Thread(target=busy, name=EVIL + "thread", daemon=True)
thread.start()
print("ready", flush=True)
thread.join()
