"""The profile so far, on disk every few seconds while recording: SIGKILL loses little.

SIGINT and SIGTERM end a recording cleanly, and it writes its file; SIGKILL (the OOM
killer, a CI runner's hard timeout) gives no such chance. So every ``interval`` seconds
the whole profile is written to the output path, atomically (see ``output``): the file
there is always a complete, valid profile of everything up to its last checkpoint.

Writing a large profile takes long enough to stall sampling (a profile of 100k distinct
stacks takes about a second to serialise), so a checkpoint is written by a forked copy of
memspy: the fork is a copy-on-write snapshot of the collector at that moment, taken in
milliseconds, and the copy serialises it while the sampling goes on here. memspy is
single-threaded, so the copy has no lock held by a thread it lacks. Only one copy writes
at a time, and the final write waits for it: a checkpoint can never replace the complete
profile written at the end.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Callable, Optional

from memspy.kernel import priority

DEFAULT_INTERVAL = 10.0  # seconds


class Checkpoints:
    """Runs a write of the profile so far in a forked copy every ``interval`` seconds,
    when ``due`` is polled."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.written = 0  # checkpoints that completed
        self.failed = 0
        self._next = time.monotonic() + interval
        self._writer: Optional[int] = None  # pid of the copy writing now

    def due(self, write: Callable[[], None]) -> None:
        """Start ``write`` in a copy if a checkpoint is due and none is being written (a
        slow disk then spaces them out); collect the copy that finished."""
        self._reap(block=False)
        now = time.monotonic()
        if self._writer is None and now >= self._next:
            self.start(write)

    def start(self, write: Callable[[], None]) -> None:
        """Start ``write`` in a copy now, once the one writing (if any) is done: a write
        that must not be skipped (a rotated interval's file)."""
        self._reap(block=True)
        self._next = time.monotonic() + self.interval
        pid = os.fork()
        if pid == 0:  # the copy: write, then leave without running any of memspy's exits
            status = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for memspy itself
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                priority.as_before()
                write()
                status = 0
            finally:
                os._exit(status)
        self._writer = pid

    def finish(self) -> None:
        """Wait for a checkpoint being written, before the final write replaces it."""
        self._reap(block=True)

    def _reap(self, block: bool) -> None:
        if self._writer is None:
            return
        try:
            pid, status = os.waitpid(self._writer, 0 if block else os.WNOHANG)
        except ChildProcessError:
            pid, status = self._writer, 1
        if pid == 0:
            return
        self._writer = None
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            self.written += 1
        else:
            self.failed += 1
