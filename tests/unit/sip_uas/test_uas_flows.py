"""UserAgentServer driven with full message sequences from wire fixtures (RFC 3261 §8.2, §9.2,
§12, §13.3, §15.1.2, §17.2, §18.2.2; RFC 3581; RFC 6026). Time is `now` arithmetic only."""

from __future__ import annotations

import pytest

from harness.protocol.errors import LocalProtocolError
from harness.protocol.sip.dialog import DialogId, TerminationReason
from harness.protocol.sip.headers import Via
from harness.protocol.sip.uas import (
    AckReceived,
    CancelReceived,
    DialogTerminated,
    RequestHandle,
    RequestReceived,
    RequestRejected,
)
from tests.unit.sip_uas.helpers import CONTACT, PEER, decode, load, make_ua, sent, statuses

ANSWER = (
    b"v=0\r\no=rec 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\n"
)
DIALOG_ID = DialogId("call1@127.0.0.1", "uas-1", "ft1")


def start_call(ua, now: float = 0.0) -> RequestHandle:  # type: ignore[no-untyped-def]
    events = ua.receive_datagram(load("invite.sip"), PEER, now)
    assert len(events) == 1 and isinstance(events[0], RequestReceived)
    return events[0].handle


def answer(ua, handle: RequestHandle, now: float = 0.0) -> None:  # type: ignore[no-untyped-def]
    ua.respond(handle, 200, body=ANSWER, content_type="application/sdp", now=now)


def test_invite_trying_ringing_ok_ack() -> None:
    ua = make_ua()
    events = ua.receive_datagram(load("invite.sip"), PEER, 0.0)
    (ev,) = events
    assert isinstance(ev, RequestReceived)
    assert ev.request.method == "INVITE" and ev.dialog is None and ev.in_dialog is False
    (trying,) = sent(ua)
    assert trying.status == 100 and trying.to.tag is None  # §8.2.6.1: no tag needed on 100
    assert ua.respond(ev.handle, 180, now=0.1) is None
    (ringing,) = sent(ua)
    assert ringing.status == 180 and ringing.to.tag == "uas-1"
    dialog = ua.respond(ev.handle, 200, body=ANSWER, content_type="application/sdp", now=0.2)
    assert dialog is not None and dialog.id == DIALOG_ID
    assert dialog.remote_target == "sip:ms@127.0.0.1:5070"
    assert dialog.route_set == ("<sip:rm1@127.0.0.1:5090;lr>", "<sip:rm2@127.0.0.1:5091;lr>")
    assert dialog.remote_cseq == 1
    (ok,) = sent(ua)
    assert ok.status == 200 and ok.to.tag == "uas-1" and ok.body == ANSWER
    assert ok.headers.get("Contact") == CONTACT  # §12.1.1
    assert ok.headers.get_all("Record-Route") == list(dialog.route_set)  # §12.1.1 copy
    with pytest.raises(LocalProtocolError):
        ua.respond(ev.handle, 200, now=0.3)  # one final response per request
    (ack,) = ua.receive_datagram(load("ack_2xx.sip"), PEER, 0.3)
    assert isinstance(ack, AckReceived) and ack.dialog.id == DIALOG_ID
    assert b"m=audio 40010" in ack.request.body  # the ACK carries the SDP answer
    # ACK stops 2xx retransmission (§13.3.1.4); a repeated ACK is not surfaced twice.
    assert ua.receive_datagram(load("ack_2xx.sip"), PEER, 0.4) == []
    assert ua.on_timer(10.0) == [] and ua.data_to_send() == []


def test_invite_retransmission_absorbed_and_last_response_resent() -> None:
    ua = make_ua()
    handle = start_call(ua)
    assert statuses(ua) == [100]
    assert ua.receive_datagram(load("invite.sip"), PEER, 0.1) == []
    assert statuses(ua) == [100]  # Proceeding: latest provisional resent
    ua.respond(handle, 183, now=0.2)
    sent(ua)
    assert ua.receive_datagram(load("invite.sip"), PEER, 0.3) == []
    assert statuses(ua) == [183]
    answer(ua, handle, 0.4)
    (ok,) = ua.data_to_send()
    assert ua.receive_datagram(load("invite.sip"), PEER, 0.5) == []  # Accepted: absorbed
    (again,) = ua.data_to_send()
    assert again == ok  # the same 200, byte for byte


