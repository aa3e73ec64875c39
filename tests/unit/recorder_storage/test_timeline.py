"""StreamTimeline: RTP timestamp placement, gaps, reordering, wrap, re-anchoring, pauses."""

from __future__ import annotations

import numpy as np
import pytest

from reference_recorder.timeline import Placement, StreamTimeline

T0 = 1_700_000_000.0
RATE = 8000
PT = 160  # 20 ms of G.711


def pkt(i: int) -> np.ndarray:
    """Packet i's samples: a constant distinct non-zero value, so positions are checkable."""
    return np.full(PT, i + 1, dtype=np.int16)


def feed(tl: StreamTimeline, order: list[int], *, base_ts: int = 1000, start: float = 0.0) -> list[Placement]:
    return [tl.add((base_ts + PT * i) % 2**32, pkt(i), T0 + start + 0.02 * i) for i in order]


def expected(indices: list[int], total: int, offset: int = 0) -> np.ndarray:
    out = np.zeros(total, dtype=np.int16)
    for i in indices:
        out[offset + PT * i : offset + PT * (i + 1)] = i + 1
    return out


def test_contiguous_packets_are_concatenated_from_t0() -> None:
    tl = StreamTimeline(T0)
    assert feed(tl, list(range(10))) == [Placement.PLACED] * 10
    out = tl.drain(1600)
    np.testing.assert_array_equal(out, expected(list(range(10)), 1600))
    assert tl.stats.packets_placed == 10 and tl.flushed == 1600


def test_first_packet_anchored_on_arrival_time() -> None:
    tl = StreamTimeline(T0)
    feed(tl, [0, 1], start=0.3)
    out = tl.drain(2400 + 320)
    assert np.all(out[:2400] == 0)
    np.testing.assert_array_equal(out[2400:], expected([0, 1], 320))


def test_lost_packet_is_160_samples_of_silence_in_place() -> None:
    tl = StreamTimeline(T0)
    feed(tl, [0, 1, 2, 4, 5])
    out = tl.drain(960)
    np.testing.assert_array_equal(out, expected([0, 1, 2, 4, 5], 960))
    assert np.all(out[480:640] == 0) and np.all(out[640:800] == 5)


def test_reorder_within_window_lands_in_place() -> None:
    tl = StreamTimeline(T0)
    # Packet 3 arrives after 4 (and with 4's arrival time + a bit).
    res = [tl.add(1000 + PT * i, pkt(i), T0 + 0.02 * i) for i in (0, 1, 2, 4)]
    res.append(tl.add(1000 + PT * 3, pkt(3), T0 + 0.085))
    assert res == [Placement.PLACED] * 5
    np.testing.assert_array_equal(tl.drain(800), expected([0, 1, 2, 3, 4], 800))
    assert tl.stats.dropped_late == 0


def test_late_beyond_window_dropped_and_counted() -> None:
    tl = StreamTimeline(T0)
    feed(tl, [0, 1, 3, 4, 5])
    first = tl.drain(960)  # packet 2's slot already handed out (silence)
    assert tl.add(1000 + PT * 2, pkt(2), T0 + 0.2) is Placement.LATE
    assert tl.stats.dropped_late == 1
    feed(tl, [6, 7])
    out = np.concatenate([first, tl.drain(1280)])
    np.testing.assert_array_equal(out, expected([0, 1, 3, 4, 5, 6, 7], 1280))


def test_duplicate_not_written_twice() -> None:
    tl = StreamTimeline(T0)
    feed(tl, [0, 1])
    # A duplicate of packet 1 carrying different bytes must not change or shift anything.
    assert tl.add(1000 + PT, np.full(PT, 99, np.int16), T0 + 0.03) is Placement.DUPLICATE
    feed(tl, [2])
    out = tl.drain(480)
    np.testing.assert_array_equal(out, expected([0, 1, 2], 480))
    # Duplicate of an already drained packet: still a duplicate, not "late".
    assert tl.add(1000, pkt(0), T0 + 0.1) is Placement.DUPLICATE
    assert tl.stats.duplicates == 2 and tl.stats.dropped_late == 0
    assert tl.stats.packets_placed == 3


