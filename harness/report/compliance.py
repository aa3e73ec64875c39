"""The compliance matrix: every catalogue requirement with its outcome over a whole run.

Input is the Allure results directory the suite wrote (docs/architecture.md §4 "Report"): each scenario's
result carries its Gherkin tags (the requirement ids it exercises) and one
``arec.requirement`` label per requirement a Then step judged (`judge()` in
harness.conformance.verdict writes ``"<ID>: passed|failed|warning"``). Reading the results
rather than a side channel keeps the matrix right under pytest-xdist and lets `arec report`
rebuild it later from the same directory.

Rules, per requirement over all scenarios:
  failed          a scenario judged it failed (a MUST finding)
  warning         otherwise, a scenario judged it with a SHOULD finding
  passed          otherwise, judged at least once (with evidence: a step whose evidence could not
                  exercise it labels it "not exercised" instead)
  not applicable  otherwise, labelled "not applicable" by a step, or tagged on scenarios skipped
                  as "not applicable: ..."
  offline only    otherwise, the live suite cannot exercise it (`harness.checks.registry`: only
                  `arec validate` on a capture with such traffic can), so not a gap of the run
  not exercised   otherwise (no scenario judged it)

Each row also says where the requirement can be judged: "live only" (it needs the scenario's own
facts: the replication job, T-Lib events, the probes it sent) or "live and offline" (a capture
plus recordings is evidence enough), from the same registry.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from harness.checks.registry import REGISTRY, Judge
from harness.spec.catalogue import Requirement, load_catalogue
from harness.spec.findings import Severity

__all__ = [
    "REQUIREMENT_LABEL",
    "STEP_TITLES",
    "ComplianceError",
    "Judgement",
    "Matrix",
    "Outcome",
    "RequirementRow",
    "ScenarioOutcome",
    "Unjudged",
    "build_matrix",
    "judgement_label",
    "matrix_html",
    "matrix_json",
    "matrix_markdown",
    "matrix_svg",
    "parse_judgement_label",
    "read_scenarios",
]

REQUIREMENT_LABEL: Final = "arec.requirement"

# Seed page "10 steps" (docs/genesys-flow.md §2), one line each for the matrix headings.
STEP_TITLES: Final[Mapping[int, str]] = {
    1: "SIP Server records because a DN is set to always record",
    2: "The recorder asks SIP Server to record (its own rule, T-Lib)",
    3: "Another T-Lib client asks SIP Server to record",
    4: "A routing strategy sets record in TRouteCall",
    5: "SIP Server has Media Server replicate the call's RTP streams",
    6: "Media Server opens the recording sessions (SIP/SDP)",
    7: "Recording starts: RTP received and recorded",
    8: "The recorder fetches the call's context over T-Lib",
    9: "Pause, resume, stop and start at any time",
    10: "BYE ends each stream's session; the recording is finalised",
}

# A tag shaped like a requirement id (ARE-06-RURI-PARAMS, SIP-OPTIONS-200): one that is not in
# the catalogue is a typo that would silently drop a requirement from the matrix.
_ID_SHAPE: Final = re.compile(r"^[A-Z][A-Z0-9]+(?:-[A-Z0-9]+)+$")
_NOT_APPLICABLE: Final = re.compile(r"^(?:Skipped:\s*)?not applicable\b", re.I)


class ComplianceError(ValueError):
    """The results name a requirement id the catalogue does not know."""


class Judgement(enum.Enum):
    """One Then step's verdict on one requirement."""

    PASSED = "passed"
    WARNING = "warning"
    FAILED = "failed"

    @classmethod
    def of(cls, severities: Iterable[Severity]) -> Judgement:
        found = set(severities)
        if Severity.MUST in found:
            return cls.FAILED
        if Severity.SHOULD in found:
            return cls.WARNING
        return cls.PASSED  # INFO findings are observations, not violations


_RANK: Final = {Judgement.PASSED: 0, Judgement.WARNING: 1, Judgement.FAILED: 2}


