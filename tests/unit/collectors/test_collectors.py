"""Every output format on hand-built samples and trace events."""

from __future__ import annotations

import io
import json
import tracemalloc
import xml.etree.ElementTree as ElementTree
from collections import defaultdict

import pytest

from memspy.collectors import DEFAULT_OPTIONS, StackOptions, create, format_for_path
from memspy.collectors import stacks as stack_module
from memspy.collectors.stacks import FrameKey
from memspy.errors import OutputError
from memspy.model import Frame, ProfileInfo, Sample, ThreadStack, TraceEvent
from memspy.reports import summary as summary_module
from memspy.sampling.recording import Recording

INFO = ProfileInfo(pid=42, command="python app.py", rate_hz=100.0)
MAIN = Frame("main", "app.py", 10)
MAIN_LATER = Frame("main", "app.py", 12)
WORK = Frame("work", "app.py", 3)
LEAF = Frame("leaf", "lib.py", 7)
SVG = "{http://www.w3.org/2000/svg}"


def thread(*frames: Frame, tid: int = 1, name: str = "MainThread") -> ThreadStack:
    """A thread whose stack is ``frames``, innermost first (as the walker gives it)."""
    return ThreadStack(tid, 100 + tid, name, True, False, frames)


def samples() -> list:
    """Three samples in main->work, two in main->work->leaf, one at another line of main,
    while a worker thread sits in leaf throughout."""
    stacks = [(WORK, MAIN)] * 3 + [(LEAF, WORK, MAIN)] * 2 + [(MAIN_LATER,)]
    return [
        Sample(10.0 + i * 0.01, 42, (thread(*stack), thread(LEAF, tid=2, name="worker")))
        for i, stack in enumerate(stacks)
    ]


def render(name: str, options: StackOptions = DEFAULT_OPTIONS, events=None) -> bytes:
    collector = create(name, INFO, options)
    if events is None:
        for sample in samples():
            collector.collect(sample)
    else:
        for event in events:
            collector.collect_event(event)
    stream = io.BytesIO()
    collector.export(stream)
    return stream.getvalue()


def event(time: float, kind: str, frame: Frame, tid: int = 1) -> TraceEvent:
    return TraceEvent(time, 42, tid, kind, frame, thread_name="MainThread" if tid == 1 else None)


# main runs 1.0-5.0 with work 2.0-4.0 inside it; leaf 3.0-3.5 inside work; then thread 2
# returns from a function it was never seen entering, and enters one it never leaves.
EVENTS = [
    event(1.0, "enter", MAIN),
    event(2.0, "enter", WORK),
    event(2.5, "leave", LEAF, tid=2),
    event(2.5, "enter", WORK, tid=2),
    event(3.0, "enter", LEAF),
    event(3.5, "leave", Frame("leaf", "lib.py", 9)),
    event(4.0, "leave", WORK),
    event(5.0, "leave", MAIN),
    event(6.0, "enter", MAIN),
]


# collapsed


def test_collapsed_is_exact() -> None:
    assert render("collapsed").decode() == (
        "leaf (lib.py:7) 6\n"
        "main (app.py:10);work (app.py:3) 3\n"
        "main (app.py:10);work (app.py:3);leaf (lib.py:7) 2\n"
        "main (app.py:12) 1\n"
    )


def test_collapsed_nolineno_merges_lines_of_one_function() -> None:
    assert render("collapsed", StackOptions(lineno=False)).decode() == (
        "leaf (lib.py) 6\nmain (app.py) 1\nmain (app.py);work (app.py) 3\n"
        "main (app.py);work (app.py);leaf (lib.py) 2\n"
    )


def test_collapsed_function_keeps_function_identity() -> None:
    other_main = Frame("main", "other.py", 10)
    collector = create("collapsed", INFO, StackOptions(function=True))
    for frames in [(MAIN,), (MAIN_LATER,), (other_main,)]:
        collector.collect(Sample(0.0, 42, (thread(*frames),)))
    stream = io.BytesIO()
    collector.export(stream)
    assert stream.getvalue().decode() == "main (app.py) 2\nmain (other.py) 1\n"


def test_collapsed_threads_adds_the_thread_as_root() -> None:
    lines = render("collapsed", StackOptions(threads=True)).decode().splitlines()
    assert "worker (102);leaf (lib.py:7) 6" in lines
    assert "MainThread (101);main (app.py:10);work (app.py:3) 3" in lines


def test_collapsed_from_events_counts_microseconds() -> None:
    assert render("collapsed", events=EVENTS).decode() == (
        "main (app.py:10) 2000000\n"
        "main (app.py:10);work (app.py:3) 1500000\n"
        "main (app.py:10);work (app.py:3);leaf (lib.py:7) 500000\n"
        "work (app.py:3) 3500000\n"
    )


# speedscope


