"""The ``memspy`` command: options and messages only; every command delegates.

Each subcommand lives in its own module, listed in ``COMMANDS``, and registers itself on
``main`` when imported.

The top of the pipeline: may import any package.
"""

from __future__ import annotations

import importlib
from typing import List, Optional

import click

from memspy import __version__

# Subcommands by name -> module. A module is imported only when its command runs (or
# help lists it), so `memspy dump` does not pay for the writers or the tracer.
COMMANDS = {
    "dump": "memspy.cli.dump",
    "record": "memspy.cli.record",
    "top": "memspy.cli.top",
    "probes": "memspy.cli.probes",
    "trace": "memspy.cli.trace",
    "report": "memspy.cli.report",
    "diff": "memspy.cli.diff",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> List[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        if name not in self.commands and name in COMMANDS:
            importlib.import_module(COMMANDS[name])  # registers itself on ``main``
        return self.commands.get(name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="memspy")
def main() -> None:
    """memspy: a sampling profiler for running CPython processes (2.7, 3.6-3.13).

    It reads the target's memory from outside with process_vm_readv: no change to the
    target, no debugger, no BPF.
    """
