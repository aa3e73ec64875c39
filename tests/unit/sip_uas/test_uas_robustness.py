"""Bad input never raises; finished calls leave no state behind (RFC 3261 §8.2, §17.2, §18.3)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.protocol.errors import LocalProtocolError
from harness.protocol.sip.message import INTERNAL_ERROR_PREFIX, SipParseError
from harness.protocol.sip.transaction import Outgoing
from harness.protocol.sip.uas import (
    AckReceived,
    BadMessage,
    DialogTerminated,
    RequestHandle,
    RequestReceived,
    UserAgentServer,
)
from tests.unit.sip_uas.helpers import (
    FIXTURES,
    PEER,
    decode,
    load,
    make_ua,
    only_copied_from_to_is_malformed,
    sent,
)

ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.sip"))


@pytest.mark.parametrize(
    ("fixture", "status", "reason"),
    [
        ("malformed_cseq_method.sip", 400, "CSeq Method Mismatch"),
        ("malformed_short_body.sip", 400, None),
        ("malformed_version.sip", 505, "Version Not Supported"),
    ],
)
def test_answerable_malformed_request_gets_error_response(
    fixture: str, status: int, reason: str | None
) -> None:
    ua = make_ua()
    (ev,) = ua.receive_datagram(load(fixture), PEER, 0.0)
    assert isinstance(ev, BadMessage) and ev.answered and ev.error.status == status
    (out,) = ua.data_to_send()
    assert out.destination == PEER  # routed like any response (rport)
    resp = decode(out)
    assert resp.status == status and resp.to.tag  # §8.2.6.2 tag
    if reason is not None:
        assert resp.reason == reason
    assert ua.debug_sizes()["transactions"] == 0  # stateless answer


@pytest.mark.parametrize(
    "fixture", ["garbage.sip", "malformed_cseq.sip", "malformed_no_callid.sip", "response_200.sip"]
)
def test_unanswerable_input_is_dropped(fixture: str) -> None:
    ua = make_ua()
    (ev,) = ua.receive_datagram(load(fixture), PEER, 0.0)
    assert isinstance(ev, BadMessage) and not ev.answered and ev.source == PEER
    assert ua.data_to_send() == []


def test_malformed_ack_is_never_answered() -> None:
    ack = load("ack_2xx.sip").replace(b"CSeq: 1 ACK", b"CSeq: 1 INVITE")
    ua = make_ua()
    (ev,) = ua.receive_datagram(ack, PEER, 0.0)
    assert isinstance(ev, BadMessage) and not ev.answered
    assert ua.data_to_send() == []


def _parses_back(out: Outgoing) -> None:
    """Everything we send parses back, except a From/To copied verbatim from a request whose
    From/To was malformed: §8.2.6.2 says the response's From and To "MUST equal" the request's."""
    try:
        decode(out)
    except SipParseError as err:
        assert only_copied_from_to_is_malformed(out.data), (err, out.data)


def _variant(name: str, n: int) -> bytes:
    data = load(name)
    for old in (b"call1@", b"opt1@", b"none@"):
        data = data.replace(old, f"c{n}-".encode() + old)
    return data.replace(b"z9hG4bK-", f"z9hG4bK-{n}-".encode())


def test_tables_empty_after_many_calls_and_timers() -> None:
    ua = make_ua(local_tag_factory=lambda: "uas-1")  # Call-IDs keep the dialogs apart
    now = 0.0
    for n in range(40):
        now += 0.25
        kind = n % 4
        (ev,) = ua.receive_datagram(_variant("invite.sip", n), PEER, now)
        assert isinstance(ev, RequestReceived)
        if kind == 3:  # cancelled before the answer, ACK for the 487
            ua.receive_datagram(_variant("cancel.sip", n), PEER, now)
            ua.receive_datagram(_variant("ack_non2xx.sip", n), PEER, now)
            continue
        ua.respond(ev.handle, 200, body=b"v=0\r\n", content_type="application/sdp", now=now)
        if kind == 2:  # never ACKed: ends on the 64*T1 timer
            continue
        (ack,) = ua.receive_datagram(_variant("ack_2xx.sip", n), PEER, now)
        assert isinstance(ack, AckReceived)
        if kind == 0:
            (bye,) = ua.receive_datagram(_variant("bye.sip", n), PEER, now)
            assert isinstance(bye, DialogTerminated)
        (opt,) = ua.receive_datagram(_variant("options.sip", n), PEER, now)
        assert isinstance(opt, RequestReceived)
        ua.respond(opt.handle, 200, now=now)
    during = ua.debug_sizes()
    assert during["transactions"] > 0 and during["dialogs"] > 0
    events = ua.on_timer(now + 100.0)
    assert sum(isinstance(e, DialogTerminated) for e in events) == 10  # the never-ACKed ones
    ua.data_to_send()
    # kind 1 calls stay established (no BYE): their dialogs remain, nothing else.
    assert ua.debug_sizes() == {
        "transactions": 0,
        "handles": 0,
        "dialogs": 10,
        "framers": 0,
        "timers": 0,
        "armed": 0,
    }
    assert ua.next_deadline() is None


# -- property test ---------------------------------------------------------------------------
_mutation = st.one_of(
    st.just(("none", 0, 0)),
    st.tuples(st.just("truncate"), st.integers(0, 600), st.just(0)),
    st.tuples(st.just("flip"), st.integers(0, 600), st.integers(0, 255)),
)
_step = st.one_of(
    st.tuples(st.just("dgram"), st.sampled_from(ALL_FIXTURES), _mutation),
    st.tuples(st.just("stream"), st.sampled_from(ALL_FIXTURES), _mutation),
    st.tuples(st.just("random"), st.binary(max_size=200), st.just(("none", 0, 0))),
    st.tuples(st.just("timer"), st.floats(0.0, 40.0), st.just(("none", 0, 0))),
    st.tuples(
        st.just("respond"), st.integers(0, 10), st.sampled_from([("s", 180, 0), ("s", 200, 0), ("s", 486, 0)])
    ),
)


def _mutate(data: bytes, mutation: tuple[str, int, int]) -> bytes:
    kind, pos, value = mutation
    if kind == "truncate":
        return data[:pos]
    if kind == "flip" and data:
        pos %= len(data)
        return data[:pos] + bytes([value]) + data[pos + 1 :]
    return data


def _no_internal_errors(events: list[object]) -> None:
    for e in events:
        if isinstance(e, BadMessage):
            assert not str(e.error).startswith(INTERNAL_ERROR_PREFIX), e.error


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_step, max_size=40))
def test_random_sequences_never_raise_and_leave_no_state(
    steps: list[tuple[str, object, tuple[str, int, int]]],
) -> None:
    ua: UserAgentServer = make_ua(local_tag_factory=lambda: "uas-1")  # so fixture ACK/BYE match
    now = 0.0
    handles: list[RequestHandle] = []
    conn = ("127.0.0.1", 50222)
    for kind, arg, mutation in steps:
        events: list[object] = []
        if kind == "dgram":
            assert isinstance(arg, str)
            events = list(ua.receive_datagram(_mutate(load(arg), mutation), PEER, now))
        elif kind == "stream":
            assert isinstance(arg, str)
            events = list(ua.receive_stream_bytes(conn, _mutate(load(arg), mutation), now))
        elif kind == "random":
            assert isinstance(arg, bytes)
            events = list(ua.receive_datagram(arg, PEER, now))
        elif kind == "timer":
            assert isinstance(arg, float)
            now += arg
            events = list(ua.on_timer(now))
        elif handles:
            assert isinstance(arg, int)
            handle = handles[arg % len(handles)]
            status = mutation[1]
            if ua.is_pending(handle):
                ua.respond(handle, status, now=now)  # must not raise while pending
            else:
                with pytest.raises(LocalProtocolError):
                    ua.respond(handle, status, now=now)
        _no_internal_errors(events)
        handles.extend(e.handle for e in events if isinstance(e, RequestReceived))
        for out in ua.data_to_send():
            assert out.data.startswith(b"SIP/2.0 ")
            _parses_back(out)
    # Wind down: answer what is left, close the connection, let every timer run out.
    for handle in handles:
        if ua.is_pending(handle):
            ua.respond(handle, 486, now=now)
    ua.connection_closed(conn)
    ua.on_timer(now + 200.0)
    sizes = ua.debug_sizes()
    assert (
        sizes["transactions"]
        == sizes["handles"]
        == sizes["framers"]
        == sizes["timers"]
        == sizes["armed"]
        == 0
    )
    assert ua.next_deadline() is None
    sent(ua)


def test_retransmission_storm_does_not_grow_timer_heap() -> None:
    ua = make_ua()
    (ev,) = ua.receive_datagram(load("options.sip"), PEER, 0.0)
    ua.respond(ev.handle, 200, now=0.0)
    for i in range(200):
        assert ua.receive_datagram(load("options.sip"), PEER, 0.01 * i) == []
    assert len(ua.data_to_send()) == 201
    assert ua.debug_sizes()["timers"] == 1


def test_ipv6_source_gets_received_param() -> None:
    ua = make_ua()
    (ev,) = ua.receive_datagram(load("options.sip"), ("::1", 5000), 0.0)
    ua.respond(ev.handle, 200, now=0.0)
    (out,) = ua.data_to_send()
    assert out.destination == ("::1", 5080)
    assert b";received=::1" in out.data  # §20.42: via-received = IPv4address / IPv6address


def test_the_parse_back_exception_covers_only_a_copied_from_or_to() -> None:
    head = b"SIP/2.0 505 Version Not Supported\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n"
    tail = b"Call-ID: x@h\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    copied_from = head + b"From: \"\x00MS\" <sip:ms@h>;tag=a\r\nTo: <sip:rec@h>;tag=b\r\n" + tail
    assert only_copied_from_to_is_malformed(copied_from)
    broken_via = copied_from.replace(b"SIP/2.0/UDP 127.0.0.1:5070", b"SIP/2.0/UDP \x00:5070")
    assert not only_copied_from_to_is_malformed(broken_via)
    assert not only_copied_from_to_is_malformed(head + b"To: <sip:rec@h>\r\n" + tail.replace(b"CSeq: 1", b"CSeq: x"))
