"""``memspy dump``: every thread's stack, now."""

from __future__ import annotations

from typing import Dict, Tuple

import click

from memspy.cli import main
from memspy.cli.common import reports_errors
from memspy.dumping import ThreadVariables, dump_json, dump_text
from memspy.frames import DEFAULT_MAX_DEPTH, EXACT
from memspy.model import Sample
from memspy.pause import Pauser
from memspy.process import PythonProcess
from memspy.procinfo import command_line
from memspy.sampler import running_before_pause

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
@click.option("-p", "--pid", type=int, required=True, help="PID of the running Python process.")
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
    help="Also print each frame's arguments and local variables (pauses the target while "
    "they are read: values change as it runs).",
)
@reports_errors
def dump(pid: int, as_json: bool, max_depth: int, with_locals: bool) -> None:
    """Print the Python stack of every thread of process PID, without pausing it
    (with --locals, paused for the moment of reading).

    For each thread: its id, kernel thread id, name, whether it is running or idle and
    whether it holds the GIL, then its frames innermost first as `function (file:line)`;
    with --locals, under each frame its arguments and other variables, `name: value`
    (values are rebuilt from memory, never by running code in the target).
    """
    process = PythonProcess(pid, max_depth=max_depth)
    variables = None
    try:
        if with_locals:
            sample, variables = _paused(process)
        else:
            sample = _whole_sample(process)
    finally:
        process.close()
    if as_json:
        click.echo(dump_json(sample, variables))
    else:
        text = dump_text(sample, command_line(pid), process.version, process.image.path, variables)
        click.echo(text)


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
