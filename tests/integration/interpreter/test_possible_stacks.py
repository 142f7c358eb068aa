"""Every stack memspy reports existed. Worker threads alternate between one Python call
(``K.m``) and one C-level wait (``time.sleep``), so the stacks they can have are known:
``m`` called from the ``k.m()`` line, or ``worker`` alone at a line of its loop, over the
same thread bootstrap frames. A read that tears as the call returns would show ``m``
called from the sleep line (the callee from one moment, the caller from a later one).

The call sites that repair such a read are learnt in the first samples. After those,
what slips through is counted: with the repair none on an idle machine and a few in ten
thousand with the machine busy (a read preempted while the worker goes round its whole
loop looks unchanged), without it 0.3-1% of the worker stacks."""

from __future__ import annotations

from collections import Counter
from typing import List, Tuple

from interpreters import Interpreter
from robust import TARGETS, end, start

from memspy.interpreter.process import PythonProcess

WARM_UP = 500  # samples in which the reader learns where each worker calls m
SAMPLES = 3000
SLIP = 0.001  # the share of worker stacks that may be impossible

_SOURCE = (TARGETS / "call_or_wait.py").read_text().splitlines()
CALL = next(n for n, line in enumerate(_SOURCE, 1) if line.rstrip().endswith("# CALL"))
LOOP, WAIT = CALL - 1, CALL + 1


def _impossible(stack: List[Tuple[str, int]], bottom: List[Tuple[str, int]]) -> bool:
    """Whether a worker's stack (name, line; innermost first) is none the target has."""
    at = [name for name, _ in stack].index("worker")
    above, (_, line), below = stack[:at], stack[at], stack[at + 1 :]
    if below != bottom:
        return True
    if not above:
        return line not in (LOOP, CALL, WAIT)
    return len(above) != 1 or above[0][0] not in ("m", "K.m") or line != CALL


def test_every_reported_stack_existed(interpreter: Interpreter) -> None:
    target = start("call_or_wait.py", python=str(interpreter.path))
    try:
        process = PythonProcess(target.pid)
        for _ in range(WARM_UP):
            process.sample()
        workers: List[List[Tuple[str, int]]] = []
        unknown = 0
        for _ in range(SAMPLES):
            for thread in process.sample().threads:
                stack = [(frame.name, frame.lineno) for frame in thread.frames]
                if any(name == "<unknown>" for name, _ in stack):
                    unknown += 1
                elif any(name == "worker" for name, _ in stack):
                    workers.append(stack)
    finally:
        end(target)
    bottoms = Counter(tuple(s[[n for n, _ in s].index("worker") + 1 :]) for s in workers)
    bottom = list(bottoms.most_common(1)[0][0])
    impossible = Counter(tuple(s) for s in workers if _impossible(s, bottom))
    assert sum(impossible.values()) <= len(workers) * SLIP, (
        f"{sum(impossible.values())} of {len(workers)} worker stacks never existed: "
        f"{impossible.most_common(3)}"
    )
    # The test means something only if the workers were caught inside m often.
    in_m = sum(1 for s in workers if s[0][0] in ("m", "K.m"))
    assert in_m > SAMPLES / 100, in_m
    assert unknown <= SAMPLES * 0.01, unknown
