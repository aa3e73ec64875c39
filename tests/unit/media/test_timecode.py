"""The audio time-code oracle: strict checks that it proves what a recording contains."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from harness.media.timecode import (
    AMPLITUDE,
    MAX_SEGMENTS,
    MAX_STREAMS,
    SEGMENT_SAMPLES,
    SYMBOL_SAMPLES,
    SYMBOLS_PER_SEGMENT,
    PartialReason,
    Span,
    decode_timecode,
    segment_of_sample,
    symbol_frequency,
    timecode_samples,
)
from harness.protocol.rtp import g711

S = SEGMENT_SAMPLES
P = SYMBOL_SAMPLES

I16 = npt.NDArray[np.int16]


def ulaw(x: I16) -> I16:
    return g711.ulaw_decode(g711.ulaw_encode(x))


def alaw(x: I16) -> I16:
    return g711.alaw_decode(g711.alaw_encode(x))


def mix(*parts: I16) -> I16:
    total = np.sum([p.astype(np.int32) for p in parts], axis=0)
    return np.clip(total, -32768, 32767).astype(np.int16)


def full_segments(first_sample: int, count: int) -> list[int]:
    """Counters of the segments wholly inside absolute samples [first, first + count)."""
    first = -(-first_sample // S)
    last = (first_sample + count) // S  # exclusive
    return [k % MAX_SEGMENTS for k in range(first, last)]


# ----------------------------------------------------------------------------- signal


def test_frequency_plan_is_disjoint_spaced_and_in_band() -> None:
    freqs = [(symbol_frequency(s, j), s) for s in range(MAX_STREAMS) for j in range(5)]
    values = sorted(f for f, _ in freqs)
    assert len(set(values)) == len(values)
    assert min(values) >= 300 and max(values) <= 3500
    assert all(f % 50 == 0 for f in values)  # DFT bin centres of a 160-sample window
    assert min(np.diff(values)) >= 200  # any two tones in use, any streams


def test_samples_are_a_pure_function_of_the_absolute_index() -> None:
    whole = timecode_samples(1, 1000, 5 * S)
    cuts = [0, 1, 159, 160, 161, 1600, 3333, 5 * S]
    pieces = [timecode_samples(1, 1000 + a, b - a) for a, b in zip(cuts, cuts[1:], strict=False)]
    assert np.array_equal(np.concatenate(pieces), whole)
    assert whole.dtype == np.int16
    assert int(np.abs(whole).max()) <= AMPLITUDE
    assert int(np.abs(whole).max()) > AMPLITUDE * 0.99


def test_each_symbol_is_a_single_whole_cycle_tone() -> None:
    x = timecode_samples(2, 0, S).astype(np.float64)
    for k in range(SYMBOLS_PER_SEGMENT):
        spec = np.abs(np.fft.rfft(x[k * P : (k + 1) * P]))
        # One non-zero bin: bin-centred tone, no leakage.
        assert np.sort(spec)[-2] < spec.max() * 1e-3


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        timecode_samples(MAX_STREAMS, 0, 10)
    with pytest.raises(ValueError):
        timecode_samples(0, -1, 10)
    assert segment_of_sample(S * MAX_SEGMENTS + S) == 1


# ----------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("stream", range(MAX_STREAMS))
def test_clean_decode_of_each_stream(stream: int) -> None:
    track = decode_timecode(timecode_samples(stream, 0, 20 * S))
    assert track.counters_of(stream) == tuple(range(20))
    assert [s.start_sample for s in track.segments] == [k * S for k in range(20)]
    assert track.streams_present() == (stream,)
    assert track.partial == () and track.undecodable == () and track.silence == ()
    assert track.sample_count == 20 * S


@pytest.mark.parametrize("codec", [ulaw, alaw])
@pytest.mark.parametrize("stream", range(MAX_STREAMS))
def test_g711_round_trip(stream: int, codec: object) -> None:
    start = 7 * S + 613
    x = codec(timecode_samples(stream, start, 30 * S))  # type: ignore[operator]
    track = decode_timecode(x)
    assert list(track.counters_of(stream)) == full_segments(start, 30 * S)
    assert all(seg.start_sample == seg.segment * S - start for seg in track.segments)
    assert track.streams_present() == (stream,)


def test_arbitrary_start_offset_reports_the_cut_head_and_tail() -> None:
    start, count = 12345, 20 * S + 77
    track = decode_timecode(timecode_samples(0, start, count))
    expected = full_segments(start, count)
    assert list(track.counters_of(0)) == expected
    head = expected[0] * S - start
    assert track.segments[0].start_sample == head
    assert track.undecodable[0] == Span(0, head)
    # The segment cut by the end of the file is not decoded and is reported as truncated.
    assert track.partial_of(0)[-1].reason is PartialReason.TRUNCATED
    assert track.undecodable[-1].end_sample == count


@pytest.mark.parametrize("offset_1", [0, 97, 801, 1599])
def test_mono_mix_of_two_streams_decodes_both(offset_1: int) -> None:
    start0, start1 = 3 * S + 11, 100 * S + offset_1
    x = ulaw(mix(timecode_samples(0, start0, 30 * S), timecode_samples(1, start1, 30 * S)))
    track = decode_timecode(x)
    assert list(track.counters_of(0)) == full_segments(start0, 30 * S)
    assert list(track.counters_of(1)) == full_segments(start1, 30 * S)
    for stream, start in ((0, start0), (1, start1)):
        assert all(s.start_sample == s.segment * S - start for s in track.segments_of(stream))
    assert track.streams_present() == (0, 1)


def test_mix_of_three_streams_decodes_all() -> None:
    starts = (5, 400, 900)
    x = alaw(mix(*(timecode_samples(s, st, 20 * S) for s, st in enumerate(starts))))
    track = decode_timecode(x)
    for stream, start in enumerate(starts):
        assert list(track.counters_of(stream)) == full_segments(start, 20 * S)


def test_streams_argument_restricts_the_search() -> None:
    x = mix(timecode_samples(0, 0, 5 * S), timecode_samples(2, 0, 5 * S))
    track = decode_timecode(x, streams=[2])
    assert track.streams_present() == (2,)
    assert track.counters_of(2) == (0, 1, 2, 3, 4)


def test_silence_gap_mid_stream_removes_exactly_the_touched_segments() -> None:
    # Recorded audio [0, a) + 0.7 s of silence + audio [b, 40*S): a pause, not aligned anywhere.
    a, b, gap = 10 * S + 700, 17 * S + 333, 5600
    signal = ulaw(timecode_samples(1, 0, 40 * S))
    x = np.concatenate([signal[:a], np.zeros(gap, np.int16), signal[b:]])
    track = decode_timecode(x)
    expected = [k for k in range(40) if (k + 1) * S <= a or k * S >= b]
    assert list(track.counters_of(1)) == expected
    after = [s for s in track.segments if s.segment >= 18]
    assert all(s.start_sample == s.segment * S - b + a + gap for s in after)
    (silence,) = track.silence
    assert a <= silence.start_sample < a + 40 and a + gap - 40 < silence.end_sample <= a + gap
    # The two cut segments show as undecodable audio on either side of the silence.
    assert [(u.start_sample, u.end_sample) for u in track.undecodable] == [
        (10 * S, silence.start_sample),
        (silence.end_sample, a + gap + (18 * S - b)),
    ]


@pytest.mark.parametrize("slot", range(SYMBOLS_PER_SEGMENT))
def test_one_packet_hole_marks_the_touched_segment_not_decoded(slot: int) -> None:
    start = 3 * S + 41  # packets of the recorder are not segment-aligned in the file
    x = g711.ulaw_encode(timecode_samples(0, start, 12 * S))
    n = (6 * S - start) // P + slot  # a packet inside segment 6 (for slot 0 its SYNC, mostly)
    x[n * P : (n + 1) * P] = g711.SILENCE_BYTE["PCMU"]
    track = decode_timecode(g711.ulaw_decode(x))
    touched = {segment_of_sample(start + i) for i in (n * P, (n + 1) * P - 1)}
    expected = [k for k in full_segments(start, 12 * S) if k not in touched]
    assert list(track.counters_of(0)) == expected
    assert len(expected) == len(full_segments(start, 12 * S)) - len(touched)


def test_reordered_and_duplicated_segments_are_seen_in_file_order() -> None:
    x = timecode_samples(0, 0, 12 * S)
    order = [5, 6, 7, 3, 4, 6, 6, 11]
    track = decode_timecode(np.concatenate([x[k * S : (k + 1) * S] for k in order]))
    assert list(track.counters_of(0)) == order
    assert [s.start_sample for s in track.segments] == [i * S for i in range(len(order))]


@pytest.mark.parametrize("slot", range(1, SYMBOLS_PER_SEGMENT))
def test_packet_duplicated_inside_a_segment_is_not_decoded(slot: int) -> None:
    x = timecode_samples(1, 0, 10 * S)
    n = 4 * SYMBOLS_PER_SEGMENT + slot
    y = np.concatenate([x[: (n + 1) * P], x[n * P : (n + 1) * P], x[(n + 1) * P :]])
    track = decode_timecode(y)
    assert list(track.counters_of(1)) == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    (partial,) = track.partial_of(1)
    assert abs(partial.start_sample - 4 * S) <= 24  # partial starts are the coarse SYNC position
    assert partial.reason in (PartialReason.CHECK_MISMATCH, PartialReason.EXTRA_DIGIT)


def test_packet_dropped_inside_a_segment_is_not_decoded() -> None:
    x = timecode_samples(1, 0, 10 * S)
    n = 4 * SYMBOLS_PER_SEGMENT + 3
    track = decode_timecode(np.concatenate([x[: n * P], x[(n + 1) * P :]]))
    assert list(track.counters_of(1)) == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert track.partial_of(1)[0].reason is PartialReason.SYNC_IN_DIGIT


@pytest.mark.parametrize("stream", range(MAX_STREAMS))
def test_white_noise_at_20_db_snr_still_decodes(stream: int) -> None:
    rng = np.random.default_rng(20 + stream)
    start = 999
    x = ulaw(timecode_samples(stream, start, 50 * S)).astype(np.float64)
    noise = rng.normal(0.0, np.sqrt(np.mean(x**2) / 100.0), len(x))
    y = np.clip(np.rint(x + noise), -32768, 32767).astype(np.int16)
    track = decode_timecode(y)
    assert list(track.counters_of(stream)) == full_segments(start, 50 * S)
    assert all(s.start_sample == s.segment * S - start for s in track.segments)


def test_mix_with_noise_at_20_db_snr_still_decodes() -> None:
    rng = np.random.default_rng(7)
    x = ulaw(mix(timecode_samples(0, 0, 30 * S), timecode_samples(1, 555, 30 * S))).astype(np.float64)
    y = np.clip(np.rint(x + rng.normal(0.0, np.sqrt(np.mean(x**2) / 100.0), len(x))), -32768, 32767)
    track = decode_timecode(y.astype(np.int16))
    assert list(track.counters_of(0)) == full_segments(0, 30 * S)
    assert list(track.counters_of(1)) == full_segments(555, 30 * S)


def test_counter_values_up_to_the_maximum_and_wrap() -> None:
    start = (MAX_SEGMENTS - 3) * S
    track = decode_timecode(alaw(timecode_samples(2, start, 6 * S)))
    assert track.counters_of(2) == (MAX_SEGMENTS - 3, MAX_SEGMENTS - 2, MAX_SEGMENTS - 1, 0, 1, 2)


@pytest.mark.parametrize("counter", [0x0000, 0x5555, 0xAAAA, 0xFFFF, 0x1234, 0xC3A5, 0x8001])
def test_all_digit_patterns_decode(counter: int) -> None:
    track = decode_timecode(ulaw(timecode_samples(0, counter * S, S)))
    assert track.counters_of(0) == (counter,)


def test_clock_drift_shows_in_segment_spacing() -> None:
    # A recorder losing one sample in 1000 (0.1 % clock drift).
    x = timecode_samples(0, 0, 30 * S)
    y = np.delete(x, np.arange(500, len(x), 1000))
    track = decode_timecode(y)
    assert len(track.segments) >= 28
    spacing = np.diff([s.start_sample for s in track.segments]) / np.diff(track.counters_of(0))
    assert abs(float(np.mean(spacing)) - S * 0.999) < 0.5


def test_pure_silence_has_no_segments() -> None:
    for x in (np.zeros(8000, np.int16), alaw(np.zeros(8000, np.int16))):
        track = decode_timecode(x)
        assert track.segments == () and track.partial == () and track.undecodable == ()
        assert track.silence == (Span(0, 8000),)


def test_speech_like_noise_is_undecodable_not_segments() -> None:
    rng = np.random.default_rng(1)
    x = np.clip(rng.normal(0, 3000, 4 * S), -32768, 32767).astype(np.int16)
    track = decode_timecode(x)
    assert track.segments == ()
    assert track.undecodable == (Span(0, 4 * S),)


def test_empty_and_tiny_inputs() -> None:
    assert decode_timecode(np.zeros(0, np.int16)).sample_count == 0
    assert decode_timecode(timecode_samples(0, 0, 100)).segments == ()


def test_float_input_is_read_at_full_scale() -> None:
    x = timecode_samples(1, 0, 3 * S).astype(np.float64) / 32768.0
    assert decode_timecode(x).counters_of(1) == (0, 1, 2)


def test_wrong_sample_rate_raises_naming_it() -> None:
    with pytest.raises(ValueError, match="16000"):
        decode_timecode(timecode_samples(0, 0, S), sample_rate=16000)


def test_stereo_array_is_refused() -> None:
    with pytest.raises(ValueError, match="1-D"):
        decode_timecode(np.zeros((100, 2), np.int16))


@pytest.mark.parametrize("lead", [40, 119, 120, 121, 999, 1000, 1001])
def test_segment_right_after_leading_silence_is_decoded(lead: int) -> None:
    # Regression: a recording that starts with silence (the recorder's t0 precedes the first
    # RTP packet) had segment 0 reported as a dropout when the refinement landed 1 sample early.
    signal = np.concatenate([np.zeros(lead, np.int16), timecode_samples(0, 0, 3 * SEGMENT_SAMPLES)])
    track = decode_timecode(signal)
    assert list(track.counters_of(0)) == [0, 1, 2]
