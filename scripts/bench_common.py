"""What the benchmarks share: a workload started and waited for, and, for those that
report per interpreter, picking the interpreters asked for and writing their sections as
one report (stdout, and Markdown if asked)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence

from interpreters import Interpreter, all_interpreters

WORKLOAD_DIR = Path(__file__).resolve().parent / "bench_workloads"


class BenchError(Exception):
    """A run that produced no usable numbers; reported under the table, not fatal (as
    are the ValueErrors of bench_parse, for output it cannot read)."""


@contextmanager
def deadline(proc: subprocess.Popen, seconds: float) -> Iterator[None]:
    """Kill ``proc`` if the block is still waiting on it after ``seconds``."""
    timer = threading.Timer(seconds, proc.kill)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@contextmanager
def workload(python: Path, name: str, *args: str) -> Iterator[subprocess.Popen]:
    """A workload process that has said "ready"; killed (and reaped) on leaving."""
    script = WORKLOAD_DIR / f"{name}.py"
    proc = subprocess.Popen(
        [os.path.realpath(python), str(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        with deadline(proc, 30):
            line = proc.stdout.readline()
        if line.strip() != "ready":
            raise BenchError(f"{name} on {python} did not start (said {line!r})")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def report(
    name: str,
    title: str,
    wanted: Sequence[str],
    run: Callable[[Interpreter], List[str]],
    markdown: Optional[str],
) -> int:
    """Run ``run`` for each installed interpreter of ``wanted`` (ids, or their prefix:
    3.11 picks 3.11-pyenv and 3.11-debian) and print the sections under ``title``."""
    pythons = [
        p for p in all_interpreters()
        if p.present and any(p.id == w or p.id.startswith(w + "-") for w in wanted)
    ]
    if not pythons:
        sys.exit(f"{name}: none of {list(wanted)} is installed")
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [f"{title}; load before: {load}", ""]
    for python in pythons:
        lines += run(python) + [""]
    text = "\n".join(lines)
    print(text)
    if markdown:
        Path(markdown).write_text(text)
    return 0