def test_timestamp_wrap_near_2_32_is_continuous() -> None:
    tl = StreamTimeline(T0)
    base = 2**32 - 3 * PT  # packets 3.. wrap to small timestamps
    assert feed(tl, list(range(8)), base_ts=base) == [Placement.PLACED] * 8
    np.testing.assert_array_equal(tl.drain(8 * PT), expected(list(range(8)), 8 * PT))
    assert tl.stats.re_anchors == 0
    assert tl.placed_end == 8 * PT  # no 27-hour gap


def test_rtp_stop_pause_with_timestamp_jump_gives_exact_silence() -> None:
    tl = StreamTimeline(T0)
    feed(tl, [0, 1, 2, 3, 4])
    # Sender stops for 2 s; its RTP clock keeps running (RFC 3550 §5.1).
    gap = 2 * RATE
    for k in range(3):
        res = tl.add(1000 + PT * (5 + k) + gap, pkt(5 + k), T0 + 0.02 * (5 + k) + 2.0)
        assert res is Placement.PLACED
    out = tl.drain(800 + gap + 3 * PT)
    np.testing.assert_array_equal(out[:800], expected([0, 1, 2, 3, 4], 800))
    assert np.all(out[800 : 800 + gap] == 0)
    np.testing.assert_array_equal(out[800 + gap :], expected([5, 6, 7], 3 * PT, offset=-800))
    assert tl.stats.re_anchors == 0


def test_forced_pause_silences_audio_that_arrived() -> None:
    tl = StreamTimeline(T0)
    feed(tl, list(range(10)))
    tl.mark_paused(T0 + 0.04, T0 + 0.08)
    out = tl.drain(1600)
    want = expected(list(range(10)), 1600)
    want[320:640] = 0
    np.testing.assert_array_equal(out, want)
    assert tl.stats.silenced_samples == 320


def test_open_ended_pause_until_end_pause() -> None:
    tl = StreamTimeline(T0)
    feed(tl, list(range(4)))
    tl.mark_paused(T0 + 0.02)
    assert tl.paused
    a = tl.drain(480)
    feed(tl, list(range(4, 8)))
    tl.end_pause(T0 + 0.1)
    assert not tl.paused
    b = tl.drain(1280)
    out = np.concatenate([a, b])
    want = expected(list(range(8)), 1280)
    want[160:800] = 0
    np.testing.assert_array_equal(out, want)


def test_timestamp_reset_reanchors_on_arrival() -> None:
    tl = StreamTimeline(T0)
    feed(tl, list(range(5)))
    # Source restart: unrelated timestamp, next packet should sit at its arrival (0.1 s = 800).
    assert tl.add(3_000_000_000, pkt(5), T0 + 0.1) is Placement.REANCHORED
    assert tl.add(3_000_000_000 + PT, pkt(6), T0 + 0.12) is Placement.PLACED
    np.testing.assert_array_equal(tl.drain(1120), expected(list(range(7)), 1120))
    assert tl.stats.re_anchors == 1


def test_ssrc_change_reanchors_even_if_timestamps_look_plausible() -> None:
    tl = StreamTimeline(T0)
    for i in range(5):
        tl.add(1000 + PT * i, pkt(i), T0 + 0.02 * i, ssrc=1)
    # New source whose random timestamp happens to be 0.5 s "ahead": still re-anchored.
    assert tl.add(1000 + 4000, pkt(5), T0 + 0.1, ssrc=2) is Placement.REANCHORED
    np.testing.assert_array_equal(tl.drain(960), expected(list(range(6)), 960))


def test_new_ssrc_arriving_late_within_the_jitter_continues_where_the_old_one_ended() -> None:
    """Before: the new SSRC was anchored on its first packet's arrival, here 5 ms late, so a
    5 ms hole opened in the middle of the audio and broke the time-code segment across it.
    After: within `ssrc_snap` (10 ms) it continues from the end of the old SSRC's audio."""
    tl = StreamTimeline(T0)
    for i in range(5):
        tl.add(1000 + PT * i, pkt(i), T0 + 0.02 * i, ssrc=1)
    assert tl.add(77_000, pkt(5), T0 + 0.1 + 0.005, ssrc=2) is Placement.REANCHORED
    assert tl.add(77_000 + PT, pkt(6), T0 + 0.12 + 0.005, ssrc=2) is Placement.PLACED
    np.testing.assert_array_equal(tl.drain(7 * PT), expected(list(range(7)), 7 * PT))


