from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.spec.catalogue import load_catalogue
from harness.validators import recording, rtp, sip
from harness.validators.pcap import read_capture
from harness.validators.rtp import validate_rtp
from harness.validators.sip import ExpectedMode, SipReport, validate_sip
from tests.unit.validators.builders import REC_SIP, ether, rtp_stream, sip_flow, udp, write_pcap

Flow = list[tuple[tuple[str, int], tuple[str, int], bytes]]


def _run(tmp_path: Path, flow: Flow, mode: ExpectedMode = ExpectedMode.TWO_SESSIONS, extra=()) -> SipReport:  # type: ignore[no-untyped-def]
    frames = [(1000.0 + i * 0.01, ether(udp(src, dst, data))) for i, (src, dst, data) in enumerate(flow)]
    path = write_pcap(tmp_path / "sip.pcap", frames + list(extra))
    return validate_sip(read_capture(path), recorder=(REC_SIP[0], 0), mode=mode)


def _ids(report: SipReport) -> list[str]:
    return sorted(f.requirement_id for f in report.findings)


def _fix_length(message: bytes) -> bytes:
    head, _, body = message.partition(b"\r\n\r\n")
    head = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % len(body), head)
    return head + b"\r\n\r\n" + body


def _edit(flow: Flow, name_part: bytes, fn: Callable[[bytes], bytes]) -> Flow:
    """Edit the fixture messages containing `name_part`, keeping Content-Length right."""
    return [(s, d, _fix_length(fn(m)) if name_part in m else m) for s, d, m in flow]


def test_good_two_session_call(tmp_path: Path) -> None:
    report = _run(tmp_path, sip_flow())
    assert report.findings == []
    assert len(report.dialogs) == 2
    dialog = report.dialogs["call-a@127.0.0.1"]
    assert dialog.target is not None and dialog.target.dn == "7001" and dialog.acked and dialog.bye_status == 200
    assert [(m.answer_endpoint, m.answer_direction) for m in dialog.media] == [(("127.0.0.2", 30000), "recvonly")]


def test_sip_and_rtp_together(tmp_path: Path) -> None:
    frames = [(1000.0 + i * 0.01, ether(udp(s, d, m))) for i, (s, d, m) in enumerate(sip_flow(parts=("invite", "ok", "ack")))]
    frames += rtp_stream(("127.0.0.1", 20000), ("127.0.0.2", 30000), range(1, 20))
    path = write_pcap(tmp_path / "call.pcap", frames)
    report = validate_sip(read_capture(path))
    rtp_report = validate_rtp(read_capture(path), report.negotiated)
    # leg b got no RTP: exactly one RTP-STREAM-RECEIVED, for port 30002
    assert [f.requirement_id for f in rtp_report.findings] == ["RTP-STREAM-RECEIVED"]
    assert "30002" in rtp_report.findings[0].message


def test_sendrecv_answer(tmp_path: Path) -> None:
    flow = _edit(sip_flow(), b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa1\r\n",
                 lambda m: m.replace(b"a=recvonly", b"a=sendrecv"))
    report = _run(tmp_path, flow)
    assert _ids(report) == ["SDP-ANSWER-RECVONLY"]
    assert report.findings[0].evidence.packet_index == 3 and report.findings[0].evidence.header_line == "a=sendrecv"


def test_missing_ack(tmp_path: Path) -> None:
    flow = [x for x in sip_flow() if not (x[2].startswith(b"ACK") and b"call-b" in x[2])]
    assert _ids(_run(tmp_path, flow)) == ["SIP-DIALOG-ESTABLISHED"]


def test_missing_bye_response(tmp_path: Path) -> None:
    flow = [x for x in sip_flow() if not (b"CSeq: 2 BYE" in x[2] and x[2].startswith(b"SIP/2.0") and b"call-a" in x[2])]
    report = _run(tmp_path, flow)
    assert _ids(report) == ["ARE-10-BYE-ENDS-STREAM"]
    assert report.findings[0].evidence.header_line is not None
    assert report.findings[0].evidence.header_line.startswith("BYE ")


def test_unanswered_invite_and_stray_response(tmp_path: Path) -> None:
    flow = [x for x in sip_flow(legs=("leg_a",), parts=("invite",))]
    flow += sip_flow(legs=("leg_b",), parts=("ok",))  # a 200 for a request never seen
    ids = _ids(_run(tmp_path, flow, ExpectedMode.ANY))
    assert ids == ["SIP-DIALOG-ESTABLISHED", "SIP-RESP-CODES"]


def test_video_not_refused_and_refused(tmp_path: Path) -> None:
    good = _run(tmp_path, sip_flow(legs=("video",)), ExpectedMode.ANY)
    assert good.findings == []
    flow = _edit(sip_flow(legs=("video",)), b"m=video 0", lambda m: m.replace(b"m=video 0 RTP/AVP 96\r\n", b"m=video 30012 RTP/AVP 96\r\na=recvonly\r\n"))
    assert _ids(_run(tmp_path, flow, ExpectedMode.ANY)) == ["SDP-VIDEO-REFUSED-PORT0"]


def test_mline_dropped_and_codec_not_offered(tmp_path: Path) -> None:
    flow = _edit(sip_flow(legs=("video",)), b"m=video 0", lambda m: m.replace(b"m=video 0 RTP/AVP 96\r\n", b""))
    assert _ids(_run(tmp_path, flow, ExpectedMode.ANY)) == ["SDP-MLINE-ORDER"]
    flow = _edit(sip_flow(), b"tag=rec7002\r\nCSeq: 1 INVITE",
                 lambda m: m.replace(b"RTP/AVP 0\r\na=rtpmap:0 PCMU/8000", b"RTP/AVP 8\r\na=rtpmap:8 PCMA/8000"))
    assert _ids(_run(tmp_path, flow)) == ["SDP-CODEC-ACCEPTED"]


