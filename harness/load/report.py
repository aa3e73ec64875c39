"""The capacity report: per ramp step, what the calls got and what their recordings hold (pure).

`build_report` turns the ramp plan and every call's `CallVerdict` into the JSON CI reads
(`load.json`); `render_html` draws the same data as a page with inline SVG plots (no external
URL, so the file opens anywhere); `gate_passed` is the exit-1 rule.

A call belongs to the step in force when its first INVITE went out. The highest complete load
is the last step of the unbroken run of steps, from the first, in which every call was set up
and every recording complete; a step with a generator-late call stops the run too, since what
the recorder would have done with on-time packets is unknown there (`limited_by` says which).
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.load.plan import RampStep
from harness.load.verdict import CallOutcome, CallVerdict

__all__ = ["SCHEMA", "build_report", "complete_share", "gate_passed", "percentile", "render_html"]

SCHEMA = "arec-load/1"


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (the smallest value >= pct % of the values); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _step_index(plan: Sequence[RampStep], elapsed: float) -> int:
    for step in plan:
        if elapsed < step.end_s:
            return step.index
    return plan[-1].index  # calls started while the run was stopping count with the last step


def _outcomes(verdicts: Iterable[CallVerdict]) -> dict[str, int]:
    counts = Counter(v.outcome.value for v in verdicts)
    return {o.value: counts.get(o.value, 0) for o in CallOutcome}


def _step(step: RampStep, calls: list[CallVerdict]) -> dict[str, Any]:
    latencies = [x for v in calls for x in v.invite_latency_ms]
    refused = [v for v in calls if v.outcome is CallOutcome.REFUSED]
    p99s = [v.pacing.late_p99_ms for v in calls if v.pacing.packets]
    outcomes = _outcomes(calls)
    return {
        "index": step.index,
        "concurrent_calls": step.calls,
        "start_s": step.start_s,
        "end_s": step.end_s,
        "calls": len(calls),
        "calls_set_up": sum(1 for v in calls if v.invite_status and all(s is not None and 200 <= s < 300
                                                                        for s in v.invite_status)),
        "outcomes": outcomes,
        "invite_latency_ms": {"count": len(latencies), "p50": percentile(latencies, 50),
                              "p95": percentile(latencies, 95), "p99": percentile(latencies, 99)},
        "refused_503": {"count": len(refused),
                        "retry_after_s": sorted({v.retry_after for v in refused if v.retry_after is not None})},
        "generator": {"late_p99_ms": percentile(p99s, 99), "late_max_ms": max((v.pacing.late_max_ms for v in calls),
                                                                               default=None),
                      "send_drops": sum(v.pacing.send_errors for v in calls),
                      "packets": sum(v.pacing.packets for v in calls)},
        "all_complete": bool(calls) and outcomes[CallOutcome.COMPLETE.value] == len(calls),
    }


def complete_share(verdicts: Sequence[CallVerdict]) -> float:
    """Complete recordings as a % of the calls the recorder can be judged on (generator-late
    calls excluded: their loss is the generator's)."""
    judged = [v for v in verdicts if v.outcome is not CallOutcome.GENERATOR_LATE]
    if not judged:
        return 0.0
    return round(100.0 * sum(1 for v in judged if v.outcome is CallOutcome.COMPLETE) / len(judged), 3)


def _timeline(verdicts: Sequence[CallVerdict], t0: float, duration: float) -> list[dict[str, Any]]:
    """Per second: mean calls up, and calls that ended with a lost or missing recording (or
generator-late)."""
    end = max([duration, *(v.ended_at - t0 for v in verdicts)])
    seconds = max(1, math.ceil(end))
    up = [0.0] * seconds
    lost = [0] * seconds
    late = [0] * seconds
    for v in verdicts:
        start, stop = v.started_at - t0, v.ended_at - t0
        first = max(0, int(start))
        last = min(seconds - 1, max(first, int(stop)))
        for s in range(first, last + 1):
            up[s] += max(0.0, min(stop, s + 1) - max(start, s))  # mean calls up during second s
        if v.outcome in (CallOutcome.INCOMPLETE, CallOutcome.MISSING):
            lost[last] += 1
        elif v.outcome is CallOutcome.GENERATOR_LATE:
            late[last] += 1
    return [{"t": s, "calls_up": round(up[s], 2), "recordings_lost": lost[s], "generator_late": late[s]}
            for s in range(seconds)]


def build_report(plan: Sequence[RampStep], verdicts: Sequence[CallVerdict], *, t0: float,
                 settings: Mapping[str, Any], recorder: str, gate_complete_pct: float | None,
                 kernel_send_drops: int | None = None) -> dict[str, Any]:
    if not plan:
        raise ValueError("empty ramp plan")
    by_step: dict[int, list[CallVerdict]] = {s.index: [] for s in plan}
    for v in sorted(verdicts, key=lambda v: v.started_at):
        by_step[_step_index(plan, v.started_at - t0)].append(v)
    steps = [_step(s, by_step[s.index]) for s in plan]
    highest: int | None = None
    limited_by = "none"
    for step in steps:
        if step["all_complete"]:
            highest = step["concurrent_calls"]
            continue
        outcomes = step["outcomes"]
        if not step["calls"]:
            limited_by = "no calls finished in a step (step too short for the call length?)"
        elif outcomes[CallOutcome.GENERATOR_LATE.value] and not any(
                outcomes[o.value] for o in (CallOutcome.INCOMPLETE, CallOutcome.MISSING, CallOutcome.REFUSED,
                                            CallOutcome.SETUP_FAILED)):
            limited_by = "generator"
        else:
            limited_by = "recorder"
        break
    share = complete_share(verdicts)
    latencies = [x for v in verdicts for x in v.invite_latency_ms]
    return {
        "schema": SCHEMA,
        "recorder": recorder,
        "settings": dict(settings),
        "started_at": t0,
        "steps": steps,
        "totals": {
            "calls": len(verdicts),
            "outcomes": _outcomes(verdicts),
            "complete_pct": share,
            "invite_latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                                  "p99": percentile(latencies, 99)},
            "rtp_packets_sent": sum(v.pacing.packets - v.pacing.send_errors for v in verdicts),
            "send_drops": sum(v.pacing.send_errors for v in verdicts),
            "kernel_udp_sndbuf_errors": kernel_send_drops,
        },
        "highest_complete_load": highest,
        "limited_by": limited_by,
        "gate": {"complete_pct_min": gate_complete_pct,
                 "passed": gate_passed(share, gate_complete_pct)},
        "timeline": _timeline(verdicts, t0, plan[-1].end_s),
        "calls": [v.to_json() for v in sorted(verdicts, key=lambda v: v.started_at)],
    }


def gate_passed(complete_pct: float, minimum: float | None) -> bool:
    return minimum is None or complete_pct >= minimum


# ------------------------------------------------------------------------------------- HTML

_W, _H, _PAD = 640, 220, 40


def _polyline(points: list[tuple[float, float]], colour: str) -> str:
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>'


def _axes(x_label: str, y_label: str, x_max: float, y_max: float) -> str:
    bottom, right = _H - _PAD, _W - 10
    return (f'<line x1="{_PAD}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>'
            f'<line x1="{_PAD}" y1="10" x2="{_PAD}" y2="{bottom}" stroke="#333"/>'
            f'<text x="{right}" y="{_H - 8}" text-anchor="end" font-size="11">{html.escape(x_label)} '
            f'(0–{x_max:g})</text>'
            f'<text x="4" y="20" font-size="11">{html.escape(y_label)} (max {y_max:g})</text>')


def _scale(value: float, maximum: float, length: float) -> float:
    return 0.0 if maximum <= 0 else value / maximum * length


def _timeline_svg(timeline: Sequence[Mapping[str, Any]]) -> str:
    if not timeline:
        return "<p>No calls.</p>"
    x_max = float(len(timeline))
    y_max = float(max(max(p["calls_up"], p["recordings_lost"], p["generator_late"]) for p in timeline) or 1)
    width, height = _W - _PAD - 10, _H - _PAD - 10

    def point(t: float, value: float) -> tuple[float, float]:
        return _PAD + _scale(t, x_max, width), _H - _PAD - _scale(value, y_max, height)

    up = _polyline([point(p["t"], p["calls_up"]) for p in timeline], "#1f77b4")
    bars = []
    for p in timeline:
        for key, colour, shift in (("recordings_lost", "#d62728", 0.0), ("generator_late", "#ff7f0e", 0.5)):
            if p[key]:
                x, y = point(p["t"] + shift, p[key])
                bars.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(1.0, width / x_max / 2):.1f}" '
                            f'height="{_H - _PAD - y:.1f}" fill="{colour}"/>')
    low = _H - 8
    legend = (f'<text x="{_PAD}" y="{low}" font-size="11" fill="#1f77b4">calls up</text>'
              f'<text x="{_PAD + 60}" y="{low}" font-size="11" fill="#d62728">recordings lost</text>'
              f'<text x="{_PAD + 160}" y="{low}" font-size="11" fill="#ff7f0e">generator late</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
            f'aria-label="calls and loss over time">{_axes("seconds", "calls", x_max, y_max)}{up}'
            f'{"".join(bars)}{legend}</svg>')


