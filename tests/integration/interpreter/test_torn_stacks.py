"""A stack read while the target runs can be torn: the thread state names a generator's
frame, and by the time that frame is read the generator has yielded and its link to the
caller is gone. Such a stack (the generator alone) must never be reported: the caller
learnt while the generator was linked completes it at once, with no second read, and a
stack that cannot be completed ends in an explicit, counted ``<unknown>`` part."""

from __future__ import annotations

from typing import List

from interpreters import Interpreter
from robust import end, start

from memspy.interpreter.process import PythonProcess

SAMPLES = 400  # at least; more until the generators were caught running often enough
IN_GENERATOR = SAMPLES // 10


def test_a_thread_inside_a_generator_is_never_reported_without_its_callers(
    interpreter: Interpreter,
) -> None:
    target = start("gen_spin.py", python=str(interpreter.path))
    try:
        with PythonProcess(target.pid) as process:
            stacks, quality = [], [0, 0, 0]
            taken = 0
            # A busy machine runs the target less while memspy samples: sample until the
            # generators were caught running often, not a fixed number of times.
            while taken < SAMPLES or (
                _in_generator(stacks) < IN_GENERATOR and taken < 10 * SAMPLES
            ):
                sample = process.sample()
                taken += 1
                quality = [a + b for a, b in zip(quality, process.quality)]
                stacks += [[f.name for f in t.frames] for t in sample.threads]
    finally:
        end(target)
    known = [names for names in stacks if "<unknown>" not in names]
    torn = [names for names in known if not names or names[-1] != "<module>"]
    assert torn == [], f"{len(torn)} of {len(stacks)} stacks lost their callers: {torn[:3]}"
    # The test means something only if the generators were caught running, often, and
    # some reads were torn and repaired.
    assert _in_generator(stacks) >= IN_GENERATOR, _in_generator(stacks)
    assert quality[1] > 0, quality
    assert len(stacks) == taken == sum(quality), "every sample keeps the thread"
    # How many reads tear grows with the machine's load (memspy preempted between its
    # reads); of those, the caller is found for most. Measured: 2-10% of torn stacks left
    # partly unknown (0-0.5% of all here with both CPUs busy, 2.75% once on CI); with the
    # search for a torn generator's resumer removed, 98%.
    unknown, torn_reads = quality[2], quality[1] + quality[2]
    assert unknown <= max(taken * 0.02, torn_reads * 0.25), f"{quality} (exact, repaired, unknown)"


def _in_generator(stacks: List[List[str]]) -> int:
    return sum(1 for names in stacks if names and names[0].endswith(("<genexpr>", "numbers")))
