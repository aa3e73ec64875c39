"""Gherkin step bindings for features/ (thin: the logic is in harness.conformance).

Every scenario gets its own recorder process (reference recorder by default), its own ports,
capture and recordings directory, so scenarios are independent and run in parallel (xdist).
"""

from __future__ import annotations

import json
import os
import shlex
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, then, when

from harness.conformance.recorder_tlib_config import PauseTrigger, RecordingRule
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import attach_evidence, judge, violation
from harness.emulators.runtime_control import PauseProfile
from harness.emulators.sip_server import SessionMode, Side
from harness.emulators.tlib_endpoint import TlibEndpoint
from harness.protocol.genesys import RecordingTarget
from harness.protocol.tlib import Event, EventACK, EventError, RecordOp, RequestPrivateService
from harness.recorders.base import (
    REFERENCE_CAPABILITIES,
    REFERENCE_COMMAND,
    SIP_ONLY,
    ManagedRecorder,
    RecorderUnderTest,
    parse_sip_target,
)
from harness.spec.findings import Finding
from harness.validators.recording import validate_recording
from harness.validators.sip import SipDialogSummary

# -- the recorder under test and the scenario run ------------------------------------------------


@pytest.fixture
def tlib_endpoint() -> Iterator[TlibEndpoint]:
    """The scenario's T-Server on TCP: listening before the recorder starts, stopped after it."""
    with TlibEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def recorder_tlib_config(tmp_path: Path) -> Path:
    """The recorder's T-Lib configuration, empty until a Given step gives it DNs and rules."""
    path = tmp_path / "recorder-tlib.toml"
    path.write_text("", encoding="utf-8")
    return path


@pytest.fixture
def recorder_under_test(request: pytest.FixtureRequest, tmp_path: Path, tlib_endpoint: TlibEndpoint,
                        recorder_tlib_config: Path) -> Iterator[RecorderUnderTest]:
    choice: str = request.config.getoption("--arec-recorder")
    command: str | None = request.config.getoption("--arec-recorder-cmd")
    profile: str | None = request.config.getoption("--arec-profile")
    if profile:
        from harness.recorders.managed import recorder_for
        from harness.recorders.profile import load_profile

        with recorder_for(load_profile(profile), tmp_path / "recorder", tlib=tlib_endpoint.address,
                          tlib_config=recorder_tlib_config) as recorder:
            yield recorder
        return
    if choice == "reference" or command:
        slot = zlib.crc32(f"{request.node.nodeid}{os.getpid()}".encode())
        managed = ManagedRecorder(command or REFERENCE_COMMAND, tmp_path / "recordings", slot=slot,
                                  name="reference recorder" if not command else shlex.split(command)[-1],
                                  capabilities=REFERENCE_CAPABILITIES if not command else SIP_ONLY,
                                  tlib=tlib_endpoint.address, tlib_config=recorder_tlib_config)
        with managed.running() as recorder:
            yield recorder
        return
    host, port, transport = parse_sip_target(choice)
    recordings = request.config.getoption("--arec-recordings")
    yield RecorderUnderTest(choice, host, port, transport, Path(recordings) if recordings else None, None)


@pytest.fixture
def run(recorder_under_test: RecorderUnderTest, tmp_path: Path, tlib_endpoint: TlibEndpoint,
        recorder_tlib_config: Path) -> Iterator[ScenarioRun]:
    # Rules reach a recorder the harness started with {tlib_config}; others cannot be given any.
    config = recorder_tlib_config if recorder_under_test.managed else None
    scenario = ScenarioRun(recorder_under_test, tmp_path, endpoint=tlib_endpoint, recorder_tlib_config=config)
    scenario.start_capture()
    try:
        yield scenario
    finally:
        scenario.close()


def pytest_bdd_after_scenario(request: pytest.FixtureRequest, feature: object, scenario: object) -> None:
    if "run" in request.fixturenames:
        attach_evidence(request.getfixturevalue("run"))


def pytest_bdd_step_error(request: pytest.FixtureRequest, feature: object, scenario: object, step: object,
                          step_func: object, step_func_args: object, exception: Exception) -> None:
    # A failed step still leaves its evidence in the report: that is what a reader needs most.
    if "run" in request.fixturenames:
        attach_evidence(request.getfixturevalue("run"))


SIDES = {"customer": Side.CUSTOMER, "agent": Side.AGENT}
MODES = {"two-session": SessionMode.TWO_SESSIONS, "single-session": SessionMode.SINGLE_SESSION}

# -- Given ---------------------------------------------------------------------------------------


@given("the recorder under test is running")
def _recorder_running(run: ScenarioRun) -> None:
    run.note(f"recorder under test: {run.recorder.name} at {run.recorder.host}:{run.recorder.port}/"
             f"{run.recorder.transport}; capture: {run.capture_method}")


@given(parsers.parse('agent DN "{dn}" is configured with record=true'))
@given(parsers.parse('customer DN "{dn}" is configured with record=true'))
def _dn_records(run: ScenarioRun, dn: str) -> None:
    run.sip_server.configure_dn(dn, record=True)


@given(parsers.parse('customer DN "{dn}" has no recording option'))
@given(parsers.parse('agent DN "{dn}" has no recording option'))
def _dn_plain(run: ScenarioRun, dn: str) -> None:
    run.sip_server.configure_dn(dn, record=False)


def not_applicable_unless(condition: bool, why: str) -> None:
    """A scenario the recorder cannot take part in is reported not applicable, never passed."""
    if not condition:
        pytest.skip(f"not applicable: {why}")


@given(parsers.parse("the Media Server replicates in {mode} mode"))
def _mode(run: ScenarioRun, mode: str) -> None:
    not_applicable_unless(mode in run.recorder.capabilities.session_modes,
                          f"the recorder does not support {mode} mode")
    run.set_mode(MODES[mode])


