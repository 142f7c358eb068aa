"""The top-functions table: which functions the samples were in (own share) and under
(total share), as text for a terminal, Markdown for a CI job summary, or JSON for scripts.

A function is its name and file, whatever the line: a summary answers "where did the time
go", and a hot loop spread over ten lines is still one place. Recursion counts a function
once per stack in its total share, so no share exceeds 100%.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from memspy.collectors.stacks import MAX_STACKS, OTHER, FrameKey
from memspy.model import Frame, Sample
from memspy.printable import printable

Function = Tuple[str, str]  # (name, filename)
DEFAULT_TOP = 10
_FILE_WIDTH = 48


@dataclass(frozen=True)
class FunctionShare:
    name: str
    filename: str
    own: float  # share of all weight with this function innermost, 0..1
    total: float  # share of all weight with this function anywhere on the stack


def function_shares(stacks: Iterable[Tuple[Tuple[FrameKey, ...], float]]) -> List[FunctionShare]:
    """Shares from weighted stacks (root first), most own share first, then most total."""
    own: Counter = Counter()
    total: Counter = Counter()
    weight_sum = 0.0
    for stack, weight in stacks:
        functions = [(f.name, f.filename) for f in stack if f.filename is not None]
        if not functions:
            continue
        weight_sum += weight
        own[functions[-1]] += weight
        for function in set(functions):
            total[function] += weight
    if not weight_sum:
        return []
    shares = [
        FunctionShare(name, filename, own[(name, filename)] / weight_sum, weight / weight_sum)
        for (name, filename), weight in total.items()
    ]
    shares.sort(key=lambda s: (-s.own, -s.total, s.name, s.filename))
    return shares


class SampleTally:
    """Counts each distinct stack of a recording, for the end-of-run table.

    Keyed by the walker's frame tuple, each count in a list of its own, so a sample
    costs one hash of its stack (a tuple's hash is not cached: ten frames take about
    0.3 µs); the function shares are worked out once, at the end.
    """

    def __init__(self) -> None:
        self._counts: Dict[Tuple[Frame, ...], List[int]] = {}

    def add(self, sample: Sample) -> None:
        counts = self._counts
        for thread in sample.threads:
            frames = thread.frames
            if frames:
                count = counts.get(frames)
                if count is None:
                    if len(counts) < MAX_STACKS:
                        count = counts[frames] = [0]
                    else:  # bounded, as the profile is
                        count = counts.setdefault(_OTHER, [0])
                count[0] += 1

    def stacks(self) -> Iterable[Tuple[Tuple[FrameKey, ...], float]]:
        for frames, (count,) in self._counts.items():
            yield tuple(_key(frame) for frame in reversed(frames)), count


_OTHER = (Frame(OTHER, "<memspy>", 0),)


def _key(frame: Frame) -> FrameKey:
    return FrameKey(frame.name, frame.filename, None)


@dataclass
class Summary:
    """``facts`` are labelled values in display order (samples, rate, Python version...).

    Functions are listed twice, by own share and by total share: the functions that burn
    the time are rarely the ones a reader recognises, which are their callers.
    """

    title: str
    facts: List[Tuple[str, str]] = field(default_factory=list)
    functions: List[FunctionShare] = field(default_factory=list)  # by own share

    def ranked(self, top: Optional[int]) -> Dict[str, List[FunctionShare]]:
        by_total = sorted(self.functions, key=lambda s: (-s.total, -s.own, s.name, s.filename))
        by_own = [s for s in self.functions if s.own > 0]
        return {"own": by_own[:top], "total": by_total[:top]}

    def text(self, top: int = DEFAULT_TOP) -> str:
        lines = [self.title] + [f"  {label}: {printable(value)}" for label, value in self.facts]
        return "\n".join(lines) + "\n" + self.table_text(top)

    def table_text(self, top: int = DEFAULT_TOP) -> str:
        if not self.functions:
            return "  no Python stacks were recorded\n"
        lines = []
        for by, rows in self.ranked(top).items():
            lines.append(f"  {'own':>6} {'total':>6}  top functions by {by} share")
            lines += [
                f"  {s.own:6.1%} {s.total:6.1%}  {printable(s.name)} "
                f"({shorten(printable(s.filename))})"
                for s in rows
            ]
        return "\n".join(lines) + "\n"

    def markdown(self, top: int = DEFAULT_TOP) -> str:
        lines = [f"### {_md(self.title)}", ""]
        lines += [f"- **{_md(label)}**: {_md(value)}" for label, value in self.facts]
        if not self.functions:
            return "\n".join(lines + ["", "No Python stacks were recorded."]) + "\n"
        for by, rows in self.ranked(top).items():
            lines += ["", f"Top functions by {by} share:", ""]
            lines += ["| own | total | function | file |", "|---:|---:|---|---|"]
            lines += [
                f"| {s.own:.1%} | {s.total:.1%} | `{md_code(s.name)}` | `{md_code(s.filename)}` |"
                for s in rows
            ]
        return "\n".join(lines) + "\n"

    def json(self, top: Optional[int] = DEFAULT_TOP) -> str:
        document: Dict[str, object] = {
            "title": self.title,
            "facts": dict(self.facts),
            **{f"by_{by}": [asdict(s) for s in rows] for by, rows in self.ranked(top).items()},
        }
        return json.dumps(document, indent=2) + "\n"

    def render(self, fmt: str, top: int = DEFAULT_TOP) -> str:
        return {"text": self.text, "markdown": self.markdown, "json": self.json}[fmt](top)


RENDER_FORMATS = ("text", "markdown", "json")


def shorten(path: str) -> str:
    return path if len(path) <= _FILE_WIDTH else "..." + path[-(_FILE_WIDTH - 3) :]


def _md(text: str) -> str:
    """Markdown-inert: names from the target must not become links, HTML or table cells."""
    escaped = printable(text).replace("\\", "\\\\")
    for char in "`*_[]<>|#":
        escaped = escaped.replace(char, "\\" + char)
    return escaped


def md_code(text: str) -> str:
    return printable(text).replace("`", "'").replace("|", "\\|")
