"""What the robustness tests share: targets that say "ready", memspy as a user runs it,
and checks that a profile on disk is complete."""

from __future__ import annotations

import json
import select
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, AnyStr, Dict, List, Sequence

TARGETS = Path(__file__).resolve().parents[1] / "targets"
MEMSPY = [sys.executable, "-m", "memspy"]


def start(script: str, *args: str, python: str = sys.executable, **popen: Any) -> subprocess.Popen:
    """Start tests/targets/``script``; return once it printed "ready" (or fail, with why).
    Its stdin is empty unless ``popen`` says otherwise (a target that takes commands)."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    process = subprocess.Popen(
        [python, str(TARGETS / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )
    assert process.stdout is not None
    line = next_line(process.stdout)
    if line != b"ready\n":
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"{script} did not start: {line!r} {err.decode(errors='replace')}")
    return process


def next_line(stream: IO[AnyStr], timeout: float = 60) -> AnyStr:
    """The next line ``stream`` gives within ``timeout`` seconds; empty if none came (or
    it ended)."""
    readable, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if readable else stream.read(0)


def end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=30)


def memspy(*args: str, **popen: Any) -> subprocess.Popen:
    return subprocess.Popen(
        [*MEMSPY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float = 60) -> List[str]:
    """Read ``process``'s stderr up to a line containing ``needle``; the lines read."""
    assert process.stderr is not None
    lines: List[str] = []
    while True:
        line = next_line(process.stderr, timeout)
        if not line:
            raise AssertionError(f"no line with {needle!r}; memspy said: {''.join(lines)}")
        lines.append(line)
        if needle in line:
            return lines


def load_profile(path: Path, errors: Any) -> Dict[str, Any]:
    """The speedscope profile at ``path``, after checking it against speedscope's schema."""
    document = json.loads(path.read_text(encoding="utf-8"))
    assert errors(document) == []
    return document


def frames_of(document: Dict[str, Any]) -> List[Dict[str, Any]]:
    return document["shared"]["frames"]


def leftovers(directory: Path, keep: Sequence[Path] = ()) -> List[Path]:
    """Files memspy may have left behind in ``directory`` (temporary or partial)."""
    return [p for p in directory.iterdir() if p not in keep]
