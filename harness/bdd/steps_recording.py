"""Then steps on the recording files the recorder wrote: both streams, channels, metadata,
finalisation, one stream ending before the other (seed steps 7 and 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_bdd import then

from harness.bdd.helpers import recording_findings, sessions_of_call
from harness.bdd.stepdefs import step_fixtures
from harness.checks import recording as recording_checks
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge
from harness.emulators.sip_server import Side
from harness.spec.findings import Finding
from harness.validators import sip as sip_checks
from harness.validators.recording import metadata_expected, validate_recording


@then("the recording of the call holds both streams complete")
def _both_complete(run: ScenarioRun) -> None:
    judge(recording_findings(run), ["REC-FILES-PRESENT", "REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL"],
          "both streams recorded completely")


@then("each stream's audio is in the recording under its own DN")
def _channels(run: ScenarioRun) -> None:
    judge(recording_findings(run), ["REC-STREAM-CHANNEL", "REC-FILES-PRESENT"], "streams in their own channel")


@then("the recording's metadata names the call, the record id and each stream's DN")
def _metadata(run: ScenarioRun) -> None:
    # Only this step needs the reference recorder's recording.json: for a layout without it the
    # step says REC-METADATA is not applicable and the scenario's other steps decide it.
    findings = recording_findings(run)
    located = run.located_recording()
    applicable = located is not None and metadata_expected(located.target)
    judge(findings, ["REC-METADATA"], "recording metadata", not_applicable=[] if applicable else ["REC-METADATA"])


@then("the recording is finalised with both streams")
def _finalised(run: ScenarioRun) -> None:
    judge(recording_findings(run), ["ARE-10-FILES-FINALISED", "REC-FILES-PRESENT", "REC-AUDIO-COMPLETE"],
          "recording finalised")


def _one_stream(run: ScenarioRun, side: Side) -> tuple[str, list[Finding]]:
    """The DN of the stream on `side` and its recording findings (only this stream's expectations:
    the other stream is judged by its own step)."""
    evidence = run.evidence()
    if evidence.recording_dir is None or run.active is None:
        pytest.skip("not applicable: the recorder's recordings are not visible to the harness")
    dn = run.active.stream(side).job.dn
    every = run.expected_streams()
    expected = [e for e in every if e.dn == dn]
    located = run.located_recording()
    target = located.target if located is not None else evidence.recording_dir
    # The other stream's time-code is still looked for: this stream's file must not hold it.
    return dn, validate_recording(target, expected, require_metadata=isinstance(target, Path),
                                  other_streams=[e.stream for e in every if e.dn != dn])


def _stream_end(run: ScenarioRun, dn: str) -> float | None:
    """The stream's end in the reference layout's recording.json (seconds after its t0); None:
    the layout gives no end times."""
    directory = run.evidence().recording_dir
    metadata = None if directory is None else directory / "recording.json"
    if metadata is None or not metadata.exists():
        return None
    doc = json.loads(metadata.read_text())
    stream = next((s for s in doc.get("streams", []) if s.get("dn") == dn), None)
    ended = None if stream is None else stream.get("ended_at")
    return None if ended is None else float(ended)


def _bye_after_t0(run: ScenarioRun, side: Side) -> float | None:
    assert run.active is not None
    leg = run.active.leg_of(side)
    directory = run.evidence().recording_dir
    metadata = None if directory is None else directory / "recording.json"
    if leg.bye_at is None or metadata is None or not metadata.exists():
        return None
    return leg.bye_at - float(json.loads(metadata.read_text()).get("t0", 0))


def _has_end_times(run: ScenarioRun) -> bool:
    directory = run.evidence().recording_dir
    return directory is not None and (directory / "recording.json").exists()


@then("the customer stream's recording stops when its BYE arrived")
def _customer_stops(run: ScenarioRun) -> None:
    # The end-time check reads recording.json (reference layout); for other layouts the
    # stream's presence and completeness up to the BYE is what is judged.
    dn, findings = _one_stream(run, Side.CUSTOMER)
    bye = _bye_after_t0(run, Side.CUSTOMER)
    if _has_end_times(run) and bye is not None:
        findings += sip_checks.stream_ended_at_bye(dn, _stream_end(run, dn), bye, calluuid=_calluuid(run))
    judge(findings, ["ARE-10-BYE-ENDS-STREAM", "REC-FILES-PRESENT", "REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL"],
          "customer stream ended")


@then("the agent stream's recording is complete up to its own BYE")
def _agent_complete(run: ScenarioRun) -> None:
    # ARE step 10, "the other stream continues until its own BYE": a recorder that ended the
    # agent's stream with the customer's BYE fails it, not only the agent's completeness.
    dn, findings = _one_stream(run, Side.AGENT)
    bye, other_bye = _bye_after_t0(run, Side.AGENT), _bye_after_t0(run, Side.CUSTOMER)
    if _has_end_times(run) and bye is not None:
        findings += sip_checks.stream_ended_at_bye(dn, _stream_end(run, dn), bye, other_bye_at=other_bye,
                                                   calluuid=_calluuid(run))
    else:
        incomplete = [f for f in findings if f.requirement_id == "REC-AUDIO-COMPLETE" and f.stream == dn]
        findings += sip_checks.stream_continued_after_other_bye(dn, incomplete, calluuid=_calluuid(run))
    judge(findings, ["ARE-10-BYE-ENDS-STREAM", "REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL", "REC-FILES-PRESENT"],
          "agent stream complete")


def _calluuid(run: ScenarioRun) -> str | None:
    return run.call.calluuid if run.call is not None else None


@then("the recording is finalised and holds no audio")
def _finalised_empty(run: ScenarioRun) -> None:
    evidence = run.evidence()
    if evidence.recording_dir is None or run.active is None:
        pytest.skip("not applicable: the recorder's recordings are not visible to the harness")
    # With no RTP there is no audio to compare: the recording is judged on what it must still
    # be (present, finalised, its metadata complete), with no stream's audio expected.
    located = run.located_recording()
    target = located.target if located is not None else evidence.recording_dir
    findings = validate_recording(target, [], require_metadata=isinstance(target, Path))
    established = sum(1 for d in sessions_of_call(run) if d.final_status is not None and 200 <= d.final_status < 300)
    findings += recording_checks.bye_before_rtp(established, calluuid=_calluuid(run))
    # A profile layout with no audio expected gives the checks nothing to open: its files'
    # presence and finalisation are not exercised here (never passed without evidence).
    reference = isinstance(target, Path)
    judge(findings, ["ARE-10-FILES-FINALISED", "ARE-10-BYE-BEFORE-RTP", "REC-METADATA", "REC-FILES-PRESENT"],
          "empty recording finalised", not_applicable=[] if metadata_expected(target) else ["REC-METADATA"],
          not_exercised=[] if reference else ["ARE-10-FILES-FINALISED", "REC-FILES-PRESENT"])


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())
