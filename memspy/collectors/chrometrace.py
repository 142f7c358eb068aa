"""Trace Event Format JSON, as Perfetto and chrome://tracing read it: a timeline per thread.

A slice is a function call as the samples saw it: it begins at the first sample where the
function is on the stack at that depth and ends at the first sample where it is not, so
consecutive samples sharing a stack prefix merge. Slices are keyed by function, not line:
a caller moving from one call site to the next is still the same call. Traced (USDT) runs
give the exact enter and return times instead.
"""

from __future__ import annotations

import json
from array import array
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from memspy import __version__
from memspy.collectors.base import DEFAULT_OPTIONS, Collector, StackOptions
from memspy.collectors.events import Transition
from memspy.collectors.stacks import StackTable, label_of, thread_label
from memspy.model import ProfileInfo, Sample

_BEGIN, _END = 1, 0


@dataclass
class _Thread:
    tid: int
    label: str
    open: tuple[int, ...] = ()  # frame ids, root first


@dataclass
class _Timeline:
    begins: bytearray = field(default_factory=bytearray)
    times: array = field(default_factory=lambda: array("d"))
    tids: array = field(default_factory=lambda: array("q"))
    frames: array = field(default_factory=lambda: array("q"))

    def add(self, begin: int, time: float, tid: int, frame: int) -> None:
        self.begins.append(begin)
        self.times.append(time)
        self.tids.append(tid)
        self.frames.append(frame)


class ChromeTraceCollector(Collector):
    name = "chrometrace"
    extensions = (".trace.json",)
    description = "Trace Event Format JSON for Perfetto / chrome://tracing"

    def __init__(self, info: ProfileInfo, options: StackOptions = DEFAULT_OPTIONS) -> None:
        super().__init__(info, options)
        self.table = StackTable(replace(options, threads=False))
        self.threads: dict[int, _Thread] = {}
        self.timeline = _Timeline()
        self.first_time: float | None = None
        self.last_time: float | None = None

    def _thread(self, key: int, tid: int, label: str) -> _Thread:
        thread = self.threads.get(key)
        if thread is None:
            thread = self.threads[key] = _Thread(tid, label)
        thread.label = label
        return thread

    def _same_call(self, a: int, b: int) -> bool:
        frame_a, frame_b = self.table.frames[a], self.table.frames[b]
        return frame_a.name == frame_b.name and frame_a.filename == frame_b.filename

    def _move(self, thread: _Thread, stack: tuple[int, ...], time: float) -> None:
        common = 0
        limit = min(len(stack), len(thread.open))
        while common < limit and self._same_call(stack[common], thread.open[common]):
            common += 1
        for frame in reversed(thread.open[common:]):
            self.timeline.add(_END, time, thread.tid, frame)
        for frame in stack[common:]:
            self.timeline.add(_BEGIN, time, thread.tid, frame)
        thread.open = thread.open[:common] + stack[common:]

    def collect(self, sample: Sample) -> None:
        if self.first_time is None:
            self.first_time = sample.time
        self.last_time = sample.time
        seen = set()
        for stack in sample.threads:
            tid = stack.native_tid if stack.native_tid is not None else stack.thread_id
            thread = self._thread(stack.thread_id, tid, label_of(stack))
            self._move(thread, self.table.root_first(stack.frames, stack), sample.time)
            seen.add(stack.thread_id)
        for key, thread in self.threads.items():
            if key not in seen and thread.open:
                self._move(thread, (), sample.time)

    def on_transition(self, transition: Transition) -> None:
        traced = transition.thread
        thread = self._thread(
            traced.thread_id, traced.thread_id, thread_label(traced.thread_id, None, traced.name)
        )
        for _ in transition.closed:
            self.timeline.add(_END, transition.time, thread.tid, thread.open[-1])
            thread.open = thread.open[:-1]
        if transition.opened is not None:
            frame = self.table.frame_id(self.table.frame_key(transition.opened))
            self.timeline.add(_BEGIN, transition.time, thread.tid, frame)
            thread.open += (frame,)

    def write(self, stream: BinaryIO) -> None:
        if self.last_time is not None:
            # The last sample stands for one more interval.
            end = self.last_time + 1.0 / self.info.rate_hz
            for thread in self.threads.values():
                self._move(thread, (), end)
        origin = self.first_time if self.first_time is not None else self.replay.first_time
        events: list[dict[str, Any]] = [self._metadata("process_name", 0, self._process_name())]
        events += [
            self._metadata("thread_name", thread.tid, thread.label)
            for thread in self.threads.values()
        ]
        timeline = self.timeline
        for begin, time, tid, frame in zip(
            timeline.begins, timeline.times, timeline.tids, timeline.frames
        ):
            events.append(self._slice_event(begin, (time - (origin or 0.0)) * 1e6, tid, frame))
        document = {
            "traceEvents": events,
            "displayTimeUnit": "ms",
            "otherData": {
                "exporter": f"memspy {__version__}", "pid": str(self.info.pid),
                **dict(self.info.extra),
            },
        }
        stream.write(json.dumps(document, separators=(",", ":")).encode("utf-8"))

    def _process_name(self) -> str:
        return " ".join(filter(None, [f"pid {self.info.pid}", self.info.command]))

    def _metadata(self, kind: str, tid: int, name: str) -> dict[str, Any]:
        return {"name": kind, "ph": "M", "pid": self.info.pid, "tid": tid, "args": {"name": name}}

    def _slice_event(self, begin: int, ts: float, tid: int, frame: int) -> dict[str, Any]:
        key = self.table.frames[frame]
        event: dict[str, Any] = {
            "name": key.name,
            "cat": "python",
            "ph": "B" if begin else "E",
            "ts": round(ts, 3),
            "pid": self.info.pid,
            "tid": tid,
        }
        if begin:
            args: dict[str, Any] = {"file": key.filename}
            if key.line is not None:
                args["line"] = key.line
            event["args"] = args
        return event
