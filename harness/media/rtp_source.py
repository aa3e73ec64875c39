"""One replicated RTP stream carrying the audio time-code (RFC 3550 §5.1, RFC 3551 §4.5.14).

The fixed RTP header is built once per stream with scapy (`scapy.layers.rtp.RTP`) and kept as
raw bytes; each packet then only patches marker, sequence number and timestamp with `struct`
(scapy objects per packet are far too slow to pace hundreds of streams, see docs/tooling.md).

Packet *slot* n covers audio samples ``[n*spp, (n+1)*spp)`` (spp = samples per packet) of the
stream's time-code signal, so its RTP timestamp is ``initial_timestamp + n*spp`` whether or not
earlier slots were sent: RFC 3550 §5.1 "the timestamp reflects the sampling instant of the
first octet in the RTP data packet". The sequence number counts packets actually *sent*:
RFC 3550 §5.1 "The sequence number increments by one for each RTP data packet sent". A
schedule of `Run`s expresses the three things a Media Server does with a slot (docs/genesys-flow.md §4.6):

* `PacketKind.MEDIA`   send the time-code audio;
* `PacketKind.SILENCE` send codec silence (pause behaviour 2: silence keeps flowing);
* `PacketKind.SKIP`    send nothing; the RTP clock keeps running (pause behaviour 1: after
  the pause the timestamp jumps by the pause length while the sequence stays contiguous).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from scapy.layers.rtp import RTP

from harness.media.timecode import MAX_STREAMS, SAMPLE_RATE, timecode_samples
from harness.protocol.rtp import g711
from harness.protocol.rtp.g722 import G722Encoder
from harness.protocol.rtp.packet import patch_fixed_header
from harness.protocol.rtp.seqnum import SEQ_MOD, TS_MOD, seq_add, ts_add

__all__ = ["PacketKind", "RtpPacket", "RtpStreamSource", "Run"]

# RFC 3551 §6 table 4: static payload types of the two G.711 laws and G.722 (§4.5.2: RTP clock
# 8000 Hz although G.722 samples at 16 kHz, so a slot's timestamp arithmetic is the same).
_STATIC_PT: Final[dict[str, int]] = {"PCMU": 0, "PCMA": 8, "G722": 9}


class PacketKind(enum.Enum):
    MEDIA = "media"
    SILENCE = "silence"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Run:
    """`count` consecutive packet slots of one kind: an item of a stream schedule."""

    kind: PacketKind
    count: int

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"run count must be >= 0, got {self.count}")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One packet to send; `send_offset` (seconds) is its slot's time from the stream start."""

    n: int
    seq: int
    timestamp: int
    marker: bool
    kind: PacketKind
    send_offset: float
    data: bytes


