"""SipUri: RFC 3261 §19.1 parsing, §19.1.4 comparison rules, wire round trip."""

from __future__ import annotations

import pytest

from harness.protocol.errors import LocalProtocolError, RemoteProtocolError
from harness.protocol.sip.uri import SipUri, unescape

GENESYS = (
    "sip:record=0A1B2C@rec.example.com:5070;calluuid=4BOKLLA3VH66JF112M1CC9VHKS14F0KP;"
    "dn=7001;otherDN=7002;recordDN=7001"
)


def test_genesys_recording_uri() -> None:
    uri = SipUri.parse(GENESYS)
    assert uri.scheme == "sip"
    assert uri.user == "record=0A1B2C"
    assert uri.host == "rec.example.com"
    assert uri.port == 5070
    assert uri.params[0] == ("calluuid", "4BOKLLA3VH66JF112M1CC9VHKS14F0KP")
    assert uri.param("otherDN") == "7002"
    assert str(uri) == GENESYS


@pytest.mark.parametrize("name", ["calluuid", "CallUUID", "CALLUUID", "c%61lluuid"])
def test_param_names_case_insensitive(name: str) -> None:
    # RFC 3261 §19.1.4: parameter names compare case-insensitively; escapes equal their chars.
    uri = SipUri.parse("sip:record=1@h;CallUUID=X1;RECORDDN=7001")
    assert uri.param(name) == "X1"
    assert uri.param("recorddn") == "7001"
    assert uri.has_param("recordDn")
    assert not uri.has_param("dn")


def test_flag_param_and_escaped_values() -> None:
    uri = SipUri.parse("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert uri.param("lr") == ""
    # RFC 4475 §3.1.1.3: unescaping is not recursive: value%41 is not valueA.
    assert uri.param("name") == "value%41"
    assert uri.user_unescaped == "caller"


def test_user_with_semicolon_and_password() -> None:
    uri = SipUri.parse("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u%40example.net"
    assert uri.params == ()
    uri2 = SipUri.parse("sips:alice:secret@[2001:db8::1]:5061;transport=TCP?Subject=hi&Priority=urgent")
    assert (uri2.scheme, uri2.user, uri2.password) == ("sips", "alice", "secret")
    assert (uri2.host, uri2.port) == ("[2001:db8::1]", 5061)
    assert uri2.transport == "tcp"
    assert uri2.headers == (("Subject", "hi"), ("Priority", "urgent"))
    assert str(uri2) == "sips:alice:secret@[2001:db8::1]:5061;transport=TCP?Subject=hi&Priority=urgent"


def test_scheme_is_case_insensitive() -> None:
    assert SipUri.parse("SIP:a@b").scheme == "sip"


def test_tel_uri() -> None:
    uri = SipUri.parse("tel:+1-201-555-0123;phone-context=example.com")
    assert uri.scheme == "tel" and uri.host == "+1-201-555-0123" and uri.user is None
    assert uri.param("phone-context") == "example.com"
    assert str(uri) == "tel:+1-201-555-0123;phone-context=example.com"


@pytest.mark.parametrize("text", ["http://example.com/", "mailto:a@b", "nobodyknowsthisscheme:opaque"])
def test_unsupported_scheme_is_416(text: str) -> None:
    with pytest.raises(RemoteProtocolError) as err:
        SipUri.parse(text)
    assert (err.value.status, err.value.reason) == (416, "Unsupported URI Scheme")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sip",
        "<sip:user@example.com>",
        "sip:",
        "sip:user@",
        "sip:user@host:99999",
        "sip:user@host:5x",
        "sip:user@ho st",
        "sip:us er@host",
        "sip:user@host;",
        "sip:user@host;a=",
        "sip:user@host;a=b c",
        "sip:user@[::1",
        "sip:user@[zz::1]",
        "sip:user@300.1.1.1",
        "sip:user@-bad-.com",
        "sip:user@host?noequals",
        "sip:%zz@host",
        "sip:user@host;lr;a=%4",
        "tel:",
        "1sip:a@b",
    ],
)
def test_malformed_uri_is_400(text: str) -> None:
    with pytest.raises(RemoteProtocolError) as err:
        SipUri.parse(text)
    assert err.value.status == 400


@pytest.mark.parametrize(
    "text",
    [
        "sip:host",
        "sip:host.example.com.",
        "sip:192.0.2.1:5060",
        "sip:[::1]",
        "sip:[::1]:5060;lr",
        "sip:u:@h",
        "sips:%00@h",
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        GENESYS,
    ],
)
def test_round_trip(text: str) -> None:
    uri = SipUri.parse(text)
    assert str(uri) == text
    assert SipUri.parse(str(uri)) == uri


def test_with_params_replaces_case_insensitively_and_appends() -> None:
    uri = SipUri.parse("sip:a@h;Transport=udp")
    changed = uri.with_params(transport="tcp", lr=None)
    assert str(changed) == "sip:a@h;Transport=tcp;lr"
    assert str(changed.without_param("LR")) == "sip:a@h;Transport=tcp"
    assert str(uri.replace(port=5080)) == "sip:a@h:5080;Transport=udp"


def test_construction_is_validated() -> None:
    with pytest.raises(LocalProtocolError):
        SipUri("http", None, None, "h", None)
    with pytest.raises(LocalProtocolError):
        SipUri("sip", None, None, "h", 70000)
    with pytest.raises(LocalProtocolError):
        SipUri("sip", "a b", None, "h", None)


def test_unescape() -> None:
    assert unescape("I%20have%20spaces") == "I have spaces"
    assert unescape("%zz%4") == "%zz%4"
    assert unescape("%C3%A9") == "é"
    assert unescape("%FF") == "\ufffd"
