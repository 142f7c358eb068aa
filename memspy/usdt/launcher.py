"""Starting a command under pyusdt, for interpreters without probes of their own.

bpftrace's ``-c`` places probes before the command runs, but pyusdt's probes live in a
library the command has not loaded yet (bpftrace 0.17 then fails). So memspy starts the
command itself, held at a gate (``pyusdt_gate.py``) once the library is loaded, attaches
with ``-p``, and opens the gate when bpftrace has attached: when every probe it traces has
its semaphore set in the command's memory (bpftrace's own output, buffered, says nothing
until events flow, and none flow while the command is held).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from memspy.binary.elf import open_elf
from memspy.binary.maps import read_maps
from memspy.errors import MemspyError
from memspy.memory import ProcessMemory
from memspy.usdt.stapsdt import Probe, all_placed

_GATE = Path(__file__).with_name("pyusdt_gate.py")
# Interpreter options that take the next argument as their value.
_VALUED = ("-W", "-X", "-Q")
_MAP_TIMEOUT = 30.0
# The gate's own frame, under every frame of the command: (file, function) as the probes
# name it (``-c`` code). It was running before tracing began; the profile leaves it out.
GATE_FRAME = ("<string>", "<module>")


def gated_argv(command: Sequence[str], fd: int) -> list[str]:
    """``command`` (``python [options] SCRIPT|-m MODULE args``) run through the gate."""
    options: list[str] = []
    rest = list(command[1:])
    while rest and rest[0].startswith("-") and rest[0] not in ("-", "-m", "--"):
        if rest[0].startswith("-c"):
            raise MemspyError(
                "memspy trace cannot run `python -c CODE` under pyusdt",
                "put the code in a file, or use `memspy record`",
            )
        options.append(rest.pop(0))
        if options[-1] in _VALUED and rest:
            options.append(rest.pop(0))
    if rest[:1] == ["--"]:
        rest.pop(0)
    if not rest or rest[0] == "-" or rest == ["-m"]:
        raise MemspyError(
            "memspy trace runs a script or a module under pyusdt, not python's prompt or stdin",
            "give the script: memspy trace -o out.speedscope.json -- python app.py",
        )
    return [command[0], *options, "-c", _GATE.read_text(), str(fd), *rest]


class GatedCommand:
    """The command, started and held at the gate until ``open`` is called."""

    def __init__(self, command: Sequence[str], library: str, probes: Sequence[Probe]) -> None:
        read_end, self._write_end = os.pipe()
        try:
            self.process = subprocess.Popen(gated_argv(command, read_end), pass_fds=(read_end,))
        finally:
            os.close(read_end)
        self._probes = probes
        self._bias = self._wait_for(library)
        self._memory = ProcessMemory(self.pid)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_for(self, library: str) -> int:
        """Until the process maps ``library`` (bpftrace cannot attach before): its load bias."""
        inode = os.stat(library).st_ino
        elf = open_elf(library, ())
        deadline = time.monotonic() + _MAP_TIMEOUT
        while elf is not None and time.monotonic() < deadline and self.process.poll() is None:
            try:
                maps = read_maps(self.pid)
            except MemspyError:
                maps = []  # exiting: poll() says so next
            mapped = next((entry.path for entry in maps if entry.inode == inode), None)
            bias = elf.load_bias(maps, mapped) if mapped else None
            if bias is not None:
                return bias
            time.sleep(0.01)
        self.open()
        status = self.process.poll()
        if status is None:
            self.process.kill()
            self.process.wait()
        raise MemspyError(
            f"the command did not load pyusdt's library {library}"
            + (f" (it exited with status {status})" if status is not None else ""),
            "check that the command runs: python -m pyusdt app.py",
        )

    def open_when_attached(self) -> bool:
        """Open the gate once every probe is traced; whether it is open."""
        if self._write_end >= 0:
            if all_placed(self._memory, self._probes, self._bias):
                self.open()
        return self._write_end < 0

    def open(self) -> None:
        """Let the command run (idempotent)."""
        if self._write_end >= 0:
            try:
                os.write(self._write_end, b"1")
            except BrokenPipeError:
                pass  # the command is gone already
            os.close(self._write_end)
            self._write_end = -1