def test_ruri_without_recording_params_and_leg_count(tmp_path: Path) -> None:
    flow = _edit(sip_flow(), b"INVITE sip:record=REC7002",
                 lambda m: m.replace(b";recordDN=7001 SIP/2.0", b" SIP/2.0"))
    assert _ids(_run(tmp_path, flow)) == ["ARE-06-RURI-PARAMS"]
    one_leg = _run(tmp_path, sip_flow(legs=("leg_a",)))
    assert _ids(one_leg) == ["ARE-06-TWO-INVITES-PER-CALL"]
    assert _ids(_run(tmp_path, sip_flow(), ExpectedMode.SINGLE_SESSION)) == ["ARE-06-SINGLE-SESSION"]


def test_unparseable_message_is_a_finding(tmp_path: Path) -> None:
    flow = sip_flow(legs=("leg_a",))
    flow.insert(1, (REC_SIP, ("127.0.0.1", 5070), b"SIP/2.0 200 OK\r\nVia: garbage\r\n\r\n"))
    report = _run(tmp_path, flow, ExpectedMode.ANY)
    assert "SIP-MESSAGE-WELLFORMED" in _ids(report)
    assert next(f for f in report.findings if f.requirement_id == "SIP-MESSAGE-WELLFORMED").evidence.packet_index == 2


def test_every_emitted_requirement_is_in_the_catalogue() -> None:
    catalogue = load_catalogue()
    for module in (sip, rtp, recording):
        for req_id in module.EMITTED_REQUIREMENTS:
            assert req_id in catalogue, f"{module.__name__} emits unknown requirement {req_id}"


def _options_flow(*answers: str) -> Flow:
    from tests.unit.validators.builders import MS_SIP, fixture

    return [(MS_SIP, REC_SIP, fixture("options.sip")), *((REC_SIP, MS_SIP, fixture(a)) for a in answers)]


def test_options_answered_200_is_good(tmp_path: Path) -> None:
    report = _run(tmp_path, sip_flow() + _options_flow("options_ok.sip"))
    assert report.findings == []
    assert report.options == 1


def _options_answer(status: bytes, *, retry_after: bool) -> Flow:
    """The OPTIONS ping and a final answer with `status` (e.g. b"503 Service Unavailable")."""
    from tests.unit.validators.builders import MS_SIP, fixture

    answer = fixture("options_503.sip").replace(b"503 Service Unavailable", status)
    if retry_after:
        answer = answer.replace(b"Content-Length: 0", b"Retry-After: 30\r\nContent-Length: 0")
    return [(MS_SIP, REC_SIP, fixture("options.sip")), (REC_SIP, MS_SIP, answer)]


def test_options_without_answer_is_a_must_finding(tmp_path: Path) -> None:
    unanswered = _run(tmp_path, sip_flow() + _options_flow())
    assert _ids(unanswered) == ["SIP-OPTIONS-200"]
    assert "OPTIONS" in unanswered.findings[0].message
    assert unanswered.findings[0].severity.value == "MUST"


@pytest.mark.parametrize("status", [b"503 Service Unavailable", b"486 Busy Here"])
def test_options_busy_at_capacity_with_retry_after_is_good(tmp_path: Path, status: bytes) -> None:
    """RFC 3261 §11.2: the answer an INVITE would get; a recorder at capacity answers 503/486."""
    report = _run(tmp_path, sip_flow() + _options_answer(status, retry_after=True))
    assert report.findings == []
    assert report.options == 1


def test_options_busy_without_retry_after_is_a_should_finding(tmp_path: Path) -> None:
    busy = _run(tmp_path, sip_flow() + _options_flow("options_503.sip"))
    assert _ids(busy) == ["SIP-OPTIONS-BUSY-RETRY-AFTER"]
    assert busy.findings[0].severity.value == "SHOULD"
    assert busy.findings[0].observed == "503, no Retry-After"


@pytest.mark.parametrize("status", [b"404 Not Found", b"405 Method Not Allowed", b"500 Server Internal Error"])
def test_options_answered_with_another_status_is_a_must_finding(tmp_path: Path, status: bytes) -> None:
    report = _run(tmp_path, sip_flow() + _options_answer(status, retry_after=True))
    assert _ids(report) == ["SIP-OPTIONS-200"]
    assert report.findings[0].severity.value == "MUST"
    assert report.findings[0].observed == status[:3].decode()


def test_options_answered_after_the_transaction_timeout_is_a_must_finding(tmp_path: Path) -> None:
    ping, answer = _options_flow("options_ok.sip")
    frames = [(1000.0 + i * 0.01, ether(udp(src, dst, data))) for i, (src, dst, data) in enumerate(sip_flow())]
    frames += [(2000.0, ether(udp(*ping))), (2033.0, ether(udp(*answer)))]  # Timer F is 32 s
    path = write_pcap(tmp_path / "late.pcap", frames)
    report = validate_sip(read_capture(path), recorder=(REC_SIP[0], 0), mode=ExpectedMode.TWO_SESSIONS)
    assert _ids(report) == ["SIP-OPTIONS-200"]
    assert "timed out" in report.findings[0].message
