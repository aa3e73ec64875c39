"""Property-based tests (hypothesis) for the SIP codec.

1. Generated valid messages round-trip: parse(to_bytes(m)) == m.
2. Arbitrary bytes, mutated fixtures and every truncation of every fixture raise nothing but
   SipParseError, and accessors of whatever parses raise nothing but RemoteProtocolError.
3. StreamFramer yields the same messages however the byte stream is split.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip import (
    Headers,
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    StreamFramer,
    parse_message,
)
from harness.protocol.sip.message import INTERNAL_ERROR_PREFIX

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sip"
ALL_FIXTURES = sorted(p for p in FIXTURES.rglob("*") if p.is_file())
MESSAGE_FIXTURES = [p for p in ALL_FIXTURES if p.suffix == ".sip"]
STREAMABLE = [FIXTURES / n for n in ("ack.sip", "bye.sip", "cancel.sip", "options.sip", "ok_sdp.sip",
                                      "are_invite_single_session.sip", "compact.sip", "folded.sip")]

TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(TOKEN_ALPHABET, min_size=1, max_size=12)
hostnames = st.lists(st.from_regex(r"[a-z]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True), min_size=1, max_size=3).map(
    lambda labels: ".".join(labels)
)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
hosts = st.one_of(hostnames, ipv4, st.just("[2001:db8::1]"))
users = st.text("abcXYZ019-_.!~*'()&=+$,;?/", min_size=1, max_size=16)
param_names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
param_values = st.one_of(st.none(), st.text("abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=8))
uri_params = st.lists(st.tuples(param_names, param_values), max_size=4).map(tuple)
uris = st.builds(
    SipUri,
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.one_of(st.none(), users),
    password=st.none(),
    host=hosts,
    port=st.one_of(st.none(), st.integers(1, 65535)),
    params=uri_params,
)
header_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r\n\x7f"), max_size=30
).map(lambda s: s.strip(" \t"))
extra_headers = st.lists(st.tuples(tokens.map(lambda t: "X-" + t), header_text), max_size=5)
bodies = st.binary(max_size=200)


@st.composite
def core_headers(draw: st.DrawFn, method: str) -> list[tuple[str, str]]:
    via_count = draw(st.integers(1, 3))
    vias = [
        (draw(st.sampled_from(["Via", "v", "VIA"])),
         f"SIP/2.0/{draw(st.sampled_from(['UDP', 'TCP']))} {draw(hosts)};branch=z9hG4bK{draw(tokens)}")
        for _ in range(via_count)
    ]
    from_ = ("From", f"<{draw(uris)}>;tag={draw(tokens)}")
    to = (draw(st.sampled_from(["To", "t"])), f"\"{draw(st.text('abc XYZ', max_size=8))}\" <{draw(uris)}>")
    items = [*vias, from_, to, ("Call-ID", f"{draw(tokens)}@{draw(hostnames)}"),
             ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}"), ("Max-Forwards", str(draw(st.integers(0, 255))))]
    items += draw(extra_headers)
    return draw(st.permutations(items))


@st.composite
def messages(draw: st.DrawFn) -> SipMessage:
    body = draw(bodies)
    if draw(st.booleans()):
        method = draw(st.one_of(st.sampled_from(["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"]), tokens))
        headers = Headers(draw(core_headers(method)))
        return SipRequest(method, draw(uris), headers, body)
    reason = draw(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20))
    headers = Headers(draw(core_headers(draw(tokens))))
    return SipResponse(draw(st.integers(100, 699)), reason, headers, body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_generated_messages_round_trip(msg: SipMessage) -> None:
    wire = msg.to_bytes()
    parsed = parse_message(wire)
    assert parsed == msg
    assert parsed.raw == wire
    assert parsed.to_bytes() == wire
    assert parsed.vias == msg.vias and parsed.cseq == msg.cseq and parsed.to == msg.to


def _exercise(data: bytes) -> None:
    """Parse; only SipParseError may escape; accessors only RemoteProtocolError."""
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        assert not str(exc).startswith(INTERNAL_ERROR_PREFIX), str(exc)
        assert 400 <= exc.status <= 599
        if exc.partial is not None:
            assert exc.partial.call_id  # a partial always has the core headers
        return
    for accessor in ("call_id", "cseq", "from_", "to", "vias", "contacts", "content_type", "content_length",
                     "require", "supported", "max_forwards"):
        with contextlib.suppress(RemoteProtocolError):
            getattr(msg, accessor)
    msg.to_bytes()


@settings(max_examples=500)
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    _exercise(data)


@settings(max_examples=400)
@given(st.text(max_size=300))
def test_arbitrary_text_after_start_line(text: str) -> None:
    _exercise(b"INVITE sip:a@b SIP/2.0\r\n" + text.replace("\n", "\r\n").encode("utf-8", "surrogatepass"))


@settings(max_examples=600)
@given(
    st.sampled_from(MESSAGE_FIXTURES),
    st.lists(st.tuples(st.integers(0, 5000), st.sampled_from(["replace", "insert", "delete"]),
                       st.sampled_from(list(b" \t\r\n:;,<>\"@=\\%/0aZ\xff\x00"))), min_size=1, max_size=6),
)
def test_mutated_fixtures(path: Path, edits: list[tuple[int, str, int]]) -> None:
    data = bytearray(path.read_bytes())
    for pos, op, byte in edits:
        pos %= len(data) + 1
        if op == "insert":
            data.insert(pos, byte)
        elif pos < len(data):
            if op == "replace":
                data[pos] = byte
            else:
                del data[pos]
    _exercise(bytes(data))


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_every_truncation(path: Path) -> None:
    data = path.read_bytes()
    for cut in range(len(data) + 1):
        _exercise(data[:cut])
        framer = StreamFramer()
        try:
            framer.feed(data[:cut])
        except SipParseError as exc:
            assert not str(exc).startswith(INTERNAL_ERROR_PREFIX), str(exc)


@settings(max_examples=200)
@given(
    st.lists(st.sampled_from(STREAMABLE), min_size=1, max_size=5),
    st.lists(st.integers(0, 10_000), max_size=12),
    st.booleans(),
)
def test_framer_split_invariance(paths: list[Path], cuts: list[int], keepalives: bool) -> None:
    parts = [p.read_bytes() for p in paths]
    stream = b"".join((b"\r\n\r\n" if keepalives else b"") + part for part in parts)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    framer = StreamFramer()
    got: list[SipMessage] = []
    prev = 0
    for point in [*points, len(stream)]:
        got += framer.feed(stream[prev:point])
        prev = point
    assert [m.raw for m in got] == parts
    assert got == [parse_message(p) for p in parts]
    assert framer.buffered == 0
