"""The CPython interpreters integration tests run against, found at run time.

One list for every integration test: each expected interpreter is a parameter whether it is
installed or not, so that a missing one shows up as a skip naming its path, not as a test
that silently vanished.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

import pytest

# The pyenv builds this project supports: shared libpython, symbols, headers.
PYENV_VERSIONS = (
    "2.7.18",
    "3.6.15",
    "3.7.16",
    "3.8.18",
    "3.9.18",
    "3.10.13",
    "3.11.7",
    "3.12.1",
    "3.13.0",
)
# Debian's own 3.11: a static, stripped executable with only .dynsym (and USDT probes).
SYSTEM = (("3.11", Path("/usr/bin/python3.11"), "debian"),)


@dataclass(frozen=True)
class Interpreter:
    id: str  # pytest id: "2.7", "3.11-pyenv", "3.11-debian"
    path: Path
    version: Tuple[int, int]
    origin: str  # "pyenv" or "debian"

    @property
    def present(self) -> bool:
        return os.access(self.path, os.X_OK)

    def require(self) -> None:
        if not self.present:
            pytest.skip(f"{self.path} is not installed")


def pyenv_root() -> Path:
    """Where pyenv keeps its builds: $PYENV_ROOT, else `pyenv root`, else ~/.pyenv."""
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run(
                [pyenv, "root"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                return Path(out)
        except (OSError, subprocess.SubprocessError):
            pass
    return Path.home() / ".pyenv"


def _minor(version: str) -> Tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def all_interpreters() -> List[Interpreter]:
    """Every interpreter the suite expects, installed or not, oldest first."""
    root = pyenv_root() / "versions"
    found = [(_minor(v), root / v / "bin" / "python", "pyenv") for v in PYENV_VERSIONS]
    found += [(_minor(v), path, origin) for v, path, origin in SYSTEM]
    found.sort(key=lambda f: (f[0], f[2] != "pyenv"))
    minors = [minor for minor, _, _ in found]
    result = []
    for minor, path, origin in found:
        name = f"{minor[0]}.{minor[1]}"
        if minors.count(minor) > 1:  # two builds of one version: say which is which
            name += f"-{origin}"
        result.append(Interpreter(name, path, minor, origin))
    return result


INTERPRETERS = all_interpreters()