def test_2xx_retransmitted_t1_doubling_capped_until_ack() -> None:
    ua = make_ua()
    answer(ua, start_call(ua), 0.0)
    sent(ua)
    times = []
    while (deadline := ua.next_deadline()) is not None and deadline < 20.0:
        assert ua.on_timer(deadline) == []
        (out,) = sent(ua)
        assert out.status == 200
        times.append(deadline)
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5][: len(times)] and len(times) == 7
    ua.receive_datagram(load("ack_2xx.sip"), PEER, 20.0)
    ua.on_timer(25.0)
    assert ua.data_to_send() == []


def test_no_ack_ends_dialog_after_64_t1() -> None:
    ua = make_ua()
    answer(ua, start_call(ua), 0.0)
    sent(ua)
    assert ua.on_timer(31.9) == []
    retransmissions = statuses(ua)
    assert retransmissions and set(retransmissions) == {200}
    (ev,) = ua.on_timer(32.0)
    assert isinstance(ev, DialogTerminated) and ev.reason is TerminationReason.ACK_TIMEOUT
    assert ev.dialog.id == DIALOG_ID and ev.request is None
    # The dialog is gone: a late BYE gets 481 (§12.2.2).
    (rej,) = ua.receive_datagram(load("bye.sip"), PEER, 33.0)
    assert isinstance(rej, RequestRejected) and rej.status == 481


def test_cancel_before_answer_gives_200_and_487_then_ack_absorbed() -> None:
    ua = make_ua()
    handle = start_call(ua)
    sent(ua)
    (ev,) = ua.receive_datagram(load("cancel.sip"), PEER, 1.0)
    assert ev == CancelReceived(handle, ev.request)
    ok_cancel, terminated = sent(ua)
    assert (ok_cancel.status, ok_cancel.cseq.method) == (200, "CANCEL")
    assert (terminated.status, terminated.cseq.method) == (487, "INVITE")
    assert ok_cancel.to.tag == terminated.to.tag == "uas-1"  # §9.2 SHOULD be the same
    with pytest.raises(LocalProtocolError):
        ua.respond(handle, 200, now=1.1)
    # Timer G retransmits the 487 until the ACK (§17.2.1) ...
    ua.on_timer(1.5)
    assert statuses(ua) == [487]
    # ... the ACK for a non-2xx belongs to the transaction: absorbed, no event, no dialog.
    assert ua.receive_datagram(load("ack_non2xx.sip"), PEER, 1.6) == []
    assert ua.receive_datagram(load("cancel.sip"), PEER, 1.7) == []  # CANCEL retransmission
    assert statuses(ua) == [200]
    ua.on_timer(10.0)
    assert ua.data_to_send() == []


def test_cancel_after_final_has_no_effect_and_unknown_cancel_481() -> None:
    ua = make_ua()
    answer(ua, start_call(ua))
    sent(ua)
    assert ua.receive_datagram(load("cancel.sip"), PEER, 0.1) == []
    assert statuses(ua) == [200]
    (rej,) = ua.receive_datagram(load("cancel_unknown.sip"), PEER, 0.2)
    assert isinstance(rej, RequestRejected) and rej.status == 481
    (resp,) = sent(ua)
    assert resp.status == 481 and resp.reason == "Call/Transaction Does Not Exist"


def test_bye_terminates_dialog_and_retransmission_resends_200() -> None:
    ua = make_ua()
    answer(ua, start_call(ua))
    ua.receive_datagram(load("ack_2xx.sip"), PEER, 0.1)
    sent(ua)
    (ev,) = ua.receive_datagram(load("bye.sip"), PEER, 5.0)
    assert isinstance(ev, DialogTerminated) and ev.reason is TerminationReason.BYE_RECEIVED
    assert ev.dialog.id == DIALOG_ID and ev.request is not None and ev.request.method == "BYE"
    (ok,) = sent(ua)
    assert (ok.status, ok.cseq.method, ok.to.tag) == (200, "BYE", "uas-1")
    assert ua.receive_datagram(load("bye.sip"), PEER, 6.0) == []
    assert statuses(ua) == [200]


