"""Running py-spy, the reference memspy is compared with, on a target."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any, List

import pytest


def available() -> bool:
    return shutil.which("py-spy") is not None


def require() -> str:
    path = shutil.which("py-spy")
    if path is None:
        pytest.skip("py-spy is not installed (pip install py-spy==0.4.3)")
    return path


def dump_json(pid: int) -> List[Any]:
    """``py-spy dump --json`` of a process that the caller has SIGSTOPped.

    --nonblocking because py-spy's own pause (ptrace) fails on a process that is already
    stopped ("Failed to suspend process: unexpected waitpid result PtraceEvent(..., SIGSTOP,
    128)"); the process is stopped anyway, so the read is just as consistent.
    """
    result = subprocess.run(
        [require(), "dump", "--json", "--nonblocking", "--pid", str(pid)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"py-spy failed ({result.returncode}):\n{result.stderr}"
    return json.loads(result.stdout)
