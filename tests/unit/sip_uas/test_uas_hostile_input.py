"""Malformed but answerable requests get an error response; only the unanswerable are dropped.

RFC 3261 §8.2 / §18.3 and RFC 4475 §3.1.2: a request whose Via, Call-ID, CSeq, From and To
can be copied into a response gets 400 (505 for a bad SIP version) with those five copied
(§8.2.6.2); a datagram with no usable Via, a response, or a truncated start line is dropped.
An unknown URI scheme outside the Request-URI is not an error (416 is for the Request-URI
only, §21.4.17). These tests failed before the UAS answered them (the datagrams were dropped).
"""

from __future__ import annotations

import pytest

from harness.protocol.sip.uas import BadMessage, RequestReceived, RequestRejected
from harness.protocol.sip.uri import ForeignUri
from tests.unit.sip_uas.helpers import PEER, load, make_ua

COPIED = ("from", "call-id", "cseq")


def _rows(data: bytes) -> tuple[str, list[tuple[str, str]]]:
    """Start line and header rows of raw SIP bytes, without our strict parser (the response may
    carry the request's malformed From/To verbatim, as §8.2.6.2 requires)."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    start, *lines = head.split("\r\n")
    rows = []
    for line in lines:
        name, _, value = line.partition(":")
        rows.append((name.strip().lower(), value.strip()))
    return start, rows


def _answer(data: bytes) -> tuple[BadMessage, str, list[tuple[str, str]]]:
    ua = make_ua()
    (event,) = ua.receive_datagram(data, PEER, 0.0)
    assert isinstance(event, BadMessage), event
    assert event.answered, event.error
    (out,) = ua.data_to_send()
    # §18.2.2: to the sent-by port, or the source port when the Via asks for rport (RFC 3581)
    assert out.destination in (PEER, (PEER[0], 5080))
    start, rows = _rows(out.data)
    assert ua.debug_sizes()["transactions"] == 0  # stateless (§8.2: no transaction for garbage)
    return event, start, rows


OPTIONS = load("options.sip")
INVITE = load("invite.sip")

MALFORMED = [
    # (case, mutation of the OPTIONS/INVITE fixture, expected start line of the response)
    ("extra SP in request line", OPTIONS.replace(b"OPTIONS sip:", b"OPTIONS  sip:", 1), "SIP/2.0 400 Malformed Request-Line"),
    ("trailing SP in request line", OPTIONS.replace(b" SIP/2.0\r\n", b" SIP/2.0 \r\n", 1), "SIP/2.0 400 Malformed Request-Line"),
    ("LWS inside the Request-URI", OPTIONS.replace(b"sip:rec@127.0.0.1:5060 SIP", b"sip:rec@127.0.0.1:5060; lr SIP", 1),
     "SIP/2.0 400 Malformed Request-Line"),
    ("unbalanced quote in display name", OPTIONS.replace(b'From: "MS" ', b'From: "MS ', 1), "SIP/2.0 400 Malformed From"),
    ("unterminated <", OPTIONS.replace(b"To: <sip:rec@127.0.0.1:5060>", b"To: <sip:rec@127.0.0.1:5060", 1),
     "SIP/2.0 400 Malformed To"),
    ("body shorter than Content-Length", INVITE.replace(b"Content-Length: 123", b"Content-Length: 999", 1),
     "SIP/2.0 400 Content-Length Larger Than Body"),
    ("header folded before any header", OPTIONS.replace(b"SIP/2.0\r\nVia", b"SIP/2.0\r\n folded\r\nVia", 1),
     "SIP/2.0 400 Malformed Header"),
    ("fold between header name and colon", OPTIONS.replace(b"Accept: application/sdp\r\n", b"Accept: application/sdp\r\nSubject\r\n : hi\r\n", 1), "SIP/2.0 400 Malformed Header"),
    ("bad SIP version", OPTIONS.replace(b" SIP/2.0\r\n", b" SIP/3.0\r\n", 1), "SIP/2.0 505 Version Not Supported"),
]


@pytest.mark.parametrize(("case", "data", "status_line"), MALFORMED, ids=[c for c, _, _ in MALFORMED])
def test_answerable_malformed_request_gets_error_with_dialog_headers_copied(case: str, data: bytes, status_line: str) -> None:
    _event, start, rows = _answer(data)
    assert start == status_line, case
    _, request_rows = _rows(data)
    for name in COPIED:
        # §8.2.6.2: From, Call-ID, CSeq and the Via values "MUST equal" the request's.
        assert [v for n, v in rows if n == name][:1] == [v for n, v in request_rows if n == name][:1], name
    # The Via is copied with received/rport added (§18.2.1, RFC 3581 §4).
    (via,) = [v for n, v in rows if n == "via"]
    assert via.startswith([v for n, v in request_rows if n == "via"][0].removesuffix(";rport"))
    (to,) = [v for n, v in rows if n == "to"]
    (request_to,) = [v for n, v in request_rows if n == "to"]
    assert to.startswith(request_to)  # To copied, a tag added only when it parses


@pytest.mark.parametrize(
    "data",
    [
        OPTIONS.replace(b"OPTIONS sip:rec@127.0.0.1:5060 SIP/2.0", b"OPTIONS sip:rec@127.0.0.1:5060", 1),  # truncated
        OPTIONS.replace(b"Via: SIP/2.0/UDP client.invalid:5080;branch=z9hG4bK-opt1\r\n", b"", 1),  # no Via
        OPTIONS.replace(b"Via: SIP/2.0/UDP client.invalid:5080", b"Via: ;;,;,,", 1),  # no usable Via
        OPTIONS.replace(b"CSeq: 7 OPTIONS", b"CSeq: 7 OPTIONS\r\nCSeq: 8 OPTIONS", 1),  # which CSeq to copy?
        load("response_200.sip"),
    ],
    ids=["truncated start line", "no Via", "unusable Via", "two CSeq", "a response"],
)
def test_unanswerable_input_is_still_dropped(data: bytes) -> None:
    ua = make_ua()
    (event,) = ua.receive_datagram(data, PEER, 0.0)
    assert isinstance(event, BadMessage) and not event.answered
    assert ua.data_to_send() == []


@pytest.mark.parametrize("header", [b"To: <http://example.com/rec>", b"From: <http://example.com/ms>;tag=ft1"])
def test_unknown_scheme_in_to_or_from_is_answered_per_the_request_uri(header: bytes) -> None:
    name = header.split(b":", 1)[0]
    original = next(line for line in OPTIONS.split(b"\r\n") if line.startswith(name + b":"))
    ua = make_ua()
    (event,) = ua.receive_datagram(OPTIONS.replace(original, header, 1), PEER, 0.0)
    assert isinstance(event, RequestReceived)
    party = event.request.to if name == b"To" else event.request.from_
    assert isinstance(party.uri, ForeignUri) and str(party.uri).startswith("http://example.com/")
    ua.respond(event.handle, 200, now=0.0)
    (out,) = ua.data_to_send()
    assert out.data.startswith(b"SIP/2.0 200 OK")


def test_unknown_scheme_in_contact_is_not_416() -> None:
    ua = make_ua()
    options = OPTIONS.replace(b"Accept:", b"Contact: <mailto:ms@example.com>\r\nAccept:", 1)
    (event,) = ua.receive_datagram(options, PEER, 0.0)
    assert isinstance(event, RequestReceived)  # OPTIONS: Contact is informational
    invite = INVITE.replace(b"Contact: <sip:ms@127.0.0.1:5070>", b"Contact: <http://ms.example.com/>", 1)
    (event2,) = ua.receive_datagram(invite, PEER, 0.0)
    # §8.1.1.8: a dialog-creating request's Contact "MUST ... contain exactly one SIP or SIPS
    # URI": 400, not 416 (§21.4.17 is about the Request-URI's scheme).
    assert isinstance(event2, RequestRejected) and (event2.status, event2.reason) == (400, "Bad Contact")


def test_unknown_scheme_in_the_request_uri_is_416() -> None:
    _event, start, _rows_ = _answer(OPTIONS.replace(b"OPTIONS sip:rec@127.0.0.1:5060", b"OPTIONS http://rec.example.com/", 1))
    assert start == "SIP/2.0 416 Unsupported URI Scheme"


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [("ünï€-x", "ünï€-x"), ("..\\..\\x", "..\\..\\x"), ("a,b", "a,b"), ('q"q', 'q"q')],
)
def test_unescaped_octets_in_request_uri_parameters_are_accepted_as_escaped(raw: str, decoded: str) -> None:
    # §19.1.4: an escaped octet equals its character, so the UAS reads what the sender meant.
    data = INVITE.replace(b";record=r1 SIP/2.0", f";record=r1;calluuid={raw} SIP/2.0".encode(), 1)
    ua = make_ua()
    events = ua.receive_datagram(data, PEER, 0.0)
    (event,) = [e for e in events if isinstance(e, RequestReceived)]
    assert event.request.uri.param("calluuid") == decoded
    assert "%" in str(event.request.uri)  # stored in the escaped wire form


def test_lws_in_a_request_uri_parameter_is_still_400() -> None:
    data = INVITE.replace(b";record=r1 SIP/2.0", b";record=r1;calluuid=a b SIP/2.0", 1)
    _event, start, _ = _answer(data)
    assert start == "SIP/2.0 400 Malformed Request-Line"
