"""The echo's getter of the regions that must hold: every region but those left out,
and few of them kept per plan however often the moving threads change."""

from __future__ import annotations

from memspy.interpreter.steady import MAX_GETTERS, Plan


def _plan(regions: int) -> Plan:
    return Plan(
        [(0x1000 * i, 8) for i in range(regions)], [0] * regions, [], [],
        None, [], [], regions, None,  # type: ignore[arg-type]
    )


def test_the_getter_takes_every_region_but_those_left_out():
    plan = _plan(6)
    read = [bytes([i]) for i in range(6)]
    assert plan.fixed((1, 4))(read) == (b"\x00", b"\x02", b"\x03", b"\x05")
    assert plan.fixed((1, 4)) is plan.fixed((1, 4))


def test_getters_kept_per_plan_are_bounded():
    plan = _plan(40)
    for left_out in range(40):
        plan.fixed((left_out,))
    assert len(plan._fixed) <= MAX_GETTERS
