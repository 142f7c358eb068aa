"""The output formats by name, and which one a file name asks for.

To add a format: write its Collector subclass (``name``, ``extensions``) and list it in
``FORMATS``; its extensions then take part in inference.

The writers (``collectors``) and ``readers`` may import ``interpreter`` and below; ``output``
writes a file atomically for both them and the commands.
"""

from __future__ import annotations

from memspy.collectors.base import DEFAULT_OPTIONS, Collector, StackOptions
from memspy.collectors.chrometrace import ChromeTraceCollector
from memspy.collectors.collapsed import CollapsedCollector
from memspy.collectors.flamegraph import FlameGraphCollector
from memspy.collectors.output import STDOUT
from memspy.collectors.pprof import PprofCollector
from memspy.collectors.speedscope import SpeedscopeCollector
from memspy.errors import OutputError
from memspy.model import ProfileInfo

FORMATS: dict[str, type[Collector]] = {
    cls.name: cls
    for cls in (
        SpeedscopeCollector,
        CollapsedCollector,
        FlameGraphCollector,
        ChromeTraceCollector,
        PprofCollector,
    )
}


def _extensions() -> dict[str, str]:
    table: dict[str, str] = {}
    for name, cls in FORMATS.items():
        table.update({extension: name for extension in cls.extensions})
    return table


def format_for_path(path: str) -> str:
    """The format a file name implies; the longest matching extension wins, so
    ``x.trace.json`` is chrometrace although ``.json`` alone means speedscope."""
    if str(path) == STDOUT:
        raise OutputError(
            "-o - writes to standard output, which has no file name to tell the format by",
            hint="choose one with --format, e.g. -f collapsed",
        )
    lowered = str(path).lower()
    table = _extensions()
    for extension in sorted(table, key=len, reverse=True):
        if lowered.endswith(extension):
            return table[extension]
    known = ", ".join(sorted(table))
    raise OutputError(
        f"cannot tell the output format from the file name {str(path)!r}",
        hint=f"use one of the extensions {known}, or choose a format with --format",
    )


def create(name: str, info: ProfileInfo, options: StackOptions = DEFAULT_OPTIONS) -> Collector:
    cls = FORMATS.get(name)
    if cls is None:
        raise OutputError(
            f"unknown output format {name!r}",
            hint=f"choose one of {', '.join(sorted(FORMATS))}",
        )
    return cls(info, options)


__all__ = ["DEFAULT_OPTIONS", "FORMATS", "Collector", "StackOptions", "create", "format_for_path"]
