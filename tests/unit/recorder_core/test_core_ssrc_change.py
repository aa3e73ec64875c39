"""An SSRC change mid-stream reaches the recording timeline (RFC 3550 §8.2): the new source's
audio continues where the old one's ends, even when the old stream's audio sits off its arrival
times (its first packet arrived late). Before: the core did not pass the SSRC on, the new
source was anchored on its own arrival, and an 80 ms hole opened in the recording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from tests.unit.recorder_core.helpers import Driver, recording_uri, rtp_packet


def test_a_new_ssrc_continues_the_stream_without_a_hole(tmp_path: Path) -> None:
    driver = Driver(tmp_path)
    leg = driver.open_leg("ssrc1", recording_uri("7001"))
    port = leg.ports[0]
    driver.rtp(port, [rtp_packet(100, 8000, ssrc=0xA)], ptime=0.1)  # the next one comes 100 ms later
    driver.rtp(port, [rtp_packet(100 + i, 8000 + 160 * i, ssrc=0xA) for i in range(1, 30)])
    driver.rtp(port, [rtp_packet(40000 + i, 3_000_000_000 + 160 * i, ssrc=0xB) for i in range(30)])
    driver.bye(leg)
    (doc,) = driver.documents()
    assert doc["streams"][0]["re_anchors"] == 1 and doc["streams"][0]["packets_written"] == 60
    (wav,) = tmp_path.rglob("stream-*.wav")
    samples, _rate = soundfile.read(str(wav), dtype="int16")
    audible = np.flatnonzero(samples)
    span = samples[audible[0]:audible[-1] + 1]
    assert len(span) == 60 * 160 and np.count_nonzero(span == 0) == 0