@given(parsers.parse('a call from "{customer}" to "{agent}" negotiated with {codec}'))
def _call(run: ScenarioRun, customer: str, agent: str, codec: str) -> None:
    run.place_call(customer, agent, codec)


@given(parsers.parse("the Media Server sends the recording INVITE of the {side} stream first"))
def _invite_order(run: ScenarioRun, side: str) -> None:
    first = SIDES[side]
    run.invite_order = (first, *[s for s in Side if s is not first])


@given("the Media Server sends no RTP")
def _no_rtp(run: ScenarioRun) -> None:
    run.send_rtp = False


# -- When ----------------------------------------------------------------------------------------


@when(parsers.parse("the call is established and lasts {seconds:d} seconds"))
def _established(run: ScenarioRun, seconds: int) -> None:
    run.establish(seconds)


@when("the call is released")
def _released(run: ScenarioRun) -> None:
    run.release()


@when(parsers.parse("the Media Server ends the {side} stream's session first"))
def _end_first(run: ScenarioRun, side: str) -> None:
    run.release(first=SIDES[side])


@when(parsers.parse("the Media Server ends the {side} stream's session"))
def _end_one(run: ScenarioRun, side: str) -> None:
    run.end_stream_session(SIDES[side])


@when(parsers.parse("the {side} stream goes on for {seconds:d} more seconds"))
def _goes_on(run: ScenarioRun, side: str, seconds: int) -> None:
    run.keep_talking(seconds)


@when("the Media Server side sends an OPTIONS ping to the recorder")
def _options(run: ScenarioRun) -> None:
    run.options_ping()


# -- Then ----------------------------------------------------------------------------------------


def _sessions_of_call(run: ScenarioRun) -> list[SipDialogSummary]:
    """The recording sessions of this scenario's call in the capture (matched by calluuid)."""
    assert run.call is not None
    return [d for d in run.evidence().sip.dialogs.values()
            if d.target is not None and d.target.calluuid == run.call.calluuid]


def _targets_of_call(run: ScenarioRun) -> list[RecordingTarget]:
    return [d.target for d in _sessions_of_call(run) if d.target is not None]


@then(parsers.parse('SIP Server decided to record the call from the "{dn}" side'))
def _decided(run: ScenarioRun, dn: str) -> None:
    findings: list[Finding] = []
    if run.job is None:
        findings.append(violation("ARE-01-DN-ALWAYS-RECORD", "SIP Server did not record the call",
                                  observed="no recording job", expected=f"recording initiated by DN {dn}"))
    elif run.job.record_dn != dn:
        findings.append(violation("ARE-01-DN-ALWAYS-RECORD", "recording initiated by the wrong DN",
                                  observed=run.job.record_dn, expected=dn))
    judge(findings, ["ARE-01-DN-ALWAYS-RECORD"], "recording decision")


@then("SIP Server decided not to record the call")
def _not_decided(run: ScenarioRun) -> None:
    findings = [] if run.job is None else [violation(
        "ARE-01-DN-ALWAYS-RECORD", "a call between DNs without record=true was recorded",
        observed=run.job.trigger, expected="no recording")]
    judge(findings, ["ARE-01-DN-ALWAYS-RECORD"], "no recording decision")


@then(parsers.parse("the recorder received {count:d} recording sessions for the call"))
def _session_count(run: ScenarioRun, count: int) -> None:
    sessions = _sessions_of_call(run)
    answered = [d for d in sessions if d.final_status is not None and 200 <= d.final_status < 300]
    findings = list(run.evidence().sip.findings)
    if count == 0:
        # No recording expected: the scenario is about a decision not to record (the DN option
        # absent, a rule that does not select the call, a disable_* override).
        requirement = {"ARE-02-RULE-START": "ARE-02-RULE-NO-MATCH"}.get(run.initiation_requirement,
                                                                       run.initiation_requirement)
        if requirement.startswith("ARE-06-"):
            requirement = "ARE-01-DN-ALWAYS-RECORD"
        ids = [requirement]
    else:
        # Only the mode this scenario exercises is judged, with the path that started it.
        requirement = "ARE-06-SINGLE-SESSION" if count == 1 else run.initiation_requirement
        ids = sorted({"ARE-06-SINGLE-SESSION" if count == 1 else "ARE-06-TWO-INVITES-PER-CALL",
                      run.initiation_requirement})
    if len(answered) != count:
        findings.append(violation(
            requirement, f"the recorder established {len(answered)} recording session(s) for the call "
            f"({len(sessions)} INVITE(s) seen in the capture)", observed=str(len(answered)), expected=str(count)))
    judge(findings, ids, "recording sessions per call")


@then("SIP Server asked Media Server to replicate 2 streams, one per party")
def _two_streams(run: ScenarioRun) -> None:
    findings: list[Finding] = []
    assert run.call is not None
    if run.job is None or {s.dn for s in run.job.streams} != {run.call.customer_dn, run.call.agent_dn}:
        findings.append(violation("ARE-05-MEDIA-CONTROL-PER-PARTY", "replication job does not cover both parties",
                                  observed=str(run.job and [s.dn for s in run.job.streams]),
                                  expected=f"{run.call.customer_dn} and {run.call.agent_dn}"))
    on_wire = set()
    for target in _targets_of_call(run):
        on_wire |= {target.dn} | ({target.other_dn} if target.other_dn else set())
    if on_wire != {run.call.customer_dn, run.call.agent_dn}:
        findings.append(violation("ARE-05-MEDIA-CONTROL-PER-PARTY",
                                  "the recording sessions on the wire do not carry one stream per party",
                                  observed=",".join(sorted(on_wire)) or "none",
                                  expected=f"{run.call.customer_dn},{run.call.agent_dn}"))
    judge(findings, ["ARE-05-MEDIA-CONTROL-PER-PARTY"], "one replication per party")


