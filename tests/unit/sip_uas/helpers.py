"""Shared helpers for the UAS tests: fixture bytes, a deterministic UAS, response decoding."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from harness.protocol.sip.message import SipResponse, parse_message
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
