"""Every thread's kernel id, also for a process whose id equals the upper half of its own
pointers.

Before 3.11 the kernel id is read from glibc's ``struct pthread``, at an offset learnt from
the live threads (the one where each holds its own tid). A pointer's upper half is a
number the size of a tid: 0x7fff (32767) for every mapping of a process without ASLR, or
for its heap, 0x55..-0x56... A process whose pid (its main thread's tid) is that number
holds it in every thread's struct pthread, at the offsets of its pointers to itself.
On a machine with ``pid_max`` 32768 a long test run passes through those pids: a core
dumped by such a process once lost every thread's id.
"""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
from pathlib import Path

import pytest
from interpreters import Interpreter
from robust import end, start

from memspy.interpreter.process import PythonProcess

LAST_PID = Path("/proc/sys/kernel/ns_last_pid")
POINTER_HALF = 0x7FFF  # the upper half of every mapping's address without ASLR (x86-64)
ADDR_NO_RANDOMIZE = 0x0040000  # personality(2) flag: ASLR off from the next exec on
ATTEMPTS = 100  # another process may take the pid first: start again


def _without_aslr() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.personality(libc.personality(0xFFFFFFFF) | ADDR_NO_RANDOMIZE)


def _start_as(pid: int, script: str, python: str) -> subprocess.Popen:
    """``script`` started without ASLR as process ``pid`` (the kernel gives the pid after
    ``ns_last_pid`` to the next process made, unless another process is made first)."""
    if platform.machine() != "x86_64":
        pytest.skip(f"ASLR-off addresses are known here for x86-64, not {platform.machine()}")
    if not os.access(LAST_PID, os.W_OK):
        pytest.skip(f"{LAST_PID} is not writable: choosing a pid needs root")
    if int(Path("/proc/sys/kernel/pid_max").read_text()) <= pid:
        pytest.skip(f"pid {pid} is beyond pid_max")
    for _ in range(ATTEMPTS):
        LAST_PID.write_text(str(pid - 1))
        target = start(script, python=python, preexec_fn=_without_aslr)
        if target.pid == pid:
            return target
        end(target)
    raise AssertionError(f"other processes took pid {pid} {ATTEMPTS} times")


@pytest.mark.parametrize("script", ["call_or_wait.py", "gen_spin.py"])  # 4 threads, 1
def test_every_thread_has_its_kernel_id_when_a_tid_equals_a_pointers_upper_half(
    interpreter: Interpreter, script: str
) -> None:
    target = _start_as(POINTER_HALF, script, str(interpreter.path))
    try:
        tids = {int(name) for name in os.listdir(f"/proc/{target.pid}/task")}
        with PythonProcess(target.pid) as process:
            sample = process.sample()
    finally:
        end(target)
    assert {thread.native_tid for thread in sample.threads} == tids
