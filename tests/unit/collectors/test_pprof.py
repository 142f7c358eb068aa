"""The pprof writer and reader: what memspy writes reads back stack for stack, says what it
measured (sample types, period, labels), and a damaged file is an InputError."""

from __future__ import annotations

import gzip
import io
import sys
from collections import Counter
from typing import Any, Dict, List, Set, Tuple

import pytest

from memspy.collectors import DEFAULT_OPTIONS, StackOptions, create
from memspy.collectors.pprof_proto import profile_pb2
from memspy.collectors.stacks import FrameKey
from memspy.errors import InputError, MemspyError
from memspy.model import Frame, ProfileInfo, Sample, ThreadStack, TraceEvent
from memspy.readers import load_profile, pprof
from memspy.readers.pprof import read_pprof

INFO = ProfileInfo(
    pid=42,
    command="python app.py",
    python_version="3.11.7",
    rate_hz=250.0,
    start_time_ns=1_700_000_000_123_456_789,
    duration_s=1.5,
    mode="cpu",
)
MAIN = Frame("<module>", "app.py", 10, 1)
WORK = Frame("work", "app.py", 3, 2)
WORK_LATER = Frame("work", "app.py", 5, 2)
LEAF = Frame("leaf", "lib.py", 7, 6)
NO_LINE = Frame("<lambda>", "lib.py", 0)  # and no known start
OPTIONS = [
    DEFAULT_OPTIONS,
    StackOptions(threads=True),
    StackOptions(function=True),
    StackOptions(lineno=False),
]


def thread(*frames: Frame, tid: int = 1, name: str | None = "MainThread") -> ThreadStack:
    """Innermost frame first, as the walker gives it; tid 2 has no kernel id."""
    return ThreadStack(tid, 100 + tid if tid != 2 else None, name, True, False, frames)


def samples() -> List[Sample]:
    stacks = [(WORK, MAIN)] * 5 + [(WORK_LATER, MAIN)] * 2 + [(LEAF, WORK, MAIN)] * 3
    stacks += [(NO_LINE, MAIN)]
    return [
        Sample(i * 0.004, 42, (thread(*stack), thread(LEAF, tid=2, name=None)))
        for i, stack in enumerate(stacks)
    ]


def write(options: StackOptions = DEFAULT_OPTIONS, events=None, info=INFO, feed=None) -> bytes:
    collector = create("pprof", info, options)
    for sample in samples() if feed is None else feed:
        collector.collect(sample)
    for event in events or ():
        collector.collect_event(event)
    stream = io.BytesIO()
    collector.export(stream)
    return stream.getvalue()


def decode(data: bytes) -> Any:
    message = profile_pb2.Profile()
    message.ParseFromString(gzip.decompress(data))
    return message


def expected_stacks(options: StackOptions) -> Dict[Tuple[FrameKey, ...], float]:
    """What the samples hold, root first, keyed the way the options say."""
    keep_line = options.lineno and not options.function
    stacks: Counter = Counter()
    for sample in samples():
        for stack in sample.threads:
            frames = tuple(
                FrameKey(f.name, f.filename, f.lineno if keep_line and f.lineno else None)
                for f in reversed(stack.frames)
            )
            if options.threads:
                tid = stack.native_tid if stack.native_tid is not None else hex(stack.thread_id)
                frames = (FrameKey(f"{stack.name or 'thread'} ({tid})", None, None),) + frames
            stacks[frames] += 1
    return dict(stacks)


def labels(message: Any, sample: Any) -> Dict[str, Any]:
    strings = message.string_table
    return {
        strings[label.key]: strings[label.str] if label.str else label.num for label in sample.label
    }


@pytest.mark.parametrize("options", OPTIONS, ids=["default", "threads", "function", "nolineno"])
def test_round_trip_keeps_every_stack_and_its_count(options: StackOptions) -> None:
    profile = read_pprof("p.pb.gz", write(options))
    assert profile.format == "pprof"
    assert profile.unit == "samples"
    assert dict(profile.stacks) == expected_stacks(options)


def test_weighted_stacks_add_up_every_thread_like_counting_collectors() -> None:
    collapsed = create("collapsed", INFO)
    collector = create("pprof", INFO)
    for sample in samples() + [Sample(1.0, 43, (thread(WORK, MAIN, tid=7),))]:
        collapsed.collect(sample)
        collector.collect(sample)
    assert list(collector.weighted_stacks()) == list(collapsed.weighted_stacks())


