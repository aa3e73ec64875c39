"""harness.protocol.sdp.build_offer: the one SDP offer builder (SIPp legs, edge-case probes)."""

from __future__ import annotations

import pytest

from harness.protocol.sdp import Direction, OfferedCodec, OfferedMedia, build_offer, parse_sdp


def test_offer_round_trips_through_the_parser() -> None:
    codecs = (OfferedCodec(0, "PCMU"), OfferedCodec(101, "telephone-event", fmtp="0-15"))
    offer = build_offer("127.0.0.1", [OfferedMedia(40000, codecs, ptime_ms=20), OfferedMedia(40002, codecs)],
                        session_id=42, version=3, username="MCP", direction=Direction.INACTIVE)
    body = offer.to_bytes()
    assert body.startswith(b"v=0\r\no=MCP 42 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n")
    assert b"m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n" \
           b"a=fmtp:101 0-15\r\na=ptime:20\r\na=inactive\r\n" in body
    parsed = parse_sdp(body)
    assert [m.port for m in parsed.media] == [40000, 40002]
    assert all(m.direction(parsed) is Direction.INACTIVE for m in parsed.media)


def test_rtpmap_text_with_channels_and_ipv6() -> None:
    codec = OfferedCodec.from_rtpmap(111, "opus/48000/2")
    assert (codec.encoding, codec.clock_rate, codec.channels) == ("opus", 48000, 2)
    body = build_offer("::1", [OfferedMedia(5000, (codec,))], session_id=1).to_bytes()
    assert b"c=IN IP6 ::1" in body and b"a=rtpmap:111 opus/48000/2" in body and b"a=sendonly" in body


@pytest.mark.parametrize("bad", ["PCMU", "PCMU/x", "opus/48000/two"])
def test_bad_rtpmap_text_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        OfferedCodec.from_rtpmap(0, bad)


def test_version_starts_at_one() -> None:
    with pytest.raises(ValueError):
        build_offer("127.0.0.1", [], session_id=1, version=0)
