"""The datagram fast path for stateless answers (issue 14 item 5: answer a flood beyond capacity
and the liveness pings throughout it).

`UserAgentServer.receive_datagram` answers a new OPTIONS / INVITE that the TU's stateless
policy answers from the request reduced to the header fields a response needs, through the one
parser (`parse_message`). These tests pin that it answers byte-for-byte as the full path does,
and that everything unusual still takes the full path (400, 420, absorbed retransmissions).
"""

from __future__ import annotations

import pytest

from harness.protocol.sip.message import SipRequest
from harness.protocol.sip.uas import AnsweredStatelessly, RequestReceived, StatelessAnswer, UserAgentServer
from tests.unit.sip_uas.helpers import PEER, decode, load, make_ua

_RETRY = ("Retry-After", "30")


def _policy(seen: list[SipRequest], *, refuse_invites: bool = True):  # type: ignore[no-untyped-def]
    def answer(request: SipRequest) -> StatelessAnswer | None:
        seen.append(request)
        if request.method == "OPTIONS":
            return 200, "OK", (("Accept", "application/sdp"),)
        if request.method == "INVITE" and refuse_invites:
            return 503, "Service Unavailable", (_RETRY,)
        return None
    return answer


def _ua(seen: list[SipRequest], **kw: bool) -> UserAgentServer:
    return make_ua(stateless=_policy(seen, **kw))


def _fold_subject(data: bytes) -> bytes:
    """The same request with a folded header the response does not copy: takes the full path."""
    head, sep, body = data.partition(b"\r\n\r\n")
    return head + b"\r\nSubject: flood\r\n  folded" + sep + body


@pytest.mark.parametrize("fixture", ["options.sip", "invite.sip"])
def test_the_fast_path_answers_exactly_as_the_full_path(fixture: str) -> None:
    seen: list[SipRequest] = []
    fast, full = _ua(seen), _ua(seen)
    data = load(fixture)
    (event,) = fast.receive_datagram(data, PEER, 0.0)
    assert isinstance(event, AnsweredStatelessly)
    assert event.request.body == b""  # the reduced request: no body was parsed
    (event_full,) = full.receive_datagram(_fold_subject(data), PEER, 0.0)
    assert isinstance(event_full, AnsweredStatelessly) and event_full.request.body == load(fixture).partition(
        b"\r\n\r\n")[2]
    (out_fast,), (out_full,) = fast.data_to_send(), full.data_to_send()
    assert out_fast == out_full  # same bytes (To tag derived from the request, §8.2.7), same destination
    assert fast.debug_sizes()["transactions"] == 0


@pytest.mark.parametrize(("mutation", "status"), [
    # a malformed Contact: never 200 to an invalid OPTIONS
    ((b"Max-Forwards: 70", b"Max-Forwards: 70\r\nContact: <sip:ms@127.0.0.1"), 400),
    ((b"Max-Forwards: 70", b"Max-Forwards: many"), 400),
    ((b"CSeq: 7 OPTIONS", b"CSeq: 7 INVITE"), 400),     # §8.1.1.5 method mismatch
    ((b"Max-Forwards: 70", b"Max-Forwards: 70\r\nRequire: 100rel-x"), 420),  # §8.2.2.3
])
def test_an_options_the_full_parser_refuses_is_not_answered_200(mutation: tuple[bytes, bytes], status: int) -> None:
    data = load("options.sip")
    assert mutation[0] in data
    ua = _ua([])
    ua.receive_datagram(data.replace(*mutation, 1), PEER, 0.0)
    (out,) = ua.data_to_send()
    assert decode(out).status == status


def test_an_invite_body_shorter_than_its_content_length_takes_the_full_path() -> None:
    data = load("invite.sip")
    head, sep, body = data.partition(b"\r\n\r\n")
    ua = _ua([])
    ua.receive_datagram(head + sep + body[:-10], PEER, 0.0)
    (out,) = ua.data_to_send()
    assert decode(out).status == 400  # §18.3, as without the fast path


def test_a_retransmission_of_an_invite_we_hold_a_transaction_for_is_absorbed_not_refused() -> None:
    seen: list[SipRequest] = []
    refusing = [False]

    def policy(request: SipRequest) -> StatelessAnswer | None:
        seen.append(request)
        return (503, "Service Unavailable", (_RETRY,)) if refusing[0] and request.method == "INVITE" else None

    ua = make_ua(stateless=policy)
    (event,) = ua.receive_datagram(load("invite.sip"), PEER, 0.0)
    assert isinstance(event, RequestReceived)  # accepted; the TU has not answered yet
    assert [decode(o).status for o in ua.data_to_send()] == [100]
    refusing[0] = True  # now at capacity
    assert ua.receive_datagram(load("invite.sip"), PEER, 0.5) == []  # §17.2.1: the transaction absorbs it
    assert [decode(o).status for o in ua.data_to_send()] == [100]  # Trying again, not a 503


def test_two_via_values_on_one_line_are_copied_as_the_full_path_does() -> None:
    data = load("options.sip").replace(
        b"branch=z9hG4bK-opt1\r\n", b"branch=z9hG4bK-opt1, SIP/2.0/UDP proxy.invalid;branch=z9hG4bK-p1\r\n", 1)
    fast, full = _ua([]), _ua([])
    (event,) = fast.receive_datagram(data, PEER, 0.0)
    assert isinstance(event, AnsweredStatelessly)
    full.receive_datagram(_fold_subject(data), PEER, 0.0)
    (out_fast,), (out_full,) = fast.data_to_send(), full.data_to_send()
    assert out_fast == out_full
    assert [v.host for v in decode(out_fast).vias] == ["client.invalid", "proxy.invalid"]
    assert decode(out_fast).vias[0].received == PEER[0]  # §18.2.1 on the top value only
