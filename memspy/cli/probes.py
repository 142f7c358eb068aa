"""``memspy probes``: the USDT probes of an interpreter and, for a live process, which are on."""

from __future__ import annotations

import click

from memspy.cli import main
from memspy.cli.common import reports_errors
from memspy.usdt.inspect import NO_PROBES_MEANING, ProbeReport, probes_of_file, probes_of_process


def _describe(report: ProbeReport) -> str:
    where = f"process {report.pid}: {report.path}" if report.pid else report.path
    if report.version:
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
    if report.semaphores is not None:
        lines.append(
            "ENABLED: the probe's semaphore is non-zero, i.e. a tracer is attached to it now "
            "(addresses are link-time; semaphores were read at their loaded addresses)"
        )
    return "\n".join(lines)


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
    report = probes_of_process(pid) if pid is not None else probes_of_file(path)
    click.echo(_describe(report))
