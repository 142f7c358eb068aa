"""The pyusdt path's pure parts: its program, its logs (mid-stack starts, frames that end
by exceptions), qualified names from source, and the command line of the gated target."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
from pathlib import Path

import pytest

import memspy
from memspy.errors import InputError, MemspyError
from memspy.model import Frame
from memspy.usdt.events import read_log
from memspy.usdt.launcher import gated_argv
from memspy.usdt.program import build_program
from memspy.usdt.providers import PYUSDT
from memspy.usdt.qualnames import Qualifier

LIB = "/v/libpyusdt.so"


def test_program_puts_pyusdt_arguments_in_the_logs_order():
    program = build_program(LIB, PYUSDT, with_line=True)
    enter = next(line for line in program.splitlines() if "PY_START" in line)
    # Resumes enter, yields leave; function is arg0 and file arg1, the log wants file first.
    assert f"usdt:{LIB}:pyusdt:PY_RESUME" in enter and "PY_YIELD" not in enter
    assert "str(arg1), str(arg0), arg2" in enter
    assert "# provider pyusdt" in program
    assert "LINE" not in program  # pyusdt's entries need no line probe


def _log(tmp_path, events, provider="pyusdt"):
    lines = ["# memspy-usdt-log 1"] + ([f"# provider {provider}"] if provider else [])
    for i, (kind, name) in enumerate(events):
        lines.append(f"{kind}\t{1000 + i * 1000}\t7\t7\t/a.py\t{name}\t3")
    path = tmp_path / "events.log"
    path.write_text("\n".join(lines + ["# end"]) + "\n")
    return str(path)


def _stacks(path):
    """Each enter/leave as the stack it leaves, root first."""
    stats, events = read_log(path)
    stack, seen = [], []
    for event in events:
        if event.kind == "enter":
            stack.append(event.frame.name)
        else:
            assert stack.pop() == event.frame.name
        seen.append(";".join(stack))
    return stats, seen


def test_a_return_of_a_frame_never_entered_closes_what_ran_above_it(tmp_path):
    # Tracing began inside outer(); inner() raised (pyusdt has no unwind probe), outer
    # caught it and returned.
    path = _log(tmp_path, [("E", "inner"), ("R", "outer"), ("E", "next")])
    stats, seen = _stacks(path)
    assert seen == ["outer", "outer;inner", "outer", "", "next", ""]
    assert (stats.initial_frames, stats.early_returns, stats.missed_returns) == (1, 1, 1)
    assert stats.orphan_returns == 0
    assert any("mid-stack" in note and "1 returns" in note for note in stats.notes)


def test_cpythons_provider_still_drops_such_a_return(tmp_path):
    """3.11's entries stop before its returns as bpftrace detaches: no unwinding then."""
    path = _log(tmp_path, [("E", "inner"), ("R", "outer")], provider="")
    stats, seen = _stacks(path)
    assert stats.orphan_returns == 1 and stats.initial_frames == 0


def test_frames_carry_their_start_line(tmp_path):
    _, events = read_log(_log(tmp_path, [("E", "f"), ("R", "f")]))
    assert next(events).frame == Frame("f", "/a.py", 3, 3)


def test_unknown_provider_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="unknown probe provider 'dtrace'"):
        read_log(_log(tmp_path, [("E", "f")], provider="dtrace"))


SOURCE = '''\
import functools


class Outer:
    class Inner:
        def method(self):
            return [x for x in (lambda: (y for y in range(3)))()]

    @functools.lru_cache
    @staticmethod
    def cached():
        def local():
            pass
        return local


def twin():
    pass


if True:
    def twin():
        pass
'''


@pytest.mark.parametrize(
    "name, line, expected",
    [
        ("Inner", 5, "Outer.Inner"),
        ("method", 6, "Outer.Inner.method"),
        ("<lambda>", 7, "Outer.Inner.method.<locals>.<lambda>"),
        ("<genexpr>", 7, "Outer.Inner.method.<locals>.<lambda>.<locals>.<genexpr>"),
        ("cached", 9, "Outer.cached"),  # co_firstlineno: the first decorator
        ("cached", 11, "Outer.cached"),  # where CPython's entry probe says it starts
        ("local", 12, "Outer.cached.<locals>.local"),
        ("twin", 17, "twin"),
        ("twin", 22, "twin"),
        ("method", 7, "method"),  # no such function starts there: left bare
        ("<module>", 1, "<module>"),
    ],
)
def test_qualified_names_from_source(tmp_path, name, line, expected):
    (tmp_path / "m.py").write_text(SOURCE)
    qualify = Qualifier(cwd=str(tmp_path))
    assert qualify(Frame(name, "m.py", line, line)) == Frame(expected, "m.py", line, line)


