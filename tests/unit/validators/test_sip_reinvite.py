"""validate_sip on re-INVITEs: answered (SIP-REINVITE-ANSWERED), direction of every answer
(SDP-ANSWER-RECVONLY / SDP-ANSWER-INACTIVE, RFC 3264 §6.1) and origin line (SDP-ORIGIN-KEPT, §8)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.validators.pcap import read_capture
from harness.validators.sip import ExpectedMode, SipReport, validate_sip
from tests.unit.validators.builders import MS_SIP, REC_SIP, ether, fixture, udp, write_pcap

Message = tuple[tuple[str, int], tuple[str, int], bytes]


def _length(message: bytes) -> bytes:
    head, _, body = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n").partition(b"\r\n\r\n")
    head = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % len(body), head)
    return head + b"\r\n\r\n" + body


def _initial() -> list[Message]:
    return [(MS_SIP, REC_SIP, _length(fixture("leg_a_invite.sip"))), (REC_SIP, MS_SIP, _length(fixture("leg_a_ok.sip"))),
            (MS_SIP, REC_SIP, _length(fixture("leg_a_ack.sip")))]


def _reinvite(direction: str = "inactive", cseq: int = 2) -> Message:
    invite = fixture("leg_a_invite.sip").replace(
        b"INVITE sip:record=REC7001@127.0.0.2:5060;calluuid=4BOKLLA3VH66JF112M1CC9VHKS14F0KP;dn=7001;recordDN=7001",
        b"INVITE sip:rec@127.0.0.2:5060")
    invite = invite.replace(b"To: <sip:record=REC7001@127.0.0.2>", b"To: <sip:record=REC7001@127.0.0.2>;tag=rec7001")
    invite = invite.replace(b"branch=z9hG4bKa1", b"branch=z9hG4bKre%d" % cseq).replace(b"CSeq: 1 INVITE", b"CSeq: %d INVITE" % cseq)
    invite = invite.replace(b"o=- 8001 1 ", b"o=- 8001 %d " % cseq).replace(b"a=sendonly", b"a=" + direction.encode())
    return MS_SIP, REC_SIP, _length(invite)


def _reanswer(direction: str = "inactive", origin: bytes = b"o=- 9001 2 IN IP4 127.0.0.2", cseq: int = 2,
              status: bytes = b"200 OK") -> Message:
    ok = fixture("leg_a_ok.sip").replace(b"branch=z9hG4bKa1", b"branch=z9hG4bKre%d" % cseq)
    ok = ok.replace(b"CSeq: 1 INVITE", b"CSeq: %d INVITE" % cseq).replace(b"o=- 9001 1 IN IP4 127.0.0.2", origin)
    ok = ok.replace(b"a=recvonly", b"a=" + direction.encode()).replace(b"200 OK", status)
    if status != b"200 OK":
        ok = ok.split(b"\n\n")[0].replace(b"Content-Type: application/sdp\n", b"") + b"\n\n"
    return REC_SIP, MS_SIP, _length(ok)


def _bye(cseq: int = 3) -> Message:
    bye = fixture("leg_a_bye.sip")
    bye = re.sub(rb"CSeq: \d+ BYE", b"CSeq: %d BYE" % cseq, bye)
    return MS_SIP, REC_SIP, _length(bye)


def _run(tmp_path: Path, flow: list[Message]) -> SipReport:
    frames = [(1000.0 + i * 0.01, ether(udp(src, dst, data))) for i, (src, dst, data) in enumerate(flow)]
    return validate_sip(read_capture(write_pcap(tmp_path / "sip.pcap", frames)), recorder=(REC_SIP[0], 0),
                        mode=ExpectedMode.ANY)


def _ids(report: SipReport) -> list[str]:
    return sorted(f.requirement_id for f in report.findings)


def test_pause_and_resume_answered_right_give_no_finding(tmp_path: Path) -> None:
    flow = [*_initial(), _reinvite("inactive", 2), _reanswer("inactive", cseq=2),
            _reinvite("sendonly", 3), _reanswer("recvonly", b"o=- 9001 3 IN IP4 127.0.0.2", cseq=3)]
    report = _run(tmp_path, flow)
    assert report.findings == []
    assert report.dialogs["call-a@127.0.0.1"].reinvites == 2


def test_inactive_reinvite_answered_recvonly_fails_sdp_answer_inactive(tmp_path: Path) -> None:
    report = _run(tmp_path, [*_initial(), _reinvite("inactive"), _reanswer("recvonly")])
    assert _ids(report) == ["SDP-ANSWER-INACTIVE"]
    assert report.findings[0].call_id == "call-a@127.0.0.1" and report.findings[0].evidence.packet_index == 5


def test_sendonly_reinvite_answered_sendrecv_fails_sdp_answer_recvonly(tmp_path: Path) -> None:
    report = _run(tmp_path, [*_initial(), _reinvite("sendonly"), _reanswer("sendrecv")])
    assert _ids(report) == ["SDP-ANSWER-RECVONLY"]


def test_initial_inactive_offer_answered_recvonly_fails_too(tmp_path: Path) -> None:
    flow = _initial()
    src, dst, invite = flow[0]
    flow[0] = (src, dst, _length(invite.replace(b"a=sendonly", b"a=inactive")))
    assert _ids(_run(tmp_path, flow)) == ["SDP-ANSWER-INACTIVE"]


def test_reanswer_with_new_session_id_fails_sdp_origin_kept(tmp_path: Path) -> None:
    report = _run(tmp_path, [*_initial(), _reinvite(), _reanswer(origin=b"o=- 9002 1 IN IP4 127.0.0.2")])
    assert _ids(report) == ["SDP-ORIGIN-KEPT"]
    assert report.findings[0].observed == "o=- 9002 1 IN IP4 127.0.0.2"


def test_unanswered_reinvite_fails_sip_reinvite_answered(tmp_path: Path) -> None:
    report = _run(tmp_path, [*_initial(), _reinvite()])
    assert _ids(report) == ["SIP-REINVITE-ANSWERED"]
    assert report.findings[0].call_id == "call-a@127.0.0.1" and "re-INVITE" in report.findings[0].message


def test_reinvite_answered_only_by_the_487_after_bye_fails(tmp_path: Path) -> None:
    bye_ok = (REC_SIP, MS_SIP, _length(re.sub(rb"CSeq: \d+ BYE", b"CSeq: 3 BYE", fixture("leg_a_bye_ok.sip"))))
    flow = [*_initial(), _reinvite(), _bye(3), _reanswer(status=b"487 Request Terminated"), bye_ok]
    report = _run(tmp_path, flow)
    assert _ids(report) == ["SIP-REINVITE-ANSWERED"]
    assert "after the dialog's BYE" in report.findings[0].message


def _to_pcma(message: Message) -> Message:
    src, dst, data = message
    data = data.replace(b"RTP/AVP 0 101", b"RTP/AVP 8 101").replace(b"RTP/AVP 0\r\n", b"RTP/AVP 8\r\n")
    return src, dst, data.replace(b"a=rtpmap:0 PCMU/8000", b"a=rtpmap:8 PCMA/8000")


def test_a_codec_change_by_reinvite_widens_the_formats_the_stream_may_carry(tmp_path: Path) -> None:
    """Before: the negotiated stream kept the first answer's formats only, so RTP in the codec a
    re-INVITE moved to (features/11_midcall_changes.feature, PCMU -> PCMA) was reported as
    RTP-PT-MATCHES-SDP against a conforming recorder. After: the formats of every answer."""
    report = _run(tmp_path, [*_initial(), _to_pcma(_reinvite("sendonly")), _to_pcma(_reanswer("recvonly"))])
    assert _ids(report) == []
    (dialog,) = report.dialogs.values()
    assert [sorted(m.payload_types) for m in dialog.media] == [[0, 8]]
    # A pause re-INVITE with the same codec changes nothing.
    report = _run(tmp_path, [*_initial(), _reinvite(), _reanswer()])
    assert [sorted(m.payload_types) for m in next(iter(report.dialogs.values())).media] == [[0]]