@then("every recording INVITE Request-URI carries record, calluuid, dn and recordDN of the call")
def _ruri(run: ScenarioRun) -> None:
    findings = list(run.evidence().sip.findings)
    assert run.job is not None
    for target in _targets_of_call(run):
        if target.record_id != run.job.record_id or target.record_dn != run.job.record_dn:
            findings.append(violation("ARE-06-RURI-PARAMS", "Request-URI context differs from the recording job",
                                      observed=f"record={target.record_id};recordDN={target.record_dn}",
                                      expected=f"record={run.job.record_id};recordDN={run.job.record_dn}"))
    if not _sessions_of_call(run):
        findings.append(violation("ARE-06-RURI-PARAMS", "no recording INVITE for the call in the capture"))
    judge(findings, ["ARE-06-RURI-PARAMS"], "recording Request-URI")


@then("every recording INVITE was answered 200 OK with a To tag and acknowledged")
def _dialogs_established(run: ScenarioRun) -> None:
    findings = list(run.evidence().sip.findings)
    # The SIP validator judges the dialogs that were answered 2xx; a refused or unanswered
    # recording INVITE is the failure this step exists for.
    sessions = _sessions_of_call(run)
    findings += [violation("SIP-DIALOG-ESTABLISHED", f"recording INVITE {d.call_id} answered "
                           f"{d.final_status or 'nothing'}", observed=str(d.final_status or "no answer"),
                           expected="2xx")
                 for d in sessions if d.final_status is None or not 200 <= d.final_status < 300]
    if not sessions:
        findings.append(violation("SIP-DIALOG-ESTABLISHED", "no recording INVITE for the call in the capture"))
    judge(findings, ["SIP-DIALOG-ESTABLISHED", "SIP-RESP-CODES", "SIP-MESSAGE-WELLFORMED"], "dialogs established")


@then("every SDP answer is recvonly on each audio m-line, in the offer's m-line order, with the offered codec")
def _sdp_answers(run: ScenarioRun) -> None:
    findings = list(run.evidence().sip.findings)
    findings += [violation("SDP-ANSWER-RECVONLY", f"recording session {d.call_id} has no SDP answer "
                           f"(final status {d.final_status or 'none'})", observed="no answer", expected="recvonly answer")
                 for d in _sessions_of_call(run) if not d.media]
    if not _sessions_of_call(run):
        findings.append(violation("SDP-ANSWER-RECVONLY", "no recording session for the call in the capture"))
    judge(findings,
          ["SDP-ANSWER-RECVONLY", "SDP-MLINE-ORDER", "SDP-CODEC-ACCEPTED", "SDP-VIDEO-REFUSED-PORT0"], "SDP answers")


@then("each stream's RTP reached the port the recorder answered, with no loss")
def _rtp_received(run: ScenarioRun) -> None:
    evidence = run.evidence()
    findings = list(evidence.rtp.findings)
    if run.active is None:
        findings.append(violation("RTP-STREAM-RECEIVED", "no recording was set up, so no RTP reached the recorder"))
    for stream in run.active.streams if run.active is not None else ():
        if stream.destination is None:
            findings.append(violation("RTP-STREAM-RECEIVED", f"{stream.job.side.value} stream: no RTP could be sent "
                                      "(the recorder gave no media address for it)", observed="no destination",
                                      expected="RTP at the answered port"))
            continue
        sent = stream.packets_sent
        rows = [r for r in evidence.rtp.streams if r.key[1] == stream.destination and r.key[0][1] == stream.local_port]
        received = sum(r.summary.packets for r in rows)
        if received != sent:
            findings.append(violation("RTP-STREAM-RECEIVED", f"{stream.job.side.value} stream: {sent} packets sent, "
                                      f"{received} seen arriving at the recorder's port {stream.destination}",
                                      observed=str(received), expected=str(sent)))
    judge(findings, ["RTP-STREAM-RECEIVED", "RTP-SEQ-CONTINUITY", "RTP-PT-MATCHES-SDP", "RTP-NO-MEDIA-ON-RECVONLY"],
          "RTP received")


def _require_reference_layout(run: ScenarioRun, what: str) -> None:
    """Steps that read the reference recorder's recording.json / directory layout."""
    locator = run.recorder.locator
    if locator is not None and locator.spec.layout != "reference":
        pytest.skip(f"not applicable: {what} needs the reference layout's recording.json; "
                    f"the profile's layout is {locator.spec.layout}")


def _recording_findings(run: ScenarioRun) -> list[Finding]:
    evidence = run.evidence()
    if evidence.recording_dir is None:
        pytest.skip("not applicable: the recorder's recordings are not visible to the harness")
    return evidence.recording_findings


@then("the recording of the call holds both streams complete")
def _both_complete(run: ScenarioRun) -> None:
    judge(_recording_findings(run), ["REC-FILES-PRESENT", "REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL"],
          "both streams recorded completely")


@then("each stream's audio is in the recording under its own DN")
def _channels(run: ScenarioRun) -> None:
    judge(_recording_findings(run), ["REC-STREAM-CHANNEL", "REC-FILES-PRESENT"], "streams in their own channel")


@then("the recording's metadata names the call, the record id and each stream's DN")
def _metadata(run: ScenarioRun) -> None:
    _require_reference_layout(run, "the recording metadata check")
    judge(_recording_findings(run), ["REC-METADATA"], "recording metadata")


@then("the recorder answered the OPTIONS ping")
def _options_ok(run: ScenarioRun) -> None:
    # The validator applies RFC 3261 §11.2 (200, or 503/486 with Retry-After at capacity).
    sip = run.evidence().sip
    ids = ["SIP-OPTIONS-200", "SIP-OPTIONS-BUSY-RETRY-AFTER"]
    findings = [f for f in sip.findings if f.requirement_id in ids]
    if sip.options == 0:
        findings.append(violation("SIP-OPTIONS-200", "no OPTIONS ping to the recorder in the capture",
                                  observed="no OPTIONS", expected="OPTIONS answered"))
    judge(findings, ids, "OPTIONS answered")


