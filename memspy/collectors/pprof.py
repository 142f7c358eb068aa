"""pprof: gzip-compressed ``profile.proto``, as go tool pprof, Pyroscope, Parca, Cloud Profiler
and OpenTelemetry read it.

Weights are kept per (process, thread, stack), not per stack alone, so that every pprof
sample can carry its thread's name and id and its process id as labels, by which a viewer
splits the profile. Per sample that costs one tuple more than CountingCollector's counting;
the protobuf message is built only in ``write``.

Values. A sampled run has two, like pprof's own CPU profiles: ``samples``/``count`` and
``cpu`` or ``wall``/``nanoseconds`` (ProfileInfo.mode), the time being count x period
(1/rate). A traced (USDT) run has one, ``wall``/``nanoseconds``, the exact time each stack
was held: a tracer takes no samples, and a count made up from its events would read as one.
"""

from __future__ import annotations

import gzip
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, BinaryIO, Dict, List, Optional, Tuple

from memspy import __version__
from memspy.collectors import pprof_proto
from memspy.collectors.base import DEFAULT_OPTIONS, StackOptions
from memspy.collectors.counting import CountingCollector
from memspy.collectors.stacks import FrameKey, StackId
from memspy.model import ProfileInfo, Sample, ThreadStack

# (pid, interpreter thread ident, kernel tid, thread name), and with the stack appended
_Thread = Tuple[int, int, Optional[int], Optional[str]]
_Key = Tuple[int, int, Optional[int], Optional[str], StackId]

# Label keys and sample types, shared with the reader.
THREAD_NAME = "thread_name"
THREAD_ID = "thread_id"
PID = "pid"
COUNT_TYPE = ("samples", "count")
NANOSECONDS = "nanoseconds"
# Python code has no addresses: one mapping for all of it, named like pprof's "[vdso]".
MAPPING_ID = 1
MAPPING_NAME = "[python]"


def period_ns(info: ProfileInfo) -> int:
    """The sampling interval: pprof's period, and the time one sample stands for."""
    return max(1, round(1e9 / info.rate_hz))


def comments(info: ProfileInfo) -> List[str]:
    """Facts about the run, shown by ``go tool pprof -comments``; ``key: value`` so the
    reader can take them back, though a profile whose comments are stripped still reads."""
    facts = [("exporter", f"memspy {__version__}"), ("command", info.command)]
    facts += [("python", info.python_version), *info.extra]
    return [f"{key}: {value}" for key, value in facts if value]


def system_name(frame: FrameKey) -> str:
    """The name perf knows a Python function by (CPython's perf map, ``-X perf``); none for
    a thread root frame, which is no function. It must differ from the name: pprof takes an
    equal one for a C++ symbol to simplify, and ``<module>`` would lose its ``<...>``."""
    return "" if frame.filename is None else f"py::{frame.name}:{frame.filename}"


class _Strings:
    """pprof's string table: index 0 is always the empty string. A dict keeps insertion
    order, so the indexes are the table."""

    def __init__(self) -> None:
        self._index: Dict[str, int] = {"": 0}

    def __call__(self, text: str) -> int:
        return self._index.setdefault(text, len(self._index))

    @property
    def table(self) -> List[str]:
        return list(self._index)


