"""Which files of a process hold USDT probes, what they say, and which ``trace`` reads:
shared by ``probes`` and ``trace``, which both need the file a tracer must attach to."""

from __future__ import annotations

import os
from dataclasses import dataclass

from memspy.binary import find_python
from memspy.binary.elf import open_elf
from memspy.binary.maps import read_maps
from memspy.binary.version import PythonVersion
from memspy.memory import ProcessMemory
from memspy.memory.core import strip_deleted
from memspy.usdt.providers import PROVIDERS, Provider, covered
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
    bias: int | None = None  # where the file is loaded in the process, when a PID was given

    def probe(self, name: str) -> Probe | None:
        return next((p for p in self.probes if p.name == name), None)

    def covers(self, provider: Provider) -> bool:
        return covered(provider, [(p.provider, p.name) for p in self.probes])


@dataclass(frozen=True)
class TracePath:
    """The probes ``trace`` reads: a provider, in the file that declares them."""

    provider: Provider
    report: ProbeReport


def probes_of_file(path: str) -> ProbeReport:
    return ProbeReport(path, read_probes(path), attach_path=os.path.abspath(path))


def _attach_path(path: str, open_path: str) -> str:
    # A tracer attaches by inode: the target's own path when it is ours too, else the
    # route through /proc that reaches it in another mount namespace.
    same = os.path.exists(path) and os.path.samefile(path, open_path)
    return path if same else open_path


def probes_of_process(pid: int) -> list[ProbeReport]:
    """The interpreter file ``pid`` runs (probes or not), then every other file it maps
    that declares probes (pyusdt's extension), with their live semaphore counts."""
    memory = ProcessMemory(pid)
    image = find_python(pid, memory)
    probes = read_probes(image.open_path)
    reports = [
        ProbeReport(
            image.path,
            probes,
            pid,
            image.version,
            read_semaphores(memory, probes, image.bias),
            _attach_path(image.path, image.open_path),
            image.bias,
        )
    ]
    maps = read_maps(pid)
    seen = {image.path}
    for entry in maps:
        path = strip_deleted(entry.path)
        if not path.startswith("/") or path in seen or "x" not in entry.perms:
            continue
        seen.add(path)
        open_path = f"/proc/{pid}/root{path}"
        elf = open_elf(open_path, ())
        probes = read_probes(open_path) if elf is not None else []
        bias = elf.load_bias(maps, entry.path) if elf is not None and probes else None
        if bias is None:
            continue
        semaphores = read_semaphores(memory, probes, bias)
        attach = _attach_path(path, open_path)
        reports.append(ProbeReport(path, probes, pid, image.version, semaphores, attach, bias))
    return reports


def choose_path(reports: list[ProbeReport]) -> TracePath | None:
    """The most preferred provider some file declares completely; None when none does."""
    for provider in PROVIDERS:
        for report in reports:
            if report.covers(provider):
                return TracePath(provider, report)
    return None
