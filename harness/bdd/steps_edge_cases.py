"""The recorder's answers to edge cases (seed step 6): video, no common codec, CANCEL, malformed.

Each probe is a SIPp scenario (harness/sipp/scenarios/edge_*_uac.xml) run like the OPTIONS
ping, in its own directory under <run>/sipp/ so the synthetic capture replays its message log;
the verdicts come from the capture. The probes' Call-IDs travel in the `edge_calls` fixture
(harness/bdd/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_bdd import then, when

from harness.bdd.helpers import not_applicable_unless
from harness.bdd.stepdefs import step_fixtures
from harness.checks import edge_cases as edge_checks
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge
from harness.protocol.sip.message import SipRequest, SipResponse
from harness.validators import sip as sip_checks
from harness.validators.sip import SipEvent


def _edge_offer(run: ScenarioRun, media: list[tuple[str, str, str]], *, inactive: bool = False) -> bytes:
    """A sendonly offer, one m-line per (media, payload type, rtpmap) (Media Server only sends);
    `inactive`: no media at all (RFC 3264 §6.1)."""
    from harness.protocol.sdp import Direction, OfferedCodec, OfferedMedia, build_offer

    offered = [OfferedMedia(40000 + 2 * i, (OfferedCodec.from_rtpmap(int(pt), rtpmap),), media=kind)
               for i, (kind, pt, rtpmap) in enumerate(media)]
    offer = build_offer(run.recorder.local_address, offered, session_id=1, username="MCP",
                        direction=Direction.INACTIVE if inactive else Direction.SENDONLY).to_bytes()
    return offer.removesuffix(b"\r\n")  # SIPp adds the last CRLF after the inserted file


def _edge_probe(run: ScenarioRun, name: str, scenario: str, offer: bytes | None = None, *,
                timeout: float = 15.0) -> str:
    """Run one edge_*_uac.xml probe; returns its Call-ID (the Then steps find it in the capture)."""
    import uuid

    from harness.sipp.leg import OFFER_FILE, SCENARIO_DIR, Scenario, SippLeg, Transport
    from harness.sipp.process import run_options

    call_id = f"edge-{name}-{uuid.uuid4().hex[:12]}@arec"
    leg = SippLeg(recorder_host=run.recorder.host, recorder_port=run.recorder.port, record_id="edge",
                  calluuid="edge", dn="edge", record_dn="edge", scenario=Scenario.OPTIONS,
                  transport=Transport(run.recorder.transport), local_ip=run.recorder.local_address,
                  call_id=call_id, recv_timeout_ms=2000)
    work = run.work_dir / "sipp" / f"edge-{name}"
    work.mkdir(parents=True, exist_ok=True)
    if offer is not None:
        (work / OFFER_FILE).write_bytes(offer)
    result = run_options(leg, work, timeout=timeout, scenario_path=SCENARIO_DIR / f"{scenario}.xml")
    run.note(f"SIPp {scenario} ({call_id}): {result.summary()}")
    return call_id


def _edge_events(run: ScenarioRun, call_id: str) -> list[SipEvent]:
    """The capture's parsed SIP messages of one probe, in capture order."""
    from harness.validators.sip import sip_events

    return [e for e in sip_events(run.evidence().datagrams, []) if e.message.call_id == call_id]


def _final_of(events: list[SipEvent], method: str) -> SipEvent | None:
    return next((e for e in events if isinstance(e.message, SipResponse) and e.message.status >= 200
                 and e.message.cseq.method == method), None)


def _code(event: SipEvent | None) -> int | None:
    return event.message.status if event is not None and isinstance(event.message, SipResponse) else None


def _status(event: SipEvent | None) -> str:
    return edge_checks.status_text(_code(event))


