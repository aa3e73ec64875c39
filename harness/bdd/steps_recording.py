"""Then steps on the recording files the recorder wrote: both streams, channels, metadata,
finalisation, one stream ending before the other (seed steps 7 and 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_bdd import then

from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge, violation
from harness.emulators.sip_server import Side
from harness.spec.findings import Finding
from harness.validators.recording import validate_recording
from harness.bdd.helpers import recording_findings, require_reference_layout, sessions_of_call
from harness.bdd.stepdefs import step_fixtures


@then("the recording of the call holds both streams complete")
def _both_complete(run: ScenarioRun) -> None:
    judge(recording_findings(run), ["REC-FILES-PRESENT", "REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL"],
          "both streams recorded completely")


@then("each stream's audio is in the recording under its own DN")
def _channels(run: ScenarioRun) -> None:
    judge(recording_findings(run), ["REC-STREAM-CHANNEL", "REC-FILES-PRESENT"], "streams in their own channel")


@then("the recording's metadata names the call, the record id and each stream's DN")
def _metadata(run: ScenarioRun) -> None:
    require_reference_layout(run, "the recording metadata check")
    judge(recording_findings(run), ["REC-METADATA"], "recording metadata")


@then("the recording is finalised with both streams")
def _finalised(run: ScenarioRun) -> None:
    judge(recording_findings(run), ["ARE-10-FILES-FINALISED", "REC-FILES-PRESENT", "REC-AUDIO-COMPLETE"],
          "recording finalised")


def _one_stream_findings(run: ScenarioRun, side: Side) -> list[Finding]:
    evidence = run.evidence()
    if evidence.recording_dir is None or run.active is None:
        pytest.skip("not applicable: the recorder's recordings are not visible to the harness")
    # Only this stream's expectations: the other stream is judged by its own step.
    expected = [e for e in run.expected_streams() if e.dn == run.active.stream(side).job.dn]
    located = run.located_recording()
    target = located.target if located is not None else evidence.recording_dir
    return validate_recording(target, expected, require_metadata=isinstance(target, Path))


@then("the customer stream's recording stops when its BYE arrived")
def _customer_stops(run: ScenarioRun) -> None:
    # The end-time check reads recording.json (reference layout); for other layouts the
    # stream's audio completeness up to the BYE is what is judged.
    findings = _one_stream_findings(run, Side.CUSTOMER)
    assert run.active is not None
    leg = run.active.leg_of(Side.CUSTOMER)
    directory = run.evidence().recording_dir
    metadata = None if directory is None else directory / "recording.json"
    if metadata is not None and metadata.exists() and leg.bye_at is not None:
        doc = json.loads(metadata.read_text())
        stream = next((s for s in doc.get("streams", []) if s.get("dn") == run.active.stream(Side.CUSTOMER).job.dn), None)
        ended = None if stream is None else stream.get("ended_at")
        bye_rel = leg.bye_at - float(doc.get("t0", 0))
        if ended is None or abs(float(ended) - bye_rel) > 0.5:
            findings.append(violation("ARE-10-BYE-ENDS-STREAM", "the customer stream did not end at its BYE",
                                      observed=f"ended_at={ended}", expected=f"~{bye_rel:.2f} s after t0"))
    judge(findings, ["ARE-10-BYE-ENDS-STREAM", "REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL"], "customer stream ended")


@then("the agent stream's recording is complete up to its own BYE")
def _agent_complete(run: ScenarioRun) -> None:
    judge(_one_stream_findings(run, Side.AGENT), ["REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL", "REC-FILES-PRESENT"],
          "agent stream complete")


@then("the recording is finalised and holds no audio")
def _finalised_empty(run: ScenarioRun) -> None:
    evidence = run.evidence()
    if evidence.recording_dir is None or run.active is None:
        pytest.skip("not applicable: the recorder's recordings are not visible to the harness")
    # With no RTP the only acceptable content is silence (or no samples); a missing or
    # unreadable file, or metadata left incomplete, is a finalisation failure.
    findings = [f for f in evidence.recording_findings
                if f.requirement_id in ("ARE-10-FILES-FINALISED", "REC-METADATA")
                or (f.requirement_id == "REC-FILES-PRESENT" and "directory" in f.message)]
    if not any(d.final_status is not None and 200 <= d.final_status < 300 for d in sessions_of_call(run)):
        findings.append(violation("ARE-10-BYE-BEFORE-RTP", "no recording session of the call was established",
                                  observed="no 2xx to the recording INVITEs", expected="sessions set up, then BYE"))
    judge(findings, ["ARE-10-FILES-FINALISED", "ARE-10-BYE-BEFORE-RTP", "REC-METADATA", "REC-FILES-PRESENT"],
          "empty recording finalised")


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())
