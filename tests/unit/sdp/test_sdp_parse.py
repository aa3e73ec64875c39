"""SDP parse/build (RFC 4566): fixtures round-trip byte for byte; malformed input -> 400."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sdp import (
    Bandwidth,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
    parse_sdp,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sdp"
CRLF_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.sdp") if p.name != "lf_only.sdp")


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_fixtures_keep_crlf() -> None:
    for name in CRLF_FIXTURES:
        data = load(name)
        assert data.count(b"\r\n") == data.count(b"\n") > 0, name
    assert b"\r" not in load("lf_only.sdp")


@pytest.mark.parametrize("name", CRLF_FIXTURES)
def test_round_trip_is_byte_exact(name: str) -> None:
    data = load(name)
    sdp = parse_sdp(data)
    assert sdp.to_bytes() == data
    assert parse_sdp(sdp.to_bytes()) == sdp
    assert parse_sdp(data.decode()) == sdp  # str input too


def test_lf_only_input_is_tolerated_and_output_is_crlf() -> None:
    data = load("lf_only.sdp")
    sdp = parse_sdp(data)
    assert sdp.media[0].port == 4000
    assert sdp.to_bytes() == data.replace(b"\n", b"\r\n")


def test_rfc4566_example_fields() -> None:
    sdp = parse_sdp(load("rfc4566_example.sdp"))
    assert sdp.origin == Origin("jdoe", "2890844526", "2890842807", "IN", "IP4", "10.47.16.5")
    assert sdp.session_name == "SDP Seminar"
    assert sdp.emails == ("j.doe@example.com (Jane Doe)",)
    assert sdp.connection == Connection("IN", "IP4", "224.2.17.12/127")
    assert sdp.connection is not None and sdp.connection.host == "224.2.17.12"
    assert sdp.timings[0].start == 2873397496
    audio, video = sdp.media
    assert (audio.media, audio.port, audio.proto, audio.formats) == ("audio", 49170, "RTP/AVP", ("0",))
    # session-level a=recvonly applies where the media level says nothing (RFC 4566 §6)
    assert audio.direction(sdp) is Direction.RECVONLY and audio.direction() is Direction.SENDRECV
    assert audio.rtpmap == {0: RtpMap("PCMU", 8000)}  # static, no a=rtpmap (RFC 3551 Table 4)
    assert video.rtpmap == {99: RtpMap("h263-1998", 90000)}
    assert sdp.media_connection(1) == sdp.connection


def test_all_line_types() -> None:
    sdp = parse_sdp(load("all_line_types.sdp"))
    assert sdp.information == "session info" and sdp.uri == "http://example.com/x"
    assert sdp.emails == ("ops@example.com", "noc@example.com") and sdp.phones == ("+1 617 555-6011",)
    assert sdp.bandwidths == (Bandwidth("CT", 128), Bandwidth("AS", 64))
    assert len(sdp.timings) == 2 and sdp.timings[0].repeats == ("604800 3600 0 90000", "7d 1h 0 25h")
    assert sdp.zone == "2882844526 -1h 2898848070 0" and sdp.key == "prompt"
    assert sdp.direction is Direction.SENDONLY
    assert ("tool", "arec") in sdp.attributes
    m = sdp.media[0]
    assert m.port_count == 2 and m.information == "main audio" and m.key == "prompt"
    assert m.connection == Connection("IN", "IP4", "203.0.113.2")
    assert sdp.media_connection(0) == m.connection
    assert m.bandwidths == (Bandwidth("AS", 80),)
    assert m.rtpmap[101] == RtpMap("telephone-event", 8000)
    assert m.fmtp == {101: "0-15"}
    assert (m.ptime, m.maxptime, m.label) == (20.0, 40.0, "1")
    assert m.direction(sdp) is Direction.RECVONLY  # media level overrides session sendonly
    assert m.payload_types == (0, 8, 101)
    app = sdp.media[1]
    assert app.formats == ("*",) and app.payload_types == () and app.rtpmap == {}
    assert app.direction(sdp) is Direction.SENDONLY


def test_rtpmap_with_channels_and_unlisted_static() -> None:
    sdp = parse_sdp(
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\n"
        "m=audio 1 RTP/AVP 96 9 13 120\r\na=rtpmap:96 opus/48000/2\r\na=ptime:2.5\r\n"
    )
    m = sdp.media[0]
    assert m.rtpmap == {96: RtpMap("opus", 48000, 2), 9: RtpMap("G722", 8000), 13: RtpMap("CN", 8000)}
    assert 120 not in m.rtpmap  # dynamic PT without rtpmap: unknown
    assert m.ptime == 2.5


def test_build_from_values() -> None:
    sdp = SessionDescription(
        origin=Origin("arec", "1", "1", "IN", "IP4", "127.0.0.1"),
        connection=Connection("IN", "IP4", "127.0.0.1"),
        media=(MediaDescription("audio", 5004, "RTP/AVP", ("0",), attributes=(("recvonly", None),)),),
    )
    assert sdp.to_bytes() == (
        b"v=0\r\no=arec 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        b"m=audio 5004 RTP/AVP 0\r\na=recvonly\r\n"
    )


PCMU = load("offer_pcmu.sdp").decode()


def _mutate(old: str, new: str) -> str:
    assert old in PCMU
    return PCMU.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        (PCMU.replace("v=0\r\n", "", 1), "first line must be v="),
        (_mutate("v=0", "v=1"), "unsupported version"),
        (_mutate("s=GVP", "s = GVP"), "not '<type>=<value>'"),
        (_mutate("s=GVP", "GVP"), "not '<type>=<value>'"),
        (_mutate("s=GVP\r\n", "s=GVP\r\n\r\n"), "not '<type>=<value>'"),  # blank line inside
        (_mutate("s=GVP", "S=GVP"), "not '<type>=<value>'"),
        (_mutate("s=GVP\r\n", ""), "missing s="),
        (_mutate("o=GVP 1700000001 1 IN IP4 127.0.0.1\r\n", ""), "missing o="),
        (_mutate("t=0 0\r\n", ""), "missing t="),
        (_mutate("o=GVP 1700000001 1 IN IP4 127.0.0.1", "o=GVP 1 IN IP4 127.0.0.1"), "o= needs 6 fields"),
        (_mutate("t=0 0", "t=now"), "t= needs"),
        (_mutate("c=IN IP4 127.0.0.1", "c=IN IP4"), "c= needs"),
        (_mutate("s=GVP", "s=GVP\r\nx=unknown"), "unknown type"),
        (_mutate("s=GVP", "s=GVP\r\nr=1 2 3"), "r= before any t="),
        (_mutate("m=audio 30000 RTP/AVP 0 101", "m=audio 30000 RTP/AVP"), "m= needs"),
        (_mutate("m=audio 30000 RTP/AVP 0 101", "m=audio port RTP/AVP 0"), "bad m= port"),
        (_mutate("m=audio 30000 RTP/AVP 0 101", "m=audio 70000 RTP/AVP 0"), "bad m= port"),
        (_mutate("m=audio 30000 RTP/AVP 0 101", "m=audio 30000/0 RTP/AVP 0"), "port count"),
        (_mutate("m=audio 30000 RTP/AVP 0 101", "m=audio 30000 RTP/AVP 0 PCMU"), "not a payload type"),
        (_mutate("m=audio 30000 RTP/AVP 0 101", "m=audio 30000 RTP/AVP 128"), "not a payload type"),
        (_mutate("a=ptime:20", "a=ptime:20\r\nt=0 0"), "not allowed after m="),
        (_mutate("a=ptime:20", "b=AS"), "b= needs"),
        (_mutate("a=ptime:20", "a=bad name:1"), "bad attribute name"),
        (_mutate("c=IN IP4 127.0.0.1\r\n", ""), "no c="),
        (_mutate("s=GVP", "s=GVP\r\ns=again"), "repeated s="),
        (_mutate("c=IN IP4 127.0.0.1", "c=IN IP4 127.0.0.1\r\nc=IN IP4 127.0.0.2"), "repeated session-level c="),
    ],
)
def test_malformed_sdp_is_400(text: str, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message) as info:
        parse_sdp(text)
    assert info.value.status == 400 and info.value.reason == "Bad Request"


def test_non_utf8_is_400() -> None:
    with pytest.raises(RemoteProtocolError, match="UTF-8"):
        parse_sdp(load("offer_pcmu.sdp").replace(b"s=GVP", b"s=\xff\xfe"))


def test_every_truncation_parses_or_raises_400() -> None:
    data = load("all_line_types.sdp")
    for n in range(len(data)):
        try:
            parse_sdp(data[:n])
        except RemoteProtocolError as exc:
            assert exc.status == 400
