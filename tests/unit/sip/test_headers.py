"""Header names and structured header values (RFC 3261 §7.3, §20)."""

from __future__ import annotations

import pytest

from harness.protocol.errors import LocalProtocolError, RemoteProtocolError
from harness.protocol.sip.headers import (
    COMPACT_FORMS,
    CSeq,
    NameAddr,
    Via,
    canonical_name,
    header_key,
    parse_generic_params,
    split_header_values,
)
from harness.protocol.sip.uri import SipUri


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("call-id", "Call-ID"),
        ("i", "Call-ID"),
        ("CALL-ID", "Call-ID"),
        ("I", "Call-ID"),
        ("cseq", "CSeq"),
        ("v", "Via"),
        ("www-authenticate", "WWW-Authenticate"),
        ("x-genesys-calluuid", "X-Genesys-CallUUID"),
        ("newfangledheader", "Newfangledheader"),
        ("x-my-header", "X-My-Header"),
        ("k", "Supported"),
        ("o", "Event"),
    ],
)
def test_canonical_name(name: str, canonical: str) -> None:
    assert canonical_name(name) == canonical


def test_compact_forms_cover_rfc3261_table() -> None:
    # RFC 3261 §7.3.3 / §20 compact forms.
    expected = {"v": "Via", "i": "Call-ID", "m": "Contact", "f": "From", "t": "To", "l": "Content-Length",
                "c": "Content-Type", "k": "Supported", "s": "Subject", "e": "Content-Encoding"}
    for short, long in expected.items():
        assert COMPACT_FORMS[short] == long
    assert header_key("L") == header_key("content-length") == "content-length"


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        ("a, b,c", ["a", "b", "c"]),
        ('"Doe, John" <sip:j@h>, <sip:k@h;x=1,2>', ['"Doe, John" <sip:j@h>', "<sip:k@h;x=1,2>"]),
        ('"a \\" , b" <sip:x@y>', ['"a \\" , b" <sip:x@y>']),
        ("", []),
        ("   ", []),
        ("a,,b", ["a", "", "b"]),
        ("single", ["single"]),
        (" \tSIP/2.0/UDP h;branch=z9hG4bK1 \t", ["SIP/2.0/UDP h;branch=z9hG4bK1"]),  # no comma: stripped
        ('"x" <sip:a@b>', ['"x" <sip:a@b>']),
    ],
)
def test_split_header_values(value: str, parts: list[str]) -> None:
    assert split_header_values(value) == parts


def test_via_parse_with_lws_everywhere() -> None:
    via = Via.parse("SIP  / 2.0  / tcp     spindle.example.com   ;  branch  =   z9hG4bK9ikj8  ")
    assert (via.protocol, via.transport, via.host, via.port) == ("SIP/2.0", "TCP", "spindle.example.com", None)
    assert via.branch == "z9hG4bK9ikj8"
    assert str(via) == "SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8"


def test_via_rport_received_and_ipv6() -> None:
    via = Via.parse("SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKx;rport;received=2001:db8::9")
    assert via.host == "[2001:db8::9]" and via.port == 5070
    assert via.rport == ""
    assert via.received == "2001:db8::9"
    filled = via.with_param("rport", "5070")
    assert filled.rport == "5070"
    assert str(filled) == "SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKx;rport=5070;received=2001:db8::9"
    assert Via.parse("SIP/2.0/UDP h").rport is None


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0/UDP",
        "SIP/2.0 UDP host",
        "SIP/2.0/UDP host;;",
        "SIP/2.0/UDP 192.0.2.15;;",
        "SIP/2.0/UDP host;branch=",
        "SIP/2.0/UDP host;branch",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP host junk",
        "SIP/2.0/UDP [::1",
        ";",
        "",
    ],
)
def test_via_malformed(text: str) -> None:
    with pytest.raises(RemoteProtocolError) as err:
        Via.parse(text)
    assert err.value.status == 400


def test_name_addr_forms() -> None:
    quoted = NameAddr.parse('"J Rosenberg \\\\\\""  <sip:jdrosen@example.com;transport=udp> ; tag = 98asjd8')
    assert quoted.display_name == 'J Rosenberg \\"'
    assert quoted.uri.param("transport") == "udp"
    assert quoted.tag == "98asjd8"
    tokens = NameAddr.parse("token1~` token2'+_ <sip:mundane@example.com>;tag=x")
    assert tokens.display_name == "token1~` token2'+_"
    no_space = NameAddr.parse("caller<sip:caller@example.com>;tag=323")
    assert no_space.display_name == "caller"
    assert NameAddr.parse("<sip:a@b>").display_name is None
    assert NameAddr.parse('"" <sip:a@b>').display_name == ""


def test_bare_addr_spec_params_belong_to_header() -> None:
    # RFC 3261 §20.10: without <>, ;params are header parameters, not URI parameters.
    na = NameAddr.parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
    assert na.uri == SipUri("sip", "vivekg", None, "chair-dnrc.example.com", None)
    assert na.tag == "1918181833n"
    assert NameAddr.parse("<sip:a@b;tag=uri-param>").tag is None


@pytest.mark.parametrize(
    "text",
    [
        '"unterminated <sip:a@b>',
        "Bell, Alexander <sip:a@b>",
        "< sip:a@b >",
        "<sip:a@b",
        "<>",
        "sip:a@b?Route=x",
        "sip:a@b;;",
        '"x" sip:a@b',
        "<sip:a@b> junk",
        "<sip:a@b>;tag=",
    ],
)
def test_name_addr_malformed(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        NameAddr.parse(text)


def test_name_addr_with_tag_and_str_round_trip() -> None:
    na = NameAddr.parse('"BEL:\\\x07 q\\"" <sip:a@b>;x=1')
    assert na.display_name == 'BEL:\x07 q"'
    tagged = na.with_tag("abc")
    assert tagged.tag == "abc"
    assert NameAddr.parse(str(tagged)) == tagged
    assert tagged.with_tag("def").params == (("x", "1"), ("tag", "def"))
    with pytest.raises(LocalProtocolError):
        na.with_tag("bad tag")
    with pytest.raises(LocalProtocolError):
        NameAddr("a\r\nb", SipUri.parse("sip:a@b"))


def test_generic_params_quoted_value_with_semicolon() -> None:
    assert parse_generic_params(' ;a="x;y" ; b ;c=1') == (("a", '"x;y"'), ("b", None), ("c", "1"))


def test_cseq() -> None:
    assert CSeq.parse("0009\t  INVITE") == CSeq(9, "INVITE")
    assert str(CSeq(2**31 - 1, "BYE")) == "2147483647 BYE"
    for bad in ["2147483648 INVITE", "36893488147419103232 REGISTER", "-1 INVITE", "1", "INVITE 1", "1 IN VITE", ""]:
        with pytest.raises(RemoteProtocolError):
            CSeq.parse(bad)
    with pytest.raises(LocalProtocolError):
        CSeq(2**31, "INVITE")
