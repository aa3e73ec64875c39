"""G.722 on arec's 8 kHz timeline (harness/protocol/rtp/g722.py, RFC 3551 §4.5.2): 160 octets and
160 timestamp units per 20 ms, and the audio time code survives encode + decode."""

from __future__ import annotations

import numpy as np

from harness.media.rtp_source import RtpStreamSource
from harness.media.timecode import decode_timecode, timecode_samples
from harness.protocol.rtp.g722 import G722Decoder, G722Encoder
from harness.protocol.rtp.packet import RtpPacket


def test_one_octet_per_rtp_clock_tick() -> None:
    encoder = G722Encoder()
    assert len(encoder.encode(np.zeros(160, dtype=np.int16))) == 160
    assert encoder.encode([]) == b"" and len(G722Decoder().decode(b"")) == 0
    assert len(G722Decoder().decode(b"\x00" * 160)) == 160


def test_the_time_code_survives_g722_packet_by_packet() -> None:
    encoder, decoder = G722Encoder(), G722Decoder()
    signal = timecode_samples(1, 0, 16_000)
    out = np.concatenate([decoder.decode(encoder.encode(signal[i:i + 160])) for i in range(0, 16_000, 160)])
    track = decode_timecode(out, 8000, streams=[1])
    # The codec delays the audio by a few samples: the last segment runs past the end.
    assert list(track.counters_of(1))[:9] == list(range(9))
    assert min(s.score for s in track.segments) > 20


def test_the_source_sends_g722_with_pt_9_and_the_8000_hz_clock() -> None:
    source = RtpStreamSource.create(0, "G722", rng=1)
    first, second = RtpPacket.parse(source.packet(0)), RtpPacket.parse(source.packet(1))
    assert first.payload_type == 9 and (second.timestamp - first.timestamp) % 2**32 == 160
    assert len(first.payload) == 160
    # Slots are encoded in order once: asking again (the sender log rebuild) gives the same octets.
    assert source.packet(1) == source.packet(1) and source.payload(0) == first.payload
