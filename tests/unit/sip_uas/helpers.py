"""Shared helpers for the UAS tests: fixture bytes, a deterministic UAS, response decoding."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

from harness.protocol.sip.message import SipParseError, SipResponse, parse_message
from harness.protocol.sip.transaction import Outgoing
from harness.protocol.sip.uas import UserAgentServer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sip_uas"
PEER = ("127.0.0.1", 40123)  # source of the datagrams; the Via says 127.0.0.1:5070;rport
CONTACT = "<sip:rec@127.0.0.1:5060>"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def make_ua(**kw: object) -> UserAgentServer:
    counter = itertools.count(1)
    params: dict[str, object] = {
        "local_tag_factory": lambda: f"uas-{next(counter)}",
        "contact": CONTACT,
        "supported": ("timer",),
        "rng": random.Random(7),
    }
    params.update(kw)
    return UserAgentServer(**params)  # type: ignore[arg-type]


def decode(out: Outgoing) -> SipResponse:
    message = parse_message(out.data)
    assert isinstance(message, SipResponse), out.data
    return message


def sent(ua: UserAgentServer) -> list[SipResponse]:
    return [decode(o) for o in ua.data_to_send()]


def statuses(ua: UserAgentServer) -> list[int]:
    return [r.status for r in sent(ua)]


_FROM_TO_LINE = re.compile(rb"(?im)^(from|f|to|t)[ \t]*:[^\r\n]*(?=\r?\n)")


def only_copied_from_to_is_malformed(data: bytes) -> bool:
    """A response that does not parse back is acceptable only when what breaks it is a From or
    To copied verbatim from a request whose From/To was malformed: RFC 3261 §8.2.6.2 says the
    response's From and To "MUST equal" the request's, whatever the status (400, 505, ...)."""
    placeholder = {b"f": b"From: <sip:from@invalid>;tag=x", b"t": b"To: <sip:to@invalid>;tag=y"}
    repaired = _FROM_TO_LINE.sub(lambda m: placeholder[m.group(1)[:1].lower()], data)
    if repaired == data:
        return False
    try:
        parse_message(repaired)
    except SipParseError:
        return False
    return True
