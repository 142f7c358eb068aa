"""``memspy record``: sample a process (or a command memspy starts) into a profile file."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import time
from typing import NamedTuple, Optional, Tuple

import click

from memspy.cli import main
from memspy.cli.common import reports_errors, stop_on_signals
from memspy.cli.options import output_options, stack_options
from memspy.collectors import StackOptions, create, format_for_path
from memspy.collectors.output import STDOUT, check_writable, is_stream, write_atomic
from memspy.interpreter.frames.chain import DEFAULT_MAX_DEPTH
from memspy.interpreter.process import PythonProcess
from memspy.kernel import launch
from memspy.kernel.priority import RAISE
from memspy.kernel.process_info import command_line
from memspy.model import ProfileInfo
from memspy.sampling.checkpoint import DEFAULT_INTERVAL, Checkpoints
from memspy.sampling.recording import (
    Recording,
    attach_child,
    exit_status,
    sample_targets,
    stack_quality,
)
from memspy.sampling.rotation import Rotation, check_template
from memspy.sampling.sampler import RunStats, Stop


def _say(message: str) -> None:
    click.echo(f"memspy: {message}", err=True)


class StatusLine:
    """A live line on a terminal; nothing at all when stderr is not one (CI logs stay clean).

    Cut to the terminal's width: a wrapped line could not be rewritten in place.
    """

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self._next = 0.0

    def update(self, stats: RunStats) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + 0.25
        elapsed = now - stats.started
        line = (
            f"memspy: {elapsed:6.1f}s  {stats.samples} samples  {stats.achieved_rate:6.1f} Hz  "
            f"{stats.error_count} errors  (Ctrl-C to stop)"
        )
        width = shutil.get_terminal_size().columns - 1
        sys.stderr.write(f"\r{line[:width]}\x1b[K")
        sys.stderr.flush()

    def say(self, message: str) -> None:
        """A message of its own, on a line the status line is not on."""
        self.clear()
        _say(message)

    def clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("-p", "--pid", type=int, help="PID of a running Python process to profile.")
@output_options
@click.option("-r", "--rate", type=click.FloatRange(0.1, 100_000), default=100.0, show_default=True,
              help="Samples per second.")
@click.option("-d", "--duration", type=click.FloatRange(min=0, min_open=True),
              help="Stop after this many seconds (default: until Ctrl-C or the target exits).")
@click.option("--idle", is_flag=True, help="Include idle (waiting, sleeping) threads.")
@click.option("--gil", is_flag=True, help="Only sample the thread holding the GIL.")
@stack_options
@click.option("-s", "--subprocesses", is_flag=True,
              help="Also sample child Python processes, including ones started later.")
@click.option("--blocking", is_flag=True,
              help="Pause the target during each sample for a consistent snapshot (uses ptrace).")
@click.option("--summary", "summary_path", type=click.Path(dir_okay=False),
              help="Also write a Markdown summary (top functions, rate, errors) to this file.")
@click.option("--max-depth", type=click.IntRange(1, 1_000_000), default=DEFAULT_MAX_DEPTH,
              show_default=True, help="Frames per thread before a stack is cut.")
@click.option("-v", "--verbose", is_flag=True, help="Say why each dropped sample was dropped.")
@click.option("--same-priority", is_flag=True,
              help="Sample at memspy's own priority. By default, where allowed (root, "
              f"CAP_SYS_NICE), the sampling thread runs {RAISE} nice levels higher, so that "
              "a target keeping every CPU busy does not delay its ticks.")
@click.option("--rotate", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Write one profile per interval of SECONDS, each to the output path "
              "filled in for it: {pid}, {start} (UTC, 20261202T051500Z), {index}.")
@click.option("--keep", type=click.IntRange(min=1), metavar="N",
              help="With --rotate: delete the oldest files of this run beyond N.")
@click.option("--checkpoint", type=click.FloatRange(min=0), default=DEFAULT_INTERVAL,
              show_default=True, metavar="SECONDS",
              help="Write the profile so far to the output file this often (0: only at the "
              "end), so that even SIGKILL loses at most that much. Not for stdout or a pipe.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@reports_errors
def record(
    pid: Optional[int],
    output: Optional[str],
    fmt: Optional[str],
    rate: float,
    duration: Optional[float],
    idle: bool,
    gil: bool,
    threads: bool,
    function: bool,
    nolineno: bool,
    subprocesses: bool,
    blocking: bool,
    summary_path: Optional[str],
    max_depth: int,
    verbose: bool,
    same_priority: bool,
    rotate: Optional[float],
    keep: Optional[int],
    checkpoint: float,
    command: Tuple[str, ...],
) -> None:
    """Sample a Python process into a profile.

    \b
      memspy record -p PID -o out.speedscope.json
      memspy record -o out.speedscope.json -- python app.py args...

    Runs until Ctrl-C, the target's exit or --duration. With a command, memspy exits with
    the command's own exit status. Its own messages go to stderr only.
    """
    if command and command[0].startswith("-"):
        # Unknown options are kept for the command (``-- python -X dev``), so a misspelt
        # one of ours arrives here: name it, rather than try to run it.
        raise click.UsageError(f"no such option: {command[0]}")
    if (pid is None) == (not command):
        raise click.UsageError("give either -p PID or a command after --, not both")
    if output is None:
        output = time.strftime("memspy-%Y%m%d-%H%M%S.speedscope.json")
    if keep is not None and rotate is None:
        raise click.UsageError("--keep goes with --rotate")
    fmt = fmt or format_for_path(output)
    if rotate is not None:
        if is_stream(output):
            raise click.UsageError("--rotate writes files: give a path template, not a stream")
        check_template(output)
    check_writable(_filled(output) if rotate is not None else output)
    if summary_path:
        check_writable(summary_path)
    options = StackOptions(threads=threads, function=function, lineno=not nolineno)
    stop = Stop()
    child = launch.start(command) if command else None
    try:
        with stop_on_signals(stop, child):
            _run(
                pid, child, output, fmt, options, rate, duration, idle, gil, subprocesses,
                blocking, summary_path, max_depth, verbose, not same_priority,
                Saving(checkpoint, rotate, keep), stop,
            )
    finally:
        stop.close()
    if child is not None:
        status = exit_status(child)
        if status:
            _say(f"the command exited with status {status}")
        sys.exit(status)


def _run(
    pid: Optional[int],
    child: Optional[subprocess.Popen],
    output: str,
    fmt: str,
    options: StackOptions,
    rate: float,
    duration: Optional[float],
    idle: bool,
    gil: bool,
    subprocesses: bool,
    blocking: bool,
    summary_path: Optional[str],
    max_depth: int,
    verbose: bool,
    priority: bool,
    saving: Saving,
    stop: Stop,
) -> None:
    if child is not None:
        root_pid = child.pid
        root = attach_child(child, max_depth, stop, follow=subprocesses)
    else:
        assert pid is not None
        root_pid, root = pid, PythonProcess(pid, max_depth=max_depth)
    info = ProfileInfo(
        pid=root_pid,
        command=command_line(root_pid),
        python_version=root.version if root is not None else "",
        rate_hz=rate,
        start_time_ns=time.time_ns(),
        mode="wall" if idle else "cpu",
    )
    recording = Recording(create(fmt, info, options), idle=idle, gil=gil)
    stats = RunStats(requested_rate=rate)
    if root is not None:
        _say(f"sampling process {root.pid} (Python {root.version}) at {rate:g} Hz")
    elif subprocesses and child is not None and child.poll() is None:
        _say(f"sampling the Python processes that command {root_pid} starts, at {rate:g} Hz")
    rotation = Rotation(output, saving.rotate, saving.keep, root_pid) if saving.rotate else None
    every = saving.checkpoint or float("inf")  # rotated files are written by copies too
    use_copies = (saving.checkpoint or rotation) and not is_stream(output)
    checkpoints = Checkpoints(every) if use_copies else None
    if rotation is not None:
        info = dataclasses.replace(info, start_time_ns=rotation.started_ns)
        recording.collector.info = info
        output = rotation.path()
    if root is not None or (subprocesses and child is not None and child.poll() is None):
        status = StatusLine()

        def on_tick(stats: RunStats) -> None:
            nonlocal info, output
            status.update(stats)
            if rotation is not None and checkpoints is not None and rotation.due():
                _rotate(rotation, checkpoints, recording, info, fmt, options)
                info = recording.collector.info
                output = rotation.path()
            if checkpoints is not None and saving.checkpoint:
                since = rotation.started if rotation is not None else None
                checkpoints.due(lambda: _write(output, recording, info, stats, since))

        try:
            stats = sample_targets(
                root_pid, root, rate, recording.add, idle_states=not idle, duration=duration,
                follow=subprocesses, blocking=blocking, max_depth=max_depth, stop=stop,
                on_tick=on_tick, verbose=status.say if verbose else None, priority=priority,
            )
        except BaseException:
            _save_anyway(output, recording, info, checkpoints)
            raise
        finally:
            status.clear()
    if stats.processes == 0 and child is not None:
        _say("the command never became a Python process that memspy could read; "
             "the profile will be empty (try --subprocesses if it starts Python as a child)")
        stats.end_reason = stats.end_reason or "command exited"
    if checkpoints is not None:
        checkpoints.finish()
    _write(output, recording, info, stats, rotation.started if rotation is not None else None)
    if rotation is not None:
        rotation.written.append(output)
        rotation.prune()
        _say(f"wrote {len(rotation.written)} profiles of {saving.rotate:g} s each, the last "
             "one partial")
    _report(stats, output, recording, summary_path)


class Saving(NamedTuple):
    """When the profile goes to disk besides the end: checkpoints, rotation."""

    checkpoint: float
    rotate: Optional[float]
    keep: Optional[int]


def _filled(template: str) -> str:
    """A rotation template with its fields filled, to check the path can be written."""
    return template.replace("{pid}", "0").replace("{start}", "0").replace("{index}", "0")


def _rotate(
    rotation: Rotation, checkpoints: Checkpoints, recording: Recording, info: ProfileInfo,
    fmt: str, options: StackOptions,
) -> None:
    """The interval is over: its profile, with its own time range, is written by a copy
    (not skipped, unlike a checkpoint), and the next interval starts from nothing."""
    finished, path = recording.collector, rotation.path()
    finished.info = dataclasses.replace(info, duration_s=rotation.every)
    checkpoints.start(lambda: write_atomic(path, finished.export))
    rotation.advance()
    following = dataclasses.replace(info, start_time_ns=rotation.started_ns, duration_s=0.0)
    recording.collector = create(fmt, following, options)


def _write(
    output: str, recording: Recording, info: ProfileInfo, stats: RunStats,
    since: Optional[float] = None,
) -> None:
    """The profile of the run (or of the current interval, from ``since``) so far,
    written in place atomically. How the stacks were read goes into the file too, where
    its format has room for it."""
    ended = stats.ended or time.monotonic()
    start = since if since is not None else stats.started
    recorded = () if since is not None else (  # the run's totals: not an interval's
        ("samples", str(stats.samples)),
        ("stacks", stack_quality(stats)),
        ("dropped", f"{stats.error_count} samples"),
    )
    duration = max(ended - start, 0.0) if start else 0.0
    recording.finish(dataclasses.replace(info, duration_s=duration, extra=info.extra + recorded))
    write_atomic(output, recording.collector.export)


def _save_anyway(
    output: str, recording: Recording, info: ProfileInfo, checkpoints: Optional[Checkpoints]
) -> None:
    """An unexpected failure mid-run still leaves the samples taken so far on disk."""
    try:
        if checkpoints is not None:
            checkpoints.finish()
        recording.finish(info)
        write_atomic(output, recording.collector.export)
        _say(f"wrote the samples taken so far to {output}")
    except Exception:  # the original failure is the one worth reporting
        pass


def _report(
    stats: RunStats, output: str, recording: Recording, summary_path: Optional[str]
) -> None:
    reason = {"target exited": "the target exited", "duration reached": "--duration reached",
              "interrupted": "interrupted"}.get(stats.end_reason, stats.end_reason)
    if reason:
        _say(f"stopped: {reason}")
    for line in recording.summary_lines(stats):
        _say(line)
    summary = recording.summary(stats)
    click.echo(summary.table_text(), err=True, nl=False)
    if summary_path:
        write_atomic(summary_path, lambda f: f.write(summary.markdown().encode()))
        _say(f"wrote summary to {summary_path}")
    where = "standard output" if output == STDOUT else output
    _say(f"wrote {recording.collector.name} profile to {where}")