def test_sampled_values_are_counts_and_cpu_time() -> None:
    message = decode(write())
    strings = message.string_table
    assert [(strings[t.type], strings[t.unit]) for t in message.sample_type] == [
        ("samples", "count"),
        ("cpu", "nanoseconds"),
    ]
    assert strings[message.default_sample_type] == "cpu"
    assert (strings[message.period_type.type], strings[message.period_type.unit]) == (
        "cpu",
        "nanoseconds",
    )
    assert message.period == 4_000_000  # 250 Hz
    assert message.time_nanos == INFO.start_time_ns
    assert message.duration_nanos == 1_500_000_000
    for sample in message.sample:
        count, time = sample.value
        assert time == count * 4_000_000
    assert sum(sample.value[0] for sample in message.sample) == 22


def test_wall_mode_says_wall() -> None:
    message = decode(write(info=ProfileInfo(pid=42, mode="wall")))
    strings = message.string_table
    assert strings[message.sample_type[1].type] == "wall"
    assert strings[message.period_type.type] == "wall"


def test_every_sample_names_its_thread_and_process() -> None:
    other_process = Sample(1.0, 43, (thread(WORK, MAIN, tid=7, name="child"),))
    message = decode(write(feed=samples() + [other_process]))
    found = Counter()
    for sample in message.sample:
        found[tuple(sorted(labels(message, sample).items()))] += sample.value[0]
    assert found == {
        (("pid", 42), ("thread_id", 101), ("thread_name", "MainThread")): 11,
        # No kernel tid: the interpreter's ident; no name: no name label.
        (("pid", 42), ("thread_id", 2)): 11,
        (("pid", 43), ("thread_id", 107), ("thread_name", "child")): 1,
    }


def test_functions_and_locations_say_name_file_and_line() -> None:
    message = decode(write(StackOptions(threads=True)))
    strings = message.string_table
    functions = {
        f.id: (strings[f.name], strings[f.system_name], strings[f.filename], f.start_line)
        for f in message.function
    }
    assert ("MainThread (101)", "", "", 0) in functions.values()  # the thread root frame
    assert ("<module>", "py::<module>:app.py", "app.py", 1) in functions.values()
    assert ("work", "py::work:app.py", "app.py", 2) in functions.values()
    assert ("<lambda>", "py::<lambda>:lib.py", "lib.py", 0) in functions.values()
    assert len(functions) == len(set(functions.values())) == 6
    lines = {(functions[loc.line[0].function_id][0], loc.line[0].line) for loc in message.location}
    assert {("work", 3), ("work", 5), ("leaf", 7), ("<lambda>", 0)} <= lines
    assert len(lines) == len(message.location)  # one location per distinct frame
    assert [m.has_functions and m.has_line_numbers for m in message.mapping] == [True]


def test_two_functions_of_one_name_and_file_have_no_start_line() -> None:
    """Before 3.11 two classes' ``__init__`` in one file are one pprof function (name and
    file): which start line is theirs cannot be said, so none is."""
    one, other = Frame("__init__", "app.py", 5, 4), Frame("__init__", "app.py", 9, 8)
    feed = [Sample(0.0, 42, (thread(one, MAIN),)), Sample(0.004, 42, (thread(other, MAIN),))]
    message = decode(write(feed=feed))
    starts = {message.string_table[f.name]: f.start_line for f in message.function}
    assert starts == {"__init__": 0, "<module>": 1}


def test_facts_come_back() -> None:
    facts = read_pprof("p.pb.gz", write()).facts
    assert facts["pid"] == "42"
    assert facts["python"] == "3.11.7"
    assert facts["command"] == "python app.py"
    assert facts["rate"] == "250 Hz"
    assert facts["exporter"].startswith("memspy ")


def test_the_same_samples_give_the_same_bytes() -> None:
    assert write() == write()


def test_memory_is_per_distinct_stack_and_thread_not_per_sample() -> None:
    collector = create("pprof", INFO)
    for _ in range(2000):
        for sample in samples():
            collector.collect(sample)
    assert len(collector.weights) == 5  # four stacks in MainThread, one in thread 2
    assert collector.total == 2000 * 22


# traced (USDT) runs: time, not samples


def event(time: float, kind: str, frame: Frame) -> TraceEvent:
    return TraceEvent(time, 42, 9, kind, frame, thread_name="MainThread")


