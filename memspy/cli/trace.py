"""``memspy trace``: exact call timings from USDT probes (CPython's own, or pyusdt's on
3.12+), via bpftrace."""

from __future__ import annotations

import os
import sys
import tempfile
import time

import click

from memspy.cli import main
from memspy.cli.common import reports_errors
from memspy.cli.options import output_options, stack_options
from memspy.collectors import StackOptions, format_for_path
from memspy.collectors.output import check_writable
from memspy.errors import MemspyError
from memspy.model import ProfileInfo
from memspy.readers import load_profile
from memspy.reports.summary import Summary, function_shares
from memspy.usdt.convert import convert
from memspy.usdt.events import LogStats
from memspy.usdt.inspect import probes_of_file, probes_of_process
from memspy.usdt.launcher import GATE_FRAME
from memspy.usdt.program import STRLEN, build_program, needs_line_probe
from memspy.usdt.qualnames import Qualifier
from memspy.usdt.runner import Target, command_target, require_path, run


def _print_program(pid: int | None, binary: str | None) -> None:
    if pid is not None:
        target = _target(pid, ())
        with_line = needs_line_probe(target.version)
    else:
        report = probes_of_file(binary or os.path.realpath("/usr/bin/python3"))
        # Harmless on other versions, needed on 3.11.
        target = Target(require_path([report], (3, 11)), (3, 11))
        with_line = True
    path = target.path
    click.echo(build_program(path.report.attach_path, path.provider, with_line), nl=False)
    click.echo(
        f"# save with: BPFTRACE_STRLEN={STRLEN} bpftrace -o events.log -p PID program.bt; "
        "convert with: memspy trace --from events.log -o out.speedscope.json",
        err=True,
    )


@main.command()
@click.option("-p", "--pid", type=int, help="PID of the running Python process to trace.")
@output_options
@click.option(
    "-d",
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to trace (default: until the target exits or Ctrl-C).",
)
@click.option(
    "--from",
    "from_log",
    type=click.Path(dir_okay=False),
    help="Convert an event log saved earlier instead of tracing.",
)
@click.option("--partial", is_flag=True, help="With --from: convert a truncated log up to the cut.")
@click.option(
    "--save-log", type=click.Path(dir_okay=False), help="Keep bpftrace's raw event log here."
)
@click.option(
    "--print-program",
    is_flag=True,
    help="Print the bpftrace program whose log --from reads, and exit.",
)
@click.option(
    "--binary",
    type=click.Path(dir_okay=False),
    help="With --print-program: the python or libpython to probe.",
)
@stack_options
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@reports_errors
def trace(
    pid: int | None,
    output: str | None,
    fmt: str | None,
    duration: float | None,
    from_log: str | None,
    partial: bool,
    save_log: str | None,
    print_program: bool,
    binary: str | None,
    threads: bool,
    function: bool,
    nolineno: bool,
    command: tuple[str, ...],
) -> None:
    """Trace every Python call of a process through its USDT probes with bpftrace.

    Needs an interpreter built --with-dtrace, or pyusdt loaded in it on 3.12+ (see
    `memspy probes`), bpftrace and root. A command whose interpreter has no probes but
    can import pyusdt runs under pyusdt. Writes the same formats as `memspy record`, with
    exact enter and leave times.

    \b
    memspy trace -p PID -o out.speedscope.json
    memspy trace -o out.trace.json -- python3 script.py
    memspy trace --from events.log -o out.collapsed
    """
    if print_program:
        _print_program(pid, binary)
        return
    sources = sum(x is not None and x != () for x in (pid, from_log, command or None))
    if sources != 1:
        raise MemspyError(
            "give exactly one of -p PID, --from LOG or -- COMMAND", "see memspy trace --help"
        )
    if not output:
        raise MemspyError("no output file", "give one with -o, e.g. -o out.speedscope.json")
    fmt = fmt or format_for_path(output)
    check_writable(output)
    options = StackOptions(threads=threads, function=function, lineno=not nolineno)
    if from_log:
        qualify = Qualifier()
        stats = convert(from_log, output, fmt, ProfileInfo(pid=0), options, partial, qualify)
        _report(stats, output, _qualified(qualify))
        _top_functions(output)
        return
    target = _target(pid, command)
    info = ProfileInfo(
        pid=pid or 0,
        command=" ".join(command),
        python_version=".".join(map(str, target.version)),
        start_time_ns=time.time_ns(),
    )
    qualify = Qualifier.of_process(pid) if pid else Qualifier()
    with tempfile.TemporaryDirectory(prefix="memspy-trace-") as scratch:
        log = save_log or os.path.join(scratch, "events.log")
        outcome = run(target, log, duration)
        # bpftrace can lose its END output in a full ring buffer: what arrived is kept.
        hidden = GATE_FRAME if target.gated else None
        stats = convert(log, output, fmt, info, options, True, qualify, hidden)
        _report(stats, output, outcome.notes + _qualified(qualify))
    _top_functions(output)
    if command:
        status = outcome.exit_status if outcome.exit_status is not None else stats.exit_status
        sys.exit(_command_status(status))


def _command_status(status: int | None) -> int:
    """Exit as the command did, as ``record`` does (a CI step then fails when it fails)."""
    if status is None:
        click.echo(
            "memspy: the command's exit status is unknown (it did not exit by itself: "
            "killed by a signal, or still running when tracing stopped)",
            err=True,
        )
        return 1
    if status:
        click.echo(f"memspy: the command exited with status {status}", err=True)
    return status


def _target(pid: int | None, command: tuple[str, ...]) -> Target:
    if pid is None:
        return command_target(command)
    reports = probes_of_process(pid)
    found = reports[0].version
    version = found.minor_key + (found.micro,) if found else ()
    return Target(require_path(reports, version), version, pid=pid)


def _qualified(qualify: Qualifier) -> list[str]:
    if not qualify.qualified:
        return []
    return [
        f"{qualify.qualified} frames named as record names them (Class.method), from their "
        "source: the probes give bare function names"
    ]


def _report(stats: LogStats, output: str, notes: list[str]) -> None:
    for note in list(notes) + stats.notes:
        click.echo(f"memspy: {note}", err=True)
    if stats.lost:
        click.echo(
            f"memspy: bpftrace lost {stats.lost} events; stacks near them may be wrong", err=True
        )
    click.echo(
        f"memspy: {stats.entries} entries, {stats.returns} returns over "
        f"{stats.end - stats.start:.3f}s written to {output}",
        err=True,
    )


def _top_functions(output: str) -> None:
    """The top functions by own and total time, as ``record`` prints them at its end, read
    back from what was written (a flame graph SVG keeps too little to read back: none)."""
    try:
        shares = function_shares(load_profile(output).weighted_stacks())
    except MemspyError:
        return
    click.echo(Summary("", functions=shares).table_text(), err=True, nl=False)
