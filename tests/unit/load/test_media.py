"""The load sender's fast packet path is the suite's packet stream, byte for byte."""

from __future__ import annotations

import pytest

from harness.load.media import CachedTimecodeSource
from harness.media.rtp_source import PacketKind, RtpStreamSource, Run
from harness.protocol.rtp.packet import fixed_header, pack_fixed_header


@pytest.mark.parametrize(("stream", "codec", "seq", "ts"), [(0, "PCMU", 65530, 2**32 - 500), (1, "PCMA", 7, 123)])
def test_timed_media_is_timed_with_one_media_run(stream: int, codec: str, seq: int, ts: int) -> None:
    # Sequence number and timestamp wrap within the call (RFC 3550 §5.1: modulo 2^16 and 2^32).
    cached = CachedTimecodeSource.create(stream, codec, ssrc=0xDEADBEEF, initial_seq=seq, initial_timestamp=ts)
    plain = RtpStreamSource.create(stream, codec, ssrc=0xDEADBEEF, initial_seq=seq, initial_timestamp=ts)
    assert list(cached.timed_media(12)) == list(plain.timed([Run(PacketKind.MEDIA, 12)]))


def test_pack_fixed_header_round_trips() -> None:
    assert fixed_header(pack_fixed_header(8, 65535, 2**32 - 1, 42, marker=True)) == (True, 8, 65535, 2**32 - 1, 42)
    assert fixed_header(pack_fixed_header(0, 1, 2, 3)) == (False, 0, 1, 2, 3)
