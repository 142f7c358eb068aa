"""Pausing a target for a consistent snapshot (``record --blocking``), safely.

SIGSTOP would leave the target stopped for good if memspy were killed between stop and
continue. ptrace's ``PTRACE_SEIZE`` + ``PTRACE_INTERRUPT`` stop is different: when the
tracer dies, the kernel detaches it and the tracee runs on. So the worst a SIGKILLed
memspy can do is leave the target running, which is what a user wants.

While seized, a signal sent to the target stops the receiving thread until the tracer
lets it through: such signals are passed on at the next resume, so they arrive at most
one sampling interval late.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import signal
import time
from typing import Dict, List

from memspy.errors import PermissionDenied
from memspy.memory.process import PERMISSION_HINT

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
_libc.ptrace.restype = ctypes.c_long

PTRACE_CONT = 7
PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_EVENT_STOP = 128
_WALL = 0x40000000
STOP_POLL = 0.001  # seconds between looks at a thread that has not stopped yet
REAP_WAIT = 0.2  # seconds a thread that is gone is given to become a zombie to reap


def _ptrace(request: int, tid: int, data: int = 0) -> int:
    result = _libc.ptrace(request, tid, None, ctypes.c_void_p(data) if data else None)
    return -ctypes.get_errno() if result == -1 else 0


def _stat_fields(path: str) -> List[bytes]:
    """The fields of a /proc stat file after the command name (which may hold spaces)."""
    try:
        with open(path, "rb") as f:
            stat = f.read()
    except OSError:
        return []
    return stat[stat.rfind(b")") + 2 :].split()


def _parent(pid: int) -> int:
    fields = _stat_fields(f"/proc/{pid}/stat")
    return int(fields[1]) if fields else 0


def _state(pid: int, tid: int) -> bytes:
    fields = _stat_fields(f"/proc/{pid}/task/{tid}/stat")
    return fields[0] if fields else b""


class Pauser:
    """Seizes every thread of a process once; ``pause()``/``resume()`` around each sample.

    Must be used from one OS thread: ptrace ties a tracee to the tracing thread.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._seized: Dict[int, bool] = {}
        self._pending: Dict[int, int] = {}  # tid -> signal to deliver at resume
        self._own_child = _parent(pid) == os.getpid()
        self.running: Dict[int, bool] = {}  # tid -> runnable just before the last pause

    def _threads(self) -> List[int]:
        try:
            return [int(t) for t in os.listdir(f"/proc/{self.pid}/task")]
        except OSError:
            return []

    def seize(self) -> None:
        """Take every thread not yet seized; raises PermissionDenied if ptrace is refused."""
        for tid in self._threads():
            if tid in self._seized:
                continue
            err = _ptrace(PTRACE_SEIZE, tid)
            if err == -errno.EPERM:
                raise PermissionDenied(
                    f"cannot pause process {self.pid} (already traced, or not permitted)",
                    "--blocking needs ptrace; without --blocking memspy does not pause the target. "
                    + PERMISSION_HINT,
                )
            if err == 0:
                self._seized[tid] = True

    def _wait_stop(self, tid: int) -> bool:
        """Wait for ``tid`` to stop; note a signal it was about to receive. False if gone.

        An exit is only peeked at when the main thread of memspy's own child exits:
        reaping it here would steal the status that ``record -- cmd`` exits with. A main
        thread that has exited (a zombie) while other threads were alive reports its exit
        only once they are reaped, so a blocking wait for it could wait for ever: it is
        polled, and found gone by its state.
        """
        flags = os.WEXITED | os.WSTOPPED | os.WNOWAIT | _WALL | os.WNOHANG
        while True:
            try:
                info = os.waitid(os.P_PID, tid, flags)
            except ChildProcessError:
                return False
            if info is not None:
                break
            # A tracee's stop sends its tracer SIGCHLD (kept blocked here, see pause):
            # woken by it at once; only a wait that timed out looks at the thread's state.
            if signal.sigtimedwait([signal.SIGCHLD], STOP_POLL) is None and _state(
                self.pid, tid
            ) in (b"Z", b"X", b""):
                return False
        stopped = info is not None and info.si_code in (os.CLD_TRAPPED, os.CLD_STOPPED)
        if not stopped and tid == self.pid and self._own_child:
            return False
        try:
            _, status = os.waitpid(tid, _WALL)
        except ChildProcessError:
            return False
        if not os.WIFSTOPPED(status):
            return False  # exited or killed
        if status >> 16 != PTRACE_EVENT_STOP:
            self._pending[tid] = os.WSTOPSIG(status)
        return True

    def pause(self) -> None:
        """Stop every thread. Once stopped, the kernel calls each one traced ('t'), so
        whether it was running is read first, into ``running``."""
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
        try:
            self._pause()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _pause(self) -> None:
        self.seize()
        self.running = {tid: _state(self.pid, tid) == b"R" for tid in self._seized}
        # The main thread last: its exit is reported only after the other threads'.
        threads = sorted(self._seized, key=lambda tid: tid == self.pid)
        interrupted = [tid for tid in threads if _ptrace(PTRACE_INTERRUPT, tid) == 0]
        for tid in set(self._seized) - set(interrupted):
            self._gone(tid)
        for tid in interrupted:
            if not self._wait_stop(tid):
                self._seized.pop(tid, None)

    def _gone(self, tid: int) -> None:
        """Forget a thread that ptrace no longer reaches. One that exited while traced
        stays a zombie until its tracer reaps it, and its process's exit waits for that:
        a command memspy started could not be waited for. So it is reaped (never the
        main thread: its status is the command's)."""
        self._seized.pop(tid, None)
        self._pending.pop(tid, None)
        if tid == self.pid:
            return
        deadline = time.monotonic() + REAP_WAIT
        while True:
            try:
                reaped, _ = os.waitpid(tid, os.WNOHANG | _WALL)
            except ChildProcessError:
                return  # reaped already, or not ours to reap
            if reaped or time.monotonic() > deadline:
                return
            time.sleep(STOP_POLL)

    def resume(self) -> None:
        for tid in list(self._seized):
            signal = self._pending.pop(tid, 0)
            if _ptrace(PTRACE_CONT, tid, signal) != 0:
                self._gone(tid)
            elif signal:
                # The interrupt that found this thread in a signal stop is still due:
                # take that stop now and let the thread go.
                self._wait_stop(tid)
                _ptrace(PTRACE_CONT, tid, self._pending.pop(tid, 0))

    def close(self) -> None:
        """Let go of every thread; ptrace only detaches a stopped tracee, so stop it first."""
        for tid in list(self._seized):
            if _ptrace(PTRACE_INTERRUPT, tid) != 0:
                self._gone(tid)
            elif self._wait_stop(tid):
                _ptrace(PTRACE_DETACH, tid, self._pending.pop(tid, 0))
        self._seized.clear()
        self._pending.clear()