def test_speedscope_validates_and_keeps_time_order(speedscope_errors) -> None:
    document = json.loads(render("speedscope"))
    assert speedscope_errors(document) == []
    frames = document["shared"]["frames"]
    main, worker = document["profiles"]
    assert main["name"] == "MainThread (101)" and worker["name"] == "worker (102)"
    assert main["type"] == "sampled" and main["unit"] == "seconds"
    names = [[frames[i]["name"] for i in stack] for stack in main["samples"]]
    assert names == [["main", "work"], ["main", "work", "leaf"], ["main"]]
    assert main["weights"] == pytest.approx([0.03, 0.02, 0.01])
    assert main["endValue"] == pytest.approx(0.06)
    assert frames[main["samples"][0][0]] == {"name": "main", "file": "app.py", "line": 10}
    assert worker["weights"] == pytest.approx([0.06])


def test_schema_rejects_what_py_spy_writes(speedscope_errors) -> None:
    document = json.loads(render("speedscope"))
    document["activeProfileIndex"] = None
    document["shared"]["frames"][0]["col"] = None
    assert len(speedscope_errors(document)) == 2


def test_speedscope_evented_from_trace(speedscope_errors) -> None:
    document = json.loads(render("speedscope", events=EVENTS))
    assert speedscope_errors(document) == []
    frames = document["shared"]["frames"]
    by_name = {profile["name"]: profile for profile in document["profiles"]}
    main = by_name["MainThread (0x1)"]
    assert main["type"] == "evented" and main["endValue"] == pytest.approx(5.0)
    opened = [(e["type"], frames[e["frame"]]["name"], e["at"]) for e in main["events"]]
    assert opened == [
        ("O", "main", 0.0),
        ("O", "work", 1.0),
        ("O", "leaf", 2.0),
        ("C", "leaf", 2.5),
        ("C", "work", 3.0),
        ("C", "main", 4.0),
        ("O", "main", 5.0),
        ("C", "main", 5.0),  # never left: closed at the last timestamp
    ]
    worker = by_name["thread (0x2)"]
    assert [(e["type"], e["at"]) for e in worker["events"]] == [("O", 1.5), ("C", 5.0)]


def test_speedscope_leave_of_an_outer_frame_closes_the_inner_ones(speedscope_errors) -> None:
    trace = [event(0.0, "enter", MAIN), event(1.0, "enter", WORK), event(2.0, "leave", MAIN)]
    document = json.loads(render("speedscope", events=trace))
    assert speedscope_errors(document) == []
    kinds = [(e["type"], e["frame"], e["at"]) for e in document["profiles"][0]["events"]]
    assert kinds == [("O", 0, 0.0), ("O", 1, 1.0), ("C", 1, 2.0), ("C", 0, 2.0)]


