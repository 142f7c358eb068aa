"""``memspy probes``: the USDT probes of an interpreter, or of every file a live process
maps (pyusdt's extension too), which are on, and which ``trace`` would read."""

from __future__ import annotations

import click

from memspy.cli import main
from memspy.cli.common import reports_errors
from memspy.usdt.inspect import (
    NO_PROBES_MEANING,
    ProbeReport,
    choose_path,
    probes_of_file,
    probes_of_process,
)
from memspy.usdt.runner import PYUSDT_HINT


def _describe(report: ProbeReport, interpreter: bool = True) -> str:
    where = f"process {report.pid}: {report.path}" if report.pid else report.path
    if report.version and interpreter:
        where += f" (Python {report.version.text})"
    if not report.probes:
        return f"{where}\nno USDT probes: {NO_PROBES_MEANING}"
    lines = [f"{where}: {len(report.probes)} USDT probes"]
    header = ["PROVIDER", "NAME", "ADDRESS", "SEMAPHORE", "ARGUMENTS"]
    if report.semaphores is not None:
        header.insert(4, "ENABLED")
    rows = [header]
    for i, probe in enumerate(report.probes):
        row = [
            probe.provider,
            probe.name,
            f"0x{probe.address:x}",
            f"0x{probe.semaphore:x}" if probe.semaphore else "-",
            probe.arguments,
        ]
        if report.semaphores is not None:
            count = report.semaphores[i]
            row.insert(4, "?" if count is None else ("yes" if count else "no"))
        rows.append(row)
    widths = [max(len(r[c]) for r in rows) for c in range(len(header) - 1)]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    return "\n".join(lines)


def _trace_path(reports: list[ProbeReport]) -> str:
    path = choose_path(reports)
    if path is None:
        return "memspy trace: no file declares a provider's entry and return probes; " + PYUSDT_HINT
    probes = ", ".join(path.provider.probes)
    return f"memspy trace would read provider {path.provider.name} ({probes}) in {path.report.path}"


@main.command()
@click.option("-p", "--pid", type=int, help="PID of a running Python process.")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@reports_errors
def probes(pid: int | None, path: str | None) -> None:
    """List the USDT probes (.note.stapsdt) of a python binary or libpython.

    Give PATH, or -p PID to inspect the interpreter a process runs and read which probes
    are enabled right now.
    """
    if (pid is None) == (path is None):
        raise click.UsageError(
            "give either -p PID or PATH: memspy probes -p 1234, or memspy probes /usr/bin/python3"
        )
    if pid is None:
        click.echo(_describe(probes_of_file(path)))
        return
    reports = probes_of_process(pid)
    for i, report in enumerate(reports):
        click.echo(_describe(report, interpreter=i == 0))
    click.echo(
        "ENABLED: the probe's semaphore is non-zero, i.e. a tracer is attached to it now "
        "(addresses are link-time; semaphores were read at their loaded addresses)"
    )
    click.echo(_trace_path(reports))
