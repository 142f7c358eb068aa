"""Brendan Gregg's folded stacks: ``root;...;leaf count`` per line, as flamegraph.pl, inferno
and speedscope read them.

Counts are samples; for a traced (USDT) run they are microseconds, which those tools treat
the same way.
"""

from __future__ import annotations

from typing import BinaryIO

from memspy.collectors.counting import CountingCollector
from memspy.collectors.stacks import FrameKey


def _folded_label(frame: FrameKey) -> str:
    # ";" separates frames and the line ends the record: neither may appear inside one.
    return frame.label().replace(";", ":").replace("\n", " ")


class CollapsedCollector(CountingCollector):
    name = "collapsed"
    extensions = (".folded", ".collapsed", ".txt")
    description = "folded stacks for flamegraph.pl / inferno / speedscope"

    def write(self, stream: BinaryIO) -> None:
        divisor = 1000 if self.weight_unit == "nanoseconds" else 1
        lines = []
        for frames, weight in self.weighted_stacks():
            count = round(weight / divisor)
            if count:
                lines.append(f"{';'.join(_folded_label(f) for f in frames)} {count}\n")
        stream.write("".join(sorted(lines)).encode("utf-8", "backslashreplace"))