class Unjudged(enum.Enum):
    """A step's statement that it did *not* judge a requirement it names, and why."""

    NOT_APPLICABLE = "not applicable"  # the recorder cannot be judged on it here (e.g. no metadata layout)
    NOT_EXERCISED = "not exercised"  # the evidence had nothing to look at (e.g. never at capacity)


def worst(judgements: Iterable[Judgement]) -> Judgement:
    return max(judgements, key=_RANK.__getitem__, default=Judgement.PASSED)


class Outcome(enum.Enum):
    FAILED = "failed"
    WARNING = "warning"
    PASSED = "passed"
    NOT_APPLICABLE = "not applicable"
    OFFLINE_ONLY = "offline only"
    ON_DEMAND = "on demand"  # judged only by an on-demand (@soak) scenario, which did not run
    NOT_EXERCISED = "not exercised"


def judgement_label(requirement_id: str, judgement: Judgement | Unjudged) -> str:
    return f"{requirement_id}: {judgement.value}"


def parse_judgement_label(value: str) -> tuple[str, Judgement | Unjudged]:
    requirement_id, sep, verdict = value.partition(":")
    if sep:
        for kind in (Judgement, Unjudged):
            try:
                return requirement_id.strip(), kind(verdict.strip())
            except ValueError:
                continue
    raise ComplianceError(f"malformed {REQUIREMENT_LABEL} label {value!r}")


@dataclass(frozen=True, slots=True)
class ScenarioOutcome:
    """What one scenario (one Allure test result) says about requirements."""

    name: str
    full_name: str
    status: str  # Allure status: passed / failed / broken / skipped / unknown
    tags: tuple[str, ...]
    judged: Mapping[str, Judgement] = field(default_factory=dict)
    skip_reason: str | None = None
    unjudged: Mapping[str, Unjudged] = field(default_factory=dict)  # named by a step, not judged
    feature: str = ""
    test_id: str = ""  # Allure historyId: stable across runs

    @property
    def not_applicable(self) -> bool:
        return self.status == "skipped" and bool(self.skip_reason and _NOT_APPLICABLE.match(self.skip_reason))


def _scenario_from_result(data: Mapping[str, Any]) -> ScenarioOutcome:
    labels: list[tuple[str, str]] = [(str(label.get("name")), str(label.get("value")))
                                     for label in data.get("labels", [])]
    judged: dict[str, list[Judgement]] = {}
    unjudged: dict[str, Unjudged] = {}
    for name, value in labels:
        if name == REQUIREMENT_LABEL:
            requirement_id, judgement = parse_judgement_label(value)
            if isinstance(judgement, Judgement):
                judged.setdefault(requirement_id, []).append(judgement)
            elif unjudged.get(requirement_id) is not Unjudged.NOT_APPLICABLE:
                unjudged[requirement_id] = judgement
    details = data.get("statusDetails") or {}
    message = str(details.get("message") or "").strip()
    name = str(data.get("name", "?"))
    parameters = [f"{p.get('name')}={p.get('value')}" for p in data.get("parameters", []) if not p.get("excluded")]
    if parameters and not name.endswith(")"):
        name += f" [{', '.join(parameters)}]"
    return ScenarioOutcome(
        name=name,
        full_name=str(data.get("fullName", name)),
        status=str(data.get("status", "unknown")),
        tags=tuple(dict.fromkeys(value for label_name, value in labels if label_name == "tag")),
        judged={rid: worst(js) for rid, js in judged.items()},
        skip_reason=message or None,
        feature=next((value for label_name, value in labels if label_name == "feature"), ""),
        test_id=str(data.get("historyId", "")),
        unjudged={rid: u for rid, u in unjudged.items() if rid not in judged},
    )


