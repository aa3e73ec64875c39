"""Steps where T-Lib clients (agent desktop, supervisor, routing strategy) drive SIP Server:
third-party start, routing with record=..., pause/resume/stop, refused requests (seed steps 3, 4, 9)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, then, when

from harness.bdd.helpers import (
    expect_ack,
    not_applicable_unless,
    recording_findings,
    sessions_of_call,
    targets_of_call,
)
from harness.bdd.stepdefs import step_fixtures
from harness.checks import initiation
from harness.checks import recording as recording_checks
from harness.checks import tlib as tlib_checks
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge
from harness.emulators.runtime_control import PauseProfile
from harness.protocol.tlib import Event, EventError, RecordOp
from harness.validators.recording import metadata_expected, recording_not_found, validate_recording

# -- T-Lib paths (steps 3, 4, 9) -----------------------------------------------------------------


@given(parsers.parse('"{who}" is a T-Lib client that registered DN "{dn}"'))
def _tlib_client(run: ScenarioRun, who: str, dn: str) -> None:
    run.tlib_client(who, dn)


@given(parsers.parse('the call waits at routing point "{point}"'))
def _routing_point(run: ScenarioRun, point: str) -> None:
    run.routing_point = point


@given(parsers.parse("the pause profile is {profile}"))
def _pause_profile(run: ScenarioRun, profile: str) -> None:
    not_applicable_unless(profile in run.recorder.capabilities.pause_profiles,
                          f"the recorder does not support the {profile} pause profile")
    run.pause_profile = PauseProfile(profile)


@when(parsers.parse('"{who}" asks SIP Server to start recording with record={side}'))
def _tlib_start(run: ScenarioRun, who: str, side: str) -> None:
    if run.job is None:
        run.initiation_requirement = "ARE-03-THIRD-PARTY-START"
    expect_ack(run.tlib_request(who, RecordOp.START, record=side), "GSIP_RECORD_START")


@when(parsers.parse('"{who}" asks SIP Server to {op} recording'))
def _tlib_control(run: ScenarioRun, who: str, op: str) -> None:
    expect_ack(run.tlib_request(who, RecordOp(op)), f"a {op} request")


@when(parsers.parse("the call goes on for {seconds:d} seconds"))
def _call_goes_on(run: ScenarioRun, seconds: int) -> None:
    run.keep_talking(seconds)


@when(parsers.parse('the routing strategy routes the call to "{agent}" with record={record}'))
def _route(run: ScenarioRun, agent: str, record: str) -> None:
    run.initiation_requirement = "ARE-04-ROUTE-DISABLE" if record.startswith("disable_") else "ARE-04-ROUTE-RECORD"
    expect_ack(run.route_call("routing strategy", agent, record), "TRouteCall")


@when(parsers.parse('the routing strategy routes the call to "{agent}" attaching "{key}"="{value}"'))
def _route_with_data(run: ScenarioRun, agent: str, key: str, value: str) -> None:
    expect_ack(run.route_call("routing strategy", agent, user_data={key: value}), "TRouteCall")


@then(parsers.parse('every recording INVITE Request-URI names "{dn}" as the initiating DN'))
def _record_dn(run: ScenarioRun, dn: str) -> None:
    findings = [*run.evidence().sip.findings,
                *initiation.initiating_dn(run.initiation_requirement,
                                          [(t.dn, t.record_dn) for t in targets_of_call(run)], dn,
                                          calluuid=run.call.calluuid if run.call else None)]
    judge(findings, [run.initiation_requirement, "ARE-06-RURI-PARAMS"], "initiating DN")


_REINVITE_IDS = ["SIP-REINVITE-ANSWERED", "SDP-ANSWER-RECVONLY", "SDP-ANSWER-INACTIVE", "SDP-ORIGIN-KEPT"]


@then("every re-INVITE of the recording sessions was answered as RFC 3264 asks")
def _reinvites_answered(run: ScenarioRun) -> None:
    # Profiles without re-INVITEs (rtp-stops, silence) exercise none of these: nothing judged.
    sessions = [d for d in sessions_of_call(run) if d.reinvites]
    if sessions:
        call_ids = {d.call_id for d in sessions}
        judge([f for f in run.evidence().sip.findings if f.call_id in call_ids], _REINVITE_IDS, "re-INVITEs answered")


@then("no audio sent while the recording was paused is in the recording")
def _no_paused_audio(run: ScenarioRun) -> None:
    # Without the recording's files the PCI rule cannot be verified: that is a failure of the
    # files, not a pass of the rule.
    judge(recording_findings(run), ["REC-PAUSE-NO-AUDIO", "REC-FILES-PRESENT"], "no audio while paused")


@then("the recording stays aligned with wall-clock time and holds every segment sent outside the pause")
def _aligned_after_pause(run: ScenarioRun) -> None:
    findings = list(recording_findings(run))
    findings += recording_checks.pause_resume_timeline(findings, run.pause_profile.value,
                                                       calluuid=run.call.calluuid if run.call else None)
    judge(findings, ["ARE-09-PAUSE-RESUME", "REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL", "REC-FILES-PRESENT"],
          "aligned after pause")


@then("the recorder holds 2 complete recordings of the call with different record ids")
def _stop_start(run: ScenarioRun) -> None:
    locator = run.recorder.locator
    if locator is not None and not locator.spec.separates_recordings:
        pytest.skip("not applicable: the profile's file names cannot tell two recordings of one call apart "
                    "(no {record_id} or {call_id} in its pattern / metadata name)")
    evidence = run.evidence()
    if evidence.recording_dir is None or run.control is None or run.call is None:
        pytest.skip("not applicable: the recorder's recordings are not visible to the harness")
    history = run.control.history
    calluuid = run.call.calluuid
    findings = recording_checks.stop_start([active.job.record_id for active in history], calluuid=calluuid)
    metadata = False
    for active in history:
        located = run.located_recording(active)
        if located is None:
            findings.append(recording_not_found(f"no files of recording {active.job.record_id}", calluuid=calluuid))
            continue
        metadata = metadata or metadata_expected(located.target)
        findings += validate_recording(located.target, run.expected_streams(active),
                                       require_metadata=isinstance(located.target, Path))
    judge(findings, ["ARE-09-STOP-START", "REC-FILES-PRESENT", "REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL",
                     "ARE-10-FILES-FINALISED", "REC-METADATA"], "two recordings after stop/start",
          not_applicable=[] if metadata else ["REC-METADATA"])


# Run-time control requests SIP Server cannot perform (docs/tlib-emulation.md §7).
_BAD_REQUESTS: dict[str, Callable[[ScenarioRun, str], list[Event]]] = {
    "a pause for an unknown ConnID": lambda run, who: [run.tlib_request(who, RecordOp.PAUSE,
                                                                        conn_id="00000000deadbeef")],
    'a pause on behalf of DN "7999" it did not register': lambda run, who: [
        run.tlib_request(who, RecordOp.PAUSE, this_dn="7999")],
    "a resume while the recording is not paused": lambda run, who: [run.tlib_request(who, RecordOp.RESUME)],
    "a stop when no recording runs": lambda run, who: [run.tlib_request(who, RecordOp.STOP),
                                                       run.tlib_request(who, RecordOp.STOP)],
}


@when(parsers.parse('"{who}" sends {request}'))
def _bad_request(run: ScenarioRun, who: str, request: str) -> None:
    answers = _BAD_REQUESTS[request](run, who)
    run.last_answer = answers[-1]
    for answer in answers[:-1]:  # the set-up requests (the first stop) must succeed
        expect_ack(answer, request)


@then(parsers.parse("SIP Server answered EventError {code:d}"))
def _answered_error(run: ScenarioRun, code: int) -> None:
    answer = run.last_answer
    error_code = answer.error_code if isinstance(answer, EventError) else None
    judge(tlib_checks.control_error(str(answer), error_code, code), ["ARE-09-CONTROL-ERRORS"], "EventError answer")


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())
