"""What the per-interpreter benchmarks share: picking the interpreters asked for, and
writing their sections as one report (stdout, and Markdown if asked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from interpreters import Interpreter, all_interpreters


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
