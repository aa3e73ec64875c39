"""RFC 3264 offer/answer as a recorder (answer_offer) on Genesys-like offer fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sdp import (
    Direction,
    MediaDescription,
    NoAcceptableMedia,
    StreamPlan,
    answer_direction,
    answer_offer,
    parse_sdp,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sdp"


def offer(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class Ports:
    """Port allocator that remembers per m-line index, like an adapter would."""

    def __init__(self, base: int = 40000) -> None:
        self.next = base
        self.calls: list[tuple[int, str]] = []

    def __call__(self, index: int, media: MediaDescription) -> int:
        self.calls.append((index, media.media))
        port = self.next
        self.next += 2  # RTP even, RTCP odd (RFC 3550 §11)
        return port


def answer(name: str, **kw: object) -> tuple[bytes, list[StreamPlan], Ports]:
    ports = Ports()
    sdp, plans = answer_offer(
        parse_sdp(offer(name)),
        address="127.0.0.2",
        allocate_port=ports,
        session_id=42,
        **kw,  # type: ignore[arg-type]
    )
    return sdp.to_bytes(), plans, ports


def test_direction_table() -> None:
    assert answer_direction(Direction.SENDONLY) is Direction.RECVONLY
    assert answer_direction(Direction.SENDRECV) is Direction.RECVONLY
    assert answer_direction(Direction.RECVONLY) is Direction.INACTIVE
    assert answer_direction(Direction.INACTIVE) is Direction.INACTIVE


def test_pcmu_offer_keeps_telephone_event() -> None:
    wire, plans, ports = answer("offer_pcmu.sdp")
    assert wire == (
        b"v=0\r\no=arec 42 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
        b"m=audio 40000 RTP/AVP 0 101\r\n"
        b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
        b"a=ptime:20\r\na=recvonly\r\n"
    )
    (p,) = plans
    assert p.accepted and p.receiving and p.port == 40000
    assert (p.payload_type, p.encoding, p.clock_rate, p.telephone_event_pt) == (0, "PCMU", 8000, 101)
    assert p.payload_types == (0, 101) and p.ptime == 20.0
    assert (p.offer_direction, p.direction) == (Direction.SENDONLY, Direction.RECVONLY)
    assert (p.remote_address, p.remote_port) == ("127.0.0.1", 30000)
    assert ports.calls == [(0, "audio")]
    assert parse_sdp(wire).media[0].direction() is Direction.RECVONLY


def test_pcma_static_offer_without_rtpmap() -> None:
    wire, plans, _ = answer("offer_pcma.sdp")
    (p,) = plans
    assert (p.payload_type, p.encoding, p.telephone_event_pt) == (8, "PCMA", None)
    assert b"m=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\na=recvonly\r\n" in wire


def test_audio_and_video_rejects_video_with_port_zero() -> None:
    wire, plans, ports = answer("offer_audio_video.sdp")
    audio, video = plans
    assert audio.accepted and audio.port == 40000
    assert not video.accepted and video.port == 0 and "video" in (video.reason or "")
    ans = parse_sdp(wire)
    assert [m.media for m in ans.media] == ["audio", "video"]  # same number and order
    # RFC 3264 §6: rejected stream: port 0, offered formats echoed
    assert ans.media[1].port == 0 and ans.media[1].formats == ("96",)
    assert ports.calls == [(0, "audio")]  # no port allocated for the rejected stream


def test_g729_only_is_488() -> None:
    with pytest.raises(NoAcceptableMedia, match="no supported codec") as info:
        answer("offer_g729_only.sdp")
    assert isinstance(info.value, RemoteProtocolError)
    assert (info.value.status, info.value.reason) == (488, "Not Acceptable Here")


def test_g729_accepted_when_supported() -> None:
    wire, plans, _ = answer("offer_g729_only.sdp", supported_encodings=("G729",))
    assert plans[0].encoding == "G729" and plans[0].payload_types == (18, 101)
    assert b"a=fmtp:18 annexb=no\r\n" in wire


def test_two_audio_m_lines_single_session_mode() -> None:
    wire, plans, ports = answer("offer_two_audio.sdp")
    assert [p.port for p in plans] == [40000, 40002]
    assert [p.label for p in plans] == ["1", "2"]
    # session-level a=sendonly applies to both -> recvonly each
    assert all(p.offer_direction is Direction.SENDONLY and p.direction is Direction.RECVONLY for p in plans)
    assert all(p.payload_type == 8 for p in plans)  # offer preference: 8 before 0
    ans = parse_sdp(wire)
    assert [m.label for m in ans.media] == ["1", "2"]
    assert [m.formats for m in ans.media] == [("8",), ("8",)]
    assert ports.calls == [(0, "audio"), (1, "audio")]


def test_reoffer_inactive_keeps_port_and_answers_inactive() -> None:
    ports = Ports()
    first_sdp, first = answer_offer(
        parse_sdp(offer("offer_pcmu.sdp")), address="127.0.0.2", allocate_port=ports, session_id=42
    )
    pause_sdp, pause = answer_offer(
        parse_sdp(offer("reoffer_inactive.sdp")),
        address="127.0.0.2",
        allocate_port=ports,
        session_id=42,
        session_version=2,
        previous=first,
    )
    assert ports.calls == [(0, "audio")]  # port allocated once (RFC 3264 §8: same m-line, same port)
    assert pause[0].port == first[0].port == 40000
    assert pause[0].direction is Direction.INACTIVE and not pause[0].receiving
    assert pause_sdp.origin.session_version == "2" and first_sdp.origin.session_id == pause_sdp.origin.session_id
    assert pause_sdp.media[0].direction() is Direction.INACTIVE


def test_telephone_event_kept_with_chosen_codec_clock_in_offer_order() -> None:
    wire, plans, _ = answer("offer_te_pcma_preferred.sdp")
    (p,) = plans
    # offer order 18 8 0 13 101 102: G729 unsupported -> PCMA; te at 8000 (101), not 102 (16 kHz)
    assert p.payload_types == (8, 101) and p.telephone_event_pt == 101
    assert p.direction is Direction.RECVONLY  # sendrecv offered; a recorder never sends
    assert b"m=audio 40000 RTP/AVP 8 101\r\n" in wire and b"a=fmtp:101 0-16\r\n" in wire
    assert b"102" not in wire.split(b"m=audio")[1]


def test_encoding_match_is_case_insensitive() -> None:
    _, plans, _ = answer("offer_pcmu.sdp", supported_encodings=("pcmu",))
    assert plans[0].encoding == "PCMU"


def test_offer_port_zero_stays_zero_and_hold_address_is_inactive() -> None:
    text = offer("offer_two_audio.sdp").decode()
    text = text.replace("m=audio 30012", "m=audio 0", 1)
    _, plans = answer_offer(parse_sdp(text), address="::1", allocate_port=Ports(), session_id=1)
    assert plans[1].port == 0 and not plans[1].accepted and "disabled" in (plans[1].reason or "")
    held = offer("offer_pcmu.sdp").decode().replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0")
    sdp, plans = answer_offer(parse_sdp(held), address="::1", allocate_port=Ports(), session_id=1)
    assert plans[0].direction is Direction.INACTIVE
    assert sdp.connection is not None and sdp.connection.addr_type == "IP6"


def test_srtp_offer_rejected_by_default() -> None:
    text = offer("offer_pcmu.sdp").decode().replace("RTP/AVP", "RTP/SAVP")
    with pytest.raises(NoAcceptableMedia, match="transport"):
        answer_offer(parse_sdp(text), address="127.0.0.2", allocate_port=Ports(), session_id=1)


def test_no_m_lines_is_488() -> None:
    text = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n"
    with pytest.raises(NoAcceptableMedia, match="no m-lines"):
        answer_offer(parse_sdp(text), address="127.0.0.2", allocate_port=Ports(), session_id=1)


def test_answer_timing_equals_offer() -> None:
    text = offer("offer_pcma.sdp").decode().replace("t=0 0", "t=3034423619 3042462419")
    sdp, _ = answer_offer(parse_sdp(text), address="127.0.0.2", allocate_port=Ports(), session_id=1)
    assert (sdp.timings[0].start, sdp.timings[0].stop) == (3034423619, 3042462419)
