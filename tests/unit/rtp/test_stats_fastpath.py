"""`RtpStreamStats.update`'s inline fast path gives bit-identical numbers to the general path
(`_update_general`, the line-by-line Wireshark / RFC 3550 transcription) on streams mixing every
case: loss, reorder, duplicates, wraps, marker, CN, telephone-event, PT and SSRC changes."""

from __future__ import annotations

import random

import pytest

from harness.protocol.rtp.stats import RtpStreamStats


def _packets(seed: int, n: int = 3000) -> list[tuple[int, int, float, int, bool, int]]:
    rnd = random.Random(seed)
    seq, ts, t, ssrc = rnd.getrandbits(16), rnd.getrandbits(32), 1_700_000_000.0, 0x1111
    out = []
    for _ in range(n):
        r = rnd.random()
        pt, marker = 0, False
        if r < 0.02:
            seq = (seq + rnd.randint(2, 5)) & 0xFFFF  # loss
        elif r < 0.03:
            seq = (seq - rnd.randint(1, 3)) & 0xFFFF  # late / duplicate
        elif r < 0.035:
            pt = 13  # comfort noise
        elif r < 0.04:
            pt, marker = 101, rnd.random() < 0.5  # telephone-event
        elif r < 0.045:
            marker = True
        elif r < 0.047:
            ssrc = rnd.getrandbits(32)  # SSRC change
        elif r < 0.049:
            pt = 8  # payload type change
        elif r < 0.050:
            seq = (seq + rnd.randint(4000, 60000)) & 0xFFFF  # big jump (RFC 3550 resync path)
        else:
            seq = (seq + 1) & 0xFFFF
        ts = (ts + 160) & 0xFFFFFFFF
        t += 0.02 + rnd.uniform(-0.004, 0.004)
        out.append((seq, ts, t, pt, marker, ssrc))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_fast_path_equals_general_path(seed: int) -> None:
    fast = RtpStreamStats(8000, telephone_event_pts={101})
    general = RtpStreamStats(8000, telephone_event_pts={101})
    for seq, ts, t, pt, marker, ssrc in _packets(seed):
        fast.update(seq, ts, t, pt, marker, ssrc)
        general._update_general(seq, ts, t, pt, marker, ssrc)
    assert fast.snapshot() == general.snapshot()  # exact float equality, field by field
    assert fast.report_block() == general.report_block()


def test_fast_path_still_rejects_out_of_range_values() -> None:
    stats = RtpStreamStats()
    stats.update(65534, 0, 1.0, 0, False, 1)
    stats.update(65535, 160, 1.02, 0, False, 1)
    with pytest.raises(ValueError):
        stats.update(65536, 320, 1.04, 0, False, 1)
    with pytest.raises(ValueError):
        stats.update(0, 1 << 32, 1.04, 0, False, 1)
