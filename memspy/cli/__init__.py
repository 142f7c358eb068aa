"""The ``memspy`` command: options and messages only; every command delegates.

Each subcommand lives in its own module and registers itself on ``main``.
"""

from __future__ import annotations

import click

from memspy import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="memspy")
def main() -> None:
    """memspy: a sampling profiler for running CPython processes (2.7, 3.6-3.13).

    It reads the target's memory from outside with process_vm_readv: no change to the
    target, no debugger, no BPF.
    """


def _register() -> None:
    # Imported for their side effect of adding commands to ``main``.
    from memspy.cli import (
        dump,  # noqa: F401
        probes,  # noqa: F401
        trace,  # noqa: F401
    )


_register()
