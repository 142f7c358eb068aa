"""Run tests/targets/parked.py under some interpreter and hold it still for inspection.

The target says when it is ready through a pipe, so nothing here sleeps in the hope that
it is; every wait has a deadline and fails with the target's stderr when it passes.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

TARGETS = Path(__file__).resolve().parents[1] / "targets"
PARKED = TARGETS / "parked.py"
SPINNER = "spinner"  # the thread of parked.py whose frames keep moving
READY_TIMEOUT = 60.0  # generous: ten interpreters may start at once on two cores


class Target:
    """A running parked.py: its pid, the view it recorded of itself, and its lifetime."""

    def __init__(self, process: subprocess.Popen, view: Dict[str, Any], stderr: Path) -> None:
        self.process = process
        self.view = view
        self.stderr = stderr

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def threads(self) -> List[Dict[str, Any]]:
        return self.view["threads"]

    def thread(self, name: str) -> Dict[str, Any]:
        return next(t for t in self.threads if t["name"] == name)

    def stop(self) -> None:
        """SIGSTOP, and return only once every thread of the target is stopped."""
        os.kill(self.pid, signal.SIGSTOP)
        _wait_for(
            lambda: all(state == "T" for state in _task_states(self.pid).values()),
            f"threads of {self.pid} to stop",
            self,
        )

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """Stopped for the duration of the block, resumed afterwards whatever happens."""
        self.stop()
        try:
            yield
        finally:
            self.resume()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # SIGKILL works on a stopped process too
        self.process.wait(timeout=30)

    def stderr_text(self) -> str:
        try:
            return self.stderr.read_text(errors="replace")
        except OSError:
            return ""


def _task_states(pid: int) -> Dict[int, str]:
    states = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        states[int(tid)] = stat.rpartition(")")[2].split()[0]
    return states


def _wait_for(
    condition: Callable[[], bool], what: str, target: Target, timeout: float = 10.0
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if target.process.poll() is not None:
            raise AssertionError(
                f"target exited ({target.process.returncode}) while waiting for {what}:\n"
                + target.stderr_text()
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n" + target.stderr_text())
        time.sleep(0.001)


def _read_ready(fd: int, process: subprocess.Popen, stderr: Path, timeout: float) -> None:
    readable, _, _ = select.select([fd], [], [], timeout)
    line = os.read(fd, 64) if readable else b""
    if line != b"ready\n":
        process.kill()
        process.wait()
        reason = "never became ready" if not readable else "exited before it was ready"
        raise AssertionError(
            f"{PARKED.name} {reason} (exit {process.returncode}):\n"
            + stderr.read_text(errors="replace")
        )


def start_target(python: Path, workdir: Path, timeout: float = READY_TIMEOUT) -> Target:
    """Start parked.py under ``python``; return once its stacks will not change any more.

    The caller owns the result and must ``kill()`` it (the ``parked`` fixture does).
    """
    view_path = workdir / "self-view.json"
    stderr = workdir / "target-stderr.txt"
    read_end, write_end = os.pipe()
    # C.UTF-8 so that 3.6 (no UTF-8 mode) can import a module with a non-ASCII file name.
    env = dict(os.environ, LC_ALL="C.UTF-8", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    try:
        with open(stderr, "wb") as err:
            process = subprocess.Popen(
                [str(python), str(PARKED), str(view_path), str(write_end)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                pass_fds=(write_end,),
                env=env,
                cwd=str(workdir),
            )
        os.close(write_end)
        write_end = -1
        _read_ready(read_end, process, stderr, timeout)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    target = Target(process, json.loads(view_path.read_text(encoding="utf-8")), stderr)
    _wait_for_reporter_exit(target)
    return target


def _wait_for_reporter_exit(target: Target) -> None:
    """The thread that wrote the view must be gone before anyone looks at the threads."""
    reporter: Optional[int] = target.view.get("reporter_native_id")
    if reporter is not None:
        gone = lambda: not os.path.exists(f"/proc/{target.pid}/task/{reporter}")  # noqa: E731
    else:
        gone = lambda: len(_task_states(target.pid)) == len(target.threads)  # noqa: E731
    _wait_for(gone, "the reporter thread to exit", target)