def test_new_ssrc_a_packet_after_the_old_one_keeps_its_gap() -> None:
    """A transfer's new device starts at least a packet after the old one stopped: that gap is
    real and is not snapped shut (it would move the new party's audio 20 ms early)."""
    tl = StreamTimeline(T0)
    for i in range(5):
        tl.add(1000 + PT * i, pkt(i), T0 + 0.02 * i, ssrc=1)
    assert tl.add(77_000, pkt(6), T0 + 0.12, ssrc=2) is Placement.REANCHORED
    np.testing.assert_array_equal(tl.drain(7 * PT), expected([0, 1, 2, 3, 4, 6], 7 * PT))


def test_new_ssrc_continues_the_old_one_whose_anchor_arrived_late() -> None:
    """The old SSRC's first packet arrived 100 ms late (its anchor), the rest on time: rule 2
    moves the old audio back to where it was sent, and the new SSRC arriving on time continues
    where that audio ends (before: the old audio sat 100 ms late and the new SSRC, anchored on
    its arrival, overlapped it)."""
    tl = StreamTimeline(T0)
    tl.add(1000, pkt(0), T0 + 0.1, ssrc=1)
    for i in range(1, 30):
        tl.add(1000 + PT * i, pkt(i), T0 + 0.02 * i, ssrc=1)
    assert tl.add(55_555, pkt(30), T0 + 0.6, ssrc=2) is Placement.REANCHORED
    tl.add(55_555 + PT, pkt(31), T0 + 0.62, ssrc=2)
    out = tl.drain(32 * PT)
    np.testing.assert_array_equal(out, expected(list(range(32)), 32 * PT))


def test_new_ssrc_arriving_after_a_real_gap_is_anchored_on_its_arrival() -> None:
    tl = StreamTimeline(T0)
    for i in range(5):
        tl.add(1000 + PT * i, pkt(i), T0 + 0.02 * i, ssrc=1)
    # 200 ms of nothing before the new source: a gap, kept as silence (beyond the 10 ms snap).
    assert tl.add(77_000, pkt(15), T0 + 0.3, ssrc=2) is Placement.REANCHORED
    np.testing.assert_array_equal(tl.drain(16 * PT), expected([0, 1, 2, 3, 4, 15], 16 * PT))


def test_resume_without_timestamp_jump_reanchors_after_a_while() -> None:
    tl = StreamTimeline(T0)
    feed(tl, list(range(5)))
    chunks = [tl.drain(800 - 480)]
    # Sender paused 0.5 s but its timestamp did not advance: packets land 0.5 s in the past.
    results = []
    for k in range(20):
        arrival = T0 + 0.6 + 0.02 * k
        chunks.append(tl.drain(max(tl.flushed, round((arrival - 0.06 - T0) * RATE))))
        results.append(tl.add(1000 + PT * (5 + k), pkt(5 + k), arrival))
    chunks.append(tl.drain(round(1.2 * RATE)))
    out = np.concatenate(chunks)
    assert Placement.LATE in results and Placement.REANCHORED in results
    first = results.index(Placement.REANCHORED)
    # Dropped for ~late_reanchor_after (0.2 s = 10 packets), then re-anchored once.
    assert 9 <= first <= 12
    assert all(r is Placement.LATE for r in results[:first])
    assert all(r is Placement.PLACED for r in results[first + 1 :])
    assert tl.stats.re_anchors == 1 and tl.stats.dropped_late == first
    # The re-anchored packet sits at its arrival position, the following ones after it.
    pos = round((0.6 + 0.02 * first) * RATE)
    value = 5 + first + 1
    assert np.all(out[pos - PT : pos] == 0)
    assert np.all(out[pos : pos + PT] == value)
    assert np.all(out[pos + PT : pos + 2 * PT] == value + 1)


