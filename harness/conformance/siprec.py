"""A scenario's SIPREC recording session (RFC 7866) at run time and its recording evidence.

What the Gherkin bindings of features/15_siprec.feature drive: the SRC's late metadata and
partial updates by re-INVITE (RFC 7866 §9, RFC 7865 (datamode)), pause / resume by re-INVITE
a=inactive / a=sendonly (RFC 7866 §7.1.1.2, through `RuntimeControl`'s re-INVITE profile, so
the recording validator knows the paused span), and the recording's participant map judged
against the metadata the SRC ended with (`harness.validators.siprec`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from harness.conformance.run import ScenarioRun
from harness.emulators.media_server import RecordingLeg
from harness.emulators.runtime_control import PauseProfile, RuntimeControl
from harness.emulators.sip_server import Side
from harness.emulators.siprec_client import SiprecClient
from harness.protocol.sdp import Direction, parse_sdp
from harness.protocol.sip.message import SipRequest, SipResponse
from harness.sipp.twin import LegState, SippLegError
from harness.spec.findings import Finding
from harness.validators.siprec import judge_participant_map, judge_siprec_recording

__all__ = ["PROBES", "UNKNOWN_EXTENSION", "answer_snapshot_request", "client", "pause", "probe", "probe_exchange", "recording_verdict", "reoffer_exchanges", "resume",
           "send_full_metadata", "send_transfer_new_stream", "send_update", "srs_requests"]


def client(run: ScenarioRun) -> SiprecClient:
    assert run.active is not None and run.active.siprec is not None, "the call is not recorded over SIPREC"
    return run.active.siprec


def _leg(run: ScenarioRun) -> RecordingLeg:
    assert run.active is not None
    (leg,) = run.active.legs
    return leg


def _reinvite(run: ScenarioRun, body_of: Callable[[bytes], tuple[bytes, str]], what: str, *,
              by_update: bool = False) -> None:
    """Send the offer `body_of` builds in a re-INVITE, or (`by_update`) in an UPDATE (RFC 3311
    §5.1; RFC 7866 §9 lets the SRC carry a metadata update in either)."""
    leg = _leg(run)
    method = "UPDATE" if by_update else "re-INVITE"

    def send() -> None:
        if leg.refused is not None or leg.result is not None or leg.process.control.state is not LegState.IDLE:
            # No dialog to re-INVITE in (the SRS refused the session): what it did is judged
            # from the capture.
            run.note(f"SIPREC {method} ({what}) not sent: the recording session is not established")
            return
        control = leg.process.control
        sdp = leg.process.leg.offer_sdp(version=control.session.offer_version + 1, direction=Direction.SENDONLY)
        body, content_type = body_of(sdp)
        try:
            if by_update:
                control.update(body, content_type=content_type)
            else:
                control.reinvite(sdp=body, content_type=content_type)
        except (SippLegError, TimeoutError) as error:
            # Not answered: the recorder's failure, judged from the capture (SIP-REINVITE-ANSWERED).
            run.note(f"SIPREC {method} ({what}) not answered: {error}")

    run.note(f"SRC {method}: {what}")
    run.on_tserver(send)


def send_full_metadata(run: ScenarioRun) -> None:
    """The metadata the INVITE lacked (RFC 7866 §9: it may follow in a re-INVITE)."""
    src = client(run)
    _reinvite(run, src.full_body, "the recording metadata (complete)")


def send_transfer_new_stream(run: ScenarioRun, new_agent_dn: str) -> None:
    """The agent transfers to `new_agent_dn`, who joins in a new labelled m-line (RFC 7866
    §7.1.1.1): the re-offer keeps the two streams and adds a third, with partial metadata naming
    the new participant and stream. No RTP is sent on it (the time-code streams are the two
    parties'); what is judged is that it is accepted and kept in the participant map."""
    src = client(run)
    _leg(run)  # asserts the call has its one SIPREC leg

    def body_of(sdp: bytes) -> tuple[bytes, str]:
        # The leg's own re-offer, its last m-line copied for the new stream (next port, new label).
        offer = parse_sdp(sdp)
        last = offer.media[-1]
        added = dataclasses.replace(last, port=last.port + 2, attributes=tuple(
            (name, new_agent_dn if name == "label" else value) for name, value in last.attributes))
        wider = dataclasses.replace(offer, media=(*offer.media, added))
        return src.transfer_new_stream(wider.to_bytes(), new_agent_dn)

    _reinvite(run, body_of, f"transfer to {new_agent_dn} in a new stream")


def reoffer_exchanges(run: ScenarioRun, call_id: str) -> list[tuple[SipRequest, SipResponse | None]]:
    """The in-dialog INVITEs of recording session `call_id` (from the capture), each with its
    final response (None: unanswered), in order."""
    from harness.validators.sip import sip_events

    requests: dict[int, SipRequest] = {}
    finals: dict[int, SipResponse] = {}
    for event in sip_events(run.evidence().datagrams, []):
        message = event.message
        if message.call_id != call_id:
            continue
        if isinstance(message, SipRequest) and message.method == "INVITE" and message.to.tag:
            requests.setdefault(message.cseq.number, message)
        elif isinstance(message, SipResponse) and message.status >= 200 and message.cseq.method == "INVITE":
            finals.setdefault(message.cseq.number, message)
    return [(requests[n], finals.get(n)) for n in sorted(requests)]


def answer_snapshot_request(run: ScenarioRun, timeout: float = 6.0) -> None:
    """RFC 7866 §9.2: wait for the SRS's metadata snapshot request, then send the complete
    metadata by UPDATE (a separate transaction from the request's). No request within
    `timeout` (asking is the SRS's option: SRS-SNAPSHOT-REQUEST warns, from the capture): the
    SRC sends the metadata anyway, as it would sooner or later, so the rest is still judged."""
    src = client(run)
    leg = _leg(run)

    def wait() -> bool:
        if leg.refused is not None or leg.result is not None:
            return False
        try:
            leg.process.control.wait_snapshot_request(timeout)
        except TimeoutError as error:
            run.note(f"no metadata snapshot request from the SRS ({error}): the metadata is sent unasked")
        except SippLegError as error:
            run.note(f"no metadata snapshot request from the SRS: {error}")
            return False
        return True

    run.note("SRC waits for the SRS's metadata snapshot request")
    if run.on_tserver(wait):
        _reinvite(run, src.full_body, "the metadata snapshot (complete)", by_update=True)


def send_update(run: ScenarioRun, change: str, new_agent_dn: str | None = None, *,
                by_update: bool = False) -> None:
    """A partial metadata update: "hold" (the customer only receives) or "transfer", by
    re-INVITE or (`by_update`) by UPDATE."""
    src = client(run)
    if change == "hold":
        _reinvite(run, lambda sdp: src.hold(sdp, Side.CUSTOMER), "partial metadata: customer on hold",
                  by_update=by_update)
    elif change == "transfer" and new_agent_dn is not None:
        _reinvite(run, lambda sdp: src.transfer(sdp, new_agent_dn),
                  f"partial metadata: transfer to {new_agent_dn}", by_update=by_update)
    else:
        raise ValueError(f"unknown metadata change {change!r}")


def _control(run: ScenarioRun) -> RuntimeControl:
    assert run.active is not None
    if run.control is None:
        run.control = RuntimeControl(run.media_server, run.active, PauseProfile.REINVITE)
    return run.control


def pause(run: ScenarioRun) -> None:
    """RFC 7866 §7.1.1.2: the SRC pauses by re-INVITE a=inactive and stops the media."""
    control = _control(run)
    run.note("SRC pauses the recording (re-INVITE a=inactive)")
    run.on_tserver(control.pause)


def resume(run: ScenarioRun) -> None:
    control = _control(run)
    run.note("SRC resumes the recording (re-INVITE a=sendonly)")
    run.on_tserver(control.resume)


def recording_verdict(run: ScenarioRun) -> list[Finding] | None:
    """SRS-METADATA-KEPT / SRS-PARTICIPANT-AUDIO on the reference layout, or on the map file a
    profile names (`participant_map`); None when neither exists (not applicable)."""
    evidence = run.evidence()
    locator = run.recorder.locator
    if locator is not None and locator.spec.layout != "reference":
        if locator.spec.participant_map is None or run.job is None:
            return None
        src = client(run)
        values = {"calluuid": run.job.call.calluuid, "record_id": run.job.record_id, "record_dn": run.job.record_dn}
        path = locator.root / locator.spec.participant_map.format_map(values)
        return judge_participant_map(path, src.model, src.stream_of_aor, calluuid=run.job.call.calluuid)
    directory = evidence.recording_dir
    if directory is None or not (directory / "recording.json").is_file():
        return None
    src = client(run)
    return judge_siprec_recording(directory, src.model, src.stream_of_aor,
                                  calluuid=run.call.calluuid if run.call else None)


# -- probes: single INVITEs an SRS must refuse or not take for a recording session ------------

PROBES = {"unknown-extension": "siprec_probe_unknown_ext_uac", "no-src": "siprec_probe_no_src_uac"}
UNKNOWN_EXTENSION = "x-arec-unknown"  # the option tag the unknown-extension probe requires


def probe(run: ScenarioRun, name: str) -> str:
    """Run one SIPREC probe scenario (harness/sipp/scenarios/siprec_probe_*_uac.xml) with a
    SIPREC body; returns its Call-ID (the Then steps find the exchange in the capture)."""
    import uuid

    from harness.sipp.leg import OFFER_FILE, SCENARIO_DIR, Scenario, SippLeg, Transport
    from harness.sipp.process import run_options

    call_id = f"siprec-{name}-{uuid.uuid4().hex[:12]}"
    src = SiprecClient("PROBE" + uuid.uuid4().hex[:27].upper(), "5551234", "7001", run.recorder.local_address)
    sdp_leg = SippLeg(recorder_host=run.recorder.host, recorder_port=run.recorder.port, record_id="probe",
                      calluuid="probe", dn="5551234", record_dn="7001", scenario=Scenario.SIPREC,
                      media_ports=(40000, 40002), media_ip=run.recorder.local_address, labels=src.labels)
    body, _ = src.full_body(sdp_leg.offer_sdp())
    leg = SippLeg(recorder_host=run.recorder.host, recorder_port=run.recorder.port, record_id="probe",
                  calluuid="probe", dn="probe", record_dn="probe", scenario=Scenario.OPTIONS,
                  transport=Transport(run.recorder.transport), local_ip=run.recorder.local_address,
                  call_id=call_id, recv_timeout_ms=2000)
    work = run.work_dir / "sipp" / f"siprec-{name}"
    work.mkdir(parents=True, exist_ok=True)
    (work / OFFER_FILE).write_bytes(body.removesuffix(b"\r\n"))  # SIPp adds the last CRLF
    result = run_options(leg, work, timeout=15.0, scenario_path=SCENARIO_DIR / f"{PROBES[name]}.xml")
    run.note(f"SIPp {PROBES[name]} ({call_id}): {result.summary()}")
    return call_id


def srs_requests(run: ScenarioRun, call_id: str) -> list[SipRequest]:
    """The requests the SRS itself sent in the recording session `call_id` (from the capture):
    those whose From tag is not the SRC's INVITE From tag (RFC 3261 §12.2.1.1: the sender's tag)."""
    from harness.validators.sip import sip_events

    src_tag: str | None = None
    out: list[SipRequest] = []
    for event in sip_events(run.evidence().datagrams, []):
        message = event.message
        if not isinstance(message, SipRequest) or message.call_id != call_id:
            continue
        if src_tag is None and message.method == "INVITE":
            src_tag = message.from_.tag
        elif src_tag is not None and message.from_.tag != src_tag:
            out.append(message)
    return out


def probe_exchange(run: ScenarioRun, call_id: str) -> tuple[SipRequest | None, SipResponse | None]:
    """The probe's INVITE and the SRS's final answer to it, from the capture."""
    from harness.validators.sip import sip_events

    invite: SipRequest | None = None
    final: SipResponse | None = None
    for event in sip_events(run.evidence().datagrams, []):
        message = event.message
        if message.call_id != call_id:
            continue
        if isinstance(message, SipRequest) and message.method == "INVITE" and invite is None:
            invite = message
        elif isinstance(message, SipResponse) and message.status >= 200 and message.cseq.method == "INVITE" \
                and final is None:
            final = message
    return invite, final
