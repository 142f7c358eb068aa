"""``memspy diff``: which functions' shares changed between two profiles; a CI gate."""

from __future__ import annotations

import sys
from typing import Optional

import click

from memspy.cli import main
from memspy.cli.common import reports_errors
from memspy.readers import load_profile
from memspy.reports.diff import REGRESSION_EXIT, compare, regressions, render
from memspy.reports.summary import DEFAULT_TOP, RENDER_FORMATS


@main.command()
@click.argument("base", type=click.Path(dir_okay=False))
@click.argument("head", type=click.Path(dir_okay=False))
@click.option("--by", type=click.Choice(["own", "total"]), default="own", show_default=True,
              help="Compare own shares (time in the function itself) or total shares.")
@click.option("-t", "--threshold", type=click.FloatRange(min=0), metavar="POINTS",
              help=f"Exit with status {REGRESSION_EXIT} when a function's share grew by more "
                   "than this many percentage points.")
@click.option("-f", "--format", "fmt", type=click.Choice(RENDER_FORMATS), default="text",
              show_default=True, help="How to print the changes.")
@click.option("-n", "--top", type=click.IntRange(1), default=DEFAULT_TOP, show_default=True,
              help="How many functions to list.")
@reports_errors
def diff(base: str, head: str, by: str, threshold: Optional[float], fmt: str, top: int) -> None:
    """Print the functions whose share of samples grew or shrank most from BASE to HEAD.

    \b
      memspy diff main.speedscope.json branch.speedscope.json --threshold 5

    Both files are profiles memspy wrote, in any format that keeps stacks (speedscope,
    collapsed, chrometrace, pprof); they need not be in the same format.
    """
    changes = compare(load_profile(base), load_profile(head), by)
    click.echo(render(changes, fmt, by, top), nl=False)
    if threshold is None:
        return
    grown = regressions(changes, threshold)
    for change in grown:
        click.echo(
            f"memspy: regression: {change.name} ({change.filename}) {by} share grew by "
            f"{change.delta * 100:.1f} points, more than {threshold:g}",
            err=True,
        )
    if grown:
        sys.exit(REGRESSION_EXIT)
