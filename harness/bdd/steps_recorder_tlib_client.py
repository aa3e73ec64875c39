"""Steps where the recorder itself is a T-Lib client: its own recording rules (seed step 2), DN
registration and attached data in its metadata (step 8), pausing on the PCI key (step 9)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from pytest_bdd import given, parsers, then, when

from harness.bdd.helpers import expect_ack, not_applicable_unless
from harness.bdd.stepdefs import step_fixtures
from harness.checks import initiation
from harness.checks import tlib as tlib_checks
from harness.conformance.recorder_tlib_config import PauseTrigger, RecordingRule
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge
from harness.protocol.tlib import Event, EventError, RecordOp, RequestPrivateService

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
    judge(tlib_checks.dn_registered(dn, registered, REGISTRATION_TIMEOUT_S), ["ARE-08-REGISTER-DNS"],
          "recorder registers its DNs")
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


def _starts(run: ScenarioRun) -> list[initiation.RecorderStart]:
    return [initiation.RecorderStart(r.this_dn, "no answer" if a is None else type(a).__name__)
            for r, a in _recorder_starts(run)]


def _calluuid(run: ScenarioRun) -> str | None:
    return run.call.calluuid if run.call is not None else None


def _recorder_starts(run: ScenarioRun) -> list[tuple[RequestPrivateService, Event | None]]:
    """The recorder's GSIP_RECORD_START requests for the scenario's call, with their answers."""
    assert run.call is not None
    start = run.tserver.private_msgs.start
    return [(r, a) for r, a in run.recorder_requests()
            if isinstance(r, RequestPrivateService) and r.private_msg_id == start and r.conn_id == run.call.conn_id]


@then(parsers.parse('the recorder asked SIP Server to record the call on behalf of "{dn}"'))
def _recorder_asked(run: ScenarioRun, dn: str) -> None:
    starts = _starts(run)
    if len(starts) > 1:
        run.note(f"the recorder sent {len(starts)} GSIP_RECORD_START requests for the call")
    judge(initiation.recorder_rule_started(starts, dn, conn_id=run.call.conn_id if run.call else None, calluuid=_calluuid(run)),
          ["ARE-02-RULE-START"], "the recorder's rule started recording")


@then("the recorder did not ask SIP Server to record the call")
def _recorder_did_not_ask(run: ScenarioRun) -> None:
    judge(initiation.recorder_rule_no_match(_starts(run), calluuid=_calluuid(run)), ["ARE-02-RULE-NO-MATCH"],
          "no request for an unselected call")


@then("SIP Server recorded the call once")
def _recorded_once(run: ScenarioRun) -> None:
    assert run.call is not None
    conn_id = run.call.conn_id
    jobs = run.on_tserver(lambda: run.tserver.recordings(conn_id))
    judge(initiation.recorded_once([j.trigger for j in jobs], calluuid=_calluuid(run)), ["ARE-02-START-REFUSED"],
          "recorded once")


@then("the recorder's own start request was refused with EventError and it kept serving")
def _recorder_start_refused(run: ScenarioRun) -> None:
    starts = _starts(run)
    if not starts:
        # It saw the recording had started and did not ask: its EventError handling is not exercised.
        pytest.skip("not applicable: the recorder sent no start of its own for the already recorded call")
    answers = run.options_ping().exit_code == 0
    judge(initiation.start_refused(starts, answers, calluuid=_calluuid(run),
                                   options_summary=run.options_result.summary() if run.options_result else None),
          ["ARE-02-START-REFUSED"], "the recorder handled EventError")


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
    judge(tlib_checks.attached_data_kept(_attached_data(run), key, value, updated=False, calluuid=_calluuid(run)),
          ["ARE-08-ATTACHED-DATA"], "attached data in metadata")


@then(parsers.parse("the recording's metadata holds the updated attached data \"{key}\"=\"{value}\""))
def _metadata_updated(run: ScenarioRun, key: str, value: str) -> None:
    judge(tlib_checks.attached_data_kept(_attached_data(run), key, value, updated=True, calluuid=_calluuid(run)),
          ["ARE-08-ATTACHED-DATA-UPDATED"], "updated attached data in metadata")


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

    reached_in_time = _wait_until(reached, CONTROL_TIMEOUT_S)
    requests = [] if reached_in_time else [f"{r.MESSAGE} {getattr(r, 'private_msg_id', '')}: {type(a).__name__}"
                                           for r, a in run.recorder_requests()]
    judge(tlib_checks.recorder_controlled(op.value, reached_in_time, PCI.key, value, CONTROL_TIMEOUT_S, requests),
          ["ARE-09-PAUSE-BY-RECORDER"], f"the recorder {op.value}s")
    run.note(f"the recorder {op.value}d the recording on {PCI.key}={value}")


@when(parsers.parse('"{requester}" pauses the recording'))
def _pause(run: ScenarioRun, requester: str) -> None:
    if requester == "recorder":
        _recorder_controls(run, RecordOp.PAUSE)
    else:
        expect_ack(run.tlib_request(requester, RecordOp.PAUSE), "a pause request")


@when(parsers.parse('"{requester}" resumes the recording'))
def _resume(run: ScenarioRun, requester: str) -> None:
    if requester == "recorder":
        _recorder_controls(run, RecordOp.RESUME)
    else:
        expect_ack(run.tlib_request(requester, RecordOp.RESUME), "a resume request")


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())
