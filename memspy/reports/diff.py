"""Comparing two profiles function by function: which shares grew and which shrank.

Shares, not absolute weights, are compared, so a longer or faster run does not look like a
regression; the unit of each file does not matter either, and two formats can be compared.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional

from memspy.printable import printable
from memspy.readers import LoadedProfile
from memspy.reports.summary import FunctionShare, function_shares, md_code, shorten

REGRESSION_EXIT = 12  # documented in the README's exit codes


@dataclass(frozen=True)
class Change:
    name: str
    filename: str
    base: float  # share in the base profile, 0..1
    head: float

    @property
    def delta(self) -> float:
        return self.head - self.base


def _by_function(shares: List[FunctionShare], by: str) -> Dict[tuple, float]:
    return {(s.name, s.filename): getattr(s, by) for s in shares}


def compare(base: LoadedProfile, head: LoadedProfile, by: str = "own") -> List[Change]:
    """Every function whose share changed, most grown first and most shrunk last."""
    before = _by_function(function_shares(base.weighted_stacks()), by)
    after = _by_function(function_shares(head.weighted_stacks()), by)
    changes = [
        Change(name, filename, before.get((name, filename), 0.0), after.get((name, filename), 0.0))
        for name, filename in sorted(set(before) | set(after))
    ]
    changes.sort(key=lambda c: -c.delta)
    return [c for c in changes if c.delta]


def regressions(changes: List[Change], threshold_points: float) -> List[Change]:
    # Rounded so that a growth of exactly the threshold, give or take a float, passes.
    return [c for c in changes if round(c.delta * 100, 9) > threshold_points]


def _sections(changes: List[Change], top: Optional[int]) -> Dict[str, List[Change]]:
    grew = [c for c in changes if c.delta > 0][:top]
    shrank = [c for c in reversed(changes) if c.delta < 0][:top]
    return {"grew": grew, "shrank": shrank}


def render(changes: List[Change], fmt: str, by: str, top: Optional[int]) -> str:
    sections = _sections(changes, top)
    if fmt == "json":
        document = {
            "by": by,
            **{
                key: [{**asdict(c), "delta": c.delta} for c in rows]
                for key, rows in sections.items()
            },
        }
        return json.dumps(document, indent=2) + "\n"
    if not changes:
        return "no function's share changed\n"
    lines: List[str] = []
    for key, rows in sections.items():
        if not rows:
            continue
        if fmt == "markdown":
            lines += [f"Functions whose {by} share {key} most:", ""]
            lines += ["| base | head | change | function | file |", "|---:|---:|---:|---|---|"]
            lines += [
                f"| {c.base:.1%} | {c.head:.1%} | {c.delta * 100:+.1f} pp | `{md_code(c.name)}` "
                f"| `{md_code(c.filename)}` |"
                for c in rows
            ]
            lines.append("")
        else:
            lines.append(f"  {'base':>6} {'head':>6} {'change':>9}  {by} share {key} most")
            lines += [
                f"  {c.base:6.1%} {c.head:6.1%} {c.delta * 100:+7.1f}pp  {printable(c.name)} "
                f"({shorten(printable(c.filename))})"
                for c in rows
            ]
    return "\n".join(lines).rstrip("\n") + "\n"
