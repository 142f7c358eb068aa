"""Which interpreter file holds a process's probes, and what they say: shared by ``probes``
and ``trace``, which both need the file a tracer must attach to."""

from __future__ import annotations

import os
from dataclasses import dataclass

from memspy.binary import find_python
from memspy.binary.version import PythonVersion
from memspy.memory import ProcessMemory
from memspy.usdt.stapsdt import Probe, read_probes, read_semaphores

NO_PROBES_MEANING = (
    "this interpreter was built without --with-dtrace, so bpftrace, BCC and DTrace cannot "
    "trace its functions; use `memspy record`, which needs no probes"
)


@dataclass
class ProbeReport:
    path: str  # the file as the target (or the user) names it
    probes: list[Probe]
    pid: int | None = None
    version: PythonVersion | None = None
    semaphores: list[int | None] | None = None  # live counts, when a PID was given
    attach_path: str = ""  # the path a tracer on this machine can open

    def probe(self, name: str) -> Probe | None:
        return next((p for p in self.probes if p.name == name), None)


def probes_of_file(path: str) -> ProbeReport:
    return ProbeReport(path, read_probes(path), attach_path=os.path.abspath(path))


def probes_of_process(pid: int) -> ProbeReport:
    """The probes of the interpreter file ``pid`` runs, with their live semaphore counts."""
    memory = ProcessMemory(pid)
    image = find_python(pid, memory)
    probes = read_probes(image.open_path)
    # A tracer attaches by inode: the target's own path when it is ours too, else the
    # route through /proc that reaches it in another mount namespace.
    same = os.path.exists(image.path) and os.path.samefile(image.path, image.open_path)
    return ProbeReport(
        image.path,
        probes,
        pid,
        image.version,
        read_semaphores(memory, probes, image.bias),
        image.path if same else image.open_path,
    )
