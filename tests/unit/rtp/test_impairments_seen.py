"""harness/protocol/rtp/impairments_seen.py: duplicates, reordering, SSRCs, CN and RFC 4733 events
as a receiver sees them."""

from __future__ import annotations

from harness.protocol.rtp.impairments_seen import ImpairmentCounter


def _event(code: int, duration: int, end: bool) -> bytes:
    return bytes([code, (0x80 if end else 0) | 10]) + duration.to_bytes(2, "big")


def test_clean_stream_shows_nothing() -> None:
    counter = ImpairmentCounter()
    for i in range(50):
        counter.add(7, (65530 + i) % 65536, i * 160, 0, b"\xff" * 160)  # wraps: not reordering
    seen = counter.result()
    assert (seen.packets, seen.duplicates, seen.reordered, seen.ssrcs, seen.events) == (50, 0, 0, (7,), ())


def test_duplicates_reorder_ssrc_change_cn() -> None:
    counter = ImpairmentCounter()
    for seq in (1, 2, 4, 3, 4, 5):
        counter.add(7, seq, seq * 160, 0, b"\xff" * 160)
    counter.add(9, 100, 0, 13, b"\x40")
    seen = counter.result()
    assert (seen.duplicates, seen.reordered, seen.ssrcs, seen.comfort_noise) == (1, 1, (7, 9), 1)
    assert seen.payload_types == (0, 13)


def test_telephone_events_once_each_with_end_and_duration() -> None:
    counter = ImpairmentCounter(frozenset({101}))
    for seq, (duration, end) in enumerate([(160, False), (320, False), (480, True), (480, True), (480, True)]):
        counter.add(7, seq, 8000, 101, _event(5, duration, end))
    counter.add(7, 10, 16000, 101, _event(11, 160, False))  # '#', no end packet seen
    events = counter.result().events
    assert [(e.name, e.duration, e.ended) for e in events] == [("5", 480, True), ("#", 160, False)]
    # Without the SDP's payload type, a 4-octet dynamic-PT payload is taken as an event.
    guess = ImpairmentCounter()
    guess.add(7, 1, 0, 96, _event(0, 160, True))
    guess.add(7, 2, 160, 96, b"\xff" * 160)
    assert [e.name for e in guess.result().events] == ["0"]