@then("every BYE was answered 200 OK")
def _bye_ok(run: ScenarioRun) -> None:
    findings = list(run.evidence().sip.findings)
    if not any(d.byes for d in _sessions_of_call(run)):
        findings.append(violation("ARE-10-BYE-ENDS-STREAM", "no recording session of the call was established, so "
                                  "no BYE ended one", observed="no BYE in a dialog", expected="BYE answered 200"))
    for dialog in _sessions_of_call(run):
        if dialog.byes and dialog.bye_status != 200:
            findings.append(violation("ARE-10-BYE-ENDS-STREAM", f"BYE on {dialog.call_id} answered "
                                      f"{dialog.bye_status}", observed=str(dialog.bye_status), expected="200"))
    judge(findings, ["ARE-10-BYE-ENDS-STREAM"], "BYE answered")


@then("the recording is finalised with both streams")
def _finalised(run: ScenarioRun) -> None:
    judge(_recording_findings(run), ["ARE-10-FILES-FINALISED", "REC-FILES-PRESENT", "REC-AUDIO-COMPLETE"],
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
    if not any(d.final_status is not None and 200 <= d.final_status < 300 for d in _sessions_of_call(run)):
        findings.append(violation("ARE-10-BYE-BEFORE-RTP", "no recording session of the call was established",
                                  observed="no 2xx to the recording INVITEs", expected="sessions set up, then BYE"))
    judge(findings, ["ARE-10-FILES-FINALISED", "ARE-10-BYE-BEFORE-RTP", "REC-METADATA", "REC-FILES-PRESENT"],
          "empty recording finalised")


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


def _expect_ack(answer: Event, what: str) -> None:
    # The emulated SIP Server refusing its own scenario is a harness problem, not a verdict.
    assert isinstance(answer, EventACK), f"SIP Server emulation refused {what}: {answer}"


@when(parsers.parse('"{who}" asks SIP Server to start recording with record={side}'))
def _tlib_start(run: ScenarioRun, who: str, side: str) -> None:
    if run.job is None:
        run.initiation_requirement = "ARE-03-THIRD-PARTY-START"
    _expect_ack(run.tlib_request(who, RecordOp.START, record=side), "GSIP_RECORD_START")


@when(parsers.parse('"{who}" asks SIP Server to {op} recording'))
def _tlib_control(run: ScenarioRun, who: str, op: str) -> None:
    _expect_ack(run.tlib_request(who, RecordOp(op)), f"a {op} request")


@when(parsers.parse("the call goes on for {seconds:d} seconds"))
def _call_goes_on(run: ScenarioRun, seconds: int) -> None:
    run.keep_talking(seconds)


@when(parsers.parse('the routing strategy routes the call to "{agent}" with record={record}'))
def _route(run: ScenarioRun, agent: str, record: str) -> None:
    run.initiation_requirement = "ARE-04-ROUTE-DISABLE" if record.startswith("disable_") else "ARE-04-ROUTE-RECORD"
    _expect_ack(run.route_call("routing strategy", agent, record), "TRouteCall")


@when(parsers.parse('the routing strategy routes the call to "{agent}" attaching "{key}"="{value}"'))
def _route_with_data(run: ScenarioRun, agent: str, key: str, value: str) -> None:
    _expect_ack(run.route_call("routing strategy", agent, user_data={key: value}), "TRouteCall")


@then(parsers.parse('every recording INVITE Request-URI names "{dn}" as the initiating DN'))
def _record_dn(run: ScenarioRun, dn: str) -> None:
    findings = [violation(run.initiation_requirement, f"recording session for DN {t.dn} names recordDN "
                          f"{t.record_dn}", observed=t.record_dn, expected=dn)
                for t in _targets_of_call(run) if t.record_dn != dn]
    if not _targets_of_call(run):
        findings.append(violation(run.initiation_requirement, "no recording INVITE for the call in the capture"))
    judge(findings, [run.initiation_requirement, "ARE-06-RURI-PARAMS"], "initiating DN")


@then("no audio sent while the recording was paused is in the recording")
def _no_paused_audio(run: ScenarioRun) -> None:
    # Without the recording's files the PCI rule cannot be verified: that is a failure of the
    # files, not a pass of the rule.
    judge(_recording_findings(run), ["REC-PAUSE-NO-AUDIO", "REC-FILES-PRESENT"], "no audio while paused")


@then("the recording stays aligned with wall-clock time and holds every segment sent outside the pause")
def _aligned_after_pause(run: ScenarioRun) -> None:
    findings = list(_recording_findings(run))
    gaps = [f for f in findings if f.requirement_id == "REC-AUDIO-COMPLETE"]
    if gaps:
        findings.append(violation("ARE-09-PAUSE-RESUME", f"after pause/resume ({run.pause_profile.value}) the "
                                  f"recording is not complete and aligned: {gaps[0].message}"))
    judge(findings, ["ARE-09-PAUSE-RESUME", "REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL", "REC-FILES-PRESENT"],
          "aligned after pause")


@then("the recorder holds 2 complete recordings of the call with different record ids")
def _stop_start(run: ScenarioRun) -> None:
    _require_reference_layout(run, "finding both recordings of one call")
    evidence = run.evidence()
    if evidence.recording_dir is None or run.control is None or run.call is None:
        pytest.skip("not applicable: the recorder's recordings are not visible to the harness")
    root = evidence.recording_dir.parent.parent
    history = run.control.history
    findings: list[Finding] = []
    ids = [active.job.record_id for active in history]
    if len(history) != 2 or len(set(ids)) != 2:
        findings.append(violation("ARE-09-STOP-START", "stop then start did not give two recordings",
                                  observed=",".join(ids), expected="two distinct record ids"))
    for active in history:
        findings += validate_recording(root / run.call.calluuid / active.job.record_id,
                                       run.expected_streams(active))
    judge(findings, ["ARE-09-STOP-START", "REC-FILES-PRESENT", "REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL",
                     "ARE-10-FILES-FINALISED", "REC-METADATA"], "two recordings after stop/start")


# -- the recorder as a T-Lib client (steps 2, 8, 9) ----------------------------------------------

REGISTRATION_TIMEOUT_S = 5.0
CONTROL_TIMEOUT_S = 5.0
PCI = PauseTrigger(key="PCI", pause_value="on", resume_value="off")


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _configurable_recorder(run: ScenarioRun, what: str) -> None:
    not_applicable_unless(run.recorder.capabilities.tlib_client, f"the recorder is not a T-Lib client ({what})")
    not_applicable_unless(run.recorder.capabilities.rules_configurable and run.recorder_tlib_config is not None,
                          f"the harness cannot configure the recorder's T-Lib client ({what})")


def _register_recorder(run: ScenarioRun, dn: str) -> None:
    """Give the recorder the DN in its configuration and wait until the T-Server sees it registered."""
    if dn not in run.tlib_config.register:
        run.tlib_config.register.append(dn)
    run.write_recorder_tlib_config()
    registered = _wait_until(lambda: run.recorder_registered(dn), REGISTRATION_TIMEOUT_S)
    findings = [] if registered else [violation(
        "ARE-08-REGISTER-DNS", f"the recorder did not register DN {dn} with the T-Server within "
        f"{REGISTRATION_TIMEOUT_S:.0f} s of being configured for it",
        observed="no RequestRegisterAddress", expected=f"DN {dn} registered")]
    judge(findings, ["ARE-08-REGISTER-DNS"], "recorder registers its DNs")
    run.note(f"the recorder registered DN {dn}")


@given(parsers.parse('the recorder has a rule recording calls on "{pattern}" with share {share:g} and record={record}'))
def _recorder_rule(run: ScenarioRun, pattern: str, share: float, record: str) -> None:
    _configurable_recorder(run, "seed step 2: the recorder's own recording rules")
    run.initiation_requirement = "ARE-02-RULE-START"
    run.tlib_config.rules.append(RecordingRule(f"rule {pattern}", (pattern,), share=share, record=record))


@given(parsers.parse('the recorder registers DN "{dn}" with the T-Server'))
def _recorder_registers(run: ScenarioRun, dn: str) -> None:
    _configurable_recorder(run, "it must register DNs")
    _register_recorder(run, dn)


@given("the recorder keeps the call's attached data in its metadata")
def _attached_data_capability(run: ScenarioRun) -> None:
    not_applicable_unless(run.recorder.capabilities.tlib_client, "the recorder is not a T-Lib client (seed step 8)")
    not_applicable_unless(run.recorder.capabilities.attached_data_in_metadata,
                          "the recorder does not keep attached data in its recording metadata")


def _recorder_starts(run: ScenarioRun) -> list[tuple[RequestPrivateService, Event | None]]:
    """The recorder's GSIP_RECORD_START requests for the scenario's call, with their answers."""
    assert run.call is not None
    start = run.tserver.private_msgs.start
    return [(r, a) for r, a in run.recorder_requests()
            if isinstance(r, RequestPrivateService) and r.private_msg_id == start and r.conn_id == run.call.conn_id]


@then(parsers.parse('the recorder asked SIP Server to record the call on behalf of "{dn}"'))
def _recorder_asked(run: ScenarioRun, dn: str) -> None:
    starts = _recorder_starts(run)
    accepted = [r for r, a in starts if isinstance(a, EventACK)]
    findings = []
    if not accepted:
        findings.append(violation("ARE-02-RULE-START", "the recorder's rule matched the established call, but no "
                                  "GSIP_RECORD_START of the recorder was accepted",
                                  observed=", ".join(f"ThisDN={r.this_dn}: {type(a).__name__}" for r, a in starts)
                                  or "no request", expected=f"GSIP_RECORD_START ThisDN={dn} ConnID={run.call and run.call.conn_id}"))
    elif accepted[0].this_dn != dn:
        findings.append(violation("ARE-02-RULE-START", "the recorder asked to record on behalf of another DN",
                                  observed=accepted[0].this_dn, expected=dn))
    if len(starts) > 1:
        run.note(f"the recorder sent {len(starts)} GSIP_RECORD_START requests for the call")
    judge(findings, ["ARE-02-RULE-START"], "the recorder's rule started recording")


@then("the recorder did not ask SIP Server to record the call")
def _recorder_did_not_ask(run: ScenarioRun) -> None:
    starts = _recorder_starts(run)
    findings = [violation("ARE-02-RULE-NO-MATCH", "the recorder asked to record a call its rule does not select",
                          observed=f"GSIP_RECORD_START ThisDN={r.this_dn}", expected="no request") for r, _ in starts]
    judge(findings, ["ARE-02-RULE-NO-MATCH"], "no request for an unselected call")


@then("SIP Server recorded the call once")
def _recorded_once(run: ScenarioRun) -> None:
    assert run.call is not None
    conn_id = run.call.conn_id
    jobs = run.on_tserver(lambda: run.tserver.recordings(conn_id))
    findings = [] if len(jobs) == 1 else [violation(
        "ARE-02-START-REFUSED", "the call was not recorded exactly once",
        observed=", ".join(j.trigger for j in jobs) or "no recording", expected="the DN option's recording only")]
    judge(findings, ["ARE-02-START-REFUSED"], "recorded once")


@then("the recorder's own start request was refused with EventError and it kept serving")
def _recorder_start_refused(run: ScenarioRun) -> None:
    starts = _recorder_starts(run)
    if not starts:
        # It saw the recording had started and did not ask: its EventError handling is not exercised.
        pytest.skip("not applicable: the recorder sent no start of its own for the already recorded call")
    findings = [violation("ARE-02-START-REFUSED", "SIP Server did not refuse the recorder's start of an already "
                          "recorded call", observed=type(a).__name__, expected="EventError")
                for _, a in starts if not isinstance(a, EventError)]
    if run.options_ping().exit_code != 0:
        findings.append(violation("ARE-02-START-REFUSED", "after the EventError the recorder no longer answers "
                                  "OPTIONS", observed=run.options_result.summary() if run.options_result else None))
    judge(findings, ["ARE-02-START-REFUSED"], "the recorder handled EventError")


def _attached_data(run: ScenarioRun) -> dict[str, object]:
    evidence = run.evidence()
    not_applicable_unless(evidence.recording_dir is not None, "the recorder's recordings are not visible to the harness")
    assert evidence.recording_dir is not None
    metadata = evidence.recording_dir / "recording.json"
    if not metadata.exists():
        return {}
    data = json.loads(metadata.read_text()).get("attached_data")
    return data if isinstance(data, dict) else {}


@when(parsers.parse('"{who}" attaches "{key}"="{value}" to the call'))
def _attach(run: ScenarioRun, who: str, key: str, value: str) -> None:
    answer = run.attach_data(who, {key: value})
    assert not isinstance(answer, EventError), f"SIP Server emulation refused RequestAttachUserData: {answer}"


@when(parsers.parse('"{who}" updates "{key}" to "{value}"'))
def _update(run: ScenarioRun, who: str, key: str, value: str) -> None:
    answer = run.attach_data(who, {key: value}, update=True)
    assert not isinstance(answer, EventError), f"SIP Server emulation refused RequestUpdateUserData: {answer}"


@then(parsers.parse("the recording's metadata holds the attached data \"{key}\"=\"{value}\""))
def _metadata_has(run: ScenarioRun, key: str, value: str) -> None:
    data = _attached_data(run)
    findings = [] if str(data.get(key)) == value else [violation(
        "ARE-08-ATTACHED-DATA", f"attached data {key} set before the recording started is not in its metadata",
        observed=f"{key}={data.get(key)!r}", expected=f"{key}={value!r}")]
    judge(findings, ["ARE-08-ATTACHED-DATA"], "attached data in metadata")


@then(parsers.parse("the recording's metadata holds the updated attached data \"{key}\"=\"{value}\""))
def _metadata_updated(run: ScenarioRun, key: str, value: str) -> None:
    data = _attached_data(run)
    findings = [] if str(data.get(key)) == value else [violation(
        "ARE-08-ATTACHED-DATA-UPDATED", f"attached data {key} changed during the call is not up to date in the "
        "recording's metadata", observed=f"{key}={data.get(key)!r}", expected=f"{key}={value!r}")]
    judge(findings, ["ARE-08-ATTACHED-DATA-UPDATED"], "updated attached data in metadata")


# Step 9 requesters: the recorder (its PCI trigger on the call's attached data), the agent desktop
# (a party's DN) and a supervisor (a DN not on the call).
SUPERVISOR_DN = "7100"


@given(parsers.parse('"{requester}" can pause the recording'))
def _can_pause(run: ScenarioRun, requester: str) -> None:
    if requester == "recorder":
        _configurable_recorder(run, "seed step 9: the recorder pauses its own recording")
        run.tlib_config.pause = PCI
        _register_recorder(run, "7001")
    elif requester not in run.tlib_clients:
        run.tlib_client(requester, SUPERVISOR_DN)


def _recorder_controls(run: ScenarioRun, op: RecordOp) -> None:
    """The agent desktop sets the PCI key; the recorder must then ask SIP Server itself."""
    paused = op is RecordOp.PAUSE
    value = PCI.pause_value if paused else PCI.resume_value
    answer = run.attach_data("agent desktop", {PCI.key: value}, update=True)
    assert not isinstance(answer, EventError), f"SIP Server emulation refused the PCI update: {answer}"

    def reached() -> bool:
        status = run.recording_status()
        return status is not None and status.paused is paused

    findings: list[Finding] = []
    if not _wait_until(reached, CONTROL_TIMEOUT_S):
        requests = [f"{r.MESSAGE} {getattr(r, 'private_msg_id', '')}: {type(a).__name__}"
                    for r, a in run.recorder_requests()]
        findings.append(violation(
            "ARE-09-PAUSE-BY-RECORDER", f"{PCI.key}={value} was attached to the call but the recorder "
            f"did not {op.value} the recording within {CONTROL_TIMEOUT_S:.0f} s",
            observed="; ".join(requests[-5:]) or "no request", expected=f"GSIP_RECORD_{op.value.upper()} from the recorder"))
    judge(findings, ["ARE-09-PAUSE-BY-RECORDER"], f"the recorder {op.value}s")
    run.note(f"the recorder {op.value}d the recording on {PCI.key}={value}")


@when(parsers.parse('"{requester}" pauses the recording'))
def _pause(run: ScenarioRun, requester: str) -> None:
    if requester == "recorder":
        _recorder_controls(run, RecordOp.PAUSE)
    else:
        _expect_ack(run.tlib_request(requester, RecordOp.PAUSE), "a pause request")


@when(parsers.parse('"{requester}" resumes the recording'))
def _resume(run: ScenarioRun, requester: str) -> None:
    if requester == "recorder":
        _recorder_controls(run, RecordOp.RESUME)
    else:
        _expect_ack(run.tlib_request(requester, RecordOp.RESUME), "a resume request")


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
        _expect_ack(answer, request)


@then(parsers.parse("SIP Server answered EventError {code:d}"))
def _answered_error(run: ScenarioRun, code: int) -> None:
    answer = run.last_answer
    findings = [] if isinstance(answer, EventError) and answer.error_code == code else [violation(
        "ARE-09-CONTROL-ERRORS", "the control request was not refused with the expected EventError",
        observed=str(answer), expected=f"EventError {code}")]
    judge(findings, ["ARE-09-CONTROL-ERRORS"], "EventError answer")


# -- delivery: what Media Server sent vs what reached the recorder's port (step 6) ---------------

_DELIVERY_IDS = ["REP-SENT-RECEIVED", "REP-SENT-UNALTERED", "REP-SENT-NO-EXTRA", "REP-SENT-NO-DUPLICATE",
                 "REP-SENT-IN-ORDER", "REP-SENT-DELAY"]


def _delivery_table_html(rows: list[dict[str, object]]) -> str:
    import html

    if not rows:
        return "<p>no sent stream was addressed to the recorder</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape('-' if v is None else f'{v:.3f}' if isinstance(v, float) else str(v))}</td>"
                                    for v in row.values()) + "</tr>" for row in rows)
    return f"<table border='1' cellspacing='0'><tr>{head}</tr>{body}</table>"


