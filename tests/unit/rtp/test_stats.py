"""RTP stream statistics on hand-computed sequences (RFC 3550 A.1/A.3/A.8, Wireshark 4.0 rules)."""

from __future__ import annotations

import json

import pytest

from harness.protocol.rtp.seqnum import seq_add, ts_add
from harness.protocol.rtp.stats import RtpStreamStats, RtpStreamSummary

SSRC = 0x11223344

# (sequence, timestamp, arrival seconds, payload type, marker)
Pkt = tuple[int, int, float, int, bool]


def run(packets: list[Pkt], ssrc: int = SSRC, **kw: object) -> RtpStreamSummary:
    stats = RtpStreamStats(**kw)  # type: ignore[arg-type]
    for seq, ts, t, pt, m in packets:
        stats.update(seq, ts, t, pt, m, ssrc)
    return stats.snapshot()


def stream(n: int, seq0: int = 1, ts0: int = 1000, t0: float = 10.0, skip: frozenset[int] = frozenset()) -> list[Pkt]:
    """n packets of 20 ms G.711 (ts +160), perfect timing; indexes in `skip` are lost."""
    return [
        (seq_add(seq0, i), ts_add(ts0, 160 * i), t0 + 0.020 * i, 0, False) for i in range(n) if i not in skip
    ]


def test_perfect_stream() -> None:
    s = run(stream(10))
    assert (s.packets, s.expected, s.lost, s.sequence_errors) == (10, 10, 0, 0)
    assert s.lost_percent == 0.0 and not s.problem
    assert s.max_delta_ms == pytest.approx(20.0) and s.min_delta_ms == pytest.approx(20.0)
    assert s.mean_delta_ms == pytest.approx(20.0)
    assert s.max_jitter_ms == pytest.approx(0.0, abs=1e-9) and s.mean_jitter_ms == pytest.approx(0.0, abs=1e-9)
    assert s.duration_s == pytest.approx(0.18)
    assert (s.first_seq, s.last_seq, s.ssrc, s.payload_types, s.marker_count) == (1, 10, SSRC, (0,), 0)
    # RFC 3550 A.1: the first packet is consumed by probation (MIN_SEQUENTIAL 2): base_seq is
    # the second packet, so 9 received of 9 expected.
    assert s.rfc3550_valid and (s.rfc3550_received, s.rfc3550_expected, s.rfc3550_lost) == (9, 9, 0)
    assert s.rfc3550_extended_max_seq == 10 and s.rfc3550_jitter == pytest.approx(0.0, abs=1e-6)


def test_constant_delay_gives_zero_jitter() -> None:
    packets = [(seq, ts, t + 0.0375, pt, m) for seq, ts, t, pt, m in stream(50)]
    s = run(packets)
    assert s.max_jitter_ms == pytest.approx(0.0, abs=1e-9)
    assert s.rfc3550_jitter == pytest.approx(0.0, abs=1e-6)


def test_one_lost_packet() -> None:
    s = run(stream(10, skip=frozenset({4})))  # seq 5 lost
    assert (s.packets, s.expected, s.lost, s.sequence_errors) == (9, 10, 1, 1)
    assert s.lost_percent == pytest.approx(10.0) and s.problem
    assert s.max_delta_ms == pytest.approx(40.0)  # the gap is a regular delta
    assert s.max_jitter_ms == pytest.approx(0.0, abs=1e-9)  # timestamps account for the gap
    assert (s.rfc3550_received, s.rfc3550_expected, s.rfc3550_lost) == (8, 9, 1)


def test_duplicate_packet() -> None:
    pk = stream(5)
    dup = (pk[2][0], pk[2][1], pk[2][2] + 0.001, 0, False)  # seq 3 again, 1 ms later
    packets = [pk[0], pk[1], pk[2], dup, pk[3], pk[4]]
    s = run(packets)
    # Wireshark: expected = last - first + 1 = 5, packets 6 -> lost -1 ("late or duplicated" = 1 error)
    assert (s.packets, s.expected, s.lost, s.sequence_errors) == (6, 5, -1, 1)
    assert s.min_delta_ms == pytest.approx(1.0)
    # Jitter by hand: dup arrives 1 ms after its expected time -> J1 = 1/16; the next packet is
    # expected 20 ms after the dup (41 ms) but comes at 60 ms... i.e. 1 ms early -> J2 = (15*J1+1)/16.
    j1 = 1 / 16
    j2 = (15 * j1 + 1) / 16
    assert s.max_jitter_ms == pytest.approx(j2)
    # RFC 3550 A.1: a duplicate is counted as received: lost = expected - received = 4 - 5.
    assert (s.rfc3550_received, s.rfc3550_expected, s.rfc3550_lost) == (5, 4, -1)


