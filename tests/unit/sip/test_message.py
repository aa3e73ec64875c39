"""SIP message codec: parse_message (§7, §18.3), Headers, accessors, build_response (§8.2.6),
check_require (§8.2.2.3), StreamFramer (§18.3, RFC 5626 §3.5.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.protocol.errors import LocalProtocolError, RemoteProtocolError
from harness.protocol.sip import (
    CSeq,
    Headers,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    StreamFramer,
    build_response,
    check_require,
    parse_message,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sip"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def request(extra: str = "", *, start: str = "OPTIONS sip:rec@192.0.2.20 SIP/2.0", body: bytes = b"",
            length: str | None = "auto", drop: tuple[str, ...] = ()) -> bytes:
    lines = [
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1",
        "From: <sip:ms@192.0.2.10>;tag=a",
        "To: <sip:rec@192.0.2.20>",
        "Call-ID: c1@192.0.2.10",
        f"CSeq: 1 {start.split(' ')[0]}",
        "Max-Forwards: 70",
    ]
    lines = [ln for ln in lines if ln.split(":")[0] not in drop]
    if extra:
        lines += extra.split("\n")
    if length == "auto":
        lines.append(f"Content-Length: {len(body)}")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join([start, *lines]) + "\r\n\r\n").encode() + body


# -- fixtures of the ARE flow -------------------------------------------------------------------
def test_are_single_session_invite() -> None:
    msg = parse_message(load("are_invite_single_session.sip"))
    assert isinstance(msg, SipRequest)
    assert msg.method == "INVITE"
    assert msg.uri.user == "record=0A1B2C3D4E5F"
    assert msg.uri.param("CallUUID") == "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"
    assert (msg.uri.param("dn"), msg.uri.param("otherdn"), msg.uri.param("RECORDDN")) == ("7001", "7002", "7001")
    assert msg.content_type == "application/sdp"
    assert msg.content_length == len(msg.body)
    assert msg.body.count(b"m=audio") == 2
    assert msg.cseq == CSeq(1, "INVITE")
    assert msg.from_.tag == "ms-6a5f" and msg.to.tag is None
    assert [v.branch for v in msg.vias] == ["z9hG4bK-are-1"]
    assert msg.vias[0].rport == ""
    assert [str(c.uri) for c in msg.contacts] == ["sip:gvp@192.0.2.10:5060"]
    assert msg.headers.get_all("Allow") == ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"]
    assert msg.supported == ["timer"] and msg.require == []
    assert msg.max_forwards == 70
    assert msg.raw == load("are_invite_single_session.sip")


def test_ok_with_sdp() -> None:
    msg = parse_message(load("ok_sdp.sip"))
    assert isinstance(msg, SipResponse)
    assert (msg.status, msg.reason) == (200, "OK")
    assert msg.to.tag == "rec-91c2"
    assert msg.vias[0].received == "192.0.2.10" and msg.vias[0].rport == "5060"
    assert b"a=recvonly" in msg.body


@pytest.mark.parametrize(("name", "method", "cseq"), [
    ("ack.sip", "ACK", 1), ("bye.sip", "BYE", 2), ("cancel.sip", "CANCEL", 1), ("options.sip", "OPTIONS", 1),
])
def test_simple_requests(name: str, method: str, cseq: int) -> None:
    msg = parse_message(load(name))
    assert isinstance(msg, SipRequest)
    assert msg.method == method and msg.cseq == CSeq(cseq, method)
    assert msg.body == b"" and msg.content_length == 0


def test_compact_form_message() -> None:
    msg = parse_message(load("compact.sip"))
    assert isinstance(msg, SipRequest)
    assert msg.call_id == "compact-1@192.0.2.10"
    assert [v.branch for v in msg.vias] == ["z9hG4bK-c1", "z9hG4bK-c0"]
    assert msg.from_.display_name == "Media Server"
    assert str(msg.to.uri) == "sip:record=77@192.0.2.20"
    assert msg.supported == ["timer", "100rel"]
    assert msg.content_type == "application/sdp"
    assert msg.content_length == len(msg.body) > 0
    assert msg.uri.param("calluuid") == "ABCDEF" and msg.uri.param("recordDN") == "7001"
    assert msg.headers.items()[0][0] == "v"  # original names kept for evidence


def test_folded_headers_are_unfolded() -> None:
    msg = parse_message(load("folded.sip"))
    assert [v.branch for v in msg.vias] == ["z9hG4bK-f1", "z9hG4bK-f0"]
    assert msg.vias[1].transport == "TCP"
    assert msg.from_.display_name == "Folded Name"
    assert msg.from_.tag == "f1"
    assert msg.cseq == CSeq(3, "OPTIONS")
    assert msg.supported == ["timer", "replaces"]
    assert msg.headers.get("subject") == "a subject continued with a tab"
    assert all("\r" not in v and "\n" not in v for _, v in msg.headers)


# -- start line ----------------------------------------------------------------------------------
def test_version_other_than_2_0_is_505_with_partial() -> None:
    with pytest.raises(SipParseError) as err:
        parse_message(request(start="OPTIONS sip:rec@h SIP/3.0"))
    assert (err.value.status, err.value.reason) == (505, "Version Not Supported")
    assert err.value.partial is not None and err.value.partial.method == "OPTIONS"


@pytest.mark.parametrize("line", [
    "SIP/2.0 2000 OK", "SIP/2.0 99 Low", "SIP/2.0 700 High", "SIP/2.0 abc OK", "SIP/2.0 200", "SIP/2.0  200 OK",
    "SIP/2.0 200 bad\x01reason", "SIP/3.0 200 OK", "SIP/2 200 OK",
])
def test_bad_status_line_is_dropped(line: str) -> None:
    data = request().replace(b"OPTIONS sip:rec@192.0.2.20 SIP/2.0", line.encode())
    with pytest.raises(SipParseError) as err:
        parse_message(data)
    assert err.value.partial is None


def test_empty_reason_phrase_and_lowercase_version_accepted() -> None:
    resp = parse_message(request().replace(b"OPTIONS sip:rec@192.0.2.20 SIP/2.0", b"sip/2.0 100 "))
    assert isinstance(resp, SipResponse) and resp.reason == "" and resp.status == 100


@pytest.mark.parametrize("start", [
    "OPTIONS  sip:rec@h SIP/2.0", "OPTIONS sip:rec@h SIP/2.0 ", " OPTIONS sip:rec@h SIP/2.0",
    "OPTIONS sip:rec@h; lr SIP/2.0", "OPTIONS\tsip:rec@h SIP/2.0",
])
def test_request_line_with_bad_whitespace_is_answered_400(start: str) -> None:
    # RFC 4475 §3.1.2.8-10 (lwsstart, trws, lwsruri): "should respond with a 400 Bad Request";
    # the Via, From, To, Call-ID and CSeq are intact, so a response can be built (§8.2.6.2).
    data = request().replace(b"OPTIONS sip:rec@192.0.2.20 SIP/2.0", start.encode())
    with pytest.raises(SipParseError) as err:
        parse_message(data)
    assert err.value.status == 400 and err.value.reason == "Malformed Request-Line"
    assert err.value.partial is not None and err.value.partial.method == "OPTIONS"


@pytest.mark.parametrize("start", ["OPTIONS sip:rec@h", "OPT(IONS sip:rec@h SIP/2.0", "OPTIONS", "sip:rec@h SIP/2.0"])
def test_truncated_or_unreadable_request_line_is_dropped(start: str) -> None:
    data = request().replace(b"OPTIONS sip:rec@192.0.2.20 SIP/2.0", start.encode())
    with pytest.raises(SipParseError) as err:
        parse_message(data)
    assert err.value.status == 400 and err.value.partial is None


def test_bad_request_uri_is_answerable() -> None:
    with pytest.raises(SipParseError) as err:
        parse_message(request(start="OPTIONS http://example.com/ SIP/2.0"))
    assert err.value.status == 416 and err.value.partial is not None
    with pytest.raises(SipParseError) as err2:
        parse_message(request(start="OPTIONS sip:a@b?X=y SIP/2.0"))
    assert err2.value.status == 400 and err2.value.partial is not None


# -- mandatory headers ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Via", "From", "To", "Call-ID", "CSeq"])
def test_missing_mandatory_header(name: str) -> None:
    with pytest.raises(SipParseError) as err:
        parse_message(request(drop=(name,)))
    assert err.value.status == 400
    assert err.value.reason == f"Missing {name}"
    assert err.value.partial is None  # no response can be built without it


def test_max_forwards_is_optional_but_validated() -> None:
    msg = parse_message(request(drop=("Max-Forwards",)))
    assert msg.max_forwards is None
    with pytest.raises(SipParseError) as err:
        parse_message(request(drop=("Max-Forwards",), extra="Max-Forwards: lots"))
    assert err.value.status == 400 and err.value.partial is not None


def test_cseq_method_must_match() -> None:
    with pytest.raises(SipParseError) as err:
        parse_message(request().replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE"))
    assert err.value.status == 400 and err.value.partial is not None
    ack = parse_message(request(start="ACK sip:rec@h SIP/2.0"))
    assert ack.cseq == CSeq(1, "ACK")


def test_duplicate_single_headers_rejected() -> None:
    with pytest.raises(SipParseError) as err:
        parse_message(request(extra="To: <sip:other@h>"))
    assert err.value.status == 400 and "To" in err.value.reason


def test_malformed_contact_is_answerable_400() -> None:
    with pytest.raises(SipParseError) as err:
        parse_message(request(extra="Contact: < sip:a@b >"))
    assert err.value.status == 400 and err.value.partial is not None
    star = parse_message(request(start="REGISTER sip:h SIP/2.0", extra="Contact: *\nExpires: 0"))
    assert star.contact_is_wildcard and star.contacts == []


# -- Content-Length and body (§18.3) -------------------------------------------------------------
def test_body_shorter_than_content_length_request_400_response_dropped() -> None:
    data = request(body=b"abc", length="10")
    with pytest.raises(SipParseError) as err:
        parse_message(data)
    assert err.value.status == 400 and err.value.partial is not None
    assert err.value.partial.body == b"abc"
    resp = data.replace(b"OPTIONS sip:rec@192.0.2.20 SIP/2.0", b"SIP/2.0 200 OK")
    with pytest.raises(SipParseError) as err2:
        parse_message(resp)
    assert err2.value.partial is None


def test_extra_octets_beyond_content_length_discarded() -> None:
    data = request(body=b"abcdef", length="3")
    msg = parse_message(data)
    assert msg.body == b"abc"
    assert msg.raw == data[: len(data) - 3]


def test_missing_content_length_on_udp_takes_rest() -> None:
    msg = parse_message(request(body=b"v=0\r\n", length=None))
    assert msg.body == b"v=0\r\n" and msg.content_length is None


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "", "0x10", "1 2"])
def test_bad_content_length(value: str) -> None:
    with pytest.raises(SipParseError) as err:
        parse_message(request(length=value))
    assert err.value.status == 400 and err.value.partial is not None


def test_conflicting_content_lengths() -> None:
    with pytest.raises(SipParseError):
        parse_message(request(extra="l: 5", body=b"abc"))


def test_leading_crlf_ignored_and_body_is_bytes() -> None:
    body = bytes(range(256))
    msg = parse_message(b"\r\n\r\n" + request(body=body))
    assert msg.body == body


def test_header_section_must_be_utf8() -> None:
    ok = parse_message(request(extra="Subject: caf\u00e9 \u5927"))
    assert ok.headers.get("Subject") == "caf\u00e9 \u5927"
    with pytest.raises(SipParseError) as err:
        parse_message(request(extra="Subject: caf\xe9").replace("caf\u00e9".encode(), b"caf\xe9"))
    assert err.value.status == 400 and err.value.partial is None


@pytest.mark.parametrize("data", [
    b"", b"\r\n", b"OPTIONS sip:a@b SIP/2.0\r\n", b"garbage\r\n\r\n", b"OPTIONS sip:a@b SIP/2.0\r\nNoColon\r\n\r\n",
    b"OPTIONS sip:a@b SIP/2.0\r\n folded-first: x\r\n\r\n", b"OPTIONS sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n",
    b"OPTIONS sip:a@b SIP/2.0\nVia: x\n\n", b"OPTIONS sip:a@b SIP/2.0\r\nVia: a\rb\r\n\r\n",
])
def test_garbage_raises_parse_error_only(data: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(data)


# -- Headers ------------------------------------------------------------------------------------
def test_headers_multidict() -> None:
    h = Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"), ("v", "SIP/2.0/UDP c"),
                 ("Subject", "x, y"), ("i", "id1")])
    assert h.get("VIA") == "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"
    assert len(h.get_all("via")) == 3
    assert h.get_all("Subject") == ["x, y"]  # not a list header
    assert h.get("call-id") == "id1" and "CALL-ID" in h and "Route" not in h
    h.add("Route", "<sip:p1;lr>")
    h.add("Record-Route", "<sip:p2;lr>")
    h.set("v", "SIP/2.0/TCP z")
    assert h.get_all("Via") == ["SIP/2.0/TCP z"]
    assert [n for n, _ in h][0] == "Via"  # set keeps the position and the original name
    h.remove("route")
    assert "Route" not in h and "Record-Route" in h
    assert h.items() == list(h)
    assert Headers([("TO", "x")]) == Headers([("t", "x")])
    assert Headers([("To", "x")]) != Headers([("To", "y")])
    with pytest.raises(LocalProtocolError):
        h.add("X-Inject", "a\r\nVia: evil")
    with pytest.raises(LocalProtocolError):
        h.add("Bad Name", "a")


# -- serialisation --------------------------------------------------------------------------------
def test_to_bytes_recomputes_content_length() -> None:
    msg = parse_message(load("are_invite_single_session.sip"))
    assert msg.to_bytes() == load("are_invite_single_session.sip")
    msg.body = b"v=0\r\n"
    out = msg.to_bytes()
    assert b"\r\nContent-Length: 5\r\n\r\nv=0\r\n" in out
    reparsed = parse_message(out)
    assert reparsed == msg
    compact = parse_message(load("compact.sip"))
    compact.body = b""
    assert b"\r\nl: 0\r\n" in compact.to_bytes()
    no_len = parse_message(request(length=None, body=b"xy"))
    assert no_len.to_bytes().endswith(b"Content-Length: 2\r\n\r\nxy")


def test_built_request_round_trips() -> None:
    req = SipRequest("BYE", SipUri.parse("sip:rec@192.0.2.20:5070"), Headers([
        ("Via", "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-9"), ("From", "<sip:a@b>;tag=1"), ("To", "<sip:c@d>;tag=2"),
        ("Call-ID", "x@y"), ("CSeq", "9 BYE"),
    ]))
    parsed = parse_message(req.to_bytes())
    assert parsed.to_bytes() == req.to_bytes()
    assert isinstance(parsed, SipRequest) and parsed.cseq == CSeq(9, "BYE")


# -- build_response -------------------------------------------------------------------------------
def test_build_response_copies_headers() -> None:
    req = parse_message(load("folded.sip"))
    assert isinstance(req, SipRequest)
    resp = build_response(req, 200, to_tag="rec-1", headers=[("Allow", "INVITE, BYE")], body=b"v=0\r\n",
                          content_type="application/sdp")
    assert (resp.status, resp.reason) == (200, "OK")
    assert [v.branch for v in resp.vias] == ["z9hG4bK-f1", "z9hG4bK-f0"]
    assert resp.headers.get_all("Via") == req.headers.get_all("Via")
    assert resp.from_ == req.from_ and resp.call_id == req.call_id and resp.cseq == req.cseq
    assert resp.to.tag == "rec-1" and resp.to.uri == req.to.uri
    assert resp.content_type == "application/sdp" and resp.content_length == 5
    again = parse_message(resp.to_bytes())
    assert again == resp


def test_build_response_keeps_existing_to_tag_and_defaults() -> None:
    req = parse_message(load("bye.sip"))
    assert isinstance(req, SipRequest)
    resp = build_response(req, 481, to_tag="other")
    assert resp.reason == "Call/Transaction Does Not Exist"
    assert resp.to.tag == "rec-91c2"
    assert build_response(req, 505).reason == "Version Not Supported"
    assert build_response(req, 299).reason == "Success"
    assert build_response(req, 486, "Busy Recording").reason == "Busy Recording"
    with pytest.raises(LocalProtocolError):
        build_response(req, 99)


def test_build_response_from_partial_and_timestamp() -> None:
    with pytest.raises(SipParseError) as err:
        parse_message(request(start="OPTIONS sip:rec@h SIP/4.0", extra="Timestamp: 54"))
    partial = err.value.partial
    assert partial is not None
    resp = build_response(partial, err.value.status, err.value.reason)
    assert resp.status == 505 and resp.vias[0].branch == "z9hG4bK-1"
    trying = build_response(partial, 100)
    assert trying.headers.get("Timestamp") == "54"


def test_check_require() -> None:
    req = parse_message(request(extra="Require: siprec, 100rel\nRequire: Timer"))
    assert isinstance(req, SipRequest)
    check_require(req, ["siprec", "100rel", "timer"])  # option tags compare case-insensitively
    with pytest.raises(RemoteProtocolError) as err:
        check_require(req, ["100rel"])
    assert (err.value.status, err.value.reason) == (420, "Bad Extension")
    assert err.value.extra_headers == (("Unsupported", "siprec, Timer"),)
    for method in ("ACK", "CANCEL"):
        other = parse_message(request(start=f"{method} sip:rec@h SIP/2.0", extra="Require: siprec"))
        assert isinstance(other, SipRequest)
        check_require(other, [])


# -- StreamFramer ------------------------------------------------------------------------------------
def test_framer_two_messages_and_keepalives() -> None:
    framer = StreamFramer()
    msgs = framer.feed(load("tcp_two_messages.stream"))
    assert [m.method for m in msgs if isinstance(m, SipRequest)] == ["BYE", "ACK"]
    assert msgs[0].raw == load("bye.sip")
    framer2 = StreamFramer()
    out = framer2.feed(load("tcp_keepalive_and_sdp.stream"))
    assert len(out) == 2 and isinstance(out[1], SipResponse)
    assert framer2.keepalive_crlfs == 4 and framer2.buffered == 0
    assert framer2.feed(b"\r\n") == [] and framer2.keepalive_crlfs == 5


def test_framer_waits_for_body_byte_by_byte() -> None:
    data = load("ok_sdp.sip")
    framer = StreamFramer()
    got = []
    for i in range(len(data)):
        got += framer.feed(data[i : i + 1])
        if i < len(data) - 1:
            assert got == []
    assert len(got) == 1 and got[0].raw == data


def test_framer_missing_content_length_is_fatal() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError) as err:
        framer.feed(request(length=None))
    assert err.value.status == 400 and framer.broken
    with pytest.raises(SipParseError):
        framer.feed(load("bye.sip"))


def test_framer_oversize_header_is_fatal() -> None:
    framer = StreamFramer(max_header_bytes=100)
    with pytest.raises(SipParseError):
        framer.feed(b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"a" * 200)
    assert framer.broken


def test_framer_bad_message_with_good_framing_keeps_connection() -> None:
    bad = request(start="OPTIONS sip:rec@h SIP/2.1")
    framer = StreamFramer()
    with pytest.raises(SipParseError) as err:
        framer.feed(load("bye.sip") + bad + load("ack.sip"))
    assert err.value.status == 505 and err.value.partial is not None
    assert [m.cseq.method for m in err.value.preceding] == ["BYE"]
    assert not framer.broken
    rest = framer.feed(b"")
    assert [m.cseq.method for m in rest] == ["ACK"]
