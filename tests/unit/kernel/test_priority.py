"""The sampling thread's raised priority: taken where allowed, given back after, never
inherited by a checkpoint's writer, and no error where it is not allowed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from memspy.kernel.priority import RAISE, raised
from memspy.sampling.checkpoint import Checkpoints


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def _may_raise() -> bool:
    """Whether this process may lower a thread's nice value (root, CAP_SYS_NICE)."""
    tid, before = threading.get_native_id(), _nice()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, before - 1)
    except OSError:
        return False
    os.setpriority(os.PRIO_PROCESS, tid, before)
    return True


needs_raise = pytest.mark.skipif(not _may_raise(), reason="needs root or CAP_SYS_NICE")


@needs_raise
def test_the_thread_runs_raised_in_the_block_and_as_before_after() -> None:
    before = _nice()
    done = threading.Event()
    other = threading.Thread(target=done.wait)  # started before: not the sampling thread
    other.start()
    try:
        with raised() as up:
            assert up
            assert _nice() == before - RAISE
            assert os.getpriority(os.PRIO_PROCESS, other.native_id) == before
    finally:
        done.set()
        other.join()
    assert _nice() == before


def test_not_wanted_is_not_raised() -> None:
    before = _nice()
    with raised(False) as up:
        assert not up
        assert _nice() == before


@needs_raise
def test_a_checkpoint_writer_runs_at_memspy_s_own_priority(tmp_path: Path) -> None:
    out = tmp_path / "nice.txt"
    before = _nice()
    with raised():
        checkpoints = Checkpoints(interval=0.0)
        checkpoints.due(lambda: out.write_text(str(os.getpriority(os.PRIO_PROCESS, 0))))
        checkpoints.finish()
    assert int(out.read_text()) == before


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0,
                    reason="needs root and setpriv to drop CAP_SYS_NICE")
def test_where_the_kernel_refuses_the_sampler_runs_as_it_is() -> None:
    """Without CAP_SYS_NICE (and an RLIMIT_NICE of 0) lowering a nice value is refused:
    no error, no change, and the block runs."""
    code = (
        "import os, threading\n"
        "from memspy.kernel.priority import raised\n"
        "tid = threading.get_native_id(); before = os.getpriority(os.PRIO_PROCESS, tid)\n"
        "with raised() as up:\n"
        "    print(up, os.getpriority(os.PRIO_PROCESS, tid) == before)\n"
    )
    drop = ["setpriv", "--inh-caps=-sys_nice", "--bounding-set=-sys_nice"]
    done = subprocess.run(
        [*drop, "prlimit", "--nice=0", sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