@pytest.mark.slow
def test_long_steady_run_uses_little_memory() -> None:
    """An hour at 100 Hz of a few alternating stacks: run-length encoding and interning
    keep every format's memory far below one object per sample."""
    stacks = [thread(WORK, MAIN), thread(LEAF, WORK, MAIN), thread(MAIN)]
    # flamegraph keeps the same counts as collapsed (CountingCollector).
    collectors = [create(name, INFO) for name in ("speedscope", "collapsed", "chrometrace")]
    tracemalloc.start()
    try:
        for i in range(360_000):
            sample = Sample(i * 0.01, 42, (stacks[(i // 1000) % 3],))
            for collector in collectors:
                collector.collect(sample)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 512 * 1024, f"peak {peak} bytes for 360k samples"
    assert len(collectors[0].sampled[1].stacks) == 360


# chrometrace


def _check_trace(document: dict) -> dict:
    """Structural checks of the Trace Event Format; returns slices per tid as
    (name, begin, end) tuples."""
    events = document["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    open_slices = defaultdict(list)
    slices = defaultdict(list)
    last = defaultdict(float)
    for e in events:
        if e["ph"] == "M":
            assert e["name"] in ("thread_name", "process_name")
            continue
        assert e["ph"] in ("B", "E") and e["pid"] == 42 and e["tid"] in names
        assert isinstance(e["ts"], (int, float)) and e["ts"] >= last[e["tid"]]
        last[e["tid"]] = e["ts"]
        if e["ph"] == "B":
            assert e["cat"] == "python" and "file" in e["args"]
            open_slices[e["tid"]].append((e["name"], e["ts"]))
        else:
            name, begin = open_slices[e["tid"]].pop()
            assert e["name"] == name
            slices[e["tid"]].append((name, begin, e["ts"]))
    assert all(not stack for stack in open_slices.values()), "unclosed B events"
    return slices


def test_chrometrace_merges_shared_prefixes() -> None:
    document = json.loads(render("chrometrace"))
    thread_names = {
        e["tid"]: e["args"]["name"] for e in document["traceEvents"] if e["name"] == "thread_name"
    }
    assert thread_names == {101: "MainThread (101)", 102: "worker (102)"}
    slices = _check_trace(document)
    # main is one call although its line moved; the last sample lasts one interval.
    assert sorted(slices[101]) == [
        ("leaf", pytest.approx(30000), pytest.approx(50000)),
        ("main", 0, pytest.approx(60000)),
        ("work", 0, pytest.approx(50000)),
    ]
    assert slices[102] == [("leaf", 0, pytest.approx(60000))]


def test_chrometrace_closes_a_thread_missing_from_a_sample() -> None:
    collector = create("chrometrace", INFO)
    collector.collect(Sample(0.0, 42, (thread(MAIN), thread(LEAF, tid=2))))
    collector.collect(Sample(0.01, 42, (thread(MAIN),)))
    stream = io.BytesIO()
    collector.export(stream)
    slices = _check_trace(json.loads(stream.getvalue()))
    assert slices[102] == [("leaf", 0, pytest.approx(10000))]


def test_chrometrace_from_events_has_exact_times() -> None:
    slices = _check_trace(json.loads(render("chrometrace", events=EVENTS)))
    assert sorted(slices[1]) == [
        ("leaf", 2e6, 2.5e6),
        ("main", 0, 4e6),
        ("main", 5e6, 5e6),
        ("work", 1e6, 3e6),
    ]
    assert slices[2] == [("work", 1.5e6, 5e6)]


# flamegraph


def test_flamegraph_is_svg_with_every_frame_and_its_share() -> None:
    root = ElementTree.fromstring(render("flamegraph"))
    assert root.tag == f"{SVG}svg"
    frames = {
        g.get("data-n"): g.find(f"{SVG}title").text
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "frame"
    }
    assert frames["all"] == "all\n12 samples (100.00%)"
    assert frames["main (app.py:10)"] == "main (app.py:10)\n5 samples (41.67%)"
    assert frames["leaf (lib.py:7)"] == "leaf (lib.py:7)\n6 samples (50.00%)"
    assert set(frames) == {
        "all",
        "main (app.py:10)",
        "main (app.py:12)",
        "work (app.py:3)",
        "leaf (lib.py:7)",
    }
    script = root.find(f"{SVG}script").text
    assert "function zoom" in script and "function search" in script


def test_flamegraph_from_events_shows_durations() -> None:
    root = ElementTree.fromstring(render("flamegraph", events=EVENTS))
    titles = [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("data-d") == "0"]
    assert titles == ["all\n7.5 s (100.00%)"]


# registry


@pytest.mark.parametrize(
    "path, expected",
    [
        ("out.speedscope.json", "speedscope"),
        ("out.json", "speedscope"),
        ("dir.json/OUT.TRACE.JSON", "chrometrace"),
        ("out.folded", "collapsed"),
        ("out.txt", "collapsed"),
        ("out.collapsed", "collapsed"),
        ("out.svg", "flamegraph"),
        ("out.pb.gz", "pprof"),
        ("out.pprof", "pprof"),
    ],
)
def test_format_for_path(path: str, expected: str) -> None:
    assert format_for_path(path) == expected


def test_unknown_extension_lists_the_known_ones() -> None:
    with pytest.raises(OutputError) as error:
        format_for_path("profile.html")
    assert "profile.html" in error.value.message
    assert ".svg" in error.value.hint and ".trace.json" in error.value.hint


def test_unknown_format_name() -> None:
    with pytest.raises(OutputError, match="unknown output format 'html'"):
        create("html", INFO)


def test_past_the_cap_new_stacks_are_counted_as_other(monkeypatch) -> None:
    """A program that makes new functions forever: past ``MAX_STACKS`` distinct stacks
    each new one counts in one ``<other>`` stack, in the profile and in the end-of-run
    tally, and the collector says how many; known stacks still count as themselves."""

    monkeypatch.setattr(stack_module, "MAX_STACKS", 3)
    monkeypatch.setattr(summary_module, "MAX_STACKS", 3)
    recording = Recording(create("collapsed", ProfileInfo(pid=1)), idle=False, gil=False)
    names = ["a", "b", "c", "d", "e", "a"]
    for index, name in enumerate(names):
        thread = ThreadStack(1, 1, None, False, False, (Frame(name, "f.py", 1),))
        recording.add(Sample(float(index), 1, (thread,)))
    out = io.BytesIO()
    recording.collector.export(out)
    lines = sorted(out.getvalue().decode().splitlines())
    assert lines == [f"{stack_module.OTHER} (<memspy>) 2", "a (f.py:1) 2", "b (f.py:1) 1",
                     "c (f.py:1) 1"]
    assert recording.collector.overflow == 2
    tally = dict(recording.tally.stacks())
    assert tally[(FrameKey(stack_module.OTHER, "<memspy>", None),)] == 2
