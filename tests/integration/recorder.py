"""Running ``memspy record`` as a user does, and reading what it wrote, for the record tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence

import memspy

DEMO = Path(memspy.__file__).parent / "demo" / "__main__.py"
MEMSPY = [sys.executable, "-m", "memspy", "record"]
TIMEOUT = 120.0  # generous: the suite shares two cores with ten interpreters


def record(args: Sequence[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """``memspy record ARGS`` to completion; stderr is not a terminal here."""
    return subprocess.run(
        [*MEMSPY, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def start_record(args: Sequence[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [*MEMSPY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def folded(path: Path) -> Dict[str, int]:
    """A collapsed-stacks file as {"root;...;leaf": count}."""
    stacks: Counter = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        stacks[stack] += int(count)
    return dict(stacks)


def frame_names(stack: str) -> List[str]:
    """Function names of a folded stack, root first ("name (file:line)" -> "name")."""
    return [frame.split(" (", 1)[0] for frame in stack.split(";")]


def samples_in(stacks: Dict[str, int], function: str) -> int:
    """How many samples have ``function`` anywhere on their stack."""
    return sum(n for stack, n in stacks.items() if function in frame_names(stack))


def share(stacks: Dict[str, int], functions: Sequence[str]) -> Dict[str, float]:
    """Each function's share of the samples in which any of ``functions`` is on the stack."""
    counts = {name: 0 for name in functions}
    for stack, count in stacks.items():
        names = frame_names(stack)
        for name in functions:
            if name in names:
                counts[name] += count
    total = sum(counts.values())
    return {name: count / total if total else 0.0 for name, count in counts.items()}


def state(pid: int) -> str:
    """The kernel's state letter of every thread of ``pid`` that still exists."""
    states = ""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_bytes()
        except OSError:
            continue
        states += stat[stat.rfind(b")") + 2 :].split()[0].decode()
    return states
