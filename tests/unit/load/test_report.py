from __future__ import annotations

import json
import re

from harness.load.plan import plan_ramp
from harness.load.report import build_report, complete_share, gate_passed, percentile, render_html
from harness.load.verdict import CallOutcome, CallVerdict, PacingStats

T0 = 1000.0
PLAN = plan_ramp(6, 30, 3)  # 2, 4, 6 concurrent calls, 10 s each


def _call(n: int, start: float, outcome: CallOutcome = CallOutcome.COMPLETE, *, latency: float = 5.0,
          status: tuple[int | None, ...] = (200, 200), retry_after: int | None = None,
          late_max: float = 2.0) -> CallVerdict:
    return CallVerdict(f"C{n:031d}", T0 + start, T0 + start + 2.0, outcome, "w", (latency, latency + 1),
                       status, retry_after, PacingStats(100, 1.0, late_max, 0),
                       () if outcome is CallOutcome.COMPLETE else ("REC-AUDIO-COMPLETE",))


def _report(calls: list[CallVerdict], gate: float | None = None) -> dict[str, object]:
    return build_report(PLAN, calls, t0=T0, settings={"calls": 6}, recorder="ref", gate_complete_pct=gate)


def test_calls_go_to_the_step_in_force_when_they_started() -> None:
    calls = [_call(1, 0.5), _call(2, 9.9), _call(3, 10.0), _call(4, 29.0), _call(5, 31.0)]
    report = _report(calls)
    steps = report["steps"]
    assert isinstance(steps, list)
    assert [s["calls"] for s in steps] == [2, 1, 2]  # a call started while stopping counts with the last
    assert report["highest_complete_load"] == 6 and report["limited_by"] == "none"
    json.dumps(report)  # JSON-able


def test_highest_complete_load_is_the_last_step_of_the_unbroken_complete_run() -> None:
    calls = [_call(1, 1), _call(2, 11), _call(3, 21, CallOutcome.INCOMPLETE), _call(4, 22)]
    report = _report(calls)
    assert report["highest_complete_load"] == 4
    assert report["limited_by"] == "recorder"
    steps = report["steps"]
    assert isinstance(steps, list)
    assert steps[2]["outcomes"]["incomplete"] == 1 and not steps[2]["all_complete"]
    # A failing first step: no load was complete.
    assert _report([_call(1, 1, CallOutcome.MISSING), _call(2, 11)])["highest_complete_load"] is None


def test_a_generator_late_step_says_the_generator_limited_the_figure() -> None:
    calls = [_call(1, 1), _call(2, 11, CallOutcome.GENERATOR_LATE, late_max=90.0)]
    report = _report(calls)
    assert report["highest_complete_load"] == 2
    assert report["limited_by"] == "generator"
    totals = report["totals"]
    assert isinstance(totals, dict)
    assert totals["complete_pct"] == 100.0  # the generator's loss is not the recorder's


def test_503s_latency_percentiles_and_empty_steps() -> None:
    calls = [_call(1, 1, latency=1.0), _call(2, 2, latency=3.0),
             _call(3, 12, CallOutcome.REFUSED, status=(200, 503), retry_after=30)]
    report = _report(calls)
    steps = report["steps"]
    assert isinstance(steps, list)
    assert steps[0]["invite_latency_ms"] == {"count": 4, "p50": 2.0, "p95": 4.0, "p99": 4.0}
    assert steps[1]["refused_503"] == {"count": 1, "retry_after_s": [30]}
    assert steps[1]["calls_set_up"] == 0
    assert steps[2]["calls"] == 0 and steps[2]["invite_latency_ms"]["p99"] is None
    assert report["highest_complete_load"] == 2 and report["limited_by"] == "recorder"


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 99) == 5.0
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_gate() -> None:
    calls = [_call(1, 1), _call(2, 2), _call(3, 3, CallOutcome.INCOMPLETE), _call(4, 4)]
    assert complete_share(calls) == 75.0
    assert complete_share([]) == 0.0
    assert gate_passed(75.0, None) and gate_passed(75.0, 75.0) and not gate_passed(75.0, 99.0)
    report = _report(calls, gate=90.0)
    assert report["gate"] == {"complete_pct_min": 90.0, "passed": False}


def test_html_is_self_contained_with_plots_and_the_failed_calls() -> None:
    calls = [_call(1, 1), _call(2, 11, CallOutcome.INCOMPLETE)]
    page = render_html(_report(calls))
    assert page.count("<svg") == 2
    assert "C0000000000000000000000000000002" in page and "REC-AUDIO-COMPLETE" in page
    # No external resource: the only URL is the SVG namespace.
    assert set(re.findall(r"https?://[^\"' ]+", page)) == {"http://www.w3.org/2000/svg"}
