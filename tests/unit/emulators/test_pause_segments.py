"""Which time-code segments a pause touches (RuntimeControl.expected_stream): the edge race."""

from __future__ import annotations

from harness.emulators.runtime_control import segments_touching_pause
from harness.media.timecode import SEGMENT_SAMPLES
from harness.validators.recording import ExpectedStream

PACKET = 160


def _expected(start: int, stop: int, last: int = 20) -> ExpectedStream:
    return ExpectedStream(stream=0, dn="7001", first_segment=0, last_segment=last,
                          paused_segments=frozenset(segments_touching_pause(start, stop, PACKET)),
                          pauses=((start, stop),))


def test_a_pause_inside_segments_touches_only_the_segments_it_cuts() -> None:
    start, stop = 6 * SEGMENT_SAMPLES + 800, 11 * SEGMENT_SAMPLES + 800
    assert segments_touching_pause(start, stop, PACKET) == range(6, 12)


def test_the_segment_ending_on_the_pause_start_is_not_required_and_not_forbidden() -> None:
    """Pause from exactly segment 6's start: the event may overtake segment 5's last packet."""
    expected = _expected(6 * SEGMENT_SAMPLES, 11 * SEGMENT_SAMPLES + 800)
    assert 5 not in expected.wanted and 5 not in expected.forbidden_segments
    assert 4 in expected.wanted and 6 in expected.forbidden_segments


def test_the_segment_starting_on_the_resume_is_not_required_and_not_forbidden() -> None:
    expected = _expected(6 * SEGMENT_SAMPLES + 800, 12 * SEGMENT_SAMPLES)
    assert 12 not in expected.wanted and 12 not in expected.forbidden_segments
    assert 13 in expected.wanted and 11 in expected.forbidden_segments


def test_a_segment_a_packet_away_from_the_edge_is_still_required() -> None:
    # The pause starts one packet after segment 6 begins: segment 5 is still wholly wanted.
    expected = _expected(6 * SEGMENT_SAMPLES + PACKET, 11 * SEGMENT_SAMPLES)
    assert 5 in expected.wanted
