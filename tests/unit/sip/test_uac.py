"""The recording-session UAC: INVITE / ACK / BYE, retransmission and timeouts (RFC 3261 §13, §17.1)."""

from __future__ import annotations

from harness.protocol.genesys import RecordingTarget, build_recording_uri, parse_recording_uri
from harness.protocol.sip.message import SipRequest, build_response, parse_message
from harness.protocol.sip.uac import T1, TIMEOUT, Answered, Ended, Failed, RecordingSessionUac, UacState

CALLUUID = "0123456789ABCDEF0123456789ABCDEF"


def _uac() -> RecordingSessionUac:
    target = RecordingTarget("R1", CALLUUID, "7001", "7001")
    return RecordingSessionUac(build_recording_uri(target, "127.0.0.1", 5070), ("127.0.0.1", 40000))


def _request(data: bytes) -> SipRequest:
    message = parse_message(data)
    assert isinstance(message, SipRequest)
    return message


def _answer(request: SipRequest, status: int, **kwargs: object) -> bytes:
    return build_response(request, status, to_tag="uas1", **kwargs).to_bytes()  # type: ignore[arg-type]


def test_invite_carries_the_recording_uri_and_the_offer() -> None:
    uac = _uac()
    invite = _request(uac.invite(b"v=0\r\n", 0.0))
    assert invite.method == "INVITE"
    target = parse_recording_uri(invite.uri)
    assert (target.record_id, target.calluuid, target.dn, target.record_dn) == ("R1", CALLUUID, "7001", "7001")
    assert invite.body == b"v=0\r\n" and invite.content_type == "application/sdp"
    assert invite.top_via.host == "127.0.0.1" and invite.top_via.port == 40000


def test_2xx_is_acked_and_answers_with_latency() -> None:
    uac = _uac()
    invite = _request(uac.invite(b"v=0\r\n", 1.0))
    out, events = uac.receive(_answer(invite, 200, body=b"v=0\r\n", content_type="application/sdp"), 1.25)
    assert events == [Answered(200, b"v=0\r\n", 0.25)]
    ack = _request(out[0])
    assert ack.method == "ACK" and ack.cseq.number == invite.cseq.number
    assert "tag=uas1" in (ack.headers.get("To") or "")
    assert uac.state is UacState.CONFIRMED
    # A retransmitted 2xx is ACKed again, without a second event (§13.2.2.4).
    again, events = uac.receive(_answer(invite, 200), 1.5)
    assert again == out and events == []


def test_503_reports_retry_after_and_acks_in_the_transaction() -> None:
    uac = _uac()
    invite = _request(uac.invite(b"", 0.0))
    out, events = uac.receive(_answer(invite, 503, headers=[("Retry-After", "30 (busy)")]), 0.1)
    assert len(events) == 1 and isinstance(events[0], Failed)
    assert (events[0].status, events[0].retry_after) == (503, 30)
    ack = _request(out[0])
    assert ack.method == "ACK" and ack.top_via.branch == invite.top_via.branch  # §17.1.1.3
    assert uac.state is UacState.FAILED


def test_invite_is_retransmitted_until_a_provisional_response_then_times_out() -> None:
    uac = _uac()
    invite_bytes = uac.invite(b"", 0.0)
    assert uac.next_deadline() == T1
    out, events = uac.on_timer(T1)
    assert out == [invite_bytes] and events == []
    assert uac.next_deadline() == T1 + 2 * T1  # timer A doubles (§17.1.1.2)
    uac.receive(_answer(_request(invite_bytes), 100), 0.7)
    assert uac.next_deadline() == TIMEOUT  # no more retransmissions, timer B still runs
    out, events = uac.on_timer(TIMEOUT)
    assert out == [] and isinstance(events[0], Failed) and events[0].status is None


def test_bye_ends_the_dialog_and_stray_responses_are_ignored() -> None:
    uac = _uac()
    invite = _request(uac.invite(b"", 0.0))
    uac.receive(_answer(invite, 200), 0.1)
    bye = _request(uac.bye(2.0))
    assert bye.method == "BYE" and bye.cseq.number == invite.cseq.number + 1
    assert uac.receive(b"garbage", 2.1) == ([], [])
    other = _uac()
    stray = _request(other.invite(b"", 0.0))
    assert uac.receive(_answer(stray, 200), 2.1) == ([], [])
    assert uac.receive(_answer(bye, 200), 2.2) == ([], [Ended(200)])
    assert uac.state is UacState.ENDED
