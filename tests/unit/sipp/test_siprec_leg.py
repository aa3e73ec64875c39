"""The SIPREC leg and the SRC emulation's bodies (no SIPp run): what SIPp is given to send."""

from __future__ import annotations

import pytest

from harness.checks.siprec import check_rs_offer
from harness.emulators.sip_server import Call, RecordingJob, SessionMode, Side, StreamJob
from harness.emulators.siprec_client import GENESYS_NS, SiprecClient
from harness.protocol.sdp import Direction, parse_sdp
from harness.protocol.sip.message import SipRequest, parse_message
from harness.protocol.siprec.metadata import parse_metadata
from harness.protocol.siprec.session import split_body
from harness.sipp.leg import Scenario, SippLeg

JOB = RecordingJob(Call("conn", "4BOKLLA3VH66JF112M1CC9VHKS14F0KP", "5551234", "7001", "PCMU"), "0A1B2C3D",
                   "7001", "dn option", (StreamJob(Side.CUSTOMER, "5551234", 0), StreamJob(Side.AGENT, "7001", 1)),
                   SessionMode.SIPREC)


def _leg(**kw: object) -> SippLeg:
    args: dict[str, object] = dict(recorder_host="127.0.0.1", recorder_port=5060, record_id="0A1B2C3D",
                                   calluuid=JOB.call.calluuid, dn="5551234", record_dn="7001",
                                   scenario=Scenario.SIPREC, media_ports=(40000, 40002), labels=("5551234", "7001"))
    args.update(kw)
    return SippLeg(**args)  # type: ignore[arg-type]


def _as_invite(body: bytes, content_type: str) -> SipRequest:
    head = ("INVITE sip:srs@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n"
            "From: <sip:src@127.0.0.1>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: 0A1B2C3D\r\nCSeq: 1 INVITE\r\n"
            "Contact: <sip:src@127.0.0.1:5070>;+sip.src\r\nRequire: siprec\r\nMax-Forwards: 70\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n")
    message = parse_message(head.encode() + body)
    assert isinstance(message, SipRequest)
    return message


def test_siprec_leg_offers_labelled_sendonly_m_lines_to_the_srs() -> None:
    leg = _leg()
    assert leg.request_uri == "sip:srs@127.0.0.1:5060"
    sdp = parse_sdp(leg.offer_sdp())
    assert [(m.label, m.direction(sdp)) for m in sdp.media] == [("5551234", Direction.SENDONLY),
                                                                 ("7001", Direction.SENDONLY)]
    assert dict(leg.sipp_keys())["body_type"] == "application/sdp"
    with pytest.raises(ValueError, match="label"):
        _leg(labels=("only-one",))


def test_src_emulation_bodies_are_good_siprec_offers() -> None:
    src = SiprecClient.for_job(JOB, "127.0.0.1", vendor_extension=True)
    body, ctype = src.initial_body(_leg().offer_sdp())
    assert body is not None and ctype.startswith("multipart/mixed")
    invite = _as_invite(body, ctype)
    verdict = check_rs_offer(invite)
    assert verdict.findings == [] and verdict.had_metadata
    assert f"{{{GENESYS_NS}}}GenesysUUID" in verdict.extensions
    meta = parse_metadata(split_body(ctype, body).metadata or b"")
    assert {label: len(s) for label, s in meta.label_senders().items()} == {"5551234": 1, "7001": 1}


def test_src_emulation_updates_track_the_full_model() -> None:
    src = SiprecClient.for_job(JOB, "127.0.0.1", initial_metadata=False)
    assert src.initial_body(b"v=0\r\n") == (None, "application/sdp")
    sdp = _leg().offer_sdp(version=2)
    src.hold(sdp, Side.CUSTOMER)
    assert src.model.label_senders()["5551234"] == ()
    src.transfer(sdp, "7002")
    agent_senders = src.model.label_senders()["7001"]
    assert [src.model.participant(p).aors for p in agent_senders] == [("sip:7002@127.0.0.1",)]  # type: ignore[union-attr]
    assert src.stream_of_aor["sip:7002@127.0.0.1"] == 1
