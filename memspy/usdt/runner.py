"""Running bpftrace on an interpreter's probes, or saying in one line why it cannot run.

Every reason the tracer is unusable becomes ``TracerUnavailable``, whose hint points to
``memspy record`` (the path that needs no probes and no BPF).
"""

from __future__ import annotations

import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from memspy.errors import MemspyError
from memspy.kernel import launch
from memspy.memory import ProcessMemory
from memspy.sampling.recording import exit_status
from memspy.usdt.inspect import (
    ProbeReport,
    TracePath,
    choose_path,
    probes_of_file,
)
from memspy.usdt.launcher import GatedCommand
from memspy.usdt.program import (
    ATTACHED_LINE,
    LOG_HEADER,
    STOPPED_LINE,
    STRLEN,
    build_program,
    needs_line_probe,
)
from memspy.usdt.providers import PYTHON, PYUSDT
from memspy.usdt.stapsdt import all_placed

RECORD_HINT = "use `memspy record`, which samples without probes or BPF"
PYUSDT_HINT = (
    "on Python 3.12+, pyusdt adds probes: `pip install pyusdt` into that interpreter and "
    "start the program under it (python -m pyusdt app.py, or import pyusdt); or " + RECORD_HINT
)
# For a command, memspy runs it under pyusdt itself once the interpreter can import it.
_COMMAND_HINT = (
    "`{python} -m pip install pyusdt` and trace again (memspy runs it under pyusdt); or "
)
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
_ATTACH_TIMEOUT = 30.0
RING_PAGES = 1024
# Seconds a command's last output bytes are held back when nothing follows them (they
# might be bpftrace's closing empty lines, which come just before its output ends).
_HOLD = 0.05


class TracerUnavailable(MemspyError):
    exit_code = 11


@dataclass
class Target:
    """What to trace: the probes, and either a PID or a command. A command runs under
    bpftrace (``-c``), or, on the pyusdt path, is started by memspy (see ``launcher``)."""

    path: TracePath
    version: tuple[int, ...]
    pid: int | None = None
    command: Sequence[str] = ()

    @property
    def gated(self) -> bool:
        return bool(self.command) and self.path.provider is PYUSDT


@dataclass
class Outcome:
    notes: list[str]
    exit_status: int | None = None  # of a command memspy started itself


def bpftrace_path() -> str:
    path = shutil.which("bpftrace")
    if path is None:
        raise TracerUnavailable(
            "bpftrace is not installed", f"install it (apt-get install bpftrace) or {RECORD_HINT}"
        )
    if os.geteuid() != 0:
        raise TracerUnavailable("bpftrace needs root (or CAP_BPF and CAP_PERFMON)", RECORD_HINT)
    return path


def require_path(
    reports: list[ProbeReport], version: tuple[int, ...], python: str = ""
) -> TracePath:
    """The probes to trace, or why there are none: ``reports[0]`` is the interpreter's;
    ``python`` is the interpreter of a command memspy would start."""
    path = choose_path(reports)
    if path is not None:
        return path
    interpreter = reports[0]
    hint = RECORD_HINT
    if tuple(version[:2]) >= (3, 12):
        hint = _COMMAND_HINT.format(python=python) + RECORD_HINT if python else PYUSDT_HINT
    if not interpreter.probes:
        pyusdt = "it cannot import pyusdt" if python else "pyusdt's are not loaded"
        raise TracerUnavailable(
            f"{interpreter.path} has no USDT probes: this interpreter was built without "
            f"--with-dtrace, and {pyusdt}",
            hint,
        )
    missing = [n for n in PYTHON.probes if interpreter.probe(n) is None]
    raise TracerUnavailable(f"{interpreter.path} lacks the probes {', '.join(missing)}", hint)


# What the command's interpreter is: its version, its libpython, pyusdt's library if it
# can import it (found, not loaded).
_QUERY = """\
import json, os, sys, sysconfig
c = sysconfig.get_config_var
library = os.path.join(c("LIBDIR") or "", c("INSTSONAME") or "") if c("Py_ENABLE_SHARED") else ""
pyusdt = ""
if sys.version_info >= (3, 12):
    import importlib.util
    spec = importlib.util.find_spec("libpyusdt")
    pyusdt = spec.origin if spec else ""
print(json.dumps([list(sys.version_info[:3]), library, pyusdt]))
"""


