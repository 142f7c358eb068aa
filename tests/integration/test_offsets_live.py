"""Each interpreter reads its own objects at memspy's table offsets and must find them.

``offsets_probe.py`` runs inside the target (2.7-3.13, pyenv and Debian): it compares what
ctypes reads at each offset with what Python reveals from inside (``id()`` of the pointed-to
object, ``__basicsize__``, ``sys.int_info``, ``threading.get_native_id()``, the target's own
``_Py_DebugOffsets``), so a wrong number in a table fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest

from memspy.offsets import load_layout

PROBE = Path(__file__).with_name("offsets_probe.py")
INTERPRETERS = [
    ("2.7", "/root/.pyenv/versions/2.7.18/bin/python"),
    ("3.6", "/root/.pyenv/versions/3.6.15/bin/python"),
    ("3.7", "/root/.pyenv/versions/3.7.16/bin/python"),
    ("3.8", "/root/.pyenv/versions/3.8.18/bin/python"),
    ("3.9", "/root/.pyenv/versions/3.9.18/bin/python"),
    ("3.10", "/root/.pyenv/versions/3.10.13/bin/python"),
    ("3.11", "/root/.pyenv/versions/3.11.7/bin/python"),
    ("3.11", "/usr/bin/python3.11"),
    ("3.12", "/root/.pyenv/versions/3.12.1/bin/python"),
    ("3.13", "/root/.pyenv/versions/3.13.0/bin/python"),
]


def _table(version: str) -> Dict[str, Any]:
    layout = load_layout(*(int(p) for p in version.split(".")))
    return {
        "features": layout.features.as_dict(),
        "symbols": layout.symbols.as_dict(),
        "sections": {name: section.as_dict() for name, section in layout.sections.items()},
        "debug_offsets": layout.debug_offsets,
    }


@pytest.mark.parametrize(("version", "python"), INTERPRETERS, ids=[p for _, p in INTERPRETERS])
def test_table_offsets_find_the_interpreters_own_objects(version: str, python: str) -> None:
    if not os.access(python, os.X_OK):
        pytest.skip(f"{python} is not installed")
    run = subprocess.run(
        [python, "-S", str(PROBE)],
        input=json.dumps(_table(version)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    checks = json.loads(run.stdout)
    wrong = [
        f"{name}: read {got!r}, expected {want!r}" for name, got, want in checks if got != want
    ]
    assert wrong == [], "\n".join(wrong)
    assert len(checks) >= 50, f"only {len(checks)} checks ran"
