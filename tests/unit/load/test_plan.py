from __future__ import annotations

import pytest

from harness.load.plan import RampStep, plan_ramp, step_at


def test_equal_steps_up_to_the_target() -> None:
    assert plan_ramp(20, 40, 4) == [RampStep(0, 5, 0.0, 10.0), RampStep(1, 10, 10.0, 20.0),
                                   RampStep(2, 15, 20.0, 30.0), RampStep(3, 20, 30.0, 40.0)]


def test_fewer_calls_than_steps_never_repeats_a_load() -> None:
    plan = plan_ramp(2, 12, 4)
    assert [s.calls for s in plan] == [1, 2]
    assert plan[-1].end_s == 12.0


@pytest.mark.parametrize(("calls", "duration", "steps"), [(0, 10, 2), (5, 0, 2), (5, 10, 0)])
def test_bad_numbers_are_refused(calls: int, duration: float, steps: int) -> None:
    with pytest.raises(ValueError):
        plan_ramp(calls, duration, steps)


def test_step_at() -> None:
    plan = plan_ramp(4, 8, 2)
    assert step_at(plan, 0.0) == plan[0]
    assert step_at(plan, 3.99) == plan[0]
    assert step_at(plan, 4.0) == plan[1]
    assert step_at(plan, 8.0) is None
    assert step_at(plan, -1.0) is None