@then("what Media Server sent reached the recorder's port unchanged")
def _delivered_unchanged(run: ScenarioRun) -> None:
    from harness.report.attach import attach_html, attach_json, attach_pcap
    from harness.validate_cli import delivery_rows
    from harness.validators.delivery import compare_delivery

    evidence = run.evidence()
    # The synthetic capture is rebuilt from the sender's own log: comparing it with itself
    # would prove nothing, the recorder's side of the wire is not observed.
    if evidence.capture_method != "tcpdump":
        pytest.skip(f"not applicable: the received side is not observed ({evidence.capture_method})")
    if evidence.sent_pcap is None:
        pytest.skip("not applicable: the Media Server emulation sent no RTP")
    recorder_ports = [s.answer_endpoint for s in evidence.sip.negotiated if s.answer_endpoint is not None]
    report = compare_delivery(evidence.sent_pcap, evidence.pcap, recorder_ports)
    rows = delivery_rows(report)
    attach_json("delivery (sent -> recorder's port)", rows)
    attach_html("delivery (sent -> recorder's port)", _delivery_table_html(rows))
    attach_pcap(evidence.sent_pcap, "sent.pcap")
    findings = list(report.findings)
    assert run.active is not None
    if len(report.streams) < len(run.active.streams):
        findings.append(violation("REP-SENT-RECEIVED", f"{len(run.active.streams)} stream(s) sent, "
                                  f"{len(report.streams)} judged against the recorder's port",
                                  observed=str(len(report.streams)), expected=str(len(run.active.streams))))
    judge(findings, _DELIVERY_IDS, "delivery to the recorder's port")