@pytest.mark.parametrize("fixture", ["bye_unknown.sip", "bye_no_tag.sip"])
def test_bye_outside_any_dialog_481(fixture: str) -> None:
    ua = make_ua()
    (ev,) = ua.receive_datagram(load(fixture), PEER, 0.0)
    assert isinstance(ev, RequestRejected) and ev.status == 481
    (resp,) = sent(ua)
    assert resp.status == 481 and resp.to.tag  # a tag in every non-100 response


def test_reinvite_in_dialog_target_refresh_overlap_and_ack() -> None:
    ua = make_ua()
    answer(ua, start_call(ua))
    ua.receive_datagram(load("ack_2xx.sip"), PEER, 0.1)
    sent(ua)
    (ev,) = ua.receive_datagram(load("reinvite.sip"), PEER, 10.0)
    assert isinstance(ev, RequestReceived) and ev.in_dialog and ev.dialog is not None
    assert ev.dialog.remote_target == "sip:ms2@127.0.0.1:5072"  # §12.2.2 target refresh
    assert ev.dialog.remote_cseq == 3
    assert statuses(ua) == [100]
    # §14.2: a second INVITE while the first has no final response: 500 + Retry-After 0..10.
    (rej,) = ua.receive_datagram(load("reinvite_overlap.sip"), PEER, 10.1)
    assert isinstance(rej, RequestRejected) and rej.status == 500
    (resp,) = sent(ua)
    retry_after = resp.headers.get("Retry-After")
    assert resp.status == 500 and retry_after is not None and 0 <= int(retry_after) <= 10
    dialog = ua.respond(ev.handle, 200, body=ANSWER, content_type="application/sdp", now=10.2)
    assert dialog is not None and dialog.id == DIALOG_ID
    (ok,) = sent(ua)
    assert ok.status == 200 and ok.to.tag == "uas-1" and ok.cseq.number == 3
    ua.on_timer(10.7)
    # Both retransmit: the 500 on Timer G (§17.2.1), the re-INVITE 2xx by the core (§13.3.1.4).
    assert sorted(statuses(ua)) == [200, 500]
    (ack,) = ua.receive_datagram(load("ack_reinvite.sip"), PEER, 11.0)
    assert isinstance(ack, AckReceived)
    # After the final response a new re-INVITE is acceptable again (CSeq 4 > 3).
    (again,) = ua.receive_datagram(
        load("reinvite_overlap.sip").replace(b"z9hG4bK-reinv2", b"z9hG4bK-r3"), PEER, 12.0
    )
    assert isinstance(again, RequestReceived)


def test_bye_while_reinvite_pending_answers_it_487() -> None:
    ua = make_ua()
    answer(ua, start_call(ua))
    ua.receive_datagram(load("ack_2xx.sip"), PEER, 0.1)
    (ev,) = ua.receive_datagram(load("reinvite.sip"), PEER, 1.0)
    sent(ua)
    bye = load("bye.sip").replace(b"CSeq: 2 BYE", b"CSeq: 5 BYE")
    (term,) = ua.receive_datagram(bye, PEER, 2.0)
    assert isinstance(term, DialogTerminated)
    assert [(r.status, r.cseq.method) for r in sent(ua)] == [(487, "INVITE"), (200, "BYE")]
    with pytest.raises(LocalProtocolError):
        ua.respond(ev.handle, 200, now=2.1)


def test_lower_cseq_in_dialog_500() -> None:
    ua = make_ua()
    answer(ua, start_call(ua))
    ua.receive_datagram(load("ack_2xx.sip"), PEER, 0.1)
    ua.receive_datagram(load("reinvite.sip"), PEER, 1.0)  # remote CSeq now 3
    sent(ua)
    (rej,) = ua.receive_datagram(load("info_low_cseq.sip"), PEER, 2.0)  # CSeq 1
    assert isinstance(rej, RequestRejected) and rej.status == 500
    assert statuses(ua) == [500]


