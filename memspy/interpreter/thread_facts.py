"""What memspy knows of each thread beyond its stack: its kernel id, its name, whether it
runs.

Learnt from the kernel (``kernel.os_threads``) and from the target's ``threading``
registry (``thread_names``), and kept while the set of threads is steady: a steady
program's samples then only ask the kernel which threads run. Kept apart from
``PythonProcess``, which reads the stacks, because what is learnt here outlives a sample
and is forgotten by rules of its own (a pthread id reused, a thread that ended).
"""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Tuple

from memspy.errors import MemspyError, TargetExited
from memspy.interpreter.thread_names import ThreadNames
from memspy.interpreter.thread_states import ThreadState
from memspy.kernel.os_threads import Tasks

NAME_RETRY = 1.0  # seconds before looking again for the name of an unnamed thread
KEEP_GONE = 64  # ended threads remembered before what was learnt about them is dropped


class ThreadFacts:
    """Kernel ids, names and run states of a process's threads, by thread id."""

    def __init__(self, tasks: Tasks, names: ThreadNames) -> None:
        self.tasks = tasks
        self.names = names
        self._thread_names: Dict[int, str] = {}
        self._unnamed: Dict[int, float] = {}  # thread id -> when to look for its name again
        self._native: Dict[int, int] = {}
        self._last_states: Tuple[Tuple[int, int], ...] = ()  # see _forget_reused
        self._settled: Optional[Tuple[Tuple[int, int], ...]] = None  # see _steady
        # The very list object last found steady: an answered sample passes it again.
        self._settled_states: Optional[List[ThreadState]] = None
        self._name_due = 0.0  # when the first unnamed thread of that list is looked at again

    def learn(
        self, states: List[ThreadState], idle_states: bool
    ) -> Tuple[Dict[int, int], Dict[int, str], Dict[int, Optional[bool]]]:
        """(kernel ids, names, runnable or not) of these threads, by thread id; without
        ``idle_states`` the kernel is not asked which threads run (an empty map)."""
        steady = self._steady(states)
        if not idle_states and not steady:
            self._forget_reused(states)
        native = self._native if steady else self._native_tids(states)
        running = self._running(states) if idle_states else {}
        names = self._thread_names
        if not steady or self._settled is None:  # a thread was forgotten just now
            names = self._names_for(states)
            self._drop_gone(states)
            if any(not s.native_tid and s.thread_id not in native for s in states):
                self._settled = None  # a kernel id is still to be learnt
        return native, names, running

    def _native_tids(self, states: List[ThreadState]) -> Dict[int, int]:
        missing = [
            s.thread_id for s in states if s.native_tid is None and s.thread_id not in self._native
        ]
        if missing:
            self._native.update(self.tasks.native_tids(missing))
        return self._native

    def _names_for(self, states: List[ThreadState]) -> Dict[int, str]:
        """Names from the target's ``threading`` registry, looked up again only when a
        thread appears that has no name yet.

        A thread may run briefly before ``threading`` registers it, and threads started
        with ``_thread.start_new_thread`` are never registered, so an unnamed thread is
        retried at most once a second rather than on every sample.
        """
        now = time.monotonic()
        unknown = [
            s
            for s in states
            if s.thread_id not in self._thread_names and self._unnamed.get(s.thread_id, 0) <= now
        ]
        if unknown:
            try:
                for interp in {s.interp for s in unknown}:
                    self._thread_names.update(self.names.lookup(interp))
            except TargetExited:
                raise
            except MemspyError:
                pass
            for state in unknown:
                if state.thread_id not in self._thread_names:
                    self._unnamed[state.thread_id] = now + NAME_RETRY
        return self._thread_names

    def _drop_gone(self, states: List[ThreadState]) -> None:
        """Forget threads that have ended (their names, kernel ids and open stat files)
        once more than ``KEEP_GONE`` of them are remembered: a target that starts a thread
        per task would otherwise grow these tables without end and run memspy out of file
        descriptors. Not at every sample: a thread missing from one (a torn read) keeps
        what was learnt about it."""
        bound = len(states) + KEEP_GONE
        names, unnamed, native = self._thread_names, self._unnamed, self._native
        if (
            len(names) <= bound and len(unnamed) <= bound and len(native) <= bound
            and self.tasks.open_files <= bound
        ):
            return
        for gone in {*names, *unnamed, *native}.difference(s.thread_id for s in states):
            self._forget_thread(gone)
        self.tasks.forget(state.native_tid or self._native.get(state.thread_id) for state in states)

    def _running(self, states: List[ThreadState]) -> Dict[int, Optional[bool]]:
        """Whether each thread is runnable, from the kernel (None where it cannot say).
        Asked for the GIL holder too: a stopped process (SIGSTOP, a debugger) holds the
        GIL while it runs nothing.

        Before 3.11 a thread state holds only its pthread id, which glibc hands to a new
        thread once the old one has ended: a learnt kernel tid whose thread is gone means
        just that, and the tid (and the name found for the old thread) is learnt again.
        """
        out: Dict[int, Optional[bool]] = {}
        for state in states:
            tid = state.native_tid or self._native.get(state.thread_id)
            running = self.tasks.is_running(tid)
            if running is None and state.native_tid is None and tid is not None:
                self._forget_thread(state.thread_id)
                running = self.tasks.is_running(self._native_tids([state]).get(state.thread_id))
            out[state.thread_id] = running
        return out

    def _forget_reused(self, states: List[ThreadState]) -> None:
        """``_running``'s check of learnt tids when the kernel is not asked about each
        thread: made only when the thread states change (a listing of /proc per sample
        would cost more than the rest of it), so a pthread id reused between two samples
        with an unchanged set of thread states can keep the old tid."""
        key = tuple((state.addr, state.thread_id) for state in states)
        if key == self._last_states or not self._native:
            self._last_states = key
            return
        self._last_states = key
        alive = self.tasks.tids()
        for thread_id, tid in list(self._native.items()):
            if tid not in alive:
                self._forget_thread(thread_id)

    def _steady(self, states: List[ThreadState]) -> bool:
        """Whether nothing is left to learn about these threads (kernel ids, names): the
        same threads as when all was last learnt, nothing forgotten since, no name due
        for another look. A steady program's samples then skip that bookkeeping."""
        if (
            states is self._settled_states
            and self._settled is not None
            and (not self._unnamed or self._name_due > time.monotonic())
        ):
            return True  # the very list found steady last time (see ``steady``)
        due = min(self._unnamed.values(), default=0.0)
        key = tuple([(state.addr, state.thread_id) for state in states])
        if key == self._settled and not (self._unnamed and due <= time.monotonic()):
            self._settled_states, self._name_due = states, due
            return True
        self._settled, self._settled_states = key, None
        return False

    def _forget_thread(self, thread_id: int) -> None:
        self._settled = None
        self._native.pop(thread_id, None)
        self._thread_names.pop(thread_id, None)
        self._unnamed.pop(thread_id, None)


    def close(self) -> None:
        self.tasks.close()
