"""harness/conformance/impaired.py: from what the impaired emulation really sent to what the
recording must hold (required / optional segments) and what each impairment touched first."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from harness.conformance.impaired import impaired_expected, impaired_sent, sent_wire
from harness.emulators.media_server import ReplicatedStream
from harness.emulators.sip_server import Side, StreamJob
from harness.media.impairments import impair, parse_impairments
from harness.media.pacer import SendRecord
from harness.media.rtp_source import RtpStreamSource


@dataclass
class _Sock:  # stands for the stream's bound UDP socket (a unit test opens none)
    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", 40000)


def _stream(knobs: str, slots: int = 100, codec: str = "PCMU", sent: int | None = None) -> ReplicatedStream:
    source = RtpStreamSource.create(0, codec, rng=1)
    spec = parse_impairments(knobs)
    stream = ReplicatedStream(StreamJob(Side.CUSTOMER, "5551234", 0), source, _Sock(), 0,  # type: ignore[arg-type]
                              impairment=spec)
    stream.wire = list(itertools.islice(impair(source, spec, max_slots=slots), 10_000))
    count = len(stream.wire) if sent is None else sent
    stream.log = tuple(SendRecord(i, None, 0.0, 0.0) for i in range(count))
    return stream


def test_an_outage_makes_its_segments_optional_and_keeps_the_length() -> None:
    stream = _stream("outage=1+0.4")  # slots 50-69 lost: segments 5 and 6
    expected = impaired_expected(stream)
    assert (expected.first_segment, expected.last_segment) == (0, 9)
    assert expected.optional_segments == {5, 6} and expected.expected_samples == 100 * 160
    sent = impaired_sent(stream)
    assert sent.first_affected == {"REC-LOSS-SILENCE": 5} and sent.required == frozenset(range(10)) - {5, 6}


def test_only_what_the_pacer_sent_counts() -> None:
    stream = _stream("dup=0.2,seed=3", sent=40)
    assert len(sent_wire(stream)) == 40
    assert impaired_expected(stream).last_segment < 4


def test_reorder_duplicate_source_change_and_events_are_each_located() -> None:
    assert set(impaired_sent(_stream("reorder=2,reorder_rate=0.3,seed=2")).first_affected) == {"REC-REORDER-RESTORED"}
    assert set(impaired_sent(_stream("dup=0.2,seed=3")).first_affected) == {"REC-DUPLICATE-ONCE"}
    change = impaired_sent(_stream("ssrc=1"))
    assert change.first_affected == {"RTP-SSRC-CHANGE-RECORDED": 5} and 5 not in change.required
    jump = impaired_sent(_stream("seqjump=1+1000,tsjump=1+8000"))
    assert jump.first_affected == {"RTP-JUMP-RECORDED": 5} and 5 not in jump.required
    quiet = impaired_sent(_stream("dtx=0.4+0.4,dtmf=1.2+0.2+5"))
    assert quiet.quiet == {"REC-CN-NOT-AUDIO": ((3200, 6400),), "REC-DTMF-NOT-AUDIO": ((9600, 11200),)}
    assert quiet.first_affected == {}  # the sender's own silences are not losses
    assert quiet.dtmf_sent == (("5", 1600),)  # ten 20 ms packets: final duration 1600 ts
    late = impaired_sent(_stream("late=0.1,seed=1", slots=200))
    assert "REC-LOSS-SILENCE" in late.first_affected  # too late to place: lost to the recording


def test_g722_does_not_require_the_segment_after_a_loss() -> None:
    # Slot 60 lost: segment 6 is optional anyway; slot 61 is in segment 6 too. Lose slot 79:
    # segment 7 optional, and segment 8 (slot 80, decoded by a decoder that missed slot 79) too.
    pcmu = impaired_sent(_stream("outage=1.58+0.02", codec="PCMU"))
    g722 = impaired_sent(_stream("outage=1.58+0.02", codec="G722"))
    assert 8 in pcmu.required and 8 not in g722.required and 7 not in pcmu.required