def test_no_source_leaves_names_bare(tmp_path):
    (tmp_path / "bad.py").write_text("def (:\n")
    qualify = Qualifier(cwd=str(tmp_path))
    for frame in (Frame("f", "bad.py", 1), Frame("f", "gone.py", 1), Frame("f", "<string>", 1)):
        assert qualify(frame) is frame
    assert qualify.qualified == 0


@pytest.mark.parametrize(
    "command, rest",
    [
        (["py", "app.py", "-x"], ["app.py", "-x"]),
        (["py", "-u", "-X", "dev", "app.py"], ["app.py"]),
        (["py", "-m", "pkg.mod", "a"], ["-m", "pkg.mod", "a"]),
        (["py", "--", "app.py"], ["app.py"]),
    ],
)
def test_gated_command_line(command, rest):
    argv = gated_argv(command, 9)
    code = argv.index("-c")
    assert argv[0] == "py" and argv[1:code] == command[1 : 1 + code - 1]
    assert "libpyusdt" in argv[code + 1]
    assert argv[code + 2 :] == ["9", *rest]


@pytest.mark.parametrize("command", [["py"], ["py", "-c", "pass"], ["py", "-"], ["py", "-m"]])
def test_gated_command_line_refuses_code_and_stdin(command):
    with pytest.raises(MemspyError):
        gated_argv(command, 9)


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if hasattr(const, "co_qualname"):
            yield from _code_objects(const)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="co_qualname is new in 3.11")
def test_qualified_names_agree_with_the_interpreters_own(tmp_path):
    """Every code object of these files: the name from source is CPython's, or bare."""
    (tmp_path / "m.py").write_text(SOURCE)
    files = [tmp_path / "m.py", *sorted(Path(memspy.__file__).parent.rglob("*.py"))]
    files += [Path(ast.__file__), Path(dataclasses.__file__), Path(argparse.__file__)]
    qualify = Qualifier()
    checked = 0
    for path in files:
        source = path.read_text()
        for code in _code_objects(compile(source, str(path), "exec")):
            frame = Frame(code.co_name, str(path), code.co_firstlineno)
            named = qualify(frame).name
            assert named in (code.co_qualname, code.co_name), (path, code.co_firstlineno)
            checked += named == code.co_qualname != code.co_name
    assert checked > 900


def test_events_after_the_stop_are_left_out(tmp_path):
    """bpftrace stops its return probes before its entry probes (or the other way):
    what follows the moment memspy told it to stop would nest wrongly."""
    path = _log(tmp_path, [("E", "a"), ("R", "a"), ("E", "b"), ("E", "c"), ("E", "d")])
    with open(path, "a") as log:
        log.write("# stopped 2500\n")  # between the second and the third event (ns)
    stats, seen = _stacks(path)
    assert seen == ["a", ""]
    assert stats.after_stop == 3 and stats.entries == 1
    assert any("3 events after bpftrace was told to stop" in note for note in stats.notes)


def test_events_before_every_probe_was_in_place_are_left_out(tmp_path):
    """bpftrace attaches to a running process one probe at a time: an entry seen while
    the return probes were not yet placed would stay open for ever (a call nested in
    its own sibling). What comes before the moment memspy saw every probe placed is
    left out, and counted."""
    path = _log(tmp_path, [("E", "a"), ("E", "b"), ("R", "b"), ("E", "c"), ("R", "c")])
    with open(path, "a") as log:
        log.write("# attached 2500\n# stopped 9000\n")  # after the second event (ns)
    stats, seen = _stacks(path)
    assert seen == ["b", "", "c", ""]  # b: running when the probes were all in place
    assert stats.before_attach == 2 and stats.entries == 1
    assert any("2 events before every probe was in place" in note for note in stats.notes)


def test_the_gates_frame_is_left_out(tmp_path):
    """memspy's gate runs under every frame of a command it starts: it is no frame of
    the profile, and no mid-stack start."""
    path = _log(tmp_path, [("E", "a"), ("R", "a"), ("R", "<module>")])
    with open(path) as log:
        text = log.read().replace("/a.py\t<module>", "<string>\t<module>")
    with open(path, "w") as log:
        log.write(text)
    stats, events = read_log(path, hidden=("<string>", "<module>"))
    assert [(e.kind, e.frame.name) for e in events] == [("enter", "a"), ("leave", "a")]
    assert stats.initial_frames == 0 and not any("mid-stack" in n for n in stats.notes)
