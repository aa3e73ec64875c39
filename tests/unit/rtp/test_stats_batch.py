"""`RtpStreamStats.update_batch` gives the numbers of `update` packet by packet: counts exactly,
times and jitters to float rounding (the recurrences are solved in closed form)."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from harness.protocol.rtp.packet import header_view
from harness.protocol.rtp.stats import RtpStreamStats

Packet = tuple[int, int, float, int, bool, int]  # seq, ts, arrival, pt, marker, ssrc


def _stream(seed: int, n: int, *, loss: float = 0.0, late: float = 0.0, dup: float = 0.0, marker: float = 0.0,
            pt_change: float = 0.0, ssrc_change: float = 0.0, ts_jump: float = 0.0, start_seq: int | None = None,
            start_ts: int | None = None) -> list[Packet]:
    rnd = random.Random(seed)
    seq0 = rnd.getrandbits(16) if start_seq is None else start_seq
    ts0 = rnd.getrandbits(32) if start_ts is None else start_ts
    ssrc, pt = rnd.getrandbits(32), 0
    out: list[Packet] = []
    for k in range(n):
        if rnd.random() < loss:
            continue
        if rnd.random() < pt_change:
            pt = rnd.choice([0, 8, 13, 101])
        if rnd.random() < ssrc_change:
            ssrc = rnd.getrandbits(32)
        if rnd.random() < ts_jump:
            ts0 = rnd.getrandbits(32)
        arrival = 1000.0 + 0.02 * k + rnd.uniform(0.0, 0.003)
        pkt = ((seq0 + k) & 0xFFFF, (ts0 + 160 * k) & 0xFFFFFFFF, arrival, pt, rnd.random() < marker, ssrc)
        out.append(pkt)
        if rnd.random() < dup:
            out.append(pkt)
    for k in range(len(out) - 1):
        if rnd.random() < late:  # arrives after its successor
            a, b = out[k], out[k + 1]
            out[k], out[k + 1] = (b[0], b[1], a[2], b[3], b[4], b[5]), (a[0], a[1], b[2] + 0.001, a[3], a[4], a[5])
    return out


def _assert_same(batched: RtpStreamStats, reference: RtpStreamStats) -> None:
    got, want = dataclasses.asdict(batched.snapshot()), dataclasses.asdict(reference.snapshot())
    assert got.keys() == want.keys()
    for name, value in want.items():
        if isinstance(value, float):
            assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name
        else:
            assert got[name] == value, name


def _per_packet(packets: list[Packet], clock: int = 8000, te: frozenset[int] = frozenset({101})) -> RtpStreamStats:
    stats = RtpStreamStats(clock, telephone_event_pts=te)
    for p in packets:
        stats.update(*p)
    return stats


def _batched(packets: list[Packet], chunks: int = 1, clock: int = 8000,
             te: frozenset[int] = frozenset({101})) -> RtpStreamStats:
    stats = RtpStreamStats(clock, telephone_event_pts=te)
    arrays = [np.array([p[i] for p in packets]) for i in range(6)]
    bounds = np.linspace(0, len(packets), chunks + 1).astype(int)
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        stats.update_batch(arrays[0][lo:hi].astype(np.int64), arrays[1][lo:hi].astype(np.int64),
                           arrays[2][lo:hi].astype(np.float64), arrays[3][lo:hi].astype(np.int64),
                           arrays[4][lo:hi].astype(bool), arrays[5][lo:hi].astype(np.int64))
    return stats


CASES = {
    "clean": {},
    "loss": {"loss": 0.01},
    "late": {"late": 0.01},
    "duplicates": {"dup": 0.01},
    "markers": {"marker": 0.02},
    "everything": {"loss": 0.02, "late": 0.02, "dup": 0.01, "marker": 0.01, "pt_change": 0.005,
                   "ssrc_change": 0.002, "ts_jump": 0.002},
    "seq_wrap": {"start_seq": 65000, "loss": 0.01},
    "seq_wrap_at_zero_start": {"start_seq": 0, "late": 0.01},
    "ts_wrap": {"start_ts": 0xFFFFFFFF - 160 * 300, "late": 0.01},
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("chunks", [1, 7])
def test_batch_equals_per_packet(case: str, chunks: int) -> None:
    for seed in range(4):
        packets = _stream(seed, 3000, **CASES[case])  # type: ignore[arg-type]
        _assert_same(_batched(packets, chunks), _per_packet(packets))


def test_batch_counts_loss_like_wireshark() -> None:
    packets = [p for k, p in enumerate(_stream(1, 200)) if k != 50]  # one packet lost
    summary = _batched(packets).snapshot()
    assert (summary.packets, summary.expected, summary.lost, summary.sequence_errors) == (199, 200, 1, 1)
    assert summary.problem


def test_clean_batch_has_no_problem() -> None:
    summary = _batched(_stream(2, 500)).snapshot()
    assert (summary.lost, summary.sequence_errors, summary.problem) == (0, 0, False)
    assert summary.max_jitter_ms > 0


def test_batch_rejects_out_of_range() -> None:
    stats = RtpStreamStats()
    one = np.array([1], dtype=np.int64)
    with pytest.raises(ValueError):
        stats.update_batch(np.array([70000]), one, np.array([1.0]), one * 0, np.array([False]), one)


def test_header_view_decodes_fixed_headers() -> None:
    raw = bytes([0x80, 0x80 | 8, 0xFF, 0xFF, 0, 0, 0, 160, 0xDE, 0xAD, 0xBE, 0xEF,
                 0x80, 0, 0, 0, 0, 0, 1, 64, 0xDE, 0xAD, 0xBE, 0xEF])
    view = header_view(raw)
    assert view.marker.tolist() == [True, False]
    assert view.payload_type.tolist() == [8, 0]
    assert view.sequence.tolist() == [65535, 0]
    assert view.timestamp.tolist() == [160, 320]
    assert view.ssrc.tolist() == [0xDEADBEEF, 0xDEADBEEF]
