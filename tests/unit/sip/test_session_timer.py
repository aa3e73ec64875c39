"""harness.protocol.sip.session_timer: Session-Expires / Min-SE parsing and the UAS's answer
(RFC 4028 §4, §5, §9)."""

from __future__ import annotations

import pytest

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.message import SipRequest, parse_message
from harness.protocol.sip.session_timer import (
    SessionExpires,
    parse_min_se,
    parse_session_expires,
    uas_session_timer,
)


def _invite(*headers: str) -> SipRequest:
    lines = ["INVITE sip:record=1@192.0.2.20 SIP/2.0", "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1",
             "From: <sip:mcp@192.0.2.10>;tag=a", "To: <sip:record=1@192.0.2.20>", "Call-ID: c1", "CSeq: 1 INVITE",
             "Max-Forwards: 70", *headers, "Content-Length: 0"]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, SipRequest)
    return message


def test_session_expires_and_min_se_parse() -> None:
    assert parse_session_expires("1800;refresher=UAC") == SessionExpires(1800, "uac")
    assert parse_session_expires(" 90 ;foo=bar") == SessionExpires(90, None)
    assert parse_min_se("120;x=1") == 120
    for bad in ("", "abc", "-5", "90;refresher=proxy"):
        with pytest.raises(RemoteProtocolError):
            parse_session_expires(bad)


def test_too_small_an_interval_gets_422_with_min_se() -> None:
    with pytest.raises(RemoteProtocolError) as error:
        uas_session_timer(_invite("Supported: timer", "Session-Expires: 30"))
    assert error.value.status == 422 and ("Min-SE", "90") in error.value.extra_headers


def test_compact_form_and_refresher_chosen_as_uac_with_require_timer() -> None:
    answer = uas_session_timer(_invite("k: timer", "x: 120"))
    assert answer.granted == SessionExpires(120, "uac")
    assert ("Session-Expires", "120;refresher=uac") in answer.headers and ("Require", "timer") in answer.headers


def test_a_refresher_uas_asked_for_is_copied_without_require() -> None:
    answer = uas_session_timer(_invite("Supported: timer", "Session-Expires: 300;refresher=uas"))
    assert answer.granted == SessionExpires(300, "uas") and ("Require", "timer") not in answer.headers


def test_no_timer_without_session_expires_or_without_uac_support() -> None:
    assert uas_session_timer(_invite()).granted is None
    assert uas_session_timer(_invite("Session-Expires: 300")).granted is None


def test_a_local_minimum_below_90_seconds_is_refused() -> None:
    with pytest.raises(ValueError):
        uas_session_timer(_invite(), min_se=60)
