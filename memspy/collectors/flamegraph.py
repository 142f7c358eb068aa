"""A self-contained interactive SVG flame graph, so no external tool is needed.

Root at the bottom, callers below callees, siblings in alphabetical order (flamegraph.pl's
conventions, so graphs compare side by side). The script and style are package data files,
inlined at write time. Frames narrower than a tenth of a pixel are left out, as
flamegraph.pl does, which keeps graphs of deep, varied stacks small.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import BinaryIO
from xml.sax.saxutils import escape, quoteattr

from memspy.collectors.counting import CountingCollector
from memspy.collectors.stacks import FrameKey

WIDTH = 1200
PAD = 10
FRAME_HEIGHT = 16
HEADER = 60
FOOTER = 30
CHAR_WIDTH = 12 * 0.59  # Verdana 12px, as flamegraph.pl estimates it
MIN_WIDTH_PX = 0.1
MATCH_COLOR = "rgb(230,0,230)"


@dataclass
class _Node:
    label: str
    weight: int = 0
    children: dict[FrameKey, _Node] = field(default_factory=dict)


@dataclass(frozen=True)
class _Box:
    node: _Node
    start: int  # in weight units from the left edge
    depth: int


def _tree(stacks: Iterator) -> _Node:
    root = _Node("all")
    for frames, weight in stacks:
        node = root
        node.weight += weight
        for frame in frames:
            child = node.children.get(frame)
            if child is None:
                child = node.children[frame] = _Node(frame.label())
            child.weight += weight
            node = child
    return root


def _boxes(root: _Node, min_weight: float) -> list[_Box]:
    boxes: list[_Box] = []
    pending = [_Box(root, 0, 0)]
    while pending:
        box = pending.pop()
        boxes.append(box)
        start = box.start
        for child in sorted(box.node.children.values(), key=lambda n: n.label):
            if child.weight >= min_weight:
                pending.append(_Box(child, start, box.depth + 1))
            start += child.weight
    return boxes


def _color(label: str) -> str:
    """Warm colors from the function name, stable across runs and machines."""
    digest = zlib.crc32(label.split(" (")[0].encode("utf-8", "backslashreplace"))
    red = 205 + digest % 51
    green = (digest >> 8) % 231
    blue = (digest >> 16) % 56
    return f"rgb({red},{green},{blue})"


def _fit(label: str, width: float) -> str:
    """The label cut to the box, as flamegraph.js does after a zoom."""
    fits = int(width // CHAR_WIDTH)
    if fits < 3:
        return ""
    return label if len(label) <= fits else label[: fits - 2] + ".."


def _amount(weight: int, unit: str) -> str:
    if unit == "nanoseconds":
        for scale, suffix in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
            if weight >= scale:
                return f"{weight / scale:.3g} {suffix}"
        return f"{weight} ns"
    return f"{weight:,} sample{'s' if weight != 1 else ''}"


def _package_text(name: str) -> str:
    return resources.files("memspy.collectors").joinpath(name).read_text(encoding="utf-8")


class FlameGraphCollector(CountingCollector):
    name = "flamegraph"
    extensions = (".svg",)
    description = "interactive SVG flame graph (hover, click to zoom, search)"

    def write(self, stream: BinaryIO) -> None:
        root = _tree(self.weighted_stacks())
        plot_width = WIDTH - 2 * PAD
        total = max(root.weight, 1)
        boxes = _boxes(root, MIN_WIDTH_PX * total / plot_width)
        depth = max((box.depth for box in boxes), default=0)
        height = HEADER + (depth + 1) * FRAME_HEIGHT + FOOTER
        layout = {
            "pad": PAD,
            "width": plot_width,
            "charWidth": CHAR_WIDTH,
            "matchColor": MATCH_COLOR,
        }
        title = f"memspy pid {self.info.pid}" + (
            f": {self.info.command}" if self.info.command else ""
        )
        subtitle = f"{_amount(root.weight, self.weight_unit)}, {self.info.mode} time"
        parts = [
            '<?xml version="1.0" standalone="no"?>\n',
            f'<svg version="1.1" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
            f'height="{height}" viewBox="0 0 {WIDTH} {height}" '
            f"data-layout={quoteattr(json.dumps(layout))}>\n",
            f"<style>\n{_package_text('flamegraph.css')}</style>\n",
            f"<script><![CDATA[\n{_package_text('flamegraph.js')}]]></script>\n",
            f'<rect width="{WIDTH}" height="{height}" fill="rgb(248,248,240)"/>\n',
            f'<text id="title" x="{WIDTH / 2}" y="24">{escape(title)}</text>\n',
            f'<text id="subtitle" x="{WIDTH / 2}" y="44">{escape(subtitle)}</text>\n',
            f'<text id="unzoom" class="hide" x="{PAD}" y="24">Reset Zoom</text>\n',
            f'<text id="search" x="{WIDTH - PAD}" y="24">Search</text>\n',
            f'<text id="details" x="{PAD}" y="{height - 10}"> </text>\n',
            f'<text id="matched" x="{WIDTH - PAD}" y="{height - 10}"> </text>\n',
            '<g id="frames">\n',
        ]
        for box in boxes:
            parts.append(self._frame(box, total, plot_width, height))
        parts.append("</g>\n</svg>\n")
        stream.write("".join(parts).encode("utf-8", "backslashreplace"))

    def _frame(self, box: _Box, total: int, plot_width: int, height: int) -> str:
        node = box.node
        share = node.weight / total
        x = PAD + box.start / total * plot_width
        y = height - FOOTER - (box.depth + 1) * FRAME_HEIGHT
        width = share * plot_width
        tooltip = f"{node.label}\n{_amount(node.weight, self.weight_unit)} ({share * 100:.2f}%)"
        return (
            f'<g class="frame" data-s="{box.start / total:.9f}" data-w="{share:.9f}" '
            f'data-d="{box.depth}" data-n={quoteattr(node.label)}>'
            f"<title>{escape(tooltip)}</title>"
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{FRAME_HEIGHT - 1}" '
            f'rx="2" ry="2" fill="{_color(node.label)}"/>'
            f'<text x="{x + 3:.1f}" y="{y + FRAME_HEIGHT - 4}">'
            f"{escape(_fit(node.label, width))}</text>"
            "</g>\n"
        )