def command_target(command: Sequence[str]) -> Target:
    """How to trace ``command``: the probes of its executable, else of its libpython, else
    pyusdt's, which the command then runs under."""
    # The command is run as given (its python may be a venv's, which finds pyusdt), while
    # its probes are read from the file the name leads to.
    exe = launch.resolve(command)
    try:
        out = subprocess.run([exe, "-c", _QUERY], capture_output=True, text=True, timeout=30)
        version, library, pyusdt = json.loads(out.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        raise TracerUnavailable(
            f"{command[0]} does not look like a Python interpreter", RECORD_HINT
        ) from None
    # Debian's python3.11 is static but still ships a libpython: the executable decides.
    reports = [probes_of_file(os.path.realpath(exe))]
    if not reports[0].probes and library and os.path.exists(library):
        reports = [probes_of_file(library)]
    if pyusdt and not reports[0].covers(PYTHON):
        reports.append(probes_of_file(pyusdt))
    path = require_path(reports, tuple(version), command[0])
    target = Target(path, tuple(version), command=tuple(command))
    spaced = [arg for arg in command if not arg or any(c.isspace() for c in arg)]
    if spaced and not target.gated:
        # bpftrace (-c) splits its command at spaces, with no quoting.
        raise MemspyError(
            "bpftrace cannot pass an empty argument or one with spaces to a command: "
            f"{spaced[0]!r}",
            "put the code in a file, or start the command yourself and trace it with -p PID",
        )
    return target


def _tracefs_hint() -> str:
    if not any(os.path.exists(os.path.join(p, "uprobe_events")) for p in TRACEFS):
        return (
            "tracefs is not mounted: mount -t tracefs nodev /sys/kernel/tracing; or " + RECORD_HINT
        )
    return RECORD_HINT


def _error_line(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith("ERROR") and "RLIMIT_MEMLOCK" not in line or line.startswith("error"):
            return line.strip()
    return (stderr.strip().splitlines() or ["no message"])[-1]


def run(target: Target, log_path: str, duration: float | None) -> Outcome:
    """Trace until the target exits, ``duration`` passes or the user presses Ctrl-C.

    Raises TracerUnavailable when bpftrace fails to start.
    """
    bpftrace = bpftrace_path()
    provider, report = target.path.provider, target.path.report
    outcome = Outcome([])
    with_line = needs_line_probe(target.version) and bool(provider.line_probe)
    if with_line:
        outcome.notes.append(
            "CPython 3.11 fires function__entry only while the line probe is traced "
            "(CPython issue 98894): tracing line as well, which slows the target more"
        )
    gate = None
    if target.gated:
        outcome.notes.append(
            f"{target.command[0]} has no USDT probes of its own: running the command under "
            f"pyusdt (as python -m pyusdt), whose probes fire from sys.monitoring callbacks"
        )
        traced = [p for p in report.probes if p.name in provider.probes]
        gate = GatedCommand(target.command, report.path, traced)
    bpftrace_command = target.command if gate is None else ()
    program = build_program(report.attach_path, provider, with_line, bool(bpftrace_command))
    program_path = log_path + ".bt"
    with open(program_path, "w") as f:
        f.write(program)
    argv = [bpftrace, "-f", "text", "-o", log_path]
    pid = gate.pid if gate is not None else target.pid
    argv += ["-p", str(pid)] if pid else ["-c", shlex.join(bpftrace_command)]
    # A bigger ring buffer than bpftrace's 64 pages per CPU: a busy target fills it.
    env = dict(os.environ, BPFTRACE_STRLEN=str(STRLEN), BPFTRACE_PERF_RB_PAGES=str(RING_PAGES))
    # bpftrace writes two empty lines to its stdout as it exits; a command it starts
    # shares that stdout, so the command's output is passed on without them.
    stdout = subprocess.PIPE if bpftrace_command else subprocess.DEVNULL
    process = None
    with open(log_path + ".err", "w+") as errors:
        try:
            process = subprocess.Popen(argv + [program_path], env=env, stderr=errors, stdout=stdout)
            forwarder = _forward(process.stdout) if process.stdout is not None else None
            if gate is not None:
                is_attached: Callable[[], bool] = gate.open_when_attached
            elif target.pid:
                names = set(provider.probes) | ({provider.line_probe} if with_line else set())
                is_attached = _all_in_place(target.pid, report, names)
            else:
                is_attached = lambda: _started(log_path)  # noqa: E731
            attached, stopped = _wait(process, duration, is_attached)
            if forwarder is not None:
                forwarder.join()
        finally:
            os.unlink(program_path)
            if gate is not None:
                if process is None or process.returncode not in (0, -signal.SIGINT):
                    gate.process.kill()  # no trace: not a whole untraced run before the error
                gate.open()
                outcome.exit_status = exit_status(gate.process)
        errors.seek(0)
        stderr = errors.read()
    os.unlink(log_path + ".err")
    if os.path.exists(log_path) and (attached is not None or stopped is not None):
        with open(log_path, "a") as log:
            if attached is not None and target.pid:
                log.write(f"{ATTACHED_LINE}{attached}\n")
            if stopped is not None:
                log.write(f"{STOPPED_LINE}{stopped}\n")
    if process.returncode not in (0, -signal.SIGINT):
        raise TracerUnavailable(f"bpftrace failed: {_error_line(stderr)}", _tracefs_hint())
    return outcome


def _forward(stream: IO[bytes]) -> threading.Thread:
    """Copy ``stream`` to our stdout as it comes, all but bpftrace's closing empty lines.

    Those two newlines come last, just before the end of the stream; the last two bytes
    of what came so far are held back for them, but only while more follows at once: a
    command that prints a line and then works (or waits) has it shown whole."""

    def copy() -> None:
        out = sys.stdout.buffer
        fd = stream.fileno()
        more = select.poll()  # not select: no limit on the descriptor's number
        more.register(fd, select.POLLIN)
        held = b""
        try:
            while True:
                if held and not more.poll(_HOLD * 1000):
                    out.write(held)  # nothing followed: the command's own
                    out.flush()
                    held = b""
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                held += chunk
                out.write(held[:-2])
                out.flush()
                held = held[-2:]
            if held != b"\n\n":
                out.write(held)
                out.flush()
        except (BrokenPipeError, ValueError):
            pass  # our reader went away: the command's output is no longer wanted
        finally:
            stream.close()

    thread = threading.Thread(target=copy, name="memspy-stdout", daemon=True)
    thread.start()
    return thread


def _started(log_path: str) -> bool:
    """Whether bpftrace has attached: its BEGIN probe wrote the log's header."""
    try:
        with open(log_path) as f:
            return LOG_HEADER in f.read(256)
    except OSError:
        return False


def _all_in_place(pid: int, report: ProbeReport, names: set[str]) -> Callable[[], bool]:
    """Whether bpftrace has placed every probe ``names`` of the file ``report`` describes
    (read from process ``pid``, where it is loaded at ``report.bias``)."""
    memory = ProcessMemory(pid)
    probes = [p for p in report.probes if p.name in names]
    return lambda: all_placed(memory, probes, report.bias or 0)


def _wait(
    process: subprocess.Popen, duration: float | None, is_attached: Callable[[], bool]
) -> tuple[int | None, int | None]:
    """Until bpftrace exits; ``duration`` counts from the moment it has attached (and
    opened the gate of a command memspy started). Returns when it had attached and when
    it was told to stop, on its clock (CLOCK_MONOTONIC, ``nsecs``); None for either that
    did not happen (the target ended first)."""
    deadline = None
    stopped = attached_at = None
    try:
        while process.poll() is None:
            attached = attached_at is not None or is_attached()
            if attached and attached_at is None:
                attached_at = time.monotonic_ns()
            if deadline is None and duration and attached:
                deadline = time.monotonic() + duration
            if deadline is not None and time.monotonic() >= deadline:
                stopped = time.monotonic_ns()
                process.send_signal(signal.SIGINT)  # bpftrace runs END, so the log ends
                duration = deadline = None
            time.sleep(0.05)
    except KeyboardInterrupt:
        stopped = stopped or time.monotonic_ns()  # bpftrace, in our group, got it too
    try:
        process.wait(timeout=_ATTACH_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return attached_at, stopped
