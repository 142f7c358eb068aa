"""``memspy report``: the top-functions table of a saved profile, without a browser."""

from __future__ import annotations

import click

from memspy.cli import main
from memspy.cli.common import reports_errors
from memspy.readers import load_profile
from memspy.readers.profile import LoadedProfile
from memspy.reports.summary import DEFAULT_TOP, RENDER_FORMATS, Summary, function_shares


def recorded(profile: LoadedProfile) -> str:
    """Seconds of wall time and samples, whatever the format counts its weights in."""
    parts = []
    if profile.seconds is not None:
        parts.append(f"{profile.seconds:.3f} s of wall time")
    if profile.samples is not None:
        parts.append(f"{profile.samples} samples")
    if not parts and profile.unit == "samples":
        parts.append(f"{profile.total:.0f} thread samples (this format keeps no times)")
    return ", ".join(parts) or "unknown (this file keeps neither times nor sample counts)"


def summarize(profile: LoadedProfile) -> Summary:
    facts = [("file", profile.path), ("format", profile.format), ("recorded", recorded(profile)),
             ("distinct stacks", str(len(profile.stacks)))]
    facts += sorted(profile.facts.items())
    return Summary("memspy report", facts, function_shares(profile.weighted_stacks()))


@main.command()
@click.argument("profile", type=click.Path(dir_okay=False))
@click.option("-f", "--format", "fmt", type=click.Choice(RENDER_FORMATS), default="text",
              show_default=True, help="How to print the table.")
@click.option("-n", "--top", type=click.IntRange(1), default=DEFAULT_TOP, show_default=True,
              help="How many functions to list.")
@reports_errors
def report(profile: str, fmt: str, top: int) -> None:
    """Print the top functions of PROFILE by own and total share.

    PROFILE is a speedscope, collapsed, chrometrace or pprof file memspy wrote; the format
    is recognised from its content.
    """
    click.echo(summarize(load_profile(profile)).render(fmt, top), nl=False)