@dataclass(frozen=True, slots=True)
class RtpStreamSource:
    """Packet factory of one stream; build it with `create()` to draw SSRC/seq/ts at random."""

    stream_index: int
    codec: str
    payload_type: int
    ssrc: int
    initial_seq: int
    initial_timestamp: int
    ptime_ms: int = 20
    _header: bytes = field(init=False, repr=False, compare=False)
    # G.722 is ADPCM: a packet's octets depend on every sample before it, so slots are encoded
    # in order by one encoder and kept (the sender log is rebuilt from them, sent_rtp).
    _g722: _G722Slots | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.stream_index < MAX_STREAMS:
            raise ValueError(f"stream_index must be in 0..{MAX_STREAMS - 1}, got {self.stream_index}")
        if self.codec not in _STATIC_PT:
            raise ValueError(f"codec must be one of {sorted(_STATIC_PT)}, got {self.codec!r}")
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"payload type is 7 bits (RFC 3550 §5.1), got {self.payload_type}")
        if not 0 <= self.ssrc < TS_MOD:
            raise ValueError(f"SSRC is 32 bits, got {self.ssrc}")
        if not 0 <= self.initial_seq < SEQ_MOD:
            raise ValueError(f"sequence number is 16 bits, got {self.initial_seq}")
        if not 0 <= self.initial_timestamp < TS_MOD:
            raise ValueError(f"timestamp is 32 bits, got {self.initial_timestamp}")
        if not isinstance(self.ptime_ms, int) or self.ptime_ms <= 0 or (self.ptime_ms * SAMPLE_RATE) % 1000:
            raise ValueError(
                f"ptime must be a positive whole number of 8 kHz samples, got {self.ptime_ms} ms"
            )
        header = bytes(
            RTP(
                version=2,
                padding=0,
                extension=0,
                numsync=0,
                marker=0,
                payload_type=self.payload_type,
                sequence=0,
                timestamp=0,
                sourcesync=self.ssrc,
            )
        )
        object.__setattr__(self, "_header", header)
        object.__setattr__(self, "_g722", _G722Slots() if self.codec == "G722" else None)

    @classmethod
    def create(
        cls,
        stream_index: int,
        codec: str = "PCMU",
        *,
        payload_type: int | None = None,
        ptime_ms: int = 20,
        ssrc: int | None = None,
        initial_seq: int | None = None,
        initial_timestamp: int | None = None,
        rng: random.Random | int | None = None,
    ) -> RtpStreamSource:
        """Fill unspecified SSRC / initial seq / initial ts at random.

        RFC 3550 §5.1: the initial sequence number and timestamp SHOULD be random (and §8.1 the
        SSRC). `rng` may be a `random.Random` or a seed for reproducible streams.
        """
        codec = codec.upper()
        r = rng if isinstance(rng, random.Random) else random.Random(rng)
        return cls(
            stream_index=stream_index,
            codec=codec,
            payload_type=_STATIC_PT.get(codec, -1) if payload_type is None else payload_type,
            ssrc=r.getrandbits(32) if ssrc is None else ssrc,
            initial_seq=r.getrandbits(16) if initial_seq is None else initial_seq,
            initial_timestamp=r.getrandbits(32) if initial_timestamp is None else initial_timestamp,
            ptime_ms=ptime_ms,
        )

    @property
    def samples_per_packet(self) -> int:
        return self.ptime_ms * SAMPLE_RATE // 1000

    def timestamp_of(self, n: int) -> int:
        """RTP timestamp of slot n (wraps modulo 2**32)."""
        return ts_add(self.initial_timestamp, n * self.samples_per_packet)

    def _build(self, n: int, seq: int | None, marker: bool | None, payload: bytes) -> bytes:
        if n < 0:
            raise ValueError(f"packet slot must be >= 0, got {n}")
        seq_value = seq_add(self.initial_seq, n) if seq is None else seq_add(seq, 0)
        # RFC 3551 §4.1: for audio the marker flags the first packet of a talkspurt; the
        # first packet of the stream is one.
        mark = (n == 0) if marker is None else marker
        buf = bytearray(self._header)
        patch_fixed_header(buf, marker=mark, sequence=seq_value, timestamp=self.timestamp_of(n))
        return bytes(buf) + payload

    def payload(self, n: int) -> bytes:
        """G.711 payload of slot n: the time-code samples ``[n*spp, (n+1)*spp)``."""
        spp = self.samples_per_packet
        if self._g722 is not None:
            return self._g722.payload(self.stream_index, n, spp)
        return g711.encode(self.codec, timecode_samples(self.stream_index, n * spp, spp))

    def packet(self, n: int, *, seq: int | None = None, marker: bool | None = None) -> bytes:
        """Packet of slot n; `seq` defaults to ``initial_seq + n`` (no slot skipped before)."""
        return self._build(n, seq, marker, self.payload(n))

    def silence_packet(self, n: int, *, seq: int | None = None, marker: bool | None = False) -> bytes:
        """Slot n carrying codec silence instead of time-code (same seq/ts progression)."""
        if self._g722 is not None:
            silence = G722Encoder().encode([0] * self.samples_per_packet)
        else:
            silence = bytes([g711.SILENCE_BYTE[self.codec]]) * self.samples_per_packet
        return self._build(n, seq, marker, silence)

    def packets(self, schedule: Iterable[Run], *, first_n: int = 0) -> Iterator[RtpPacket]:
        """Walk a schedule from slot `first_n`; yields only the packets that are sent.

        Sequence numbers are contiguous over SKIP runs (RFC 3550 §5.1 counts packets sent);
        timestamps keep advancing with the slot. The marker is set on the first packet sent
        and on the first packet after a SKIP run (a new talkspurt, RFC 3551 §4.1).
        """
        n = first_n
        sent = 0
        after_gap = True
        ptime_s = self.ptime_ms / 1000.0
        for run in schedule:
            for _ in range(run.count):
                if run.kind is PacketKind.SKIP:
                    after_gap = True
                    n += 1
                    continue
                seq = (self.initial_seq + sent) % SEQ_MOD
                if run.kind is PacketKind.MEDIA:
                    data = self.packet(n, seq=seq, marker=after_gap)
                else:
                    data = self.silence_packet(n, seq=seq, marker=after_gap)
                yield RtpPacket(n, seq, self.timestamp_of(n), after_gap, run.kind, n * ptime_s, data)
                after_gap = False
                sent += 1
                n += 1

    def timed(self, schedule: Iterable[Run], *, first_n: int = 0) -> Iterator[tuple[float, bytes]]:
        """`packets()` as (send_offset_seconds, bytes) pairs, the input `PacedSender` takes."""
        return ((p.send_offset, p.data) for p in self.packets(schedule, first_n=first_n))


class _G722Slots:
    """One stream's G.722 payloads, encoded slot after slot by one encoder and remembered."""

    def __init__(self) -> None:
        self._encoder = G722Encoder()
        self._payloads: list[bytes] = []

    def payload(self, stream: int, n: int, spp: int) -> bytes:
        while len(self._payloads) <= n:
            k = len(self._payloads)
            self._payloads.append(self._encoder.encode(timecode_samples(stream, k * spp, spp)))
        return self._payloads[n]