@when("the Media Server side offers audio and video in one INVITE")
def _offer_video(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    offer = _edge_offer(run, [("audio", "0", "PCMU/8000"), ("video", "96", "H264/90000")])
    edge_calls["video"] = _edge_probe(run, "video", "edge_invite_uac", offer)


@then("the recorder accepted the audio recvonly and refused the video with port 0")
def _video_refused(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    # Every finding of the capture counts: the probe is the only recording session of this
    # scenario, so no other session's finding can be in it (none is dropped by text matching).
    call_id = edge_calls["video"]
    sip = run.evidence().sip
    findings = [*sip.findings, *sip_checks.video_offer_accepted(sip.dialogs.get(call_id), call_id)]
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
    call_id = edge_calls["no-codec"]
    dialog = run.evidence().sip.dialogs.get(call_id)
    final = _final_of(_edge_events(run, call_id), "INVITE")
    status = final.message.status if final is not None and isinstance(final.message, SipResponse) else None
    ports = [m.answer_endpoint[1] if m.answer_endpoint else 0 for m in (dialog.media if dialog else [])
             if m.kind == "audio"]
    judge(edge_checks.no_common_codec(status, ports, UNKNOWABLE_CODEC, call_id=call_id),
          ["SIP-NO-CODEC-488", "SIP-NO-CODEC-488-PREFERRED"], "488 to an offer without a supported codec")


@when("the Media Server side offers only G.729")
def _offer_g729(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    # RFC 3551 §4.5.6 / §6: G.729 is static payload type 18 at 8000 Hz. A recorder may implement
    # it or not: the probe takes a 200 (ACK, BYE) or a 488 (ACK) and sends no RTP.
    offer = _edge_offer(run, [("audio", "18", "G729/8000")])
    edge_calls["g729"] = _edge_probe(run, "g729", "edge_codec_uac", offer)


@then("the recorder accepted G.729 alone or refused it with 488")
def _g729_answer(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    call_id = edge_calls["g729"]
    dialog = run.evidence().sip.dialogs.get(call_id)
    status = _code(_final_of(_edge_events(run, call_id), "INVITE"))
    answered = [(m.answer_endpoint[1] if m.answer_endpoint else 0, m.payload_types)
                for m in (dialog.media if dialog else []) if m.kind == "audio"]
    judge(edge_checks.codec_accepted_or_488(status, answered, "G.729", 18, call_id=call_id),
          ["SDP-CODEC-ACCEPT-OR-488"], "G.729 accepted alone or refused with 488")


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
    judge(edge_checks.cancel_before_answer(cancel is not None, _code(cancel_final), _code(invite_final),
                                           call_id=edge_calls["cancel"]),
          ["SIP-CANCEL-487"], "CANCEL before the answer")


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
    # RFC 3261 §18.3 (harness.checks.edge_cases.malformed_request): 400 to the malformed request,
    # and the requests after it still answered.
    dialog = run.evidence().sip.dialogs.get(ids["after"])
    findings = edge_checks.malformed_request(_code(bad), _code(ping), dialog.final_status if dialog else None,
                                             dialog.bye_status if dialog else None, call_id=ids["malformed"])
    judge(findings, ["SIP-MALFORMED-400", "SIP-MALFORMED-ANSWERED-400"], "malformed request answered, service continues")


def _sent_invite_call_ids(message_log: Path) -> list[str]:
    """The Call-IDs of the INVITEs a SIPp run sent, from its own -trace_msg log (the calls'
    Call-IDs are SIPp's default `<n>-<pid>@<ip>`: -cid_str would give every call the same one)."""
    from harness.protocol.sip.message import parse_message
    from harness.sipp.trace import read_message_log

    sent = [parse_message(m.payload) for m in read_message_log(message_log) if m.sent]
    return list(dict.fromkeys(m.call_id for m in sent if isinstance(m, SipRequest) and m.method == "INVITE"))


@when("the Media Server side opens one recording session more than the recorder's capacity at once")
def _beyond_capacity(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    from harness.sipp.leg import OFFER_FILE, SCENARIO_DIR, Scenario, SippLeg, Transport
    from harness.sipp.process import run_options

    capacity = run.recorder.capabilities.capacity
    not_applicable_unless(capacity is not None, "the recorder's capacity (concurrent recording sessions) is "
                          "unknown: give it as [capabilities] capacity in its recorder profile")
    assert capacity is not None
    leg = SippLeg(recorder_host=run.recorder.host, recorder_port=run.recorder.port, record_id="edge",
                  calluuid="edge", dn="edge", record_dn="edge", scenario=Scenario.OPTIONS,
                  transport=Transport(run.recorder.transport), local_ip=run.recorder.local_address,
                  recv_timeout_ms=5000)
    work = run.work_dir / "sipp" / "edge-capacity"
    work.mkdir(parents=True, exist_ok=True)
    (work / OFFER_FILE).write_bytes(_edge_offer(run, [("audio", "0", "PCMU/8000")]))
    # Every call holds its session 1.5 s: all capacity + 1 are open together (SIPp -m/-l/-r).
    result = run_options(leg, work, timeout=30.0, scenario_path=SCENARIO_DIR / "edge_capacity_uac.xml",
                         calls=capacity + 1)
    run.note(f"SIPp edge_capacity_uac x{capacity + 1}: {result.summary()}")
    call_ids = _sent_invite_call_ids(result.message_log)
    assert len(call_ids) == capacity + 1, f"harness: SIPp sent {len(call_ids)} INVITEs, not {capacity + 1}"
    for n, call_id in enumerate(call_ids):
        edge_calls[f"capacity-{n}"] = call_id


@then("the session beyond capacity was answered 503 and the others 200")
def _capacity_503(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    capacity = run.recorder.capabilities.capacity
    assert capacity is not None
    call_ids = [v for k, v in edge_calls.items() if k.startswith("capacity-")]
    dialogs = run.evidence().sip.dialogs
    invites = sorted((d.invite.index, d.call_id) for c in call_ids if (d := dialogs.get(c)) and d.invite)
    byes = [e.index for e in _edge_calls_events(run, call_ids)
            if isinstance(e.message, SipRequest) and e.message.method == "BYE"]
    # The calls must have overlapped, or "one more than capacity" was never reached.
    assert len(invites) == len(call_ids) and (not byes or invites[-1][0] < min(byes)), \
        f"harness: the {len(call_ids)} sessions were not all opened before the first BYE"
    statuses = {c: (dialogs[c].final_status if c in dialogs else None) for c in call_ids}
    findings = edge_checks.beyond_capacity(statuses, capacity)
    judge(findings, ["SIP-CAPACITY-503"], "503 beyond capacity")


def _edge_calls_events(run: ScenarioRun, call_ids: list[str]) -> list[SipEvent]:
    from harness.validators.sip import sip_events

    wanted = set(call_ids)
    return [e for e in sip_events(run.evidence().datagrams, []) if e.message.call_id in wanted]


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())
