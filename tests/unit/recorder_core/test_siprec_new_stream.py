"""A SIPREC re-INVITE that adds a labelled m-line (a transfer bringing a new participant in its
own stream, RFC 7866 §7.1.1.1) is a new stream of the recording: answered recvonly on a new
port, recorded with the same file layout, the participant map updated. Outside SIPREC the
reference recorder still refuses a new m-line with port 0 (its channel layout is fixed).
The check SRS-NEW-STREAM-ACCEPTED has its own bad/good unit tests in tests/unit/checks."""

from __future__ import annotations

from pathlib import Path

from harness.checks.siprec import new_stream_accepted
from harness.emulators.siprec_client import SiprecClient
from harness.protocol.sdp import Direction, parse_sdp
from harness.protocol.sip.message import SipRequest, parse_message
from tests.unit.recorder_core.helpers import Driver, Leg
from tests.unit.recorder_core.test_siprec_corpus import URI, recording_json

_M = ("m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendonly\r\na=label:{label}\r\n")


def _sdp(version: int, labels: list[str]) -> bytes:
    head = f"v=0\r\no=SRC 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    return (head + "".join(_M.format(port=40000 + 2 * i, label=label) for i, label in enumerate(labels))).encode()


def _request(method: str, cseq: int, to_tag: str, body: bytes, content_type: str) -> bytes:
    head = (f"{method} {URI} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-ns-{cseq}\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:src@127.0.0.1:5070>;tag=ms-rs-1\r\n"
            f"To: <sip:srs@127.0.0.1:5060>{to_tag}\r\nCall-ID: rs-1\r\nCSeq: {cseq} {method}\r\n"
            "Contact: <sip:src@127.0.0.1:5070>;+sip.src\r\nRequire: siprec\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def test_a_new_labelled_stream_on_transfer_is_recorded_with_its_participant(tmp_path: Path) -> None:
    driver = Driver(tmp_path)
    src = SiprecClient("CALLUUID00000000000000000000001", "5551234", "7001", "127.0.0.1")
    body, ctype = src.initial_body(_sdp(1, ["5551234", "7001"]))
    assert body is not None
    ok = driver.final(_request("INVITE", 1, "", body, ctype))
    assert ok.status == 200 and ok.to.tag
    assert driver.send(driver.in_dialog("ack.sip", Leg("rs-1", URI, ok.to.tag, [], 1), cseq=1)) == []
    body, ctype = src.transfer_new_stream(_sdp(2, ["5551234", "7001", "7002"]), "7002")
    offer = _request("INVITE", 2, f";tag={ok.to.tag}", body, ctype)
    answer = driver.final(offer)
    assert answer.status == 200
    sdp = parse_sdp(answer.body)
    assert [m.label for m in sdp.media] == ["5551234", "7001", "7002"]
    assert sdp.media[2].port != 0 and sdp.media[2].direction(sdp) is Direction.RECVONLY
    request = parse_message(offer)
    assert isinstance(request, SipRequest)
    assert new_stream_accepted(request, answer, previous_labels={"5551234", "7001"}) == []  # the check agrees
    doc = recording_json(tmp_path)
    assert sorted(s["dn"] for s in doc["streams"]) == ["5551234", "7001", "7002"]  # type: ignore[union-attr]
    section = doc["siprec"]
    assert isinstance(section, dict)
    sends = {p["aors"][0]: p["sends"] for p in section["participants"] if p["sends"]}
    assert sends == {"sip:5551234@127.0.0.1": ["5551234"], "sip:7002@127.0.0.1": ["7002"]}