# -- the recorder's answers to edge cases (step 6: video, no common codec, CANCEL, malformed) -------------
# Each probe is a SIPp scenario (harness/sipp/scenarios/edge_*_uac.xml) run like the OPTIONS
# ping, in its own directory under <run>/sipp/ so the synthetic capture replays its message log;
# the verdicts come from the capture.

from harness.protocol.sip.message import SipRequest, SipResponse  # noqa: E402 (this section's own)
from harness.validators.sip import SipEvent  # noqa: E402


@pytest.fixture
def edge_calls() -> dict[str, str]:
    """Probe name -> the Call-ID its SIPp run used (ScenarioRun has slots: no ad-hoc attributes)."""
    return {}


def _edge_offer(run: ScenarioRun, media: list[tuple[str, str, str]]) -> bytes:
    """A sendonly offer, one m-line per (media, payload type, rtpmap) (Media Server only sends)."""
    ip = run.recorder.local_address
    lines = ["v=0", f"o=MCP 1 1 IN IP4 {ip}", "s=-", f"c=IN IP4 {ip}", "t=0 0"]
    for i, (kind, pt, rtpmap) in enumerate(media):
        lines += [f"m={kind} {40000 + 2 * i} RTP/AVP {pt}", f"a=rtpmap:{pt} {rtpmap}", "a=sendonly"]
    return "\r\n".join(lines).encode("ascii")  # SIPp adds the last CRLF after the inserted file


