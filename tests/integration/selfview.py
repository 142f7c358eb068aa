"""Compare stacks read from outside a target with what the target recorded about itself.

The target (tests/targets/parked.py) writes, per thread, its ident, kernel id, name and
frames as ``sys._current_frames()`` sees them, with each frame's expected name already
chosen for its version: ``co_qualname`` on 3.11+, ``co_name`` before. Anything shaped like
memspy's model (``ThreadStack`` with ``Frame``s) is compared against that, thread by thread
matched by ident, frame by frame, with a diff when they differ.
"""

from __future__ import annotations

import difflib
from typing import Any, Dict, List, Sequence, Tuple

from memspy.model import Frame, ThreadStack

Row = Tuple[str, str, int]


def expected_frames(thread: Dict[str, Any]) -> List[Row]:
    return [(f["name"], f["filename"], f["lineno"]) for f in thread["frames"]]


def _rows(stack: ThreadStack) -> List[Row]:
    return [(f.name, f.filename, f.lineno) for f in stack.frames]


def _diff(label: str, expected: Sequence[Row], got: Sequence[Row]) -> str:
    lines = difflib.unified_diff(
        [f"{n} ({f}:{line})" for n, f, line in expected],
        [f"{n} ({f}:{line})" for n, f, line in got],
        f"{label}: target's own view",
        f"{label}: read from outside",
        lineterm="",
        n=2,
    )
    return "\n".join(lines)


def _moving_frame_problem(thread: Dict[str, Any], got: List[Row]) -> str:
    """The spinning thread: names and files exact, its innermost line one of its loop's."""
    expected = expected_frames(thread)
    same_outer = got[1:] == expected[1:]
    innermost_ok = (
        bool(got) and got[0][:2] == expected[0][:2] and got[0][2] in thread["moving_lines"]
    )
    if same_outer and innermost_ok:
        return ""
    note = f"(its innermost line may be any of {thread['moving_lines']})"
    return _diff(f"{thread['name']} {note}", expected, got)


def stack_problems(
    view: Dict[str, Any],
    threads: Sequence[ThreadStack],
    names: bool = True,
    native_ids: bool = True,
) -> List[str]:
    """Every way ``threads`` differs from the target's own ``view``; empty when exact.

    ``names`` / ``native_ids``: also require each thread's name / kernel thread id.
    """
    problems = []
    by_ident = {t.thread_id: t for t in threads}
    expected_idents = {t["ident"] for t in view["threads"]}
    for ident in sorted(set(by_ident) - expected_idents):
        extra = by_ident[ident]
        top = _rows(extra)[:1]
        problems.append(
            f"thread {ident:#x} ({extra.name!r}) is not in the target: "
            f"{len(extra.frames)} frames, innermost {top}"
        )
    for thread in view["threads"]:
        label = f"thread {thread['name']!r} ({thread['ident']:#x})"
        stack = by_ident.get(thread["ident"])
        if stack is None:
            problems.append(f"{label} is missing")
            continue
        if names and stack.name != thread["name"]:
            problems.append(f"{label} is named {stack.name!r}")
        if native_ids and stack.native_tid != thread["native_id"]:
            problems.append(f"{label} has native id {stack.native_tid}, not {thread['native_id']}")
        got = _rows(stack)
        if thread["moving_lines"]:
            problem = _moving_frame_problem(thread, got)
        elif got != expected_frames(thread):
            problem = _diff(label, expected_frames(thread), got)
        else:
            problem = ""
        if problem:
            problems.append(problem)
    return problems


def assert_stacks_match(view: Dict[str, Any], threads: Sequence[ThreadStack], **checks: bool):
    """Fail with every difference (see ``stack_problems``) at once."""
    problems = stack_problems(view, threads, **checks)
    assert not problems, "stacks differ from the target's own view:\n" + "\n".join(problems)


def threads_from_dump_json(document: List[Dict[str, Any]]) -> Tuple[ThreadStack, ...]:
    """A ``py-spy dump --json`` (or ``memspy dump --json``) document, as memspy's model."""
    return tuple(
        ThreadStack(
            thread_id=t["thread_id"],
            native_tid=t["os_thread_id"],
            name=t["thread_name"],
            holds_gil=t["owns_gil"],
            idle=not t["active"],
            frames=tuple(Frame(f["name"], f["filename"], f["line"]) for f in t["frames"]),
        )
        for t in document
    )
