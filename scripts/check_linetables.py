"""Compare memspy's line-table decoders with each installed interpreter's own answers.

For every interpreter present, ``linetable_truth.py`` runs inside it and reports
``PyCode_Addr2Line`` for every instruction position of every code object in some
stdlib modules, plus a few live frames; this script decodes the same tables with
``memspy.interpreter.linetable`` and prints the mismatches per version.

Usage: python scripts/check_linetables.py [--modules os,re,...] [--show N] [--fixture PATH]

``--fixture`` also saves a few real tables per format with their true lines, for the
unit and fuzz tests (tests/unit/data/real_linetables.json), which must not spawn
interpreters.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from interpreters import all_interpreters  # noqa: E402

from memspy.interpreter.linetable import decode_line  # noqa: E402
from memspy.offsets import load_layout  # noqa: E402

TRUTH_SCRIPT = Path(__file__).resolve().parent / "linetable_truth.py"

MODULES = [
    "os",
    "re",
    "json.decoder",
    "inspect",
    "argparse",
    "textwrap",
    "difflib",
    "tokenize",
    "pickle",
    "threading",
    "random",
    "calendar",
    "string",
    "shutil",
    "tarfile",
    "ftplib",
]

def table_kind(version: tuple[int, int]) -> str:
    """The line-table format of ``version``, as its generated layout says."""
    return load_layout(*version).features.linetable


def present_interpreters() -> list[str]:
    return [str(i.path) for i in all_interpreters() if i.present]


def dump(python: str, modules: list[str]) -> dict[str, Any]:
    """Run the truth script in ``python`` and return its JSON."""
    out = subprocess.run(
        [python, "-W", "ignore", str(TRUTH_SCRIPT), *modules],
        check=True,
        capture_output=True,
        timeout=300,
    ).stdout
    return json.loads(out)


def mismatches(truth: dict[str, Any]) -> tuple[int, list[str]]:
    """(positions checked, one line per position where memspy disagrees with the interpreter)."""
    kind = table_kind(tuple(truth["version"][:2]))
    checked = 0
    wrong = []
    for code in truth["codes"]:
        table = bytes.fromhex(code["table"])
        first = code["firstlineno"]
        for position, expected in enumerate(code["lines"], start=-1):
            got = decode_line(kind, table, first, position)
            checked += 1
            if got != max(expected, 0):  # CPython's -1 "no line" is memspy's 0
                wrong.append(f"{code['name']} @{position}: memspy {got}, CPython {expected}")
    for frame in truth["frames"]:
        got = decode_line(
            kind, bytes.fromhex(frame["table"]), frame["firstlineno"], frame["position"]
        )
        checked += 1
        if got != (frame["lineno"] or 0):
            wrong.append(
                f"live frame {frame['name']} @{frame['position']}: memspy {got}, "
                f"f_lineno {frame['lineno']}"
            )
    return checked, wrong


def sample(truth: dict[str, Any], count: int = 3) -> list[dict[str, Any]]:
    """The ``count`` largest tables of at most 300 bytes: varied, yet small enough to commit."""
    small = [c for c in truth["codes"] if len(c["table"]) <= 600]
    return sorted(small, key=lambda c: len(c["table"]))[-count:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", default=",".join(MODULES))
    parser.add_argument("--show", type=int, default=5, help="mismatches to print per version")
    parser.add_argument("--fixture", type=Path, help="save sample tables per format here")
    args = parser.parse_args()
    total_wrong = 0
    fixture: dict[str, list[dict[str, Any]]] = {}
    for python in present_interpreters():
        truth = dump(python, args.modules.split(","))
        checked, wrong = mismatches(truth)
        total_wrong += len(wrong)
        version = ".".join(map(str, truth["version"]))
        print(
            f"{version:8} {python:40} {len(truth['codes']):5} codes "
            f"{checked:8} positions {len(wrong):6} mismatches"
        )
        for line in wrong[: args.show]:
            print("    " + line)
        kind = table_kind(tuple(truth["version"][:2]))
        if len(fixture.get(kind, [])) < 6:
            fixture.setdefault(kind, []).extend(sample(truth))
    if args.fixture:
        args.fixture.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    return 1 if total_wrong else 0


if __name__ == "__main__":
    sys.exit(main())
