"""RFC 4475 torture messages (§3.1.1 valid, §3.1.2 invalid, plus insuf/unkscm/multi01 of §3.3).

The fixture files were transcribed from the RFC text (CRLF line ends, non-printable octets
written from the RFC's <hex> notation), not extracted from the RFC's base64 archive; the long
messages longreq (§3.1.1.7) and mpart01 (§3.1.1.11) are not included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.protocol.sip import CSeq, SipParseError, SipRequest, SipResponse, SipUri, parse_message

TORTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sip" / "torture"
VALID = sorted(p.name for p in (TORTURE / "valid").glob("*.sip"))
INVALID = sorted(p.name for p in (TORTURE / "invalid").glob("*.sip"))


def valid(name: str) -> SipRequest | SipResponse:
    return parse_message((TORTURE / "valid" / name).read_bytes())


def test_corpus_present() -> None:
    assert len(VALID) == 12 and len(INVALID) == 21


@pytest.mark.parametrize("name", VALID)
def test_valid_messages_parse_and_round_trip(name: str) -> None:
    msg = valid(name)
    # every typed accessor works on a valid message
    assert msg.vias and msg.from_ and msg.to and msg.cseq and msg.call_id
    msg.contacts  # noqa: B018
    again = parse_message(msg.to_bytes())
    assert again == msg
    assert parse_message(again.to_bytes()).to_bytes() == again.to_bytes()


def test_wsinv() -> None:
    msg = valid("wsinv.sip")
    assert isinstance(msg, SipRequest)
    assert msg.uri.param("unknownparam") == ""
    assert msg.to.tag == "1918181833n" and msg.to.uri.params == ()
    assert msg.from_.display_name == 'J Rosenberg \\"' and msg.from_.tag == "98asjd8"
    assert msg.max_forwards == 68
    assert msg.cseq == CSeq(9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in msg.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("newfangledheader") == "newfangled value continued newfangled value"
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    (contact,) = msg.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"))
    assert len(msg.body) == 150 and msg.content_type == "application/sdp"


def test_intmeth() -> None:
    msg = valid("intmeth.sip")
    assert isinstance(msg, SipRequest)
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert msg.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert msg.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert msg.from_.param("fromParam''~+*_!.-%") == '"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439"'
    assert msg.from_.tag == "_token~1'+`*%!-."
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.vias[0].branch == "z9hG4bK-.!%66*_+`'~"
    assert msg.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff\u5927\u505c\u96fb"


def test_escapes() -> None:
    esc01 = valid("esc01.sip")
    assert isinstance(esc01, SipRequest)
    assert esc01.uri.user == "sips%3Auser%40example.com"
    assert esc01.uri.user_unescaped == "sips:user@example.com"
    assert esc01.to.uri.user_unescaped == "user"
    assert esc01.from_.uri.user_unescaped == "I have spaces"
    assert esc01.contacts[0].uri.param("name") == "value%41"
    esc02 = valid("esc02.sip")
    assert isinstance(esc02, SipRequest)
    assert esc02.method == "RE%47IST%45R"  # % is not an escape in a method (RFC 4475 §3.1.1.5)
    assert [c.uri.host for c in esc02.contacts] == ["host1.example.com", "host3.example.com"]
    assert esc02.to.display_name == "%Z%45"
    escnull = valid("escnull.sip")
    assert escnull.to.uri.user_unescaped == "null-\x00-null"
    assert [c.uri.user_unescaped for c in escnull.contacts] == ["\x00", "\x00\x00"]


def test_semiuri_lwsdisp_transports_dblreq() -> None:
    semi = valid("semiuri.sip")
    assert isinstance(semi, SipRequest)
    assert semi.uri == SipUri("sip", "user;par=u%40example.net", None, "example.com", None)
    assert semi.headers.get_all("Accept")[-1] == "message/sipfrag"
    assert valid("lwsdisp.sip").from_.display_name == "caller"
    assert [v.transport for v in valid("transports.sip").vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    dbl = valid("dblreq.sip")
    assert isinstance(dbl, SipRequest) and dbl.method == "REGISTER" and dbl.body == b""
    assert b"INVITE" not in (dbl.raw or b"")  # the second request in the datagram is discarded


def test_responses() -> None:
    unreason = valid("unreason.sip")
    assert isinstance(unreason, SipResponse)
    assert unreason.status == 200 and unreason.reason.startswith("= 2**3 * 5**2 \u043d\u043e")
    noreason = valid("noreason.sip")
    assert isinstance(noreason, SipResponse) and noreason.reason == ""


# name -> (status, answerable i.e. partial present)
EXPECTED_INVALID: dict[str, tuple[int, bool]] = {
    "badinv01.sip": (400, False),   # ;;,;,, in Via: no usable Via
    "clerr.sip": (400, True),       # Content-Length larger than the datagram (§18.3)
    "ncl.sip": (400, True),         # negative Content-Length
    "scalar02.sip": (400, False),   # CSeq >= 2**31: CSeq unusable
    "scalarlg.sip": (400, False),   # response: dropped
    "quotbal.sip": (400, True),  # unterminated quote in To: copied verbatim (§8.2.6.2)
    "ltgtruri.sip": (400, True),    # <> around the Request-URI
    "lwsruri.sip": (400, True),  # LWS inside the Request-URI: 400 (RFC 4475 §3.1.2.9)
    "lwsstart.sip": (400, True),  # several SP between start-line elements: 400
    "trws.sip": (400, True),  # SP at the end of the Request-Line: 400
    "escruri.sip": (400, True),     # headers in the Request-URI (§19.1.1)
    "regbadct.sip": (400, True),    # URI with '?' in Contact without <>
    "badaspec.sip": (400, True),  # spaces inside <...> of To: 400, To copied
    "baddn.sip": (400, True),  # unquoted ',' in display name: 400, From copied
    "badvers.sip": (505, True),     # SIP/7.0
    "mismatch01.sip": (400, True),  # CSeq method != request method
    "mismatch02.sip": (400, True),
    "bigcode.sip": (400, False),    # response code 4294967301: dropped
    "insuf.sip": (400, False),      # From/To/Call-ID missing
    "unkscm.sip": (416, True),      # unknown Request-URI scheme
    "multi01.sip": (400, False),    # two Call-ID / To / From / CSeq
}


def test_invalid_expectations_cover_corpus() -> None:
    assert sorted(EXPECTED_INVALID) == INVALID


@pytest.mark.parametrize("name", INVALID)
def test_invalid_messages_rejected(name: str) -> None:
    status, answerable = EXPECTED_INVALID[name]
    with pytest.raises(SipParseError) as err:
        parse_message((TORTURE / "invalid" / name).read_bytes())
    assert err.value.status == status
    assert (err.value.partial is not None) == answerable
    if err.value.partial is not None:
        # the partial carries what a response needs (§8.2.6.2)
        assert err.value.partial.vias and err.value.partial.call_id and err.value.partial.cseq


def test_baddate_is_accepted() -> None:
    # RFC 4475 §3.1.2.12: a non-GMT Date only matters to elements that use it; we don't.
    assert valid("baddate.sip").headers.get("Date") == "Fri, 01 Jan 2010 16:00:00 EST"
