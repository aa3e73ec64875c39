"""harness.media.long_call: counters started before their wrap, an SSRC change mid-stream, and
every packet rebuildable from its slot and sequence number (the sent-RTP log relies on it)."""

from __future__ import annotations

import pytest

from harness.media.long_call import LongCallPlan, SsrcChangingSource, near_wrap
from harness.media.rtp_source import PacketKind, RtpStreamSource, Run
from harness.protocol.rtp.packet import fixed_header
from harness.protocol.rtp.seqnum import seq_wrapped, ts_wrapped


def _headers(source: RtpStreamSource, count: int) -> list[tuple[int, int, int]]:
    return [fixed_header(p.data)[2:] for p in source.packets([Run(PacketKind.MEDIA, count)])]


def test_near_wrap_wraps_the_sequence_and_the_timestamp_at_the_given_packets() -> None:
    headers = _headers(near_wrap(0, seq_packets=3, ts_packets=5, rng=1), 8)
    seq_wraps = [i for i in range(1, 8) if seq_wrapped(headers[i - 1][0], headers[i][0])]
    ts_wraps = [i for i in range(1, 8) if ts_wrapped(headers[i - 1][1], headers[i][1])]
    assert seq_wraps == [3] and ts_wraps == [5]
    assert headers[3][0] == 0 and headers[5][1] == 0


def test_near_wrap_rejects_counts_outside_the_counter() -> None:
    with pytest.raises(ValueError):
        near_wrap(0, seq_packets=0, ts_packets=5)
    with pytest.raises(ValueError):
        near_wrap(0, seq_packets=3, ts_packets=2**32)


def test_ssrc_change_starts_new_counters_at_the_change_slot() -> None:
    first = RtpStreamSource.create(1, "PCMA", rng=3)
    source = SsrcChangingSource.from_source(first, 4, rng=4)
    headers = _headers(source, 7)
    assert {h[2] for h in headers[:4]} == {first.ssrc} and {h[2] for h in headers[4:]} == {source.new_ssrc}
    assert [h[0] for h in headers[4:]] == [(source.new_initial_seq + k) % 2**16 for k in range(3)]
    assert [h[1] for h in headers[4:]] == [(source.new_initial_timestamp + 160 * k) % 2**32 for k in range(3)]
    # Same time-code payload as the stream without the change: the audio goes on.
    plain = list(first.packets([Run(PacketKind.MEDIA, 7)]))
    assert [p.data[12:] for p in source.packets([Run(PacketKind.MEDIA, 7)])] == [p.data[12:] for p in plain]


def test_every_packet_is_rebuilt_from_its_slot_and_sequence_number() -> None:
    source = SsrcChangingSource.from_source(near_wrap(0, seq_packets=2, ts_packets=3, rng=5), 4, rng=6)
    for p in source.packets([Run(PacketKind.MEDIA, 8)]):
        assert source.packet(p.n, seq=p.seq, marker=p.n == 0) == p.data


def test_the_plan_staggers_the_streams_and_keeps_a_new_ssrc_distinct() -> None:
    plan = LongCallPlan(seq_packets=10, ts_packets=20, ssrc_change_at=30, stagger=5)
    customer, agent = plan.source(0, "PCMU", 1), plan.source(1, "PCMU", 2)
    assert isinstance(agent, SsrcChangingSource) and agent.change_slot == 35 and agent.new_ssrc != agent.ssrc
    assert customer.initial_seq == 2**16 - 10 and agent.initial_seq == 2**16 - 15
    assert not isinstance(LongCallPlan().source(0, "PCMU", 1), SsrcChangingSource)
