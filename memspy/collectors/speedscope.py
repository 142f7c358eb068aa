"""speedscope's own JSON format: one profile per thread, in time order.

Sampled runs give *sampled* profiles whose weights are seconds (each sample counts one
sampling interval, 1/rate, as py-spy does), so speedscope shows times, not counts.
Consecutive identical stacks are run-length encoded: a steady hour-long run is a handful of
entries. Traced (USDT) runs give *evented* profiles with the exact open/close times.
"""

from __future__ import annotations

import json
from array import array
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from memspy import __version__
from memspy.collectors.base import DEFAULT_OPTIONS, Collector, StackOptions
from memspy.collectors.events import Transition
from memspy.collectors.stacks import FrameKey, StackTable, label_of, thread_label
from memspy.model import ProfileInfo, Sample

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"


@dataclass
class _Runs:
    label: str
    stacks: array = field(default_factory=lambda: array("q"))
    counts: array = field(default_factory=lambda: array("q"))


@dataclass
class _Events:
    label: str
    opens: bytearray = field(default_factory=bytearray)  # 1 = "O", 0 = "C"
    times: array = field(default_factory=lambda: array("d"))
    frames: array = field(default_factory=lambda: array("q"))


def _frame_json(frame: FrameKey) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": frame.name}
    if frame.filename is not None:
        entry["file"] = frame.filename
    if frame.line is not None:
        entry["line"] = frame.line
    return entry


class SpeedscopeCollector(Collector):
    name = "speedscope"
    extensions = (".speedscope.json", ".json")
    description = "speedscope JSON (https://www.speedscope.app), one profile per thread"

    def __init__(self, info: ProfileInfo, options: StackOptions = DEFAULT_OPTIONS) -> None:
        super().__init__(info, options)
        # Every thread is its own profile already: no thread root frame.
        self.table = StackTable(replace(options, threads=False))
        self.sampled: dict[int, _Runs] = {}
        self.evented: dict[int, _Events] = {}

    def collect(self, sample: Sample) -> None:
        for thread in sample.threads:
            if not thread.frames:
                continue
            stack = self.table.stack_id(thread)
            runs = self.sampled.get(thread.thread_id)
            if runs is None:
                runs = self.sampled[thread.thread_id] = _Runs(label_of(thread))
            if runs.stacks and runs.stacks[-1] == stack:
                runs.counts[-1] += 1
            else:
                runs.stacks.append(stack)
                runs.counts.append(1)

    def on_transition(self, transition: Transition) -> None:
        thread = transition.thread
        events = self.evented.get(thread.thread_id)
        if events is None:
            events = self.evented[thread.thread_id] = _Events("")
        events.label = thread_label(thread.thread_id, None, thread.name)
        changes = [(0, frame) for frame in transition.closed]
        if transition.opened is not None:
            changes.append((1, transition.opened))
        for is_open, frame in changes:
            events.opens.append(is_open)
            events.times.append(transition.time)
            events.frames.append(self.table.frame_id(self.table.frame_key(frame)))

    def write(self, stream: BinaryIO) -> None:
        profiles = [self._sampled_json(runs) for runs in self.sampled.values()]
        profiles += [self._evented_json(events) for events in self.evented.values()]
        busiest = max(range(len(profiles)), key=lambda i: profiles[i]["endValue"], default=0)
        document = {
            "$schema": SCHEMA_URL,
            "exporter": f"memspy {__version__}",
            "name": " ".join(filter(None, [f"memspy pid {self.info.pid}", self.info.command])),
            "activeProfileIndex": busiest,
            "shared": {"frames": [_frame_json(frame) for frame in self.table.frames]},
            "profiles": profiles,
        }
        stream.write(json.dumps(document, separators=(",", ":")).encode("utf-8"))

    def _sampled_json(self, runs: _Runs) -> dict[str, Any]:
        interval = 1.0 / self.info.rate_hz
        return {
            "type": "sampled",
            "name": runs.label,
            "unit": "seconds",
            "startValue": 0,
            "endValue": sum(runs.counts) * interval,
            "samples": [list(self.table.stacks[stack]) for stack in runs.stacks],
            "weights": [count * interval for count in runs.counts],
        }

    def _evented_json(self, events: _Events) -> dict[str, Any]:
        start = self.replay.first_time or 0.0
        end = self.replay.last_time or start
        return {
            "type": "evented",
            "name": events.label,
            "unit": "seconds",
            "startValue": 0,
            "endValue": end - start,
            "events": [
                {"type": "O" if is_open else "C", "frame": frame, "at": time - start}
                for is_open, time, frame in zip(events.opens, events.times, events.frames)
            ],
        }
