"""Compliance matrix: each outcome rule, unknown ids, renderers, and judge() leaving its labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import allure
import pytest

from harness.checks.registry import REGISTRY, Judge
from harness.conformance.verdict import RequirementViolation, judge, scenario_verdicts
from harness.report.compliance import (
    REQUIREMENT_LABEL,
    ComplianceError,
    Judgement,
    Outcome,
    Unjudged,
    build_matrix,
    judgement_label,
    matrix_html,
    matrix_json,
    matrix_markdown,
    matrix_svg,
    parse_judgement_label,
    read_scenarios,
)
from harness.spec.catalogue import Requirement
from harness.spec.findings import Finding, Severity

CATALOGUE = {
    r.id: r for r in (
        Requirement("REQ-A-MUST", 6, Severity.MUST, "A must hold.", "RFC A"),
        Requirement("REQ-B-SHOULD", 7, Severity.SHOULD, "B should hold.", "RFC B"),
        Requirement("REQ-C-MUST", 7, Severity.MUST, "C must hold.", "RFC C"),
        Requirement("REQ-D-MUST", 9, Severity.MUST, "D must hold.", "RFC D"),
        Requirement("REQ-E-MUST", 10, Severity.MUST, "E must hold.", "RFC E"),
    )
}


def _result(directory: Path, name: str, status: str, tags: list[str], judged: dict[str, str],
            message: str | None = None, history_id: str | None = None) -> None:
    labels = [{"name": "feature", "value": "07 - a feature"}] + [{"name": "tag", "value": t} for t in tags]
    labels += [{"name": REQUIREMENT_LABEL, "value": f"{rid}: {verdict}"} for rid, verdict in judged.items()]
    data: dict[str, Any] = {"name": name, "status": status, "labels": labels, "historyId": history_id or name,
                            "fullName": f"features/x.feature:{name}", "stop": 1}
    if message is not None:
        data["statusDetails"] = {"message": message}
    (directory / f"{name.replace(' ', '-')}-result.json").write_text(json.dumps(data), encoding="utf-8")


def _matrix(tmp_path: Path) -> dict[str, Outcome]:
    matrix = build_matrix(read_scenarios(tmp_path), CATALOGUE)
    return {row.requirement.id: row.outcome for row in matrix.rows}


def test_failed_if_any_scenario_failed_it_even_when_another_passed(tmp_path: Path) -> None:
    _result(tmp_path, "one", "passed", ["REQ-A-MUST"], {"REQ-A-MUST": "passed"})
    _result(tmp_path, "two", "failed", ["REQ-A-MUST"], {"REQ-A-MUST": "failed"})
    assert _matrix(tmp_path)["REQ-A-MUST"] is Outcome.FAILED


def test_warning_for_a_should_finding_and_passed_when_judged_clean(tmp_path: Path) -> None:
    _result(tmp_path, "one", "passed", [], {"REQ-B-SHOULD": "warning", "REQ-C-MUST": "passed"})
    outcomes = _matrix(tmp_path)
    assert outcomes["REQ-B-SHOULD"] is Outcome.WARNING
    assert outcomes["REQ-C-MUST"] is Outcome.PASSED


def test_not_applicable_only_from_scenarios_skipped_as_not_applicable(tmp_path: Path) -> None:
    _result(tmp_path, "na", "skipped", ["REQ-D-MUST", "REQ-E-MUST"], {},
            message="Skipped: not applicable: the recorder is not a T-Lib client")
    _result(tmp_path, "other skip", "skipped", ["REQ-E-MUST"], {}, message="Skipped: needs root")
    _result(tmp_path, "judged", "passed", ["REQ-E-MUST"], {"REQ-E-MUST": "passed"})
    outcomes = _matrix(tmp_path)
    assert outcomes["REQ-D-MUST"] is Outcome.NOT_APPLICABLE
    assert outcomes["REQ-E-MUST"] is Outcome.PASSED  # judged elsewhere: n/a does not hide a verdict


def test_not_exercised_when_no_scenario_judged_it(tmp_path: Path) -> None:
    # Tagged, but the scenario broke before its Then step: no verdict, so not exercised.
    _result(tmp_path, "broken", "broken", ["REQ-A-MUST"], {})
    matrix = build_matrix(read_scenarios(tmp_path), CATALOGUE)
    row = next(r for r in matrix.rows if r.requirement.id == "REQ-A-MUST")
    assert row.outcome is Outcome.NOT_EXERCISED
    assert row.scenarios[0].verdict == "not judged (scenario broken)"
    assert {r.outcome for r in matrix.rows} == {Outcome.NOT_EXERCISED}
    assert matrix.verdict.startswith("PARTIAL") and not matrix.failed_must


def test_only_must_failures_fail_the_gate(tmp_path: Path) -> None:
    _result(tmp_path, "one", "passed", [], {"REQ-B-SHOULD": "warning"})
    _result(tmp_path, "two", "failed", [], {"REQ-C-MUST": "failed"})
    matrix = build_matrix(read_scenarios(tmp_path), CATALOGUE)
    assert matrix.failed_must == ["REQ-C-MUST"]
    assert matrix.verdict == "NOT COMPLIANT"


def test_unknown_requirement_id_in_results_is_an_error(tmp_path: Path) -> None:
    _result(tmp_path, "one", "passed", [], {"REQ-NOT-THERE": "passed"})
    with pytest.raises(ComplianceError, match="REQ-NOT-THERE"):
        build_matrix(read_scenarios(tmp_path), CATALOGUE)


def test_unknown_requirement_shaped_tag_is_an_error_other_tags_are_not(tmp_path: Path) -> None:
    _result(tmp_path, "one", "passed", ["integration", "wip"], {})
    build_matrix(read_scenarios(tmp_path), CATALOGUE)  # ordinary tags are fine
    _result(tmp_path, "two", "passed", ["REQ-TYPO-MUST"], {})
    with pytest.raises(ComplianceError, match="REQ-TYPO-MUST"):
        build_matrix(read_scenarios(tmp_path), CATALOGUE)


def test_malformed_label_is_an_error() -> None:
    assert parse_judgement_label(judgement_label("REQ-A-MUST", Judgement.WARNING)) == ("REQ-A-MUST", Judgement.WARNING)
    with pytest.raises(ComplianceError, match="malformed"):
        parse_judgement_label("REQ-A-MUST: maybe")


def test_renderers_group_by_step_with_statement_source_and_scenarios(tmp_path: Path) -> None:
    _result(tmp_path, "pipe | name", "failed", ["REQ-A-MUST"], {"REQ-A-MUST": "failed"})
    matrix = build_matrix(read_scenarios(tmp_path), CATALOGUE, metadata={"arec version": "0.1.0"})
    data = matrix_json(matrix)
    assert [s["step"] for s in data["steps"]] == list(range(1, 11))
    step6 = data["steps"][5]["requirements"][0]
    assert step6 == {"id": "REQ-A-MUST", "step": 6, "severity": "MUST", "statement": "A must hold.",
                     "judged_on": "recorder", "source": "RFC A", "outcome": "failed", "judged": "live only",
                     "scenarios": [{"name": "pipe | name", "verdict": "failed", "test_id": "pipe | name"}]}
    assert data["failed_must"] == ["REQ-A-MUST"] and data["metadata"] == {"arec version": "0.1.0"}
    md = matrix_markdown(matrix)
    assert "## Step 6:" in md and "pipe \\| name: failed" in md and "| REQ-A-MUST | MUST | ❌ failed | live only |" in md
    html = matrix_html(matrix)
    assert "NOT COMPLIANT" in html and "REQ-A-MUST" in html and "<script" not in html
    svg = matrix_svg(matrix)
    assert svg.startswith("<svg") and "Step 10:" in svg and "REQ-A-MUST" in svg
    assert "MUST failed: REQ-A-MUST" in svg and svg.count('font-family="monospace"') == len(CATALOGUE)


@pytest.fixture
def labels(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(allure.dynamic, "label", lambda name, *values: seen.extend((name, v) for v in values))
    return seen


def test_judge_labels_every_judged_id_with_its_verdict(labels: list[tuple[str, str]]) -> None:
    should = Finding("RTP-SEQ-CONTINUITY", Severity.SHOULD, "gap")
    judge([should], ["RTP-SEQ-CONTINUITY", "RTP-STREAM-RECEIVED"], "rtp")
    assert labels == [(REQUIREMENT_LABEL, "RTP-SEQ-CONTINUITY: warning"),
                      (REQUIREMENT_LABEL, "RTP-STREAM-RECEIVED: passed")]


def test_judge_labels_before_failing_and_gives_no_unearned_pass(labels: list[tuple[str, str]]) -> None:
    # A failed step labels the failure; its other ids were not verified, so they get no
    # "passed" (e.g. "audio complete" next to "no recording file" must not count as a pass).
    must = Finding("SDP-ANSWER-RECVONLY", Severity.MUST, "sendrecv")
    with pytest.raises(RequirementViolation):
        judge([must], ["SDP-ANSWER-RECVONLY", "SDP-MLINE-ORDER"], "sdp")
    assert labels == [(REQUIREMENT_LABEL, "SDP-ANSWER-RECVONLY: failed")]


# -- offline-only requirements, "not applicable" / "not exercised" labels, deferred failures ------

_REGISTRY_D_OFFLINE = {**REGISTRY, "REQ-D-MUST": Judge("REQ-D-MUST", "m", ("f",), offline=True, live=False)}


def test_a_requirement_only_offline_validation_can_exercise_is_offline_only_not_a_gap(tmp_path: Path) -> None:
    """Before: REC-TIMECODE-ABSENT / RTP-SSRC-CHANGE were "not exercised" and the reference
    recorder's run read PARTIAL. After: "offline only", and the verdict is COMPLIANT when every
    requirement the live suite can exercise passed or was not applicable."""
    _result(tmp_path, "all", "passed", [], {"REQ-A-MUST": "passed", "REQ-B-SHOULD": "passed",
                                            "REQ-C-MUST": "passed", "REQ-E-MUST": "passed"})
    matrix = build_matrix(read_scenarios(tmp_path), CATALOGUE, registry=_REGISTRY_D_OFFLINE)
    rows = {r.requirement.id: r for r in matrix.rows}
    assert rows["REQ-D-MUST"].outcome is Outcome.OFFLINE_ONLY and rows["REQ-D-MUST"].judged == "offline only"
    assert matrix.verdict == "COMPLIANT"
    assert "🗂️ offline only" in matrix_markdown(matrix)
    # Without the registry entry the same requirement is a gap of the run.
    assert build_matrix(read_scenarios(tmp_path), CATALOGUE).verdict.startswith("PARTIAL: no MUST failed, 1 not")


def test_an_offline_only_requirement_that_a_scenario_judged_keeps_its_verdict(tmp_path: Path) -> None:
    _result(tmp_path, "one", "failed", [], {"REQ-D-MUST": "failed"})
    matrix = build_matrix(read_scenarios(tmp_path), CATALOGUE, registry=_REGISTRY_D_OFFLINE)
    assert {r.requirement.id: r.outcome for r in matrix.rows}["REQ-D-MUST"] is Outcome.FAILED


def test_not_applicable_and_not_exercised_labels_are_never_a_pass(tmp_path: Path) -> None:
    _result(tmp_path, "one", "passed", ["REQ-A-MUST", "REQ-C-MUST"],
            {"REQ-A-MUST": "not applicable", "REQ-C-MUST": "not exercised", "REQ-E-MUST": "passed"})
    outcomes = _matrix(tmp_path)
    assert outcomes["REQ-A-MUST"] is Outcome.NOT_APPLICABLE
    assert outcomes["REQ-C-MUST"] is Outcome.NOT_EXERCISED
    assert outcomes["REQ-E-MUST"] is Outcome.PASSED
    rows = {r.requirement.id: r for r in build_matrix(read_scenarios(tmp_path), CATALOGUE).rows}
    assert [e.verdict for e in rows["REQ-C-MUST"].scenarios] == ["not exercised"]


def test_a_judged_verdict_in_another_scenario_wins_over_not_exercised(tmp_path: Path) -> None:
    _result(tmp_path, "one", "passed", [], {"REQ-C-MUST": "not exercised"})
    _result(tmp_path, "two", "passed", [], {"REQ-C-MUST": "passed"})
    assert _matrix(tmp_path)["REQ-C-MUST"] is Outcome.PASSED


def test_unjudged_labels_round_trip() -> None:
    assert parse_judgement_label(judgement_label("REQ-A-MUST", Unjudged.NOT_APPLICABLE)) == \
        ("REQ-A-MUST", Unjudged.NOT_APPLICABLE)


def test_judge_labels_ids_without_evidence_not_exercised_or_not_applicable(labels: list[tuple[str, str]]) -> None:
    judge([], ["SIP-OPTIONS-200", "SIP-OPTIONS-BUSY-RETRY-AFTER"], "options",
          not_exercised=["SIP-OPTIONS-BUSY-RETRY-AFTER"])
    judge([], ["REC-METADATA"], "metadata", not_applicable=["REC-METADATA"])
    assert labels == [(REQUIREMENT_LABEL, "SIP-OPTIONS-200: passed"),
                      (REQUIREMENT_LABEL, "SIP-OPTIONS-BUSY-RETRY-AFTER: not exercised"),
                      (REQUIREMENT_LABEL, "REC-METADATA: not applicable")]


def test_a_finding_beats_a_not_exercised_marker(labels: list[tuple[str, str]]) -> None:
    should = Finding("SIP-OPTIONS-BUSY-RETRY-AFTER", Severity.SHOULD, "503 without Retry-After")
    judge([should], ["SIP-OPTIONS-BUSY-RETRY-AFTER"], "options", not_exercised=["SIP-OPTIONS-BUSY-RETRY-AFTER"])
    assert labels == [(REQUIREMENT_LABEL, "SIP-OPTIONS-BUSY-RETRY-AFTER: warning")]


def test_judge_refuses_markers_for_ids_the_step_does_not_judge() -> None:
    with pytest.raises(ValueError, match="not among the ids"):
        judge([], ["SIP-OPTIONS-200"], "options", not_exercised=["REC-METADATA"])


def test_a_then_step_failure_is_deferred_and_the_scenario_fails_once_with_every_id(
        labels: list[tuple[str, str]]) -> None:
    """Before: the first failed Then step raised and the next Then step (e.g. the alignment step
    of a pause scenario, ARE-09-PAUSE-RESUME) never judged. After: both judge, one failure names both."""
    verdicts = scenario_verdicts(reset=True)
    try:
        verdicts.start_step("then")
        judge([Finding("REC-PAUSE-NO-AUDIO", Severity.MUST, "leak")], ["REC-PAUSE-NO-AUDIO"], "first")
        assert verdicts.take_step_failure() is not None
        verdicts.start_step("then")
        judge([Finding("ARE-09-PAUSE-RESUME", Severity.MUST, "timeline")], ["ARE-09-PAUSE-RESUME"], "second")
        error = verdicts.final_error()
        assert error is not None and str(error).startswith("ARE-09-PAUSE-RESUME, REC-PAUSE-NO-AUDIO failed:")
        assert labels == [(REQUIREMENT_LABEL, "REC-PAUSE-NO-AUDIO: failed"),
                          (REQUIREMENT_LABEL, "ARE-09-PAUSE-RESUME: failed")]
        verdicts.start_step("when")  # Given/When steps still fail at once
        with pytest.raises(RequirementViolation):
            judge([Finding("ARE-09-PAUSE-BY-RECORDER", Severity.MUST, "x")], ["ARE-09-PAUSE-BY-RECORDER"], "when")
    finally:
        scenario_verdicts(reset=True)


def test_with_the_real_catalogue_every_live_requirement_passed_is_compliant(tmp_path: Path) -> None:
    """The reference recorder's out-of-the-box run: what only offline validation can exercise is
    listed as such and does not make the verdict PARTIAL; anything else unexercised still does."""
    live = sorted(j.requirement_id for j in REGISTRY.values() if j.live)
    _result(tmp_path, "all", "passed", [], {rid: "passed" for rid in live})
    matrix = build_matrix(read_scenarios(tmp_path))
    assert matrix.verdict == "COMPLIANT"
    offline_only = sorted(r.requirement.id for r in matrix.rows if r.outcome is Outcome.OFFLINE_ONLY)
    # RTP-SSRC-CHANGE left this list with the long-call scenario that changes SSRC (issue 10).
    assert offline_only == ["REC-TIMECODE-ABSENT", "SIP-OPTIONS-BUSY-RETRY-AFTER"]
    (tmp_path / "all-result.json").unlink()
    _result(tmp_path, "most", "passed", [], {rid: "passed" for rid in live[1:]})
    assert build_matrix(read_scenarios(tmp_path)).verdict == "PARTIAL: no MUST failed, 1 not exercised"


def test_a_requirement_judged_only_on_demand_reads_on_demand_not_a_gap(tmp_path: Path) -> None:
    """SIP-SESSION-TIMER-EXPIRY is judged only by a 100 s @soak scenario: a default run that did
    not run it says "on demand" and stays COMPLIANT; a run that judged it shows its verdict."""
    live = sorted(j.requirement_id for j in REGISTRY.values() if j.live and not j.on_demand)
    _result(tmp_path, "all", "passed", [], {rid: "passed" for rid in live})
    matrix = build_matrix(read_scenarios(tmp_path))
    rows = {r.requirement.id: r for r in matrix.rows}
    assert rows["SIP-SESSION-TIMER-EXPIRY"].outcome is Outcome.ON_DEMAND and matrix.verdict == "COMPLIANT"
    assert "⏱️ on demand" in matrix_markdown(matrix)
    _result(tmp_path, "soak", "passed", [], {"SIP-SESSION-TIMER-EXPIRY": "warning"})
    rows = {r.requirement.id: r for r in build_matrix(read_scenarios(tmp_path)).rows}
    assert rows["SIP-SESSION-TIMER-EXPIRY"].outcome is Outcome.WARNING