def test_reordered_packets() -> None:
    pk = stream(5)
    packets = [pk[0], pk[1], pk[3], pk[2], pk[4]]  # 1 2 4 3 5
    s = run(packets)
    # 4 after 2 is a jump (error), 3 after 4 is late (error); 5 follows 4 fine.
    assert (s.packets, s.expected, s.lost, s.sequence_errors) == (5, 5, 0, 2)
    assert (s.rfc3550_received, s.rfc3550_expected, s.rfc3550_lost) == (4, 4, 0)


def test_reordered_last_packet_uses_last_not_highest_seq() -> None:
    """Wireshark 4.0 quirk (tshark 4.0.17 prints -1 here): expected uses the LAST seq seen."""
    pk = stream(5)
    s = run([pk[0], pk[1], pk[2], pk[4], pk[3]])  # 1 2 3 5 4
    assert (s.packets, s.expected, s.lost) == (5, 4, -1)
    assert s.lost_percent == pytest.approx(-25.0)


def test_sequence_wrap_without_loss() -> None:
    s = run(stream(6, seq0=65533))  # 65533 65534 65535 0 1 2
    assert (s.packets, s.expected, s.lost, s.sequence_errors) == (6, 6, 0, 0)
    assert not s.problem and s.last_seq == 2
    assert s.rfc3550_extended_max_seq == 65536 + 2
    assert (s.rfc3550_received, s.rfc3550_expected) == (5, 5)


def test_sequence_wrap_with_loss_of_zero() -> None:
    s = run(stream(6, seq0=65533, skip=frozenset({3})))  # 0 lost
    assert (s.packets, s.expected, s.lost, s.sequence_errors) == (5, 6, 1, 1)
    assert (s.rfc3550_received, s.rfc3550_expected, s.rfc3550_lost) == (4, 5, 1)


def test_timestamp_wrap() -> None:
    s = run(stream(8, ts0=2**32 - 480))  # wraps after the third packet
    assert (s.packets, s.lost, s.sequence_errors) == (8, 0, 0)
    assert not s.problem
    assert s.max_delta_ms == pytest.approx(20.0)
    assert s.max_jitter_ms == pytest.approx(0.0, abs=1e-9)
    assert s.max_skew_ms == pytest.approx(0.0, abs=1e-6)
    assert s.rfc3550_jitter == pytest.approx(0.0, abs=1e-6)


def test_alternating_plus_minus_5ms_jitter_by_hand() -> None:
    """Packets alternately on time and 5 ms late: every transit difference |D| is 5 ms.

    Wireshark: J_k = (15 J_{k-1} + 5) / 16 -> J_k = 5 (1 - (15/16)^k) ms for k = 1..N-1;
    max jitter J_{N-1}; mean jitter = sum(J_k) / (N-1); deltas alternate 25 / 15 ms.
    RFC 3550 A.8 (timestamp units, 5 ms = 40): the first packet is in probation and the second
    only seeds the transit time, so N-2 updates: J = 40 (1 - (15/16)^(N-2)).
    """
    n = 10
    packets = [(1 + i, 160 * i, 5.0 + 0.020 * i + (0.005 if i % 2 else 0.0), 0, False) for i in range(n)]
    s = run(packets)
    js = [5 * (1 - (15 / 16) ** k) for k in range(1, n)]
    assert s.max_jitter_ms == pytest.approx(js[-1])
    assert s.mean_jitter_ms == pytest.approx(sum(js) / (n - 1))
    assert s.min_jitter_ms == pytest.approx(js[0])
    assert s.max_delta_ms == pytest.approx(25.0) and s.min_delta_ms == pytest.approx(15.0)
    assert s.mean_delta_ms == pytest.approx(20.0 + 5.0 / (n - 1))  # 5x25 + 4x15 over 9 deltas
    assert s.rfc3550_jitter == pytest.approx(40 * (1 - (15 / 16) ** (n - 2)))
    assert s.rfc3550_jitter_ms == pytest.approx(s.rfc3550_jitter / 8)
    assert s.max_skew_ms == pytest.approx(-5.0)  # arrivals up to 5 ms behind the timestamps
    assert s.sequence_errors == 0 and not s.problem


def test_marker_after_silence_is_not_a_regular_delta() -> None:
    pk = stream(5)
    # talk spurt: 1 s of silence suppressed, next packet has the marker bit (RFC 3551 §4.1)
    resume = [(6 + i, 1000 + 160 * 4 + 8000 + 160 * i, pk[-1][2] + 1.0 + 0.02 * i, 0, i == 0) for i in range(3)]
    s = run(pk + resume)
    assert s.max_delta_ms == pytest.approx(20.0)
    assert s.marker_count == 1 and s.sequence_errors == 0
    assert s.max_jitter_ms == pytest.approx(0.0, abs=1e-9)


