"""Options that ``record`` and ``trace`` share, so both name, infer and key profiles alike.

Kept out of ``common`` so that ``dump`` does not import the writers.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import click

from memspy.collectors import FORMATS

F = TypeVar("F", bound=Callable[..., object])


def output_options(func: F) -> F:
    """``-o/--output`` and ``-f/--format``."""
    func = click.option(
        "-f",
        "--format",
        "fmt",
        type=click.Choice(sorted(FORMATS)),
        help="Output format; by default inferred from the output file's extension.",
    )(func)
    return click.option(
        "-o", "--output", type=click.Path(dir_okay=False), help="Profile file to write."
    )(func)


def stack_options(func: F) -> F:
    """``--threads``, ``--function``, ``--nolineno``: how stacks are keyed in every format."""
    func = click.option("--nolineno", is_flag=True, help="Leave line numbers out of the profile.")(
        func
    )
    func = click.option("--function", is_flag=True, help="Aggregate by function, not by line.")(
        func
    )
    return click.option(
        "--threads", is_flag=True, help="Show the thread as the root frame of each stack."
    )(func)