def test_options_out_of_dialog_received_param_and_retransmission() -> None:
    ua = make_ua()
    source = ("127.0.0.9", 40999)
    (ev,) = ua.receive_datagram(load("options.sip"), source, 0.0)
    assert isinstance(ev, RequestReceived) and ev.dialog is None and not ev.in_dialog
    assert ua.data_to_send() == []  # no 100 for non-INVITE (§8.2.6.1)
    assert ua.respond(ev.handle, 200, now=0.1) is None
    (out,) = ua.data_to_send()
    # §18.2.2: no rport -> received address, port from sent-by (client.invalid:5080).
    assert out.destination == ("127.0.0.9", 5080) and out.transport == "udp"
    resp = decode(out)
    top = Via.parse(resp.headers.get_all("Via")[0])
    assert top.received == "127.0.0.9" and top.rport is None
    assert resp.to.tag == "uas-1"
    assert "INVITE" in (resp.headers.get("Allow") or "")  # §11.2
    # Completed: retransmitted OPTIONS gets the same final response, no new event.
    assert ua.receive_datagram(load("options.sip"), source, 1.0) == []
    (again,) = ua.data_to_send()
    assert again == out
    # Timer J = 64*T1 frees the transaction.
    assert ua.next_deadline() == pytest.approx(32.1)
    ua.on_timer(32.1)
    assert ua.debug_sizes()["transactions"] == 0


def test_rport_response_goes_to_source_port() -> None:
    ua = make_ua()
    start_call(ua)
    (out,) = ua.data_to_send()
    assert out.destination == PEER  # RFC 3581 §4
    top = Via.parse(decode(out).headers.get_all("Via")[0])
    assert top.rport == "40123" and top.received == "127.0.0.1"  # received even if identical
    assert top.branch == "z9hG4bK-inv1"


def test_420_bad_extension() -> None:
    ua = make_ua()
    (ev,) = ua.receive_datagram(load("options_require.sip"), PEER, 0.0)
    assert isinstance(ev, RequestRejected) and ev.status == 420
    (resp,) = sent(ua)
    assert resp.status == 420 and resp.headers.get("Unsupported") == "foo"  # timer is supported


def test_501_unknown_method_and_405_known_not_allowed() -> None:
    ua = make_ua()
    (ev,) = ua.receive_datagram(load("unknown_method.sip"), PEER, 0.0)
    assert isinstance(ev, RequestRejected) and ev.status == 501
    (resp,) = sent(ua)
    assert resp.status == 501 and "BYE" in (resp.headers.get("Allow") or "")
    (ev,) = ua.receive_datagram(load("subscribe.sip"), PEER, 0.0)
    assert isinstance(ev, RequestRejected) and ev.status == 405
    (resp,) = sent(ua)
    assert resp.status == 405 and resp.headers.get("Allow")


def test_invite_without_contact_400() -> None:
    ua = make_ua()
    (ev,) = ua.receive_datagram(load("invite_no_contact.sip"), PEER, 0.0)
    assert isinstance(ev, RequestRejected) and ev.status == 400
    assert statuses(ua) == [400]


def test_2xx_to_invite_without_contact_is_local_error() -> None:
    ua = make_ua(contact=None)
    handle = start_call(ua)
    with pytest.raises(LocalProtocolError):
        ua.respond(handle, 200, now=0.1)
    dialog = ua.respond(handle, 200, headers=[("Contact", "<sip:x@127.0.0.1>")], now=0.1)
    assert dialog is not None


def test_tcp_stream_framing_split_and_close_on_error() -> None:
    ua = make_ua()
    conn = ("127.0.0.1", 50111)
    data = load("invite_tcp.sip")
    assert ua.receive_stream_bytes(conn, data[:40], 0.0) == []
    (ev,) = ua.receive_stream_bytes(conn, data[40:], 0.0)
    assert isinstance(ev, RequestReceived)
    (trying,) = ua.data_to_send()
    assert trying.transport == "tcp" and trying.destination == conn
    ua.respond(ev.handle, 486, now=0.1)
    (busy,) = ua.data_to_send()
    assert decode(busy).status == 486
    # Reliable transport: no Timer G; the ACK moves to Confirmed and Timer I = 0 frees it.
    ua.on_timer(5.0)
    assert ua.data_to_send() == []
    ack = load("ack_non2xx.sip").replace(
        b"UDP 127.0.0.1:5070;branch=z9hG4bK-inv1;rport", b"TCP 127.0.0.1:5070;branch=z9hG4bK-tcp1"
    )
    ack = ack.replace(b"call1@", b"tcp1@")
    assert ua.receive_stream_bytes(conn, ack, 5.0) == []
    assert ua.debug_sizes()["transactions"] == 0
    events = ua.receive_stream_bytes(conn, b"INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n", 6.0)
    assert [type(e).__name__ for e in events] == ["BadMessage", "CloseConnection"]
    assert ua.debug_sizes()["framers"] == 0