def test_comfort_noise_and_following_packet_excluded_from_delta() -> None:
    pk = stream(6)
    packets = [*pk[:3], (pk[3][0], pk[3][1], pk[3][2] + 0.5, 13, False), (pk[4][0], pk[4][1], pk[4][2] + 0.6, 0, False)]
    s = run(packets)
    assert s.max_delta_ms == pytest.approx(20.0)  # the 520/120 ms deltas are not "regular"
    assert s.payload_types == (0, 13)


def test_ssrc_change_starts_a_new_segment() -> None:
    stats = RtpStreamStats()
    for seq, ts, t, pt, m in stream(5, seq0=100):
        stats.update(seq, ts, t, pt, m, 0xA)
    for seq, ts, t, pt, m in stream(5, seq0=40000, ts0=777, t0=20.0):
        stats.update(seq, ts, t, pt, m, 0xB)
    s = stats.snapshot()
    assert (s.packets, s.expected, s.lost, s.sequence_errors) == (10, 10, 0, 0)
    assert s.ssrcs == (0xA, 0xB) and s.ssrc_changes == 1 and s.ssrc == 0xB
    assert not s.problem and s.max_delta_ms == pytest.approx(20.0)
    assert (s.first_seq, s.last_seq) == (100, 40004)
    assert s.rfc3550_received == 4  # RFC numbers are for the current SSRC, fresh probation


def test_rfc3550_large_jump_then_resync() -> None:
    """A.1: a jump > MAX_DROPOUT is ignored once; two sequential packets re-sync the source."""
    stats = RtpStreamStats()
    for seq, ts, t, pt, m in stream(5):
        stats.update(seq, ts, t, pt, m, SSRC)
    assert stats.snapshot().rfc3550_received == 4
    stats.update(20000, 5000, 11.0, 0, False, SSRC)  # bad_seq = 20001, not counted
    assert stats.snapshot().rfc3550_received == 4
    stats.update(20001, 5160, 11.02, 0, False, SSRC)  # restart detected: init_seq, counted
    s = stats.snapshot()
    assert (s.rfc3550_received, s.rfc3550_expected, s.rfc3550_extended_max_seq) == (1, 1, 20001)


def test_report_block_fraction_and_interval() -> None:
    stats = RtpStreamStats()
    for seq, ts, t, pt, m in stream(11, skip=frozenset({5})):
        stats.update(seq, ts, t, pt, m, SSRC)
    rb = stats.report_block()
    assert rb is not None
    # expected 10 (2..11), received 9 -> fraction (1 << 8) // 10
    assert (rb.ssrc, rb.cumulative_lost, rb.extended_highest_seq, rb.fraction_lost) == (SSRC, 1, 11, 25)
    again = stats.report_block()
    assert again is not None and again.fraction_lost == 0 and again.cumulative_lost == 1


def test_no_report_block_before_probation_passes() -> None:
    stats = RtpStreamStats()
    assert stats.report_block() is None
    stats.update(1, 0, 0.0, 0, False, SSRC)
    assert stats.report_block() is None


def test_empty_snapshot_and_json() -> None:
    s = RtpStreamStats().snapshot()
    assert s.packets == 0 and s.ssrc is None and s.min_delta_ms is None
    data = json.loads(run(stream(3)).to_json())
    assert data["packets"] == 3 and data["payload_types"] == [0] and data["ssrc"] == SSRC


def test_telephone_event_packets_do_not_feed_jitter() -> None:
    pk = stream(3)
    # RFC 4733: all packets of one event carry the event's start timestamp
    events = [(4 + i, pk[-1][1] + 160, pk[-1][2] + 0.02 * (i + 1), 101, i == 0) for i in range(3)]
    s = run(pk + events, telephone_event_pts={101})
    assert s.max_jitter_ms == pytest.approx(0.0, abs=1e-9)
    assert s.rfc3550_jitter == pytest.approx(0.0, abs=1e-6)
    assert s.payload_types == (0, 101) and s.marker_count == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="clock_rate"):
        RtpStreamStats(clock_rate=0)
    with pytest.raises(ValueError, match="out of range"):
        RtpStreamStats().update(70000, 0, 0.0, 0, False, 1)


def test_to_dict_is_the_json_round_trip() -> None:
    # The recorder's checkpoint takes to_dict() where it took json.loads(to_json()): same keys
    # (sorted), same values, tuples as lists; with an SSRC change and a loss so no field is trivial.
    packets = stream(5, skip=frozenset({2})) + [(900, 5000, 11.0, 8, True)]
    stats = RtpStreamStats()
    for n, (seq, ts, t, pt, m) in enumerate(packets):
        stats.update(seq, ts, t, pt, m, SSRC if n < 4 else SSRC + 1)
    for summary in (stats.snapshot(), RtpStreamStats().snapshot()):
        expected = json.loads(summary.to_json())
        assert summary.to_dict() == expected and list(summary.to_dict()) == list(expected)
        assert all(not isinstance(v, tuple) for v in summary.to_dict().values())