def _edge_probe(run: ScenarioRun, name: str, scenario: str, offer: bytes | None = None) -> str:
    """Run one edge_*_uac.xml probe; returns its Call-ID (the Then steps find it in the capture)."""
    import uuid

    from harness.sipp.runner import OFFER_FILE, SCENARIO_DIR, Scenario, SippLeg, Transport, run_options

    call_id = f"edge-{name}-{uuid.uuid4().hex[:12]}@arec"
    leg = SippLeg(recorder_host=run.recorder.host, recorder_port=run.recorder.port, record_id="edge",
                  calluuid="edge", dn="edge", record_dn="edge", scenario=Scenario.OPTIONS,
                  transport=Transport(run.recorder.transport), local_ip=run.recorder.local_address,
                  call_id=call_id, recv_timeout_ms=2000)
    work = run.work_dir / "sipp" / f"edge-{name}"
    work.mkdir(parents=True, exist_ok=True)
    if offer is not None:
        (work / OFFER_FILE).write_bytes(offer)
    result = run_options(leg, work, timeout=15.0, scenario_path=SCENARIO_DIR / f"{scenario}.xml")
    run.note(f"SIPp {scenario} ({call_id}): {result.summary()}")
    return call_id


def _edge_events(run: ScenarioRun, call_id: str) -> list[SipEvent]:
    """The capture's parsed SIP messages of one probe, in capture order."""
    from harness.validators.sip import sip_events

    return [e for e in sip_events(run.evidence().datagrams, []) if e.message.call_id == call_id]


def _final_of(events: list[SipEvent], method: str) -> SipEvent | None:
    return next((e for e in events if isinstance(e.message, SipResponse) and e.message.status >= 200
                 and e.message.cseq.method == method), None)


def _status(event: SipEvent | None) -> str:
    return "none" if event is None or not isinstance(event.message, SipResponse) else str(event.message.status)