class PprofCollector(CountingCollector):
    name = "pprof"
    extensions = (".pb.gz", ".pprof")
    description = "gzip-compressed profile.proto for go tool pprof / Pyroscope / Parca"

    def __init__(self, info: ProfileInfo, options: StackOptions = DEFAULT_OPTIONS) -> None:
        super().__init__(info, options)
        # Here, not in write: a missing protobuf must stop a recording before it starts,
        # not lose it at the end.
        self.profile_pb2 = pprof_proto.load()
        self.weights: defaultdict[_Key, int] = defaultdict(int)  # type: ignore[assignment]

    def collect(self, sample: Sample) -> None:
        # Not collect_weighted: with --subprocesses each sample names its own process. The
        # loop is written out because it runs for every thread of every sample.
        pid, weights, stack_id = sample.pid, self.weights, self.table.stack_id
        for thread in sample.threads:
            if thread.frames:
                stack = stack_id(thread)
                weights[pid, thread.thread_id, thread.native_tid, thread.name, stack] += 1

    def collect_weighted(self, thread: ThreadStack, weight: int) -> None:
        if thread.frames:
            stack = self.table.stack_id(thread)
            key = (self.info.pid, thread.thread_id, thread.native_tid, thread.name, stack)
            self.weights[key] += weight

    def weighted_stacks(self) -> Iterator[tuple[tuple[FrameKey, ...], int]]:
        """As CountingCollector's: each stack's weight over every thread and process."""
        merged: defaultdict[StackId, int] = defaultdict(int)
        for key, weight in self.weights.items():
            merged[key[-1]] += weight
        for stack, weight in sorted(merged.items()):
            yield self.table.keys(stack), weight

    def write(self, stream: BinaryIO) -> None:
        profile = self.profile_pb2.Profile()
        strings = _Strings()
        self._describe(profile, strings)
        self._add_frames(profile, strings)
        self._add_samples(profile, strings)
        profile.string_table.extend(strings.table)
        # Level 6 as Go's own profiles; level 9 takes twice as long for 2% less. mtime 0:
        # the same profile gives the same bytes.
        stream.write(gzip.compress(profile.SerializeToString(), compresslevel=6, mtime=0))

    @property
    def _traced(self) -> bool:
        return self.weight_unit == NANOSECONDS

    def _describe(self, profile: Any, strings: _Strings) -> None:
        info = self.info
        measure = "wall" if self._traced else info.mode
        types = [(measure, NANOSECONDS)] if self._traced else [COUNT_TYPE, (measure, NANOSECONDS)]
        for kind, unit in types:
            profile.sample_type.add(type=strings(kind), unit=strings(unit))
        profile.default_sample_type = strings(measure)
        profile.period_type.type = strings(measure)
        profile.period_type.unit = strings(NANOSECONDS)
        # A tracer counts every nanosecond: nothing between two counted events.
        profile.period = 1 if self._traced else period_ns(info)
        profile.time_nanos = info.start_time_ns
        profile.duration_nanos = round(info.duration_s * 1e9)
        profile.comment.extend(strings(text) for text in comments(info))

    def _add_frames(self, profile: Any, strings: _Strings) -> None:
        """One location per distinct frame (location id = frame id + 1), one function per
        name and file, all in one mapping that says they are symbolized already: without
        it pprof looks for a binary to symbolize them with and warns for each report."""
        profile.mapping.add(
            id=MAPPING_ID,
            filename=strings(MAPPING_NAME),
            has_functions=True,
            has_filenames=True,
            has_line_numbers=True,
        )
        functions: Dict[Tuple[str, Optional[str]], int] = {}
        for frame_id, frame in enumerate(self.table.frames):
            function_id = functions.get((frame.name, frame.filename))
            if function_id is None:
                function_id = functions[(frame.name, frame.filename)] = len(functions) + 1
                profile.function.add(
                    id=function_id,
                    name=strings(frame.name),
                    system_name=strings(system_name(frame)),
                    filename=strings(frame.filename or ""),
                    start_line=self.table.start_lines.get((frame.name, frame.filename), 0),
                )
            location = profile.location.add(id=frame_id + 1, mapping_id=MAPPING_ID)
            location.line.add(function_id=function_id, line=frame.line or 0)

    def _add_samples(self, profile: Any, strings: _Strings) -> None:
        traced = self._traced
        period = period_ns(self.info)
        keys = {key: strings(key) for key in (THREAD_NAME, THREAD_ID, PID)}
        stacks = self.table.stacks
        thread_labels: Dict[_Thread, List[dict]] = {}
        for (pid, ident, native_tid, name, stack), weight in self.weights.items():
            labels = thread_labels.get((pid, ident, native_tid, name))
            if labels is None:
                tid = native_tid if native_tid is not None else ident
                labels = [{"key": keys[THREAD_ID], "num": tid}, {"key": keys[PID], "num": pid}]
                if name is not None:
                    labels.insert(0, {"key": keys[THREAD_NAME], "str": strings(name)})
                thread_labels[(pid, ident, native_tid, name)] = labels
            profile.sample.add(
                location_id=[frame_id + 1 for frame_id in reversed(stacks[stack])],
                value=[weight] if traced else [weight, weight * period],
                label=labels,
            )
