"""What a receiver can tell of a stream's impairments from its packets (issue 11), sans-IO.

Fed one RTP packet at a time in capture order: duplicates (a sequence number seen again),
reordering (a packet older than the newest one, not a duplicate: RFC 3550 §A.1's "misordered"),
the SSRCs seen, comfort-noise packets (RFC 3389, PT 13) and RFC 4733 telephone events (one event
= one start timestamp, reported with its event code, final duration and whether an end packet
came; §2.5.1.4: the end packet is repeated, so it is counted once). Loss and jitter are not
repeated here: `harness.protocol.rtp.stats` computes them the way Wireshark does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from harness.protocol.rtp.seqnum import seq_distance

__all__ = ["COMFORT_NOISE_PT", "ImpairmentCounter", "ImpairmentsSeen", "TelephoneEvent"]

COMFORT_NOISE_PT: Final = 13  # RFC 3551 §6 table 4
_WINDOW: Final = 3000  # sequence numbers remembered for duplicate detection (60 s at 50 pps)
_DIGITS: Final = "0123456789*#ABCD"


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One RFC 4733 event (§2.3): `code` 0-15 are the DTMF digits 0-9 * # A-D."""

    code: int
    timestamp: int
    duration: int  # timestamp units (8 kHz for DTMF)
    ended: bool

    @property
    def name(self) -> str:
        return _DIGITS[self.code] if self.code < len(_DIGITS) else f"event {self.code}"


@dataclass(frozen=True, slots=True)
class ImpairmentsSeen:
    packets: int
    duplicates: int
    reordered: int
    ssrcs: tuple[int, ...]
    comfort_noise: int
    events: tuple[TelephoneEvent, ...]
    payload_types: tuple[int, ...]


@dataclass(slots=True)
class ImpairmentCounter:
    """Counts what one direction of one RTP flow shows; `event_pts`: telephone-event payload
    types from the SDP (empty: a dynamic PT whose packets are 4 octets is taken as one)."""

    event_pts: frozenset[int] = frozenset()
    _packets: int = 0
    _duplicates: int = 0
    _reordered: int = 0
    _highest: dict[int, int] = field(default_factory=dict)  # ssrc -> highest sequence number
    _seen: dict[int, dict[int, None]] = field(default_factory=dict)  # ssrc -> recent seqs (ordered)
    _ssrcs: dict[int, None] = field(default_factory=dict)
    _cn: int = 0
    _events: dict[tuple[int, int], TelephoneEvent] = field(default_factory=dict)
    _pts: dict[int, None] = field(default_factory=dict)

    def add(self, ssrc: int, seq: int, timestamp: int, payload_type: int, payload: bytes) -> None:
        self._packets += 1
        self._ssrcs.setdefault(ssrc)
        self._pts.setdefault(payload_type)
        seen = self._seen.setdefault(ssrc, {})
        if seq in seen:
            self._duplicates += 1
            return
        seen[seq] = None
        if len(seen) > _WINDOW:
            del seen[next(iter(seen))]
        highest = self._highest.get(ssrc)
        if highest is None or seq_distance(highest, seq) > 0:
            self._highest[ssrc] = seq
        else:
            self._reordered += 1
        if payload_type == COMFORT_NOISE_PT:
            self._cn += 1
        elif self._is_event(payload_type, payload):
            ended = bool(payload[1] & 0x80)
            duration = int.from_bytes(payload[2:4], "big")
            key = (ssrc, timestamp)
            old = self._events.get(key)
            self._events[key] = TelephoneEvent(payload[0], timestamp, max(duration, old.duration if old else 0),
                                               ended or (old is not None and old.ended))

    def _is_event(self, payload_type: int, payload: bytes) -> bool:
        if len(payload) < 4:
            return False
        if self.event_pts:
            return payload_type in self.event_pts
        return 96 <= payload_type <= 127 and len(payload) == 4

    def result(self) -> ImpairmentsSeen:
        return ImpairmentsSeen(self._packets, self._duplicates, self._reordered, tuple(self._ssrcs), self._cn,
                               tuple(self._events.values()), tuple(self._pts))