@when("the Media Server side offers audio and video in one INVITE")
def _offer_video(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    offer = _edge_offer(run, [("audio", "0", "PCMU/8000"), ("video", "96", "H264/90000")])
    edge_calls["video"] = _edge_probe(run, "video", "edge_invite_uac", offer)


@then("the recorder accepted the audio recvonly and refused the video with port 0")
def _video_refused(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    call_id = edge_calls["video"]
    dialog = run.evidence().sip.dialogs.get(call_id)
    findings = [f for f in run.evidence().sip.findings if call_id in f.message]
    if dialog is None or dialog.final_status != 200:
        findings.append(violation("SDP-VIDEO-REFUSED-PORT0", "the audio+video offer was not accepted (the "
                                  "audio m-line must be, video refused with port 0)",
                                  observed=str(dialog and dialog.final_status), expected="200 OK"))
    judge(findings, ["SDP-VIDEO-REFUSED-PORT0", "SDP-ANSWER-RECVONLY"], "video refused, audio accepted")


# A codec name no implementation can know: G.729 would not do, real endpoints (linphone) support
# it and rightly accept it. Accepting this one means answering with a codec it cannot decode.
UNKNOWABLE_CODEC = "X-AREC-NO-SUCH-CODEC/8000"


@when("the Media Server side offers only a codec no recorder supports")
def _offer_unsupported(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    offer = _edge_offer(run, [("audio", "98", UNKNOWABLE_CODEC)])
    edge_calls["no-codec"] = _edge_probe(run, "no-codec", "edge_rejected_uac", offer)


@then("the recorder answered 488 Not Acceptable Here")
def _answered_488(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    final = _final_of(_edge_events(run, edge_calls["no-codec"]), "INVITE")
    findings = [] if _status(final) == "488" else [violation(
        "SIP-NO-CODEC-488", f"an offer whose only codec is {UNKNOWABLE_CODEC} was not refused with 488",
        observed=_status(final), expected="488")]
    judge(findings, ["SIP-NO-CODEC-488"], "488 to an offer without a supported codec")


@when("the Media Server side cancels its INVITE right after the recorder's provisional response")
def _cancel(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    offer = _edge_offer(run, [("audio", "0", "PCMU/8000")])
    edge_calls["cancel"] = _edge_probe(run, "cancel", "edge_cancel_uac", offer)


@then("the recorder answered the CANCEL 200 and the INVITE 487")
def _cancel_487(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    events = _edge_events(run, edge_calls["cancel"])
    cancel = next((e for e in events if isinstance(e.message, SipRequest) and e.message.method == "CANCEL"), None)
    invite_final, cancel_final = _final_of(events, "INVITE"), _final_of(events, "CANCEL")
    # RFC 3261 §9.2: once the UAS has sent a final response "the CANCEL request has no effect":
    # a recorder that answered the INVITE before it handled the CANCEL lost the race
    # legitimately. Which came first is read from the order of the recorder's own responses
    # (one socket to one peer: the same in a tcpdump capture and in SIPp's log), not from
    # when our CANCEL left, which crosses the answer on the wire.
    answered_first = invite_final is not None and (
        cancel is None or invite_final.index < (cancel_final.index if cancel_final is not None else cancel.index))
    if answered_first:
        pytest.skip(f"not applicable: the recorder answered the INVITE {_status(invite_final)} before it handled "
                    "a CANCEL (no time to cancel)")
    findings: list[Finding] = []
    if cancel is None:
        findings.append(violation("SIP-CANCEL-487", "no CANCEL in the capture: the INVITE got no final response",
                                  observed="no CANCEL", expected="CANCEL answered 200, INVITE 487"))
    elif _status(cancel_final) != "200" or _status(invite_final) != "487":
        findings.append(violation("SIP-CANCEL-487", "CANCEL before the final response not honoured",
                                  observed=f"CANCEL {_status(cancel_final)}, INVITE {_status(invite_final)}",
                                  expected="CANCEL 200, INVITE 487"))
    judge(findings, ["SIP-CANCEL-487"], "CANCEL before the answer")


@when("the Media Server side sends a request whose Content-Length exceeds its body")
def _malformed(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    edge_calls["malformed"] = _edge_probe(run, "malformed", "edge_malformed_uac")


@when("the Media Server side then places a normal recording call")
def _normal_after(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    offer = _edge_offer(run, [("audio", "0", "PCMU/8000")])
    edge_calls["after"] = _edge_probe(run, "after", "edge_invite_uac", offer)


@then("the recorder answered the malformed request 400 and the normal call afterwards")
def _malformed_400(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    ids = edge_calls
    events = _edge_events(run, ids["malformed"])
    bad, ping = (next((e for e in events if isinstance(e.message, SipResponse) and e.message.status >= 200
                       and e.message.cseq.number == n), None) for n in (1, 2))  # CSeq 1: malformed, 2: ping
    findings: list[Finding] = []
    # RFC 3261 §18.3: for a request whose body is shorter than its Content-Length "the element
    # SHOULD generate a 400": accepting it (2xx) is the failure; dropping it or another error
    # status is a warning.
    if _status(bad).startswith("2"):
        findings.append(violation("SIP-MALFORMED-400", "an OPTIONS whose Content-Length exceeds its body "
                                  "(RFC 3261 §18.3) was accepted", observed=_status(bad), expected="400"))
    elif _status(bad) != "400":
        findings.append(violation("SIP-MALFORMED-ANSWERED-400", "an OPTIONS whose Content-Length exceeds its body "
                                  "(RFC 3261 §18.3) was not answered 400",
                                  observed="no answer (dropped)" if bad is None else _status(bad), expected="400"))
    dialog = run.evidence().sip.dialogs.get(ids["after"])
    if _status(ping) not in ("200", "503", "486") or dialog is None or dialog.final_status != 200 or not dialog.acked \
            or dialog.bye_status != 200:
        findings.append(violation("SIP-MALFORMED-400", "the recorder did not keep serving after the malformed request",
                                  observed=f"OPTIONS {_status(ping)}, INVITE {dialog and dialog.final_status}, "
                                  f"BYE {dialog and dialog.bye_status}", expected="OPTIONS 200, INVITE 200, BYE 200"))
    judge(findings, ["SIP-MALFORMED-400", "SIP-MALFORMED-ANSWERED-400"], "malformed request answered, service continues")
from tests.bdd.steps_replication import *  # noqa: E402,F403 (its __all__: the step fixtures pytest-bdd generated)
