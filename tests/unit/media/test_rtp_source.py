"""RTP stream source: scapy-built header template, seq/ts progression, wraps, pause schedules."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scapy.layers.rtp import RTP
from scapy.packet import Raw

from harness.media.rtp_source import PacketKind, RtpStreamSource, Run
from harness.media.timecode import SEGMENT_SAMPLES, decode_timecode
from harness.protocol.rtp import g711

MEDIA, SILENCE, SKIP = PacketKind.MEDIA, PacketKind.SILENCE, PacketKind.SKIP


def fields(data: bytes) -> tuple[int, int, int, int, int, bytes]:
    """(marker, pt, seq, ts, ssrc, payload) parsed by scapy, independent of our struct code."""
    p = RTP(data)
    return p.marker, p.payload_type, p.sequence, p.timestamp, p.sourcesync, bytes(p.payload)


def source(**kw: object) -> RtpStreamSource:
    args: dict[str, object] = {"ssrc": 0x11223344, "initial_seq": 1000, "initial_timestamp": 5000}
    args.update(kw)
    return RtpStreamSource.create(0, "PCMU", **args)  # type: ignore[arg-type]


def test_packet_equals_a_full_scapy_build() -> None:
    src = source(initial_seq=65534, initial_timestamp=2**32 - 160)
    for n in (0, 1, 2, 3, 777):
        expected = RTP(
            version=2,
            marker=int(n == 0),
            payload_type=0,
            sequence=(65534 + n) % 65536,
            timestamp=(2**32 - 160 + 160 * n) % 2**32,
            sourcesync=0x11223344,
        ) / Raw(src.payload(n))
        assert src.packet(n) == bytes(expected)


def test_header_fields_and_payload() -> None:
    src = RtpStreamSource.create(1, "pcma", ssrc=7, initial_seq=10, initial_timestamp=20, ptime_ms=30)
    assert (src.codec, src.payload_type, src.samples_per_packet) == ("PCMA", 8, 240)
    marker, pt, seq, ts, ssrc, payload = fields(src.packet(3))
    assert (marker, pt, seq, ts, ssrc) == (0, 8, 13, 20 + 3 * 240, 7)
    assert len(payload) == 240
    assert src.packet(0)[0] == 0x80 and src.packet(0)[1] == 0x80 | 8  # V=2, M=1 on the first packet


def test_sequence_and_timestamp_wrap() -> None:
    src = source(initial_seq=65534, initial_timestamp=2**32 - 320)
    got = [fields(src.packet(n))[2:4] for n in range(4)]
    assert got == [(65534, 2**32 - 320), (65535, 2**32 - 160), (0, 0), (1, 160)]


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_payloads_carry_decodable_timecode(codec: str) -> None:
    src = RtpStreamSource.create(2, codec, rng=1)
    n_packets = 3 * SEGMENT_SAMPLES // 160
    audio = np.concatenate([g711.decode(codec, fields(src.packet(n))[5]) for n in range(n_packets)])
    assert decode_timecode(audio).counters_of(2) == (0, 1, 2)


def test_random_fields_are_seedable() -> None:
    a, b, c = (
        RtpStreamSource.create(0, rng=42),
        RtpStreamSource.create(0, rng=42),
        RtpStreamSource.create(0, rng=43),
    )
    assert a == b and a.packet(5) == b.packet(5)
    assert (a.ssrc, a.initial_seq, a.initial_timestamp) != (c.ssrc, c.initial_seq, c.initial_timestamp)
    r = random.Random(9)
    d = RtpStreamSource.create(0, rng=r)
    assert d.ssrc == random.Random(9).getrandbits(32)


def test_silence_packet_keeps_the_progression() -> None:
    for codec, byte in (("PCMU", 0xFF), ("PCMA", 0xD5)):
        src = RtpStreamSource.create(0, codec, initial_seq=5, initial_timestamp=0, ssrc=1)
        marker, _, seq, ts, _, payload = fields(src.silence_packet(4))
        assert (marker, seq, ts) == (0, 9, 640)
        assert payload == bytes([byte]) * 160


def test_timestamp_jump_pause_keeps_seq_contiguous() -> None:
    """Pause behaviour 1: packets not sent, RTP clock keeps running (RFC 3550 §5.1)."""
    src = source()
    pkts = list(src.packets([Run(MEDIA, 5), Run(SKIP, 50), Run(MEDIA, 5)]))
    assert [p.n for p in pkts] == [0, 1, 2, 3, 4, 55, 56, 57, 58, 59]
    seqs = [fields(p.data)[2] for p in pkts]
    assert seqs == list(range(1000, 1010))  # no gap in sequence numbers
    tss = [fields(p.data)[3] for p in pkts]
    assert tss[5] - tss[4] == 51 * 160  # the timestamp jumps by the pause length
    assert [fields(p.data)[0] for p in pkts] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0]  # new talkspurt
    assert [p.send_offset for p in pkts][4:6] == [pytest.approx(0.08), pytest.approx(1.10)]
    # Audio after the pause is the time-code of the slot, not of the packet count.
    assert fields(pkts[5].data)[5] == src.payload(55)


def test_silence_pause_sends_silence_with_no_marker() -> None:
    src = source()
    pkts = list(src.packets([Run(MEDIA, 2), Run(SILENCE, 3), Run(MEDIA, 2)]))
    assert [p.kind for p in pkts] == [MEDIA, MEDIA, SILENCE, SILENCE, SILENCE, MEDIA, MEDIA]
    assert [fields(p.data)[2] for p in pkts] == list(range(1000, 1007))
    assert [fields(p.data)[3] for p in pkts] == [5000 + 160 * n for n in range(7)]
    assert [p.marker for p in pkts] == [True] + [False] * 6
    assert fields(pkts[3].data)[5] == b"\xff" * 160


def test_schedule_wraps_seq_and_starts_mid_call() -> None:
    src = source(initial_seq=65535)
    pkts = list(src.packets([Run(SKIP, 2), Run(MEDIA, 3)], first_n=100))
    assert [(p.n, p.seq) for p in pkts] == [(102, 65535), (103, 0), (104, 1)]
    timed = list(src.timed([Run(MEDIA, 2)]))
    assert timed == [(0.0, pkts_data) for pkts_data in [src.packet(0, seq=65535, marker=True)]] + [
        (pytest.approx(0.02), src.packet(1, seq=0, marker=False))
    ]


@pytest.mark.parametrize(
    "kw",
    [
        {"codec": "G729"},
        {"ptime_ms": 0},
        {"ptime_ms": 1.5},
        {"ssrc": 2**32},
        {"initial_seq": 65536},
        {"initial_timestamp": -1},
        {"payload_type": 128},
        {"stream_index": 3},
    ],
)
def test_invalid_parameters_are_refused(kw: dict[str, object]) -> None:
    args: dict[str, object] = {"stream_index": 0, "codec": "PCMU"}
    args.update(kw)
    with pytest.raises(ValueError):
        RtpStreamSource.create(**args)  # type: ignore[arg-type]


def test_negative_slot_and_run_are_refused() -> None:
    with pytest.raises(ValueError):
        source().packet(-1)
    with pytest.raises(ValueError):
        Run(MEDIA, -1)
