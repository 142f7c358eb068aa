"""``memspy top``: a live table of where a running program spends its time."""

from __future__ import annotations

import curses
import os
import subprocess
import sys
import tempfile
from typing import IO, Optional, Tuple

import click

from memspy.cli import main
from memspy.cli.common import reports_errors, stop_on_signals
from memspy.interpreter.frames.chain import DEFAULT_MAX_DEPTH
from memspy.interpreter.process import PythonProcess
from memspy.kernel import launch
from memspy.kernel.process_info import command_line
from memspy.sampling.recording import attach_child, exit_status, sample_targets
from memspy.sampling.sampler import RunStats, Stop
from memspy.top.counts import LiveView, ViewState
from memspy.top.screen import (
    CursesDisplay,
    Display,
    Heading,
    PlainDisplay,
    Session,
    final_height,
    plain_width,
    write_lines,
)

QUIT_GRACE = 5.0  # seconds a command memspy started has to end after SIGTERM
EXIT_WAIT = 2.0  # seconds to wait for the status of a command seen exiting


def _say(message: str) -> None:
    click.echo(f"memspy: {message}", err=True)


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("-p", "--pid", type=int, help="PID of a running Python process to watch.")
@click.option("-r", "--rate", type=click.FloatRange(0.1, 100_000), default=100.0,
              show_default=True, help="Samples per second.")
@click.option("--idle", is_flag=True, help="Show idle (waiting, sleeping) threads from the start.")
@click.option("--gil", is_flag=True, help="Only sample the thread holding the GIL.")
@click.option("--function", is_flag=True, help="Aggregate by function, not by line, at first.")
@click.option("-s", "--subprocesses", is_flag=True,
              help="Also sample child Python processes, including ones started later.")
@click.option("--nonblocking", is_flag=True,
              help="Never pause the target (the default; for py-spy's users).")
@click.option("--blocking", is_flag=True,
              help="Pause the target during each sample for a consistent snapshot (uses ptrace).")
@click.option("--max-depth", type=click.IntRange(1, 1_000_000), default=DEFAULT_MAX_DEPTH,
              show_default=True, help="Frames per thread before a stack is cut.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@reports_errors
def top(
    pid: Optional[int],
    rate: float,
    idle: bool,
    gil: bool,
    function: bool,
    subprocesses: bool,
    nonblocking: bool,
    blocking: bool,
    max_depth: int,
    command: Tuple[str, ...],
) -> None:
    """Show live where a Python process spends its time.

    \b
      memspy top -p PID
      memspy top -- python app.py args...

    Refreshed every second, sorted by own time; the keys are listed at the bottom. Without
    a terminal (a pipe, a file) it prints one plain table per second instead. With a
    command, its output goes to a file (named at the end) so that it cannot garble the
    screen, and memspy exits with its status if it ends by itself; quitting ends it.
    """
    if command and command[0].startswith("-"):
        raise click.UsageError(f"no such option: {command[0]}")
    if (pid is None) == (not command):
        raise click.UsageError("give either -p PID or a command after --, not both")
    if blocking and nonblocking:
        raise click.UsageError("--blocking and --nonblocking exclude each other")
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    log = _command_log() if command and interactive else None
    stop = Stop()
    try:
        child = launch.start(command, output=log) if command else None
        with stop_on_signals(stop, child):
            stats, root_pid = _watch(
                pid, child, rate, idle, gil, function, subprocesses, blocking, max_depth,
                stop, interactive,
            )
    finally:
        stop.close()
        if log is not None:
            _report_log(log)
    if child is None:
        return
    if stats.end_reason != "target exited" and child.poll() is None:
        _end(child)
        return
    sys.exit(exit_status(child))


def _command_log() -> IO[bytes]:
    return tempfile.NamedTemporaryFile(prefix="memspy-top-", suffix=".log", delete=False)


def _report_log(log: IO[bytes]) -> None:
    log.close()
    if os.path.getsize(log.name):
        _say(f"the command's output is in {log.name}")
    else:
        os.unlink(log.name)


def _end(child: subprocess.Popen) -> None:
    """The user quit: the command was started only to be watched, so it ends too."""
    child.terminate()
    try:
        child.wait(QUIT_GRACE)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _watch(
    pid: Optional[int],
    child: Optional[subprocess.Popen],
    rate: float,
    idle: bool,
    gil: bool,
    function: bool,
    subprocesses: bool,
    blocking: bool,
    max_depth: int,
    stop: Stop,
    interactive: bool,
) -> Tuple[RunStats, int]:
    if child is not None:
        root_pid = child.pid
        root = attach_child(child, max_depth, stop, follow=subprocesses)
        if root is None and not (subprocesses and child.poll() is None):
            _say("the command never became a Python process that memspy could read "
                 "(try --subprocesses if it starts Python as a child)")
            return RunStats(requested_rate=rate, end_reason="target exited"), root_pid
    else:
        assert pid is not None
        root_pid, root = pid, PythonProcess(pid, max_depth=max_depth)
    heading = Heading(root_pid, command_line(root_pid), root.version if root else "", rate)
    view = LiveView(gil=gil)
    state = ViewState(by_line=not function, idle=idle)
    display = _display(interactive)
    try:
        session = Session(view, display, heading, state, stop)
        stats = sample_targets(
            root_pid, root, rate, view.add, idle_states=True, duration=None,
            follow=subprocesses, blocking=blocking, max_depth=max_depth, stop=stop,
            on_tick=session.on_tick,
        )
    finally:
        display.close()
    if stats.end_reason == "target exited" or not display.interactive:
        exited = stats.end_reason == "target exited"
        reason = "the target exited" if exited else "interrupted"
        if child is not None and _ended(child, EXIT_WAIT if exited else 0.0):
            reason += f" (status {exit_status(child)})"
        write_lines(session.final_lines(stats, reason, plain_width(), final_height()))
    return stats, root_pid


def _ended(child: subprocess.Popen, wait: float) -> bool:
    """Whether the command has ended, waiting up to ``wait`` seconds: memspy can see it go
    (its threads unreadable) a moment before its exit status is there to collect."""
    try:
        child.wait(wait)
    except subprocess.TimeoutExpired:
        return False
    return True


def _display(interactive: bool) -> Display:
    if interactive:
        try:
            return CursesDisplay()
        except curses.error as error:
            _say(f"cannot draw on this terminal ({error}); printing plain tables instead")
    return PlainDisplay(sys.stdout)
