"""``memspy dump``: every thread's stack, now."""

from __future__ import annotations

import click

from memspy.cli import main
from memspy.cli.common import reports_errors
from memspy.dumping import dump_json, dump_text
from memspy.frames import DEFAULT_MAX_DEPTH
from memspy.process import PythonProcess
from memspy.procinfo import command_line


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
@reports_errors
def dump(pid: int, as_json: bool, max_depth: int) -> None:
    """Print the Python stack of every thread of process PID, without pausing it.

    For each thread: its id, kernel thread id, name, whether it is running or idle and
    whether it holds the GIL, then its frames innermost first as `function (file:line)`.
    """
    process = PythonProcess(pid, max_depth=max_depth)
    try:
        sample = process.sample()
    finally:
        process.close()
    if as_json:
        click.echo(dump_json(sample))
    else:
        click.echo(dump_text(sample, command_line(pid), process.version, process.image.path))
