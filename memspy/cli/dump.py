"""``memspy dump``: every thread's stack, now, or as a core file saw it."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import click

from memspy.cli import main
from memspy.cli.common import reports_errors
from memspy.errors import InputError, MemspyError
from memspy.interpreter.frames.chain import DEFAULT_MAX_DEPTH, EXACT
from memspy.interpreter.process import PythonProcess
from memspy.kernel.pause import Pauser
from memspy.kernel.process_info import command_line
from memspy.memory.core import CoreMemory
from memspy.model import Sample
from memspy.reports.thread_dump import ThreadVariables, dump_json, dump_text
from memspy.sampling.sampler import running_before_pause

# Samples a dump may take before it settles for the one read best.
DUMP_TRIES = 20


def _whole_sample(process: PythonProcess) -> Sample:
    """A sample whose every stack was read at one instant, if one comes within a few
    tries; else the one with the fewest stacks that were not.

    A dump is one snapshot, not a statistic: reading again until no stack was torn
    costs a few milliseconds and shows a stack that existed. A profile must not do this
    (it would move time away from code that calls and returns often). The first sample
    of a new reader reads its frames one by one; the second reads them in one batch."""
    best, fewest = None, None
    for _ in range(DUMP_TRIES):
        sample = process.sample()
        torn = sum(process.quality) - process.quality[EXACT]
        if best is None or torn < fewest:
            best, fewest = sample, torn
        if not torn:
            break
    assert best is not None
    return best


@main.command()
@click.option("-p", "--pid", type=int, help="PID of the running Python process.")
@click.option(
    "--core",
    "core_path",
    metavar="CORE",
    help="A core file of a Python process (from the kernel or gcore), instead of -p.",
)
@click.option(
    "--executable",
    metavar="PATH",
    help="With --core: the process's executable, where it is no longer at the path the "
    "core names.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON shaped like `py-spy dump --json`."
)
@click.option(
    "--max-depth",
    type=click.IntRange(1, 1_000_000),
    default=DEFAULT_MAX_DEPTH,
    show_default=True,
    help="Frames per thread before the stack is cut (a marker frame says so).",
)
@click.option(
    "-l",
    "--locals",
    "with_locals",
    is_flag=True,
    help="Also print each frame's arguments and local variables (a live target is paused "
    "while they are read: values change as it runs).",
)
@reports_errors
def dump(
    pid: Optional[int],
    core_path: Optional[str],
    executable: Optional[str],
    as_json: bool,
    max_depth: int,
    with_locals: bool,
) -> None:
    """Print the Python stack of every thread of process PID, without pausing it (with
    --locals, paused for the moment of reading), or of the process a core file was
    written from (--core).

    For each thread: its id, kernel thread id, name, whether it is running or idle and
    whether it holds the GIL, then its frames innermost first as `function (file:line)`;
    with --locals, under each frame its arguments and other variables, `name: value`
    (values are rebuilt from memory, never by running code in the target).
    """
    if (pid is None) == (core_path is None):
        raise click.UsageError("give either -p PID or --core CORE")
    if executable is not None and core_path is None:
        raise click.UsageError("--executable goes with --core")
    if core_path is not None:
        _dump_core(core_path, executable, as_json, max_depth, with_locals)
        return
    process = PythonProcess(pid, max_depth=max_depth)
    variables = None
    try:
        if with_locals:
            sample, variables = _paused(process)
        else:
            sample = _whole_sample(process)
    finally:
        process.close()
    _show(sample, process, as_json, command_line(pid), variables)


def _paused(process: PythonProcess) -> Tuple[Sample, Dict[int, ThreadVariables]]:
    """A sample and its frames' variables, read while every thread of the target is
    stopped: then they belong to one moment."""
    pauser = Pauser(process.pid)
    try:
        pauser.pause()
        sample = running_before_pause(_whole_sample(process), pauser.running)
        return sample, process.variables(sample)
    finally:
        pauser.resume()  # let go of running threads only: a stopped one cannot be stopped again
        pauser.close()


def _show(
    sample: Sample, process: PythonProcess, as_json: bool, command: str,
    variables: Optional[Dict[int, ThreadVariables]] = None, core: Optional[str] = None,
) -> None:
    """One way of printing for a live process and a core alike."""
    if as_json:
        click.echo(dump_json(sample, variables))
    else:
        click.echo(
            dump_text(sample, command, process.version, process.image.path, variables, core=core)
        )


def _dump_core(
    path: str, executable: Optional[str], as_json: bool, max_depth: int, with_locals: bool
) -> None:
    """A truncated core is still read as far as it goes, then reported as an error."""
    core = CoreMemory(path, executable)
    damage = core.damage()
    try:
        try:
            process = PythonProcess.from_core(core, max_depth=max_depth)
            sample = _whole_sample(process)
            variables = process.variables(sample) if with_locals else None
        except MemspyError as error:
            if damage:
                raise _truncated(core, damage, f"; {error.message}") from None
            raise
        _show(sample, process, as_json, core.command, variables, core=path)
    finally:
        core.close()
    if damage:
        raise _truncated(core, damage, "")


def _truncated(core: CoreMemory, damage: str, then: str) -> InputError:
    """``then``: why nothing could be dumped, if nothing could."""
    shown = "" if then else "the dump shows what could be read; "
    return InputError(
        f"core file {core.path} is truncated: {damage}{then}",
        f"{shown}was the core size limit (ulimit -c) or the disk reached while it was written?",
    )
