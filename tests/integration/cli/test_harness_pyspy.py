"""The target and the comparison helper, checked against py-spy before trusting them.

py-spy 0.4.3 on the SIGSTOPped parked.py: its frames (qualified names on 3.11+, file
names, line numbers) equal the target's own view on every interpreter, spinner included
within its loop. Where py-spy knows less, the tests below say exactly what it reports:

- thread names: none on 2.7 (null); right on 3.6+.
- kernel thread ids (os_thread_id): null before 3.11, where the thread state has no
  native_thread_id; right on 3.11+.
- active: py-spy asks the kernel, so needs the kernel id; before 3.11 it falls back to
  "is the innermost frame a known wait function", which only threading's Condition.wait
  is here, so lock-parked threads show active=true. On 3.11+ every thread of a stopped
  process shows active=false (kernel state T), the spinner too.
- owns_gil: false for every parked thread; usually true for the spinner, but not always
  (seen false on 3.9: the stop can land while the GIL is between holders), so not asserted.
"""

from __future__ import annotations

from typing import Any, Dict, List

import pyspy
from interpreters import Interpreter
from selfview import stack_problems, threads_from_dump_json
from target import SPINNER, Target

KNOWN_WAIT = "event-wait"  # parked in threading's Condition.wait, which py-spy knows is idle


def _by_name(document: List[Dict[str, Any]], target: Target) -> Dict[str, Dict[str, Any]]:
    names = {t["ident"]: t["name"] for t in target.threads}
    return {names[t["thread_id"]]: t for t in document}


def test_pyspy_frames_equal_the_self_view(interpreter: Interpreter, parked: Target) -> None:
    with parked.stopped():
        document = pyspy.dump_json(parked.pid)
    checks = dict(names=interpreter.version >= (3, 0), native_ids=interpreter.version >= (3, 11))
    assert stack_problems(parked.view, threads_from_dump_json(document), **checks) == []

    # The comparison is not blind: one line off, in the 300-deep recursion, is reported.
    recursion = next(t for t in document if t["thread_id"] == parked.thread("recursion")["ident"])
    recursion["frames"][150]["line"] += 1
    problems = stack_problems(parked.view, threads_from_dump_json(document), **checks)
    assert len(problems) == 1 and "'recursion'" in problems[0], problems


def test_pyspy_thread_details(interpreter: Interpreter, parked: Target) -> None:
    with parked.stopped():
        threads = _by_name(pyspy.dump_json(parked.pid), parked)
    assert set(threads) == {t["name"] for t in parked.threads}
    knows_tids = interpreter.version >= (3, 11)
    for name, thread in threads.items():
        if interpreter.version < (3, 0):
            assert thread["thread_name"] is None, name
        if not knows_tids:
            assert thread["os_thread_id"] is None, name
        if name == SPINNER:  # whether it holds the GIL at the stop is up to timing
            assert thread["active"] is not knows_tids, name
            continue
        assert not thread["owns_gil"], name
        assert thread["active"] is not (knows_tids or name == KNOWN_WAIT), name


def test_self_view_covers_every_shape(interpreter: Interpreter, parked: Target) -> None:
    """The target parked what it promises, so the comparisons above mean something."""
    names = {t["name"]: t for t in parked.threads}
    innermost = {n: [f["name"] for f in t["frames"]] for n, t in names.items()}
    qualified = interpreter.version >= (3, 11)
    method = "Outer.Inner.method" if qualified else "method"
    assert innermost["nested-class"][:2] == ["park_forever", method]
    assert innermost["recursion"].count("recurse") == 300
    assert innermost["generator"][1:3] == ["generator_body", "generator"]
    assert innermost["callback-from-c"][1:3] == ["blocking_key", "callback_from_c"]
    assert innermost["lämbdä-θ"][1] == "<lambda>"
    comprehension_frame = innermost["comprehension"][1]
    if interpreter.version >= (3, 0) and interpreter.version < (3, 12):
        assert comprehension_frame.endswith("<listcomp>")
    else:  # 2.7 and 3.12+ (PEP 709) run list comprehensions in the enclosing frame
        assert comprehension_frame == "comprehension"
    assert innermost["generator-expression"][1].endswith("<genexpr>")
    assert innermost["MainThread"] == ["park_forever", "main", "<module>"]
    assert names[SPINNER]["moving_lines"] and innermost[SPINNER][0] == "spin"
    if interpreter.version >= (3, 0):
        assert innermost["coroutines"][1:4] == ["innermost", "middle", "outermost"]
        assert innermost["ünïcødé-θread"][1:3] == [
            "Κλάση.μέθοδος" if qualified else "μέθοδος",
            "ünïcødé",
        ]
