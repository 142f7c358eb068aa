"""The top-functions table: shares from weighted stacks, and how each rendering shows them."""

from __future__ import annotations

import json

from memspy.collectors.stacks import FrameKey
from memspy.model import Frame, Sample, ThreadStack
from memspy.reports.summary import SampleTally, Summary, function_shares


def _stack(*names: str) -> tuple:
    return tuple(FrameKey(name, f"{name}.py", 1) for name in names)


def test_own_is_the_innermost_function_and_total_counts_recursion_once():
    shares = {
        s.name: s
        for s in function_shares([
            (_stack("main", "walk", "walk", "walk"), 3),
            (_stack("main", "leaf"), 1),
        ])
    }
    assert shares["walk"].own == 0.75 and shares["walk"].total == 0.75
    assert shares["main"].own == 0 and shares["main"].total == 1.0
    assert shares["leaf"].own == 0.25


def test_thread_roots_and_lines_do_not_split_a_function():
    root = FrameKey("MainThread (12)", None, None)
    shares = function_shares([
        ((root, FrameKey("f", "a.py", 1)), 1),
        ((root, FrameKey("f", "a.py", 2)), 1),
    ])
    assert [(s.name, s.own, s.total) for s in shares] == [("f", 1.0, 1.0)]


def test_sorted_by_own_share_and_nothing_for_no_stacks():
    shares = function_shares([(_stack("a", "b"), 1), (_stack("a", "c"), 3)])
    assert [s.name for s in shares] == ["c", "b", "a"]
    assert function_shares([]) == []


def test_tally_counts_stacks_of_every_thread():
    frames = (Frame("leaf", "x.py", 3), Frame("main", "x.py", 9))
    thread = ThreadStack(1, None, "t", True, False, frames)
    tally = SampleTally()
    for _ in range(4):
        tally.add(Sample(0.0, 1, (thread, ThreadStack(2, None, "u", False, True, ()))))
    stacks = list(tally.stacks())
    assert stacks == [((FrameKey("main", "x.py", None), FrameKey("leaf", "x.py", None)), 4)]


def _summary() -> Summary:
    shares = function_shares([(_stack("main", "hot"), 7), (_stack("main", "cold"), 3)])
    return Summary("memspy profile", [("Python", "3.12.1"), ("samples", "10")], shares)


def test_text_lists_functions_by_own_and_by_total():
    text = _summary().text()
    assert "Python: 3.12.1" in text
    own, total = text.split("by own share")[1].split("by total share")
    assert own.index("hot") < own.index("cold") and "main" not in own
    assert "100.0%  main" in total


def test_markdown_is_a_table_a_ci_summary_can_append():
    markdown = _summary().markdown()
    assert markdown.startswith("### memspy profile\n")
    assert "- **Python**: 3.12.1" in markdown
    assert "| 70.0% | 70.0% | `hot` | `hot.py` |" in markdown


def test_markdown_keeps_hostile_names_inert():
    name = "evil`|[x](http://e)\x1b[31m"
    shares = function_shares([((FrameKey(name, "e.py", 1),), 1)])
    markdown = Summary("t", [("command", "<script>")], shares).markdown()
    row = next(line for line in markdown.splitlines() if "e.py" in line)
    assert row.count("|") - row.count("\\|") == 5  # still five cells
    assert "\x1b" not in markdown and "<script>" not in markdown


def test_json_is_machine_readable_and_top_limits_rows():
    document = json.loads(_summary().json(top=1))
    assert document["facts"]["Python"] == "3.12.1"
    assert [f["name"] for f in document["by_own"]] == ["hot"]
    assert document["by_total"][0] == {"name": "main", "filename": "main.py", "own": 0.0,
                                       "total": 1.0}


def test_empty_summary_says_so():
    assert "no Python stacks" in Summary("t").text()
    assert "No Python stacks" in Summary("t").markdown()
