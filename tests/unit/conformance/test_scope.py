"""A scenario judges only its own dialogs and the RTP its SDP negotiated; foreign traffic is
ignored and counted (harness.conformance.scope)."""

from __future__ import annotations

from harness.capture.model import Datagram, PayloadKind, Transport
from harness.conformance.scope import ForeignTraffic, Scope, call_id_of, own_rtp, own_sip

REC = ("127.0.0.2", 5060)
LEG = ("127.0.0.1", 5070)
SCOPE = Scope(call_ids=frozenset({"arec-1@127.0.0.1"}), sip_endpoints=frozenset({LEG}), recorder=REC)


def _sip(src: tuple[str, int], dst: tuple[str, int], call_id: str | None, start: bytes = b"OPTIONS sip:x SIP/2.0",
         transport: Transport = Transport.UDP) -> Datagram:
    head = start + b"\r\n" + (b"Call-ID: " + call_id.encode() + b"\r\n" if call_id else b"") + b"\r\n"
    return Datagram(1, 1000.0, src, dst, transport, head, PayloadKind.SIP)


def _rtp(src: tuple[str, int], dst: tuple[str, int]) -> Datagram:
    return Datagram(2, 1000.0, src, dst, Transport.UDP, b"\x80\x00" + b"\x00" * 10, PayloadKind.RTP)


def test_call_id_is_found_even_in_a_message_that_does_not_parse() -> None:
    assert call_id_of(b"INVITE sip:user@example.com; lr SIP/2.0\r\ni: abc@h \r\n\r\n") == "abc@h"
    assert call_id_of(b"INVITE sip:x SIP/2.0\r\nCALL-ID:q\r\n\r\nCall-ID: body") == "q"
    assert call_id_of(b"garbage") is None


def test_own_sip_is_kept_and_foreign_sip_counted() -> None:
    foreign = ForeignTraffic()
    mine_by_endpoint = _sip(LEG, REC, None)
    mine_by_call_id = _sip(("127.0.0.1", 40000), REC, "arec-1@127.0.0.1")  # e.g. the recorder's BYE path
    noise = _sip(("127.0.0.9", 5999), REC, "noise-1", b"INVITE sip:user@example.com; lr SIP/2.0")
    malformed_noise = _sip(("127.0.0.9", 5999), REC, None, b"\x00\x01garbage")
    kept = own_sip([mine_by_endpoint, mine_by_call_id, noise, malformed_noise, _rtp(LEG, REC)], SCOPE, foreign)
    assert kept == [mine_by_endpoint, mine_by_call_id, _rtp(LEG, REC)]
    assert foreign.total == 2 and foreign.by_kind["SIP"] == 2
    assert str(foreign) == "2 foreign datagram(s) ignored (2 SIP)"
    assert any("user@example.com" in e for e in foreign.examples)


def test_tcp_sip_to_the_recorder_is_kept_whole() -> None:
    foreign = ForeignTraffic()
    segment = _sip(("127.0.0.1", 45000), REC, None, b"part of a message", Transport.TCP)
    assert own_sip([segment], SCOPE, foreign) == [segment] and foreign.total == 0


def test_rtp_on_negotiated_endpoints_is_kept_other_ports_are_foreign() -> None:
    foreign = ForeignTraffic()
    negotiated = {("127.0.0.1", 20000), ("127.0.0.2", 30000)}
    mine = _rtp(("127.0.0.1", 20000), ("127.0.0.2", 30000))
    rtcp = _rtp(("127.0.0.1", 20001), ("127.0.0.2", 30001))
    noise_on_recorder_host = _rtp(("127.0.0.9", 7000), ("127.0.0.2", 31000))
    noise_elsewhere = _rtp(("127.0.0.1", 7000), ("127.0.0.1", 7002))
    sip = _sip(LEG, REC, None)
    kept = own_rtp([sip, mine, rtcp, noise_on_recorder_host, noise_elsewhere], negotiated, foreign)
    assert kept == [sip, mine, rtcp]
    assert foreign.by_kind["RTP"] == 2
