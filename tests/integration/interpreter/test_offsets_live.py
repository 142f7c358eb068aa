"""Each interpreter reads its own objects at memspy's table offsets and must find them.

``offsets_probe.py`` runs inside the target (2.7-3.13, pyenv and Debian): it compares what
ctypes reads at each offset with what Python reveals from inside (``id()`` of the pointed-to
object, ``__basicsize__``, ``sys.int_info``, ``threading.get_native_id()``, the target's own
``_Py_DebugOffsets``), so a wrong number in a table fails here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, Tuple

from memspy.offsets import load_layout

PROBE = Path(__file__).parents[1] / "offsets_probe.py"



def _table(version: Tuple[int, int]) -> Dict[str, Any]:
    layout = load_layout(*version)
    return {
        "features": layout.features.as_dict(),
        "symbols": layout.symbols.as_dict(),
        "sections": {name: section.as_dict() for name, section in layout.sections.items()},
        "debug_offsets": layout.debug_offsets,
    }


def test_table_offsets_find_the_interpreters_own_objects(interpreter) -> None:
    run = subprocess.run(
        [str(interpreter.path), "-S", str(PROBE)],
        input=json.dumps(_table(interpreter.version)),
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