def read_scenarios(results_dir: Path) -> list[ScenarioOutcome]:
    """Every scenario result in an Allure results directory (retries: the last one wins)."""
    by_test: dict[str, tuple[int, ScenarioOutcome]] = {}
    for path in sorted(results_dir.glob("*-result.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        scenario = _scenario_from_result(data)
        key = scenario.test_id or path.name
        stop = int(data.get("stop") or 0)
        if key not in by_test or stop >= by_test[key][0]:
            by_test[key] = (stop, scenario)
    return sorted((s for _, s in by_test.values()), key=lambda s: (s.feature, s.name))


@dataclass(frozen=True, slots=True)
class ScenarioEntry:
    """How one scenario bears on one requirement (a cell's detail)."""

    scenario: str
    verdict: str  # passed / warning / failed / not applicable / not judged (scenario <status>)
    test_id: str = ""


LIVE_ONLY: Final = "live only"
LIVE_AND_OFFLINE: Final = "live and offline"
OFFLINE: Final = "offline only"


def judged_where(requirement_id: str, registry: Mapping[str, Judge] = REGISTRY) -> str:
    """Where a requirement can be judged (`harness.checks.registry`; an id it does not know, as in
    a test's own catalogue, is taken as judged live only)."""
    entry = registry.get(requirement_id)
    if entry is None:
        return LIVE_ONLY
    if not entry.live:
        return OFFLINE
    return LIVE_AND_OFFLINE if entry.offline else LIVE_ONLY


@dataclass(frozen=True, slots=True)
class RequirementRow:
    requirement: Requirement
    outcome: Outcome
    scenarios: tuple[ScenarioEntry, ...]
    judged: str = LIVE_ONLY  # live only / live and offline / offline only (judged_where)

    def to_json(self) -> dict[str, Any]:
        r = self.requirement
        return {"id": r.id, "step": r.step, "severity": r.severity.value, "statement": r.display_statement, "judged_on": r.judged_on,
                "source": r.source, "outcome": self.outcome.value, "judged": self.judged,
                "scenarios": [{"name": e.scenario, "verdict": e.verdict, "test_id": e.test_id}
                              for e in self.scenarios]}


@dataclass(frozen=True, slots=True)
class Matrix:
    rows: tuple[RequirementRow, ...]
    scenario_count: int
    metadata: Mapping[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        counts = {o.value: 0 for o in Outcome}
        for row in self.rows:
            counts[row.outcome.value] += 1
        return counts

    @property
    def failed_must(self) -> list[str]:
        """MUST requirements that failed: these fail the quality gate (exit 1)."""
        return [r.requirement.id for r in self.rows
                if r.outcome is Outcome.FAILED and r.requirement.severity is Severity.MUST]

    @property
    def verdict(self) -> str:
        if self.failed_must:
            return "NOT COMPLIANT"
        # A partial run (-k, --features) must not read as a full compliance statement. Offline-only
        # requirements are not a gap of the run: the live suite cannot exercise them.
        unexercised = sum(1 for r in self.rows if r.outcome is Outcome.NOT_EXERCISED)
        verdict = f"PARTIAL: no MUST failed, {unexercised} not exercised" if unexercised else "COMPLIANT"
        return verdict + (" (with warnings)" if any(r.outcome is Outcome.WARNING for r in self.rows) else "")

    def by_step(self) -> dict[int, list[RequirementRow]]:
        steps: dict[int, list[RequirementRow]] = {step: [] for step in range(1, 11)}
        for row in self.rows:
            steps[row.requirement.step].append(row)
        return steps


def _check_known(scenarios: Sequence[ScenarioOutcome], catalogue: Mapping[str, Requirement]) -> None:
    for scenario in scenarios:
        unknown = sorted({rid for rid in scenario.judged if rid not in catalogue}
                         | {t for t in scenario.tags if _ID_SHAPE.match(t) and t not in catalogue})
        if unknown:
            raise ComplianceError(f"scenario {scenario.name!r} names requirement ids that are not in the "
                                  f"catalogue (harness/spec/requirements.toml): {', '.join(unknown)}")


def build_matrix(scenarios: Sequence[ScenarioOutcome], catalogue: Mapping[str, Requirement] | None = None,
                 metadata: Mapping[str, str] | None = None, registry: Mapping[str, Judge] = REGISTRY) -> Matrix:
    """Apply the rules of the module docstring to every requirement of the catalogue."""
    catalogue = load_catalogue() if catalogue is None else catalogue
    _check_known(scenarios, catalogue)
    rows: list[RequirementRow] = []
    for requirement in sorted(catalogue.values(), key=lambda r: (r.step, r.id)):
        entries: list[ScenarioEntry] = []
        judged: list[Judgement] = []
        not_applicable = False
        for scenario in scenarios:
            if requirement.id in scenario.judged:
                judgement = scenario.judged[requirement.id]
                judged.append(judgement)
                entries.append(ScenarioEntry(scenario.name, judgement.value, scenario.test_id))
            elif requirement.id in scenario.unjudged:
                unjudged = scenario.unjudged[requirement.id]
                not_applicable = not_applicable or unjudged is Unjudged.NOT_APPLICABLE
                entries.append(ScenarioEntry(scenario.name, unjudged.value, scenario.test_id))
            elif requirement.id in scenario.tags:
                if scenario.not_applicable:
                    not_applicable = True
                    entries.append(ScenarioEntry(scenario.name, Outcome.NOT_APPLICABLE.value, scenario.test_id))
                else:
                    entries.append(ScenarioEntry(scenario.name, f"not judged (scenario {scenario.status})",
                                                 scenario.test_id))
        if judged:
            outcome = Outcome(worst(judged).value)
        elif not_applicable:
            outcome = Outcome.NOT_APPLICABLE
        elif judged_where(requirement.id, registry) == OFFLINE:
            outcome = Outcome.OFFLINE_ONLY
        elif (entry := registry.get(requirement.id)) is not None and entry.on_demand:
            outcome = Outcome.ON_DEMAND
        else:
            outcome = Outcome.NOT_EXERCISED
        rows.append(RequirementRow(requirement, outcome, tuple(entries), judged_where(requirement.id, registry)))
    return Matrix(tuple(rows), len(scenarios), dict(metadata or {}))


# ---------------------------------------------------------------------------------- renderers


def matrix_json(matrix: Matrix) -> dict[str, Any]:
    return {
        "verdict": matrix.verdict,
        "failed_must": matrix.failed_must,
        "counts": matrix.counts(),
        "scenarios": matrix.scenario_count,
        "metadata": dict(matrix.metadata),
        "steps": [{"step": step, "title": STEP_TITLES[step], "requirements": [r.to_json() for r in rows]}
                  for step, rows in matrix.by_step().items()],
    }


_MD_ESCAPE = str.maketrans({"|": "\\|", "\n": " "})


def _md(text: str) -> str:
    return text.translate(_MD_ESCAPE)


_OUTCOME_MARK: Final = {Outcome.PASSED: "✅ passed", Outcome.FAILED: "❌ failed", Outcome.WARNING: "⚠️ warning",
                        Outcome.NOT_APPLICABLE: "➖ not applicable", Outcome.OFFLINE_ONLY: "🗂️ offline only",
                        Outcome.ON_DEMAND: "⏱️ on demand",
                        Outcome.NOT_EXERCISED: "⬜ not exercised"}


def matrix_markdown(matrix: Matrix) -> str:
    counts = matrix.counts()
    lines = [f"# Compliance matrix: {matrix.verdict}", ""]
    if matrix.failed_must:
        lines += [f"MUST requirements failed: {', '.join(matrix.failed_must)}", ""]
    lines.append(", ".join(f"{n} {o}" for o, n in counts.items()) + f" ({len(matrix.rows)} requirements, "
                 f"{matrix.scenario_count} scenarios)")
    if matrix.metadata:
        lines += ["", "| Run | |", "|---|---|"]
        lines += [f"| {_md(k)} | {_md(v)} |" for k, v in matrix.metadata.items()]
    for step, rows in matrix.by_step().items():
        lines += ["", f"## Step {step}: {STEP_TITLES[step]}", ""]
        if not rows:
            lines.append("No requirement of this step is in the catalogue yet.")
            continue
        lines += ["| Requirement | Severity | Outcome | Judged | Statement | Source | Scenarios |",
                  "|---|---|---|---|---|---|---|"]
        for row in rows:
            r = row.requirement
            scenarios = "<br>".join(f"{_md(e.scenario)}: {e.verdict}" for e in row.scenarios) or "-"
            lines.append(f"| {r.id} | {r.severity.value} | {_OUTCOME_MARK[row.outcome]} | {row.judged} | "
                         f"{_md(r.display_statement)} | "
                         f"{_md(r.source)} | {scenarios} |")
    return "\n".join(lines) + "\n"


_COLOURS: Final = {Outcome.PASSED: ("#e6f4ea", "#1e7e34"), Outcome.FAILED: ("#fdecea", "#b3261e"),
                   Outcome.WARNING: ("#fff4e5", "#a15c00"), Outcome.NOT_APPLICABLE: ("#eef1f5", "#55606e"),
                   Outcome.OFFLINE_ONLY: ("#eef3fb", "#3b5b8c"),
                   Outcome.ON_DEMAND: ("#eef3fb", "#3b5b8c"),
                   Outcome.NOT_EXERCISED: ("#f5f5f5", "#777777")}


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def matrix_svg(matrix: Matrix) -> str:
    """The matrix as an image: Allure shows SVG attachments at full size, while an HTML attachment
    opened from file:// gets a fixed 150 px frame (the report cannot measure a blob frame's
    content there). Statements are clipped; compliance.md / the HTML page carry the full text."""
    width, row_h, head_h = 1180, 22, 64
    cols = (10, 300, 370, 500)  # id, severity, outcome, statement
    rows: list[str] = []
    y = head_h
    for step, step_rows in matrix.by_step().items():
        rows.append(f'<rect x="0" y="{y}" width="{width}" height="{row_h}" fill="#263238"/>'
                    f'<text x="10" y="{y + 15}" fill="#fff" font-weight="bold">Step {step}: '
                    f"{_esc(STEP_TITLES[step])}</text>")
        y += row_h
        for i, row in enumerate(step_rows):
            r = row.requirement
            bg, fg = _COLOURS[row.outcome]
            stripe = "#ffffff" if i % 2 == 0 else "#fafafa"
            judged = sum(1 for e in row.scenarios if e.verdict in ("passed", "warning", "failed"))
            rows.append(
                f'<rect x="0" y="{y}" width="{width}" height="{row_h}" fill="{stripe}"/>'
                f'<text x="{cols[0]}" y="{y + 15}" font-family="monospace">{_esc(r.id)}</text>'
                f'<text x="{cols[1]}" y="{y + 15}" fill="#555">{r.severity.value}</text>'
                f'<rect x="{cols[2]}" y="{y + 3}" width="118" height="{row_h - 6}" rx="8" fill="{bg}"/>'
                f'<text x="{cols[2] + 59}" y="{y + 15}" fill="{fg}" font-weight="bold" text-anchor="middle">'
                f"{_esc(row.outcome.value)}</text>"
                f'<text x="{cols[3]}" y="{y + 15}">{_esc(_clip(r.display_statement, 96))}'
                f"<title>{_esc(r.display_statement)} ({_esc(r.source)}); judged in {judged} scenario(s), "
                f"{_esc(row.judged)}</title></text>")
            y += row_h
        if not step_rows:
            rows.append(f'<text x="10" y="{y + 15}" fill="#777">No requirement of this step in the catalogue yet.</text>')
            y += row_h
    counts = matrix.counts()
    chips, x = [], 10
    for outcome in Outcome:
        label = f"{counts[outcome.value]} {outcome.value}"
        bg, fg = _COLOURS[outcome]
        w = 14 + len(label) * 7
        chips.append(f'<rect x="{x}" y="34" width="{w}" height="20" rx="10" fill="{bg}"/>'
                     f'<text x="{x + w / 2}" y="48" text-anchor="middle" fill="{fg}" font-weight="bold">{label}</text>')
        x += w + 6
    verdict_colour = "#b3261e" if matrix.failed_must else "#1e7e34"
    failed = f" - MUST failed: {', '.join(matrix.failed_must)}" if matrix.failed_must else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y + 8}" viewBox="0 0 {width} {y + 8}" '
            f'font-family="sans-serif" font-size="12"><rect width="{width}" height="{y + 8}" fill="#fff"/>'
            f'<text x="10" y="22" font-size="17" font-weight="bold">Compliance matrix: '
            f'<tspan fill="{verdict_colour}">{_esc(_clip(matrix.verdict + failed, 110))}</tspan></text>'
            f'{"".join(chips)}<text x="{x + 6}" y="48" fill="#777">{len(matrix.rows)} requirements, '
            f'{matrix.scenario_count} scenarios</text>{"".join(rows)}</svg>\n')


def matrix_html(matrix: Matrix) -> str:
    """A self-contained page (no script, no external resource) for the report's first view."""
    counts = matrix.counts()
    verdict_colour = "#b3261e" if matrix.failed_must else "#1e7e34"
    chips = "".join(
        f'<span class="chip" style="background:{_COLOURS[o][0]};color:{_COLOURS[o][1]}">{n} {_esc(o.value)}</span>'
        for o in Outcome for n in [counts[o.value]])
    meta = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in matrix.metadata.items())
    body = []
    for step, rows in matrix.by_step().items():
        body.append(f'<tr class="step"><td colspan="4">Step {step}: {_esc(STEP_TITLES[step])}</td></tr>')
        if not rows:
            body.append('<tr><td colspan="4" class="muted">No requirement of this step in the catalogue yet.</td></tr>')
        for row in rows:
            r = row.requirement
            bg, fg = _COLOURS[row.outcome]
            scenarios = "<br>".join(f"{_esc(e.scenario)}: <b>{_esc(e.verdict)}</b>" for e in row.scenarios) or "-"
            body.append(
                f'<tr><td class="id">{_esc(r.id)}<div class="muted">{r.severity.value}</div></td>'
                f'<td class="outcome" style="background:{bg};color:{fg}">{_esc(row.outcome.value)}'
                f'<div class="muted">{_esc(row.judged)}</div></td>'
                f"<td>{_esc(r.display_statement)}<div class=\"muted\">{_esc(r.source)}</div></td>"
                f'<td class="scen">{scenarios}</td></tr>')
    failed = (f'<p class="failed">MUST requirements failed: {_esc(", ".join(matrix.failed_must))}</p>'
              if matrix.failed_must else "")
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Compliance matrix</title><style>
body{{font:13px/1.4 system-ui,sans-serif;margin:12px;color:#222}}
h1{{font-size:18px;margin:0 0 6px}} .verdict{{color:{verdict_colour}}}
.chip{{display:inline-block;padding:2px 8px;margin:2px 4px 2px 0;border-radius:10px;font-weight:600}}
table{{border-collapse:collapse;width:100%;margin-top:8px}} td,th{{border:1px solid #ddd;padding:4px 6px;
vertical-align:top;text-align:left}} tr.step td{{background:#263238;color:#fff;font-weight:600}}
td.id{{white-space:nowrap;font-family:monospace}} td.outcome{{font-weight:700;white-space:nowrap}}
.muted{{color:#777;font-size:11px}} td.scen{{font-size:11px}} .failed{{color:#b3261e;font-weight:600}}
table.meta th{{width:14em;background:#fafafa}}
</style></head><body>
<h1>Compliance matrix: <span class="verdict">{_esc(matrix.verdict)}</span></h1>{failed}
<div>{chips} <span class="muted">{len(matrix.rows)} requirements, {matrix.scenario_count} scenarios</span></div>
{f'<table class="meta">{meta}</table>' if meta else ''}
<table><tr><th>Requirement</th><th>Outcome</th><th>Statement / source</th><th>Scenarios</th></tr>
{''.join(body)}</table></body></html>
"""
