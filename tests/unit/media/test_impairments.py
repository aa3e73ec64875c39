"""The impairment model (harness/media/impairments.py): seeded, pure, and each knob does on the
wire what its RFC says."""

from __future__ import annotations

import itertools

import pytest

from harness.media.impairments import (
    COMFORT_NOISE_PT,
    Impairments,
    WireKind,
    WirePacket,
    impair,
    parse_impairments,
)
from harness.media.rtp_source import RtpStreamSource
from harness.protocol.rtp.packet import RtpPacket
from harness.protocol.rtp.seqnum import SEQ_MOD


def _wire(text: str, slots: int = 100, ptime: int = 20) -> list[WirePacket]:
    source = RtpStreamSource.create(0, "PCMU", rng=3, ptime_ms=ptime)
    return list(itertools.islice(impair(source, parse_impairments(text), max_slots=slots), 10_000))


def _parsed(wire: list[WirePacket]) -> list[RtpPacket]:
    return [RtpPacket.parse(p.data) for p in wire]


def test_no_impairment_sends_every_slot_once_in_order() -> None:
    wire = _wire("seed=1")
    assert [p.slot for p in wire] == list(range(100))
    assert all(p.kind is WireKind.MEDIA for p in wire)
    seqs = [p.sequence for p in _parsed(wire)]
    assert all((b - a) % SEQ_MOD == 1 for a, b in itertools.pairwise(seqs))
    assert not parse_impairments("seed=1").active and parse_impairments("loss=0.1").active


def test_same_seed_same_wire_other_seed_other_wire() -> None:
    assert _wire("loss=0.2,dup=0.1,jitter=30,seed=5") == _wire("loss=0.2,dup=0.1,jitter=30,seed=5")
    assert _wire("loss=0.2,seed=5") != _wire("loss=0.2,seed=6")


def test_network_loss_leaves_holes_in_the_sequence_numbers_after_start() -> None:
    wire = _wire("loss=0.3,seed=2")
    slots = [p.slot for p in wire]
    assert slots[:25] == list(range(25))  # start_s = 0.5 s: clean until then
    assert len(slots) < 90
    # RFC 3550 §5.1: the sender counted the lost packets, so sequence and slot advance together.
    first = _parsed(wire)[0].sequence
    assert all((pk.sequence - first) % SEQ_MOD == p.slot for p, pk in zip(wire, _parsed(wire), strict=True))


def test_outage_and_burst() -> None:
    assert {p.slot for p in _wire("outage=1+0.4")} == set(range(100)) - set(range(50, 70))
    lost = set(range(100)) - {p.slot for p in _wire("burst=0.2/0.3,seed=4")}
    assert lost and any(s + 1 in lost for s in lost)  # bursts, not isolated losses only


def test_reorder_sends_a_packet_after_the_next_depth_ones_and_output_is_time_sorted() -> None:
    wire = _wire("reorder=3,reorder_rate=0.2,seed=9")
    assert sorted(p.slot for p in wire) == list(range(100))
    assert [p.send_offset for p in wire] == sorted(p.send_offset for p in wire)
    late = [i for i, p in enumerate(wire) if any(q.slot > p.slot for q in wire[:i])]
    assert late
    # Overtaken by at most `depth` packets (fewer when the next ones were held back too).
    assert all(1 <= sum(q.slot > wire[j].slot for q in wire[:j]) <= 3 for j in late)
    assert any(sum(q.slot > wire[j].slot for q in wire[:j]) == 3 for j in late)


def test_duplicates_repeat_the_same_bytes() -> None:
    wire = _wire("dup=0.2,seed=3")
    dups = [p for p in wire if p.kind is WireKind.DUPLICATE]
    assert dups
    originals = {p.slot: p.data for p in wire if p.kind is WireKind.MEDIA}
    assert all(originals[d.slot] == d.data for d in dups)


def test_late_packets_are_flagged_and_held_back_beyond_a_jitter_window() -> None:
    wire = _wire("late=0.2,seed=1", slots=200)
    late = [p for p in wire if p.late]
    assert late and all(p.send_offset - p.slot * 0.02 >= 1.5 - 1e-9 for p in late)


def test_drift_stretches_send_times_not_timestamps() -> None:
    wire = _wire("drift=100")
    ts = [p.timestamp for p in _parsed(wire)]
    assert all(b - a == 160 for a, b in itertools.pairwise(ts))
    assert wire[-1].send_offset == pytest.approx(99 * 0.02 * (1 + 100e-6))


def test_ssrc_change_and_jumps() -> None:
    parsed = _parsed(_wire("ssrc=1,seed=2"))
    assert len({p.ssrc for p in parsed}) == 2 and parsed[50].marker and parsed[50].ssrc != parsed[49].ssrc
    jumped = _parsed(_wire("seqjump=1+1000,tsjump=1+80000"))
    assert (jumped[50].sequence - jumped[49].sequence) % SEQ_MOD == 1001
    assert (jumped[50].timestamp - jumped[49].timestamp) % 2**32 == 80160 and jumped[50].marker


def test_dtx_sends_comfort_noise_then_a_marked_talkspurt() -> None:
    wire = _wire("dtx=1+0.4,cn_interval_ms=100")
    cn = [p for p in wire if p.kind is WireKind.COMFORT_NOISE]
    assert [p.slot for p in cn] == [50, 55, 60, 65]
    assert all(RtpPacket.parse(p.data).payload_type == COMFORT_NOISE_PT for p in cn)
    assert not {p.slot for p in wire if p.kind is WireKind.MEDIA} & set(range(50, 70))
    after = next(RtpPacket.parse(p.data) for p in wire if p.kind is WireKind.MEDIA and p.slot == 70)
    assert after.marker  # RFC 3551 §4.1: first packet of a talkspurt


def test_dtmf_is_rfc4733_with_three_end_packets_and_the_offered_pt() -> None:
    wire = [p for p in _wire("dtmf=1+0.1+5,dtmf_pt=101") if p.kind is WireKind.DTMF]
    parsed = _parsed(wire)
    assert {p.payload_type for p in parsed} == {101} and len({p.timestamp for p in parsed}) == 1
    ends = [p for p in parsed if p.payload[1] & 0x80]
    assert len(ends) == 3 and len({p.sequence for p in ends}) == 3
    assert [p.payload[0] for p in parsed] == [5] * len(parsed) and parsed[0].marker
    durations = [int.from_bytes(p.payload[2:4], "big") for p in parsed]
    assert durations == sorted(durations) and durations[-1] == 800


def test_header_extras_and_ptime() -> None:
    parsed = _parsed(_wire("pad,ext,csrc=2", slots=5, ptime=30))
    assert all(p.padding and p.extension and len(p.csrcs) == 2 and len(p.payload) == 240 for p in parsed)


@pytest.mark.parametrize("text", ["loss=2", "frobnicate=1", "loss", "ptime=25", "dtmf=1+0.1+16", "csrc=16",
                                  "dtmf_pt=13"])
def test_bad_knobs_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_impairments(text)


def test_describe_reads_back() -> None:
    spec = parse_impairments("loss=0.05,burst=0.1/0.5,outage=1+0.4,reorder=3,dup=0.1,jitter=30,late=0.02,drift=-100,"
                             "seqjump=1+1000,tsjump=1+80000,ssrc=1.2,dtx=1+0.6,dtmf=1+0.2+5,ptime=30,pad,ext,csrc=2,"
                             "seed=7")
    assert parse_impairments(spec.describe()) == spec and "seed=7" in spec.describe()
    assert parse_impairments("-") == Impairments() and parse_impairments("loss=0.1", seed=4).seed == 4
