"""The ramp: steps of concurrent calls, each held for a while (pure).

Capacity is the highest load at which every recording is complete, so the load rises in steps
held long enough for several calls each (a continuous ramp would judge every call at a
different load). Step k of n holds ceil(k * N / n) concurrent calls; new calls start at most
`rate` per second (Locust's spawn rate), so a step's first calls start late by up to
(step size / rate) seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RampStep", "plan_ramp", "step_at"]


@dataclass(frozen=True, slots=True)
class RampStep:
    index: int
    calls: int  # concurrent calls (Locust users) held in this step
    start_s: float  # from the start of the run
    end_s: float


def plan_ramp(calls: int, duration_s: float, steps: int = 4) -> list[RampStep]:
    """`steps` equal steps up to `calls` concurrent calls over `duration_s` seconds.

    Fewer steps when `calls` is smaller than `steps` (a step never repeats a load).
    """
    if calls < 1:
        raise ValueError(f"--calls must be at least 1, got {calls}")
    if duration_s <= 0:
        raise ValueError(f"--duration must be positive, got {duration_s}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    levels: list[int] = []
    for k in range(1, steps + 1):
        level = math.ceil(k * calls / steps)
        if not levels or level > levels[-1]:
            levels.append(level)
    hold = duration_s / len(levels)
    return [RampStep(i, level, round(i * hold, 6), round((i + 1) * hold, 6)) for i, level in enumerate(levels)]


def step_at(plan: Sequence[RampStep], elapsed_s: float) -> RampStep | None:
    """The step in force `elapsed_s` seconds into the run; None before the start / after the end."""
    for step in plan:
        if step.start_s <= elapsed_s < step.end_s:
            return step
    return None
