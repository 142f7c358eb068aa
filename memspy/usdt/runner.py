"""Running bpftrace on an interpreter's probes, or saying in one line why it cannot run.

Every reason the tracer is unusable becomes ``TracerUnavailable``, whose hint points to
``memspy record`` (the path that needs no probes and no BPF).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from memspy import launch
from memspy.errors import MemspyError
from memspy.usdt.inspect import NO_PROBES_MEANING, ProbeReport, probes_of_file
from memspy.usdt.program import LOG_HEADER, STRLEN, build_program, needs_line_probe

RECORD_HINT = "use `memspy record`, which samples without probes or BPF"
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
_ATTACH_TIMEOUT = 30.0
RING_PAGES = 1024


class TracerUnavailable(MemspyError):
    exit_code = 11


@dataclass
class Target:
    """What to trace: the probe file, and either a PID or a command bpftrace starts."""

    report: ProbeReport
    version: tuple[int, ...]
    pid: int | None = None
    command: Sequence[str] = ()


def bpftrace_path() -> str:
    path = shutil.which("bpftrace")
    if path is None:
        raise TracerUnavailable(
            "bpftrace is not installed", f"install it (apt-get install bpftrace) or {RECORD_HINT}"
        )
    if os.geteuid() != 0:
        raise TracerUnavailable("bpftrace needs root (or CAP_BPF and CAP_PERFMON)", RECORD_HINT)
    return path


def require_probes(report: ProbeReport) -> None:
    missing = [n for n in ("function__entry", "function__return") if report.probe(n) is None]
    if not report.probes:
        raise TracerUnavailable(f"{report.path} has no USDT probes: {NO_PROBES_MEANING}")
    if missing:
        raise TracerUnavailable(f"{report.path} lacks the probes {', '.join(missing)}", RECORD_HINT)


def command_target(command: Sequence[str]) -> Target:
    """The interpreter file that ``command`` will run: its executable, else its libpython."""
    exe = os.path.realpath(launch.resolve(command))
    spaced = [arg for arg in command if not arg or any(c.isspace() for c in arg)]
    if spaced:
        # bpftrace (-c) splits its command at spaces, with no quoting.
        raise MemspyError(
            "bpftrace cannot pass an empty argument or one with spaces to a command: "
            f"{spaced[0]!r}",
            "put the code in a file, or start the command yourself and trace it with -p PID",
        )
    query = (
        "import json, sys, sysconfig, os; c = sysconfig.get_config_var; "
        "print(json.dumps([list(sys.version_info[:3]), "
        "os.path.join(c('LIBDIR') or '', c('INSTSONAME') or '') if c('Py_ENABLE_SHARED') else '']))"
    )
    try:
        out = subprocess.run([exe, "-c", query], capture_output=True, text=True, timeout=30)
        version, library = json.loads(out.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        raise TracerUnavailable(
            f"{command[0]} does not look like a Python interpreter", RECORD_HINT
        ) from None
    # Debian's python3.11 is static but still ships a libpython: the executable decides.
    report = probes_of_file(exe)
    if not report.probes and library and os.path.exists(library):
        report = probes_of_file(library)
    return Target(report, tuple(version), command=tuple(command))


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


def run(target: Target, log_path: str, duration: float | None) -> list[str]:
    """Trace until the target exits, ``duration`` passes or the user presses Ctrl-C.

    Returns notes on what was done; raises TracerUnavailable when bpftrace fails to start.
    """
    require_probes(target.report)
    bpftrace = bpftrace_path()
    notes = []
    with_line = needs_line_probe(target.version)
    if with_line:
        notes.append(
            "CPython 3.11 fires function__entry only while the line probe is traced "
            "(CPython issue 98894): tracing line as well, which slows the target more"
        )
    program = build_program(target.report.attach_path, with_line, bool(target.command))
    program_path = log_path + ".bt"
    with open(program_path, "w") as f:
        f.write(program)
    argv = [bpftrace, "-f", "text", "-o", log_path]
    argv += ["-p", str(target.pid)] if target.pid else ["-c", shlex.join(target.command)]
    # A bigger ring buffer than bpftrace's 64 pages per CPU: a busy target fills it.
    env = dict(os.environ, BPFTRACE_STRLEN=str(STRLEN), BPFTRACE_PERF_RB_PAGES=str(RING_PAGES))
    # bpftrace writes two empty lines to its stdout as it exits; a command it starts
    # shares that stdout, so the command's output is passed on without them.
    stdout = subprocess.PIPE if target.command else subprocess.DEVNULL
    with open(log_path + ".err", "w+") as errors:
        try:
            process = subprocess.Popen(
                argv + [program_path], env=env, stderr=errors, stdout=stdout
            )
            forwarder = _forward(process.stdout) if process.stdout is not None else None
            _wait(process, log_path, duration)
            if forwarder is not None:
                forwarder.join()
        finally:
            os.unlink(program_path)
        errors.seek(0)
        stderr = errors.read()
    os.unlink(log_path + ".err")
    if process.returncode not in (0, -signal.SIGINT):
        raise TracerUnavailable(f"bpftrace failed: {_error_line(stderr)}", _tracefs_hint())
    return notes


def _forward(stream: IO[bytes]) -> threading.Thread:
    """Copy ``stream`` to our stdout as it comes, all but bpftrace's closing empty lines."""

    def copy() -> None:
        out = sys.stdout.buffer
        held = b""
        try:
            for chunk in iter(lambda: stream.read1(65536), b""):
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


def _wait(process: subprocess.Popen, log_path: str, duration: float | None) -> None:
    """Until bpftrace exits; ``duration`` counts from the moment it has attached."""
    deadline = None
    try:
        while process.poll() is None:
            if deadline is None and duration and _started(log_path):
                deadline = time.monotonic() + duration
            if deadline is not None and time.monotonic() >= deadline:
                process.send_signal(signal.SIGINT)  # bpftrace runs END, so the log ends
                duration = deadline = None
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass  # bpftrace, in our process group, got the SIGINT as well
    try:
        process.wait(timeout=_ATTACH_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
