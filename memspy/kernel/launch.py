"""Starting the command a user gives after ``--``, with a shell's answers when it cannot be.

``record`` and ``trace`` both run a command; a misspelt name must read "command not
found" and exit 127 (126 when the file exists but cannot be run), as a shell would, so
that CI scripts treat memspy and the bare command alike.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import IO, Optional, Sequence, Union

from memspy.errors import CommandNotExecutable, CommandNotFound


def resolve(command: Sequence[str]) -> str:
    """The executable the command names, found on PATH as a shell does; raises when none."""
    name = command[0]
    found = shutil.which(name)
    if found is not None:
        return found
    if os.sep in name and os.path.exists(name):
        if os.path.isdir(name):
            raise CommandNotExecutable(f"cannot run {name}: it is a directory", "give a program")
        raise CommandNotExecutable(
            f"cannot run {name}: it is not executable", "chmod +x it, or give a program"
        )
    raise CommandNotFound(f"command not found: {name}", "check the name, or give its full path")


def start(command: Sequence[str], output: Optional[Union[int, IO]] = None) -> subprocess.Popen:
    """Start ``command`` with memspy's stdin, stdout and stderr; given ``output``, with no
    input and its output (both streams) there instead, off a screen memspy draws on."""
    resolve(command)
    streams = {} if output is None else {
        "stdin": subprocess.DEVNULL, "stdout": output, "stderr": output}
    try:
        return subprocess.Popen(list(command), **streams)
    except PermissionError as error:
        raise CommandNotExecutable(
            f"cannot run {command[0]}: {error.strerror}", "check the file's permissions"
        ) from error
    except OSError as error:  # e.g. an executable of another architecture
        raise CommandNotExecutable(f"cannot run {command[0]}: {error.strerror}") from error