def _latency_svg(latencies: Sequence[float], bins: int = 30) -> str:
    if not latencies:
        return "<p>No INVITE was answered.</p>"
    top = max(latencies) or 1.0
    counts = [0] * bins
    for x in latencies:
        counts[min(bins - 1, int(x / top * bins))] += 1
    y_max = float(max(counts))
    width, height = _W - _PAD - 10, _H - _PAD - 10
    bar = width / bins
    rects = []
    for i, c in enumerate(counts):
        h = _scale(c, y_max, height)
        rects.append(f'<rect x="{_PAD + i * bar:.1f}" y="{_H - _PAD - h:.1f}" width="{bar - 1:.1f}" '
                     f'height="{h:.1f}" fill="#2ca02c"><title>{i * top / bins:.1f}–{(i + 1) * top / bins:.1f} ms: '
                     f'{c}</title></rect>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
            f'aria-label="INVITE to 200 latency">{_axes("INVITE→200 ms", "sessions", round(top, 1), y_max)}'
            f'{"".join(rects)}</svg>')


def _fmt(value: object) -> str:
    return "–" if value is None else html.escape(str(value))


def render_html(report: Mapping[str, Any]) -> str:
    steps = report["steps"]
    rows = []
    for s in steps:
        o = s["outcomes"]
        lat = s["invite_latency_ms"]
        gen = s["generator"]
        rows.append(
            "<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in (
                s["index"] + 1, s["concurrent_calls"], s["calls"], s["calls_set_up"], lat["p50"], lat["p95"], lat["p99"],
                f'{s["refused_503"]["count"]} (Retry-After {", ".join(map(str, s["refused_503"]["retry_after_s"])) or "–"})',
                o["complete"], o["incomplete"], o["missing"], o["generator-late"], o["setup-failed"],
                gen["late_p99_ms"], gen["send_drops"])) + "</tr>")
    bad = [c for c in report["calls"] if c["outcome"] != CallOutcome.COMPLETE.value][:200]
    bad_rows = "".join(
        f"<tr><td>{html.escape(c['calluuid'])}</td><td>{html.escape(c['outcome'])}</td>"
        f"<td>{html.escape(', '.join(c['requirement_ids']))}</td>"
        f"<td>{html.escape(' | '.join(c['reasons'])[:400])}</td></tr>" for c in bad)
    latencies = [x for c in report["calls"] for x in c["invite_latency_ms"]]
    totals = report["totals"]
    gate = report["gate"]
    gate_text = ("no gate" if gate["complete_pct_min"] is None else
                 f'{"PASSED" if gate["passed"] else "FAILED"}: {totals["complete_pct"]} % complete, '
                 f'minimum {gate["complete_pct_min"]} %')
    head = ("<tr><th>step</th><th>concurrent calls</th><th>calls</th><th>set up</th><th>INVITE→200 p50 ms</th>"
            "<th>p95</th><th>p99</th><th>503</th><th>complete</th><th>incomplete</th><th>missing</th>"
            "<th>generator late</th><th>setup failed</th><th>pacing p99 ms</th><th>send drops</th></tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>arec load: {html.escape(str(report["recorder"]))}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px}}th{{background:#eee}}</style></head><body>
<h1>Recorder capacity: {html.escape(str(report["recorder"]))}</h1>
<p><b>Highest load with every recording complete: {_fmt(report["highest_complete_load"])} concurrent two-stream
calls</b> (limited by: {html.escape(str(report["limited_by"]))}). Calls: {totals["calls"]};
complete {totals["complete_pct"]} % of the calls judged against the recorder. Gate: {html.escape(gate_text)}.
RTP packets sent: {totals["rtp_packets_sent"]}; send drops: {totals["send_drops"]}; kernel UDP send-buffer
errors during the run: {_fmt(totals["kernel_udp_sndbuf_errors"])}.</p>
<p>A call is <i>generator-late</i> when a packet left the generator later than the recorder's jitter window or
the kernel refused one: its loss is not counted against the recorder.</p>
<h2>Ramp steps</h2><table>{head}{"".join(rows)}</table>
<h2>Calls and loss over time</h2>{_timeline_svg(report["timeline"])}
<h2>INVITE→200 latency distribution</h2>{_latency_svg(latencies)}
<h2>Calls without a complete recording (first 200)</h2>
{"<table><tr><th>CallUUID</th><th>outcome</th><th>failed checks</th><th>why</th></tr>" + bad_rows + "</table>"
   if bad_rows else "<p>None: every call's recording is complete.</p>"}
</body></html>
"""
