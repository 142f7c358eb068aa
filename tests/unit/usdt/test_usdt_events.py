"""Converting bpftrace event logs captured on this machine (tests/data/usdt/, see README)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from memspy.cli import main
from memspy.errors import InputError
from memspy.usdt.events import read_log
from memspy.usdt.program import build_program, needs_line_probe

DATA = Path(__file__).parents[2] / "data" / "usdt"
LINE_LOG = DATA / "attach-3.11-line.log"


def _inclusive(path: Path, **kw) -> Counter:
    """Seconds inside each function, checking on the way that enter/leave always nest."""
    _, events = read_log(str(path), **kw)
    stacks: dict = {}
    total: Counter = Counter()
    for event in events:
        stack = stacks.setdefault(event.thread_id, [])
        if event.kind == "enter":
            stack.append((event.frame, event.time))
        else:
            frame, since = stack.pop()
            assert frame == event.frame
            assert event.time >= since
            total[frame.name] += event.time - since
    assert all(not s for s in stacks.values())
    return total


def test_line_log_rebuilds_the_workload_call_tree():
    stats, _ = read_log(str(LINE_LOG))
    assert (stats.entries, stats.returns, stats.lines) == (123, 284, 191)
    # main, step and heavy were running when bpftrace attached.
    assert stats.initial_frames == 3
    # The tail of the log is bpftrace detaching: line first, so entries stop, returns go on.
    assert stats.orphan_returns == 159
    assert any("were dropped" in note for note in stats.notes)
    time = _inclusive(LINE_LOG)
    assert time["main"] == pytest.approx(stats.end - stats.start)
    assert time["step"] <= time["main"]
    # heavy() loops four times as long as light().
    assert 3 < time["heavy"] / time["light"] < 5


def test_entries_rebuilt_from_line_events(tmp_path):
    # The same log with its entry events removed: what 3.11 gives when entries never fire.
    text = LINE_LOG.read_text().splitlines(keepends=True)
    stripped = tmp_path / "no-entries.log"
    stripped.write_text("".join(line for line in text if not line.startswith("E\t")))
    stats, _ = read_log(str(stripped))
    assert stats.entries == 0 and stats.rebuilt_entries > 100
    assert any("98894" in note for note in stats.notes)
    rebuilt, original = _inclusive(stripped), _inclusive(LINE_LOG)
    # A rebuilt entry is the first line event, a few microseconds after the real entry.
    assert rebuilt["heavy"] == pytest.approx(original["heavy"], rel=0.1)
    assert rebuilt["light"] == pytest.approx(original["light"], rel=0.1)


def test_returns_only_log_is_a_clear_error():
    with pytest.raises(InputError, match="98894|cannot be rebuilt") as error:
        read_log(str(DATA / "attach-3.11-noline.log"))
    assert "398 returns but only 0 entries" in error.value.message
    assert "98894" in error.value.hint


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("malformed.log", None, r"malformed\.log:30: malformed event line"),
        ("truncated.log", None, r"truncated at line 42: its last line is cut"),
        ("empty.log", "", "not a memspy trace log"),
        ("foreign.log", '{"a": 1}\n', "not a memspy trace log"),
        (
            "fields.log",
            "# memspy-usdt-log 1\nE\t1\t2\t3\tf.py\n# end\n",
            "expected 7 tab-separated",
        ),
        ("noend.log", "# memspy-usdt-log 1\nE\t1\t2\t3\tf.py\tg\t1\n", "has no end marker"),
        ("nothing.log", "# memspy-usdt-log 1\n# end\n", "holds no events"),
        ("binary.log", "\x00\xff\xfe garbage\n", "not a memspy trace log"),
    ],
)
def test_bad_logs_are_input_errors(tmp_path, name, content, message):
    path = DATA / name if content is None else tmp_path / name
    if content is not None:
        path.write_text(content, errors="surrogateescape")
    with pytest.raises(InputError, match=message):
        stats, events = read_log(str(path))
        list(events)


def test_truncated_log_converts_with_partial():
    stats, events = read_log(str(DATA / "truncated.log"), allow_truncated=True)
    kinds = Counter(e.kind for e in events)
    assert kinds["enter"] == kinds["leave"] > 0


def test_missing_log_is_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_log(str(tmp_path / "absent.log"))


def test_cli_converts_to_every_format(tmp_path, speedscope_errors):
    runner = CliRunner()
    for name in ("out.speedscope.json", "out.collapsed", "out.trace.json", "out.svg"):
        result = runner.invoke(main, ["trace", "--from", str(LINE_LOG), "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        # The top functions by time, as record prints them; none from a flame graph picture.
        table = re.search(r"top functions by own share\n +[\d.]+% +[\d.]+%  (\w+)", result.stderr)
        assert (table[1] if table else None) == (None if name.endswith(".svg") else "heavy")
    document = json.loads((tmp_path / "out.speedscope.json").read_text())
    assert speedscope_errors(document) == []
    assert document["profiles"][0]["type"] == "evented"
    folded = (tmp_path / "out.collapsed").read_text()
    assert "main (" in folded and ";heavy (" in folded


@pytest.mark.parametrize("name", ["malformed.log", "truncated.log", "attach-3.11-noline.log"])
def test_cli_bad_log_is_one_line_not_a_traceback(tmp_path, name):
    result = CliRunner().invoke(
        main, ["trace", "--from", str(DATA / name), "-o", str(tmp_path / "x.collapsed")]
    )
    assert result.exit_code == InputError.exit_code
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.collapsed").exists()


def test_program_traces_line_only_when_needed():
    with_line = build_program("/usr/bin/python3.11", with_line=True)
    assert "usdt:/usr/bin/python3.11:python:function__entry" in with_line
    assert "python:line" in with_line and "python:line" not in build_program("/x")
    assert needs_line_probe((3, 11, 2)) and not needs_line_probe((3, 10, 13))