def test_network_stall_burst_does_not_shift_the_stream() -> None:
    tl = StreamTimeline(T0)
    feed(tl, list(range(5)))
    # 200 ms stall: packets 5..14 arrive together at 0.3 s, after the drain point moved on.
    tl.drain(round((0.3 - 0.06) * RATE))
    burst = [tl.add(1000 + PT * i, pkt(i), T0 + 0.3 + 0.0001 * i) for i in range(5, 15)]
    assert Placement.LATE in burst and Placement.REANCHORED not in burst
    # Afterwards the stream is on time again and lands where its timestamps say.
    assert feed(tl, list(range(15, 20))) == [Placement.PLACED] * 5
    assert tl.stats.re_anchors == 0
    out = tl.drain(20 * PT)
    np.testing.assert_array_equal(out[-5 * PT :], expected(list(range(15, 20)), 5 * PT, offset=-15 * PT))


def test_drain_returns_exact_lengths_and_validates_input() -> None:
    tl = StreamTimeline(T0, start_sample=100)
    assert tl.drain(50).shape == (0,)
    assert tl.drain(300).shape == (200,)
    assert tl.add(0, np.zeros(0, np.int16), T0) is Placement.EMPTY
    with pytest.raises(TypeError):
        tl.add(0, np.zeros(160, np.float64), T0)
    with pytest.raises(ValueError):
        tl.add(2**32, pkt(0), T0)
    with pytest.raises(ValueError):
        StreamTimeline(T0, sample_rate=0)


def test_first_packet_before_drain_point_is_anchored_at_it() -> None:
    tl = StreamTimeline(T0, start_sample=800)
    # Arrival says sample 400, but 800 samples are already written: start there, do not drop.
    assert tl.add(5, pkt(0), T0 + 0.05) is Placement.PLACED
    np.testing.assert_array_equal(tl.drain(960), expected([0], 160))


def test_a_first_packet_processed_late_does_not_shift_the_stream() -> None:
    """Rule 2's bound: packet 0 is read 0.3 s late (the event loop stalled), the next ones on
    time. Packet 1 cannot have been sampled after it arrived, so the stream moves back to where
    the sender put it, packet 0's audio with it: before, every packet sat 0.3 s late and a pause
    (wall-clock) silenced the audio sent just before it."""
    tl = StreamTimeline(T0)
    assert tl.add(1000, pkt(0), T0 + 0.3) is Placement.PLACED
    assert feed(tl, list(range(1, 10)), start=0.0) == [Placement.PLACED] * 9
    assert tl.stats.realigned_earlier >= 1 and tl.stats.dropped_late == 0
    np.testing.assert_array_equal(tl.drain(1600), expected(list(range(10)), 1600))


def test_a_backlog_read_in_one_burst_after_a_stall_lands_where_it_was_sent() -> None:
    tl = StreamTimeline(T0)
    # The sender started at 0; the recorder read packets 0..9 together at 0.25 s, then on time.
    burst = [tl.add(1000 + PT * i, pkt(i), T0 + 0.25 + 0.0001 * i) for i in range(10)]
    assert Placement.LATE not in burst
    feed(tl, list(range(13, 20)))
    out = tl.drain(20 * PT)
    # The burst's packets lower the bound step by step (to 0.25 s - 9 packets = 0.07 s); the
    # on-time ones after it pin it at 0: everything lands where it was sent.
    np.testing.assert_array_equal(out, expected(list(range(10)) + list(range(13, 20)), 20 * PT))


def test_a_timestamp_jump_is_no_evidence_of_a_late_start() -> None:
    """A forward timestamp jump (not in sequence) that arrives "early" is placed by its
    timestamp (a gap of silence), the stream is not moved."""
    tl = StreamTimeline(T0)
    feed(tl, list(range(5)))
    # Packet 20's timestamp, arriving right after packet 4 (0.3 s "early").
    assert tl.add(1000 + PT * 20, pkt(20), T0 + 0.1) is Placement.PLACED
    assert tl.stats.realigned_earlier == 0
    out = tl.drain(21 * PT)
    np.testing.assert_array_equal(out, expected(list(range(5)) + [20], 21 * PT))


