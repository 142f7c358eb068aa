"""Where every parked thread of the target blocks: one lock that is never released.

Blocking on a lock (not a sleep) makes a thread idle on a known line, with the GIL released,
for as long as the process lives. Shared by parked.py, parked3.py and the non-ASCII module.
"""

import threading

_NEVER = threading.Lock()
_NEVER.acquire()


def park_forever():
    _NEVER.acquire()  # every parked stack's innermost frame stops on this line