# main runs 1.0-5.0 with work 2.0-4.0 inside it and leaf 3.0-3.5 inside work.
EVENTS = [
    event(1.0, "enter", MAIN),
    event(2.0, "enter", WORK),
    event(3.0, "enter", LEAF),
    event(3.5, "leave", LEAF),
    event(4.0, "leave", WORK),
    event(5.0, "leave", MAIN),
]


def test_traced_run_is_wall_nanoseconds_per_stack() -> None:
    data = write(events=EVENTS, feed=[], info=ProfileInfo(pid=42, mode="wall"))
    message = decode(data)
    strings = message.string_table
    assert [(strings[t.type], strings[t.unit]) for t in message.sample_type] == [
        ("wall", "nanoseconds")
    ]
    assert message.period == 1
    assert {labels(message, sample)["thread_id"] for sample in message.sample} == {9}
    profile = read_pprof("t.pb.gz", data)
    assert profile.unit == "nanoseconds"
    assert "rate" not in profile.facts
    main, work, leaf = (FrameKey(f.name, f.filename, f.lineno) for f in (MAIN, WORK, LEAF))
    assert dict(profile.stacks) == {
        (main,): 2e9,
        (main, work): 1.5e9,
        (main, work, leaf): 0.5e9,
    }


# damaged input


def _profile_with(**fields: Any) -> bytes:
    message = profile_pb2.Profile(string_table=["", "samples", "count"], **fields)
    message.sample_type.add(type=1, unit=2)
    return gzip.compress(message.SerializeToString())


DAMAGED = {
    "not gzip": b"\x0a\x02hello",
    "truncated gzip": write()[:60],
    "damaged deflate": write()[:12] + b"\xff" * 80,
    "not a protobuf": gzip.compress(b"\xff\xff\xff\xff"),
    "truncated protobuf": gzip.compress(gzip.decompress(write())[:200]),
    "no sample types": gzip.compress(b""),
    "missing location": _profile_with(sample=[{"location_id": [5], "value": [1]}]),
    "string index out of range": _profile_with(function=[{"id": 1, "name": 99}]),
    "negative string index": _profile_with(comment=[-1]),
    "values do not match types": _profile_with(sample=[{"value": [1, 2]}]),
}


@pytest.mark.parametrize("data", DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged_input_is_an_input_error(data: bytes) -> None:
    with pytest.raises(InputError, match=r"cannot read bad\.pb\.gz: ") as raised:
        read_pprof("bad.pb.gz", data)
    assert raised.value.hint


def _varint(data: bytes, at: int) -> Tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if byte < 0x80:
            return value, at


def _field_boundaries(raw: bytes) -> Set[int]:
    """Where the profile message's top-level fields end (and it begins)."""
    at, ends = 0, {0}
    while at < len(raw):
        key, at = _varint(raw, at)
        wire = key & 7
        if wire == 0:
            _, at = _varint(raw, at)
        elif wire == 2:
            size, at = _varint(raw, at)
            at += size
        else:
            at += 8 if wire == 1 else 4
        ends.add(at)
    return ends


def test_a_cut_anywhere_reads_or_is_an_input_error() -> None:
    """Protobuf cannot tell a message cut between two fields from a shorter one: such a cut
    may read as a smaller profile; every other cut must say the file is damaged."""
    raw = gzip.decompress(write())
    boundaries = _field_boundaries(raw)
    read = []
    for end in range(len(raw)):
        try:
            read_pprof("cut.pb.gz", gzip.compress(raw[:end]))
        except InputError:
            continue
        read.append(end)
    assert read, "no cut at all read: the boundaries were not found"
    assert set(read) <= boundaries, sorted(set(read) - boundaries)[:5]


def test_a_file_that_inflates_too_far_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pprof, "MAX_DECOMPRESSED", 100)
    with pytest.raises(InputError, match="inflates to more than"):
        read_pprof("big.pb.gz", gzip.compress(b"\0" * 101))


def test_load_profile_recognises_pprof_by_content(tmp_path) -> None:
    path = tmp_path / "renamed.bin"
    path.write_bytes(write())
    assert dict(load_profile(str(path)).stacks) == expected_stacks(DEFAULT_OPTIONS)


def test_without_protobuf_the_format_fails_before_recording(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "memspy.collectors.pprof_proto.profile_pb2", None)
    with pytest.raises(MemspyError, match=r"needs protobuf>=") as raised:
        create("pprof", INFO)
    assert "pip install" in raised.value.hint