def test_on_time_packets_with_ordinary_jitter_never_move_the_stream() -> None:
    tl = StreamTimeline(T0)
    jitter = [0.0, 0.012, 0.003, 0.018, 0.001, 0.009, 0.015, 0.0, 0.007, 0.011]
    for i, j in enumerate(jitter):
        assert tl.add(1000 + PT * i, pkt(i), T0 + 0.02 * i + j) is Placement.PLACED
    assert tl.stats.realigned_earlier == 0
    np.testing.assert_array_equal(tl.drain(1600), expected(list(range(10)), 1600))
def test_a_new_source_is_anchored_with_the_stream_transit_offset_not_its_bare_arrival() -> None:
    """Before: the first packet arrived late (the recorder was busy setting up the call), so the
    whole stream sat that much late; a transfer's new source, anchored on its bare arrival, then
    landed that much early, over the end of the old audio (measured in
    features/11_midcall_changes.feature). After: the anchor keeps the stream's transit offset.
    15 ms (120 samples) is under rule 2's 20 ms slack, so the stream itself is not moved."""
    tl = StreamTimeline(T0)
    assert tl.add(1000, pkt(0), T0 + 0.015, ssrc=1) is Placement.PLACED  # late first packet
    for i in range(1, 10):  # then on time: 120 samples before their place
        tl.add(1000 + PT * i, pkt(i), T0 + 0.02 * i, ssrc=1)
    assert tl.stats.realigned_earlier == 0
    # New SSRC, random timestamp, sent at slot 11 (one slot of gap), arriving on time.
    assert tl.add(7_777_777, pkt(11), T0 + 0.02 * 11, ssrc=2) is Placement.REANCHORED
    out = tl.drain(120 + PT * 12)
    np.testing.assert_array_equal(out, expected([*range(10), 11], 120 + PT * 12, offset=120))


def test_a_new_source_after_the_stream_moved_earlier_lands_in_place() -> None:
    """25 ms late first packet: rule 2 moves the stream back to where it was sent, and the
    transit offsets move with it, so the new source's anchor is not shifted late."""
    tl = StreamTimeline(T0)
    tl.add(1000, pkt(0), T0 + 0.025, ssrc=1)
    for i in range(1, 10):
        tl.add(1000 + PT * i, pkt(i), T0 + 0.02 * i, ssrc=1)
    assert tl.stats.realigned_earlier == 1
    assert tl.add(7_777_777, pkt(11), T0 + 0.02 * 11, ssrc=2) is Placement.REANCHORED
    np.testing.assert_array_equal(tl.drain(PT * 12), expected([*range(10), 11], PT * 12))


def test_new_ssrc_whose_first_packet_is_late_beyond_the_snap_is_settled_by_the_next_ones() -> None:
    """Measured under load: the new SSRC's first packet 15 ms late (beyond the 10 ms snap), the
    next ones on time. Before: a 15 ms hole across the change broke the time-code segment.
    After: the next packets show where it started, and it continues where the old one ended."""
    tl = StreamTimeline(T0)
    for i in range(5):
        tl.add(1000 + PT * i, pkt(i), T0 + 0.02 * i, ssrc=1)
    assert tl.add(77_000, pkt(5), T0 + 0.1 + 0.015, ssrc=2) is Placement.REANCHORED
    assert tl.add(77_000 + PT, pkt(6), T0 + 0.12 + 0.001, ssrc=2) is Placement.PLACED
    tl.add(77_000 + 2 * PT, pkt(7), T0 + 0.14, ssrc=2)
    np.testing.assert_array_equal(tl.drain(8 * PT), expected(list(range(8)), 8 * PT))


def test_new_ssrc_after_a_real_gap_keeps_it_when_its_first_packet_is_late() -> None:
    """A transfer: the new device starts 40 ms after the old one stopped, its first packet
    15 ms late. Settling moves it back to where it was sent, not onto the old audio's end."""
    tl = StreamTimeline(T0)
    for i in range(5):
        tl.add(1000 + PT * i, pkt(i), T0 + 0.02 * i, ssrc=1)
    assert tl.add(77_000, pkt(7), T0 + 0.14 + 0.015, ssrc=2) is Placement.REANCHORED
    tl.add(77_000 + PT, pkt(8), T0 + 0.16, ssrc=2)
    np.testing.assert_array_equal(tl.drain(9 * PT), expected([0, 1, 2, 3, 4, 7, 8], 9 * PT))
