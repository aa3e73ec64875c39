"""RTP streams of a long call, compressed into seconds: counters that wrap, an SSRC that changes.

A one-hour call wraps the 16-bit sequence number (50 packets/s reach 65536 after ~22 min) and,
from a random start, may wrap the 32-bit timestamp (RFC 3550 §5.1: both "wrap around"; the
initial values SHOULD be random). Waiting for that is a soak test; starting the counters just
before the wrap point makes it happen within seconds (`near_wrap`).

A Media Server may also change a replicated stream's SSRC mid-call without a new offer (a
source restart, a transfer re-originating the media: RFC 3550 §8.2 a source changing its
SSRC; docs/genesys-flow.md GVP-Xfer): `SsrcChangingSource` sends slots from `change_slot` on
with a new SSRC and new, unrelated sequence-number and timestamp spaces, from the same socket.
The time code goes on (same stream, next slot), so the recording proves whether the audio
after the change was kept, and where.

Wrap arithmetic stays in `harness.protocol.rtp.seqnum` (docs/architecture.md §5).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from scapy.layers.rtp import RTP

from harness.media.rtp_source import RtpPacket, RtpStreamSource, Run
from harness.protocol.rtp.packet import patch_fixed_header
from harness.protocol.rtp.seqnum import SEQ_MOD, TS_MOD, seq_add, ts_add

__all__ = ["LongCallPlan", "SsrcChangingSource", "near_wrap"]


def near_wrap(stream_index: int, codec: str = "PCMU", *, seq_packets: int, ts_packets: int, ptime_ms: int = 20,
              rng: random.Random | int | None = None) -> RtpStreamSource:
    """A stream whose sequence number wraps (65535 -> 0) at packet `seq_packets` and whose
    timestamp wraps (2**32 - 1 -> 0) at packet `ts_packets` (counted from 0; SSRC random)."""
    if not 0 < seq_packets < SEQ_MOD:
        raise ValueError(f"seq_packets must be in 1..{SEQ_MOD - 1}, got {seq_packets}")
    spp = ptime_ms * 8
    if not 0 < ts_packets * spp < TS_MOD:
        raise ValueError(f"ts_packets out of range: {ts_packets}")
    return RtpStreamSource.create(stream_index, codec, ptime_ms=ptime_ms, rng=rng,
                                  initial_seq=SEQ_MOD - seq_packets, initial_timestamp=TS_MOD - ts_packets * spp)


@dataclass(frozen=True, slots=True)
class SsrcChangingSource(RtpStreamSource):
    """`RtpStreamSource` whose slots from `change_slot` on carry `new_ssrc` and sequence numbers
    / timestamps counted from `new_initial_seq` / `new_initial_timestamp` (a new RTP source on
    the same transport address). Build it with `from_source`."""

    change_slot: int = 0
    new_ssrc: int = 0
    new_initial_seq: int = 0
    new_initial_timestamp: int = 0
    _new_header: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        RtpStreamSource.__post_init__(self)
        if self.change_slot <= 0:
            raise ValueError(f"change_slot must be > 0, got {self.change_slot}")
        if self.new_ssrc == self.ssrc or not 0 <= self.new_ssrc < TS_MOD:
            raise ValueError(f"new SSRC must be a 32-bit value other than the first, got {self.new_ssrc}")
        header = bytes(RTP(version=2, padding=0, extension=0, numsync=0, marker=0, payload_type=self.payload_type,
                           sequence=0, timestamp=0, sourcesync=self.new_ssrc))
        object.__setattr__(self, "_new_header", header)

    @classmethod
    def from_source(cls, source: RtpStreamSource, change_slot: int, *,
                    rng: random.Random | int | None = None) -> SsrcChangingSource:
        """`source` until `change_slot`; then a new SSRC, sequence and timestamp, drawn at random
        (RFC 3550 §5.1, §8.1), the SSRC different from the first."""
        r = rng if isinstance(rng, random.Random) else random.Random(rng)
        new_ssrc = r.getrandbits(32)
        while new_ssrc == source.ssrc:
            new_ssrc = r.getrandbits(32)
        return cls(stream_index=source.stream_index, codec=source.codec, payload_type=source.payload_type,
                   ssrc=source.ssrc, initial_seq=source.initial_seq, initial_timestamp=source.initial_timestamp,
                   ptime_ms=source.ptime_ms, change_slot=change_slot, new_ssrc=new_ssrc,
                   new_initial_seq=r.getrandbits(16), new_initial_timestamp=r.getrandbits(32))

    def timestamp_of(self, n: int) -> int:
        if n < self.change_slot:
            return RtpStreamSource.timestamp_of(self, n)
        return ts_add(self.new_initial_timestamp, (n - self.change_slot) * self.samples_per_packet)

    def _build(self, n: int, seq: int | None, marker: bool | None, payload: bytes) -> bytes:
        if n < self.change_slot:
            return RtpStreamSource._build(self, n, seq, marker, payload)
        seq_value = seq_add(self.new_initial_seq, n - self.change_slot) if seq is None else seq_add(seq, 0)
        buf = bytearray(self._new_header)
        patch_fixed_header(buf, marker=bool(marker), sequence=seq_value, timestamp=self.timestamp_of(n))
        return bytes(buf) + payload

    def packets(self, schedule: Iterable[Run], *, first_n: int = 0) -> Iterator[RtpPacket]:
        """As `RtpStreamSource.packets`; from the change on, the new source counts its own
        packets sent from `new_initial_seq` (RFC 3550 §5.1, per SSRC)."""
        after = 0
        for p in RtpStreamSource.packets(self, schedule, first_n=first_n):
            if p.n < self.change_slot:
                yield p
                continue
            seq = seq_add(self.new_initial_seq, after)
            after += 1
            data = self._build(p.n, seq, p.marker, p.data[12:])
            yield RtpPacket(p.n, seq, self.timestamp_of(p.n), p.marker, p.kind, p.send_offset, data)


@dataclass(frozen=True, slots=True)
class LongCallPlan:
    """How a scenario's Media Server builds each replicated stream's RTP source (the
    `MediaServerEmulation.source_factory`): counters `seq_packets` / `ts_packets` packets
    before their wrap (None: random, RFC 3550 §5.1), and a new SSRC from packet `ssrc_change_at`
    on (None: one SSRC). Stream `i` wraps `i * stagger` packets later than stream 0, so the two
    parties' wraps do not fall in the same instant."""

    seq_packets: int | None = None
    ts_packets: int | None = None
    ssrc_change_at: int | None = None
    stagger: int = 0

    def source(self, stream_index: int, codec: str, seed: int | None) -> RtpStreamSource:
        r = random.Random(seed)
        shift = stream_index * self.stagger
        if self.seq_packets is None and self.ts_packets is None:
            source = RtpStreamSource.create(stream_index, codec, rng=r)
        else:
            seq = self.seq_packets + shift if self.seq_packets is not None else 1 + r.randrange(SEQ_MOD - 1)
            ts = self.ts_packets + shift if self.ts_packets is not None else 1 + r.randrange((TS_MOD - 1) // 160)
            source = near_wrap(stream_index, codec, seq_packets=seq, ts_packets=ts, rng=r)
        if self.ssrc_change_at is not None:
            return SsrcChangingSource.from_source(source, self.ssrc_change_at + shift, rng=r)
        return source
