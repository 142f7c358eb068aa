"""The sampling thread's place in the kernel's run queue: a few nice levels ahead of
memspy's own, where the kernel lets memspy put it there.

When the target keeps every CPU busy, the kernel shares the CPUs by weight, and a
sampler at the target's priority gets about a runnable thread's share. Its samples cost
about that share on a many-threaded target (2.7, 25 busy threads on 2 CPUs: 0.6–1 ms of
CPU every 10 ms), so the kernel preempts it in the middle of one and runs it again some
20 ms later: ticks are missed, and the samples taken are those of the moments the
target let the sampler run, not of the ticks. A few nice levels up, the sampler runs
when its tick comes, for just as long: it takes the same CPU as before, sooner.

Raising a priority takes root, CAP_SYS_NICE or an RLIMIT_NICE that allows it; without,
the sampler runs at memspy's own priority, as any sampler does.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator, Optional

# Nice levels the sampling thread goes up by: a weight about three times a thread's at
# memspy's own priority (1024 at nice 0, 3121 at -5).
RAISE = 5
# The nice value the sampling thread had before it was raised, while it is raised.
_before: Optional[int] = None


@contextlib.contextmanager
def raised(wanted: bool = True) -> Iterator[bool]:
    """Run the block with the calling thread ``RAISE`` nice levels up, when ``wanted``
    and allowed; yields whether it is. Its priority is given back after the block."""
    global _before
    tid = threading.get_native_id()
    before = _raise(tid) if wanted else None
    if before is None:
        yield False
        return
    _before = before
    try:
        yield True
    finally:
        _before = None
        with contextlib.suppress(OSError):  # a thread may always lower its own priority
            os.setpriority(os.PRIO_PROCESS, tid, before)


def _raise(tid: int) -> Optional[int]:
    """Raise thread ``tid`` by ``RAISE`` nice levels (to -20 at most): its nice value
    before, or None when it is at -20 already or the kernel refuses."""
    try:
        before = os.getpriority(os.PRIO_PROCESS, tid)
        if before <= -20:
            return None
        os.setpriority(os.PRIO_PROCESS, tid, max(before - RAISE, -20))
    except OSError:  # not allowed: as any sampler
        return None
    return before


def as_before() -> None:
    """In a process forked by the raised thread (a checkpoint's writer): give back the
    raise, which a fork inherits, so that writing a file does not go ahead of the
    target."""
    if _before is not None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, _before)
