"""memspy's line decoders agree with each installed interpreter's PyCode_Addr2Line.

Every instruction position of a few stdlib modules, plus live frames (a running
function, an unstarted generator), per interpreter; ``scripts/check_linetables.py``
runs the same comparison over more modules.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "check_linetables.py"
_spec = importlib.util.spec_from_file_location("check_linetables", _SCRIPT)
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

MODULES = ["argparse", "tokenize", "json.decoder", "textwrap"]


def test_every_position_matches_the_interpreter(interpreter) -> None:
    truth = check.dump(str(interpreter.path), MODULES)
    checked, wrong = check.mismatches(truth)
    assert checked > 5000, "too few positions to mean anything"
    assert wrong == [], f"{len(wrong)} of {checked} positions differ, e.g. {wrong[:5]}"
