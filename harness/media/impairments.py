"""Impaired media: a seeded, pure transform of one stream's packet schedule (issue 11).

What networks and Media Servers really send, per stream and combinable; a run is reproducible
from its seed. The model is a function of (source, spec, seed): it walks the stream's slots
(`harness.media.rtp_source`: slot n covers the time-code samples ``[n*spp, (n+1)*spp)``) and
yields `WirePacket`s in send order, each saying what it is (media, duplicate, comfort noise,
telephone-event) and which slot it carries, so the judge knows exactly what reached the
recorder. Nothing here touches a socket or a clock: the pacer only sends what it is given.

Knobs (`Impairments`, text form ``loss=0.05,dup=0.1,seed=7``, see `parse_impairments`):

* loss: random rate (``loss``), bursts by a two-state Gilbert-Elliott chain (``burst=p/r``:
  p = P(good -> bad), r = P(bad -> good), every packet lost in the bad state), one long outage
  (``outage=START+LENGTH`` seconds). Network loss: the sender counted the packet, so the
  sequence numbers have holes (RFC 3550 §5.1 "increments by one for each RTP data packet sent").
* reorder (``reorder=DEPTH``: a packet is delayed past the next DEPTH packets, rate
  ``reorder_rate``), duplication (``dup=RATE``), jitter (``jitter=MS``: uniform extra delay),
  late packets (``late=RATE``, delayed ``late_ms``, default 1500 ms: beyond any sensible jitter
  window), sender clock drift (``drift=PPM``: slot n leaves at ``n*ptime*(1+ppm/1e6)`` while the
  RTP timestamp advances nominally, RFC 3550 §5.1 sampling clock vs wall clock).
* sequence / timestamp jumps (``seqjump=AT+DELTA``, ``tsjump=AT+DELTA``), a talk-spurt marker
  after every gap the sender makes (RFC 3551 §4.1), an SSRC change (``ssrc=AT``: new SSRC, new
  random sequence and timestamp base, RFC 3550 §8.2 "a new SSRC ... as if it were a new source").
* DTX (``dtx=START+LENGTH``): no audio for that span; comfort noise (RFC 3389, static PT 13,
  RFC 3551 §6) opens the silence and is refreshed every ``cn_interval_ms``; the next audio
  packet carries the marker.
* DTMF (``dtmf=START+LENGTH+DIGIT``): RFC 4733 telephone-event packets (PT from the SDP offer)
  replace the audio for the event's span, one per ptime, all with the event's start timestamp
  (§2.3.5 "the RTP timestamp ... the start of the event") and a growing duration; the end packet
  (E bit) is sent three times (§2.5.1.4 "the final packet ... SHOULD be retransmitted ... three").
* ptime (``ptime=MS``, applied by the caller to the source and the offer), RTP padding
  (``pad``), a header extension (``ext``, RFC 3550 §5.3.1) and CSRCs (``csrc=N``).

Random impairments act from ``start_s`` (default 0.5 s) on, so every recording starts with
clean audio the judge can align on.
"""

from __future__ import annotations

import enum
import heapq
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Final

from harness.media.rtp_source import RtpStreamSource
from harness.protocol.rtp.packet import RtpPacket
from harness.protocol.rtp.seqnum import SEQ_MOD, TS_MOD

__all__ = ["COMFORT_NOISE_PT", "Impairments", "WireKind", "WirePacket", "impair", "parse_impairments"]

# RFC 3551 §6 table 4: CN, static payload type 13, clock 8000.
COMFORT_NOISE_PT: Final = 13
# RFC 3389 §3: noise level in -dBov; 64 is a quiet office.
_CN_LEVEL: Final = 64
# A made-up but valid one-word header extension profile (RFC 3550 §5.3.1 leaves it to profiles).
_EXT_PROFILE: Final = 0xBEDE
_DUP_GAP_S: Final = 0.0005  # a duplicate follows its original by half a millisecond
_TIE_S: Final = 1e-6


class WireKind(enum.Enum):
    MEDIA = "media"
    DUPLICATE = "duplicate"  # a second copy of a media packet
    COMFORT_NOISE = "cn"
    DTMF = "dtmf"


@dataclass(frozen=True, slots=True)
class WirePacket:
    """One datagram to send: `send_offset` seconds after the stream start."""

    send_offset: float
    data: bytes
    kind: WireKind
    slot: int  # the time-code slot it carries (media) or stands for (CN, DTMF)
    late: bool = False  # held back by the `late` knob: beyond any jitter window


@dataclass(frozen=True, slots=True)
class Impairments:
    """One stream's impairments (all off by default). Times in seconds from the stream start."""

    seed: int = 0
    start_s: float = 0.5
    loss: float = 0.0
    burst: tuple[float, float] | None = None
    outage: tuple[float, float] | None = None
    reorder: int = 0
    reorder_rate: float = 0.1
    dup: float = 0.0
    jitter_ms: float = 0.0
    late: float = 0.0
    late_ms: float = 1500.0
    drift_ppm: float = 0.0
    seqjump: tuple[float, int] | None = None
    tsjump: tuple[float, int] | None = None
    ssrc: float | None = None
    dtx: tuple[float, float] | None = None
    cn_interval_ms: float = 100.0
    dtmf: tuple[float, float, int] | None = None
    dtmf_pt: int = 101
    ptime: int | None = None
    pad: bool = False
    ext: bool = False
    csrc: int = 0

    def __post_init__(self) -> None:
        for name in ("loss", "reorder_rate", "dup", "late"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is a rate in 0..1, got {value}")
        if self.burst is not None and not all(0.0 <= p <= 1.0 for p in self.burst):
            raise ValueError(f"burst=p/r are probabilities, got {self.burst}")
        if self.reorder < 0 or self.csrc < 0 or self.csrc > 15:
            raise ValueError("reorder depth must be >= 0 and csrc 0..15 (RFC 3550 §5.1: CC is 4 bits)")
        if self.jitter_ms < 0 or self.late_ms < 0 or self.cn_interval_ms <= 0:
            raise ValueError("jitter_ms and late_ms must be >= 0, cn_interval_ms > 0")
        if not 96 <= self.dtmf_pt <= 127:
            raise ValueError(f"telephone-event takes a dynamic payload type (RFC 4733 §7.1), got {self.dtmf_pt}")
        if self.dtmf is not None and not 0 <= self.dtmf[2] <= 15:
            raise ValueError(f"DTMF event must be 0..15 (RFC 4733 §3.2), got {self.dtmf[2]}")
        if self.ptime is not None and self.ptime not in (10, 20, 30, 40, 60):
            raise ValueError(f"ptime must be 10, 20, 30, 40 or 60 ms, got {self.ptime}")

    @property
    def active(self) -> bool:
        """Does this spec change anything on the wire (besides the ptime)?"""
        return replace(self, seed=0, ptime=None, dtmf_pt=101) != Impairments()

    def describe(self) -> str:
        """The text form (what `parse_impairments` reads back), seed included."""
        default = Impairments()
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "seed" and value == getattr(default, f.name):
                continue
            parts.append(_format(f.name, value))
        return ",".join(parts)


_ALIASES: Final = {"jitter": "jitter_ms", "drift": "drift_ppm", "late_ms": "late_ms"}
_PAIRS: Final = {"burst": "/", "outage": "+", "seqjump": "+", "tsjump": "+", "dtx": "+"}


def _format(name: str, value: object) -> str:
    key = {v: k for k, v in _ALIASES.items()}.get(name, name)
    if isinstance(value, bool):
        return key
    if isinstance(value, tuple):
        return f"{key}=" + ("/" if name == "burst" else "+").join(f"{v:g}" if isinstance(v, float) else str(v)
                                                               for v in value)
    return f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"


def parse_impairments(text: str, *, seed: int | None = None) -> Impairments:
    """``loss=0.05,burst=0.05/0.5,outage=1+0.4,reorder=3,dup=0.1,jitter=30,late=0.02,drift=100,
    seqjump=1+1000,tsjump=1+80000,ssrc=1.2,dtx=1+0.6,dtmf=1+0.2+5,ptime=30,pad,ext,csrc=2,seed=7``;
    ``-`` or empty: none. `seed` (when given) overrides the text's."""
    values: dict[str, object] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item or item == "-":
            continue
        key, sep, raw = item.partition("=")
        name = _ALIASES.get(key.strip(), key.strip())
        known = {f.name: f for f in fields(Impairments)}
        if name not in known:
            raise ValueError(f"unknown impairment {key!r} (one of {', '.join(sorted(known))})")
        if not sep:
            if name not in ("pad", "ext"):
                raise ValueError(f"impairment {key!r} needs a value ({key}=...)")
            values[name] = True
            continue
        try:
            values[name] = _value(name, raw.strip())
        except ValueError:
            raise ValueError(f"bad value for impairment {key!r}: {raw!r}") from None
    if seed is not None:
        values["seed"] = seed
    return Impairments(**values)  # type: ignore[arg-type]


def _value(name: str, raw: str) -> object:
    if name in ("pad", "ext"):
        return raw.lower() in ("1", "true", "yes", "on")
    if name in ("seed", "reorder", "csrc", "dtmf_pt", "ptime"):
        return int(raw)
    if name == "burst":
        p, r = raw.split("/")
        return float(p), float(r)
    if name in ("outage", "dtx"):
        a, b = raw.split("+")
        return float(a), float(b)
    if name in ("seqjump", "tsjump"):
        a, b = raw.split("+")
        return float(a), int(b)
    if name == "dtmf":
        a, b, c = raw.split("+")
        return float(a), float(b), int(c)
    return float(raw)


def _within(t: float, span: tuple[float, float] | None) -> bool:
    return span is not None and span[0] <= t < span[0] + span[1]


@dataclass(slots=True)
class _Header:
    """The sender's header state: what the next packet it sends carries."""

    ssrc: int
    seq: int
    ts_base: int  # RTP timestamp of slot 0 in the current timestamp space


def impair(source: RtpStreamSource, spec: Impairments, *, max_slots: int = 50 * 3600) -> Iterator[WirePacket]:
    """The stream's packets as `spec` puts them on the wire, in send order (lazy, bounded look-ahead).

    Delays are never negative, so a packet due at or before slot n's nominal send time can be
    released as soon as slot n is reached: the output is sorted by `send_offset`.
    """
    rng = random.Random(spec.seed)
    spp = source.samples_per_packet
    ptime = spp / 8000.0
    scale = 1.0 + spec.drift_ppm / 1e6
    header = _Header(source.ssrc, source.initial_seq, source.initial_timestamp)
    csrcs = tuple(rng.getrandbits(32) for _ in range(spec.csrc))
    pending: list[tuple[float, int, WirePacket]] = []
    order = 0
    bad = False  # Gilbert-Elliott state
    after_gap = True
    cn_next = 0.0
    ssrc_done = seq_done = ts_done = False
    dtmf_sent = False

    def build(marker: bool, pt: int, ts: int, payload: bytes) -> bytes:
        # The one RTP header codec (harness.protocol.rtp.packet): headers vary per packet here
        # (PT 13 / 101, SSRC change, CSRCs, extension, padding), unlike the fixed template.
        seq = header.seq
        header.seq = (header.seq + 1) % SEQ_MOD
        return RtpPacket(marker=marker, payload_type=pt, sequence=seq, timestamp=ts % TS_MOD, ssrc=header.ssrc,
                         csrcs=csrcs, extension=spec.ext, extension_profile=_EXT_PROFILE if spec.ext else None,
                         extension_data=b"\x10\xaa\x00\x00" if spec.ext else b"", payload=payload,
                         padding=spec.pad, padding_length=4 if spec.pad else 0).to_bytes()

    def push(at: float, packet: WirePacket) -> None:
        nonlocal order
        heapq.heappush(pending, (at, order, packet))
        order += 1

    def release(until: float) -> Iterator[WirePacket]:
        while pending and pending[0][0] <= until:
            yield heapq.heappop(pending)[2]

    for n in range(max_slots):
        t = n * ptime  # nominal (sampling clock) time of the slot
        at = t * scale  # when the drifting sender clock lets it go
        yield from release(at)
        impaired = t >= spec.start_s
        # -- what the sender does (its own choices: new source, jumps, DTX, DTMF) -------------
        if spec.ssrc is not None and not ssrc_done and t >= spec.ssrc:
            ssrc_done = True
            header.ssrc = rng.getrandbits(32)
            header.seq = rng.getrandbits(16)
            header.ts_base = (rng.getrandbits(32) - n * spp) % TS_MOD
            after_gap = True
        if spec.seqjump is not None and not seq_done and t >= spec.seqjump[0]:
            seq_done = True
            header.seq = (header.seq + spec.seqjump[1]) % SEQ_MOD
        if spec.tsjump is not None and not ts_done and t >= spec.tsjump[0]:
            ts_done = True
            header.ts_base = (header.ts_base + spec.tsjump[1]) % TS_MOD
            after_gap = True
        ts = header.ts_base + n * spp
        if _within(t, spec.dtx):
            if t >= cn_next - 1e-9:  # float slot times: 1.1 + 0.1 > 1.2
                data = build(False, COMFORT_NOISE_PT, ts, bytes([_CN_LEVEL]))
                push(at, WirePacket(at, data, WireKind.COMFORT_NOISE, n))
                cn_next = t + spec.cn_interval_ms / 1000.0
            after_gap = True
            continue
        if spec.dtmf is not None and _within(t, (spec.dtmf[0], spec.dtmf[1])):
            if not dtmf_sent:
                dtmf_sent = True
                for packet in _dtmf_packets(spec, source, n, header.ts_base, ptime, build):
                    push(packet.send_offset * scale, replace(packet, send_offset=packet.send_offset * scale))
            after_gap = True
            continue
        # -- media, then what the network does to it ------------------------------------------
        data = build(after_gap, source.payload_type, ts, source.payload(n))
        after_gap = False
        lost = False
        if impaired:
            if spec.burst is not None:
                bad = (rng.random() >= spec.burst[1]) if bad else (rng.random() < spec.burst[0])
                lost = bad
            if spec.loss and rng.random() < spec.loss:
                lost = True
        if _within(t, spec.outage):
            lost = True
        if lost:
            continue
        delay, late = 0.0, False
        if impaired:
            if spec.jitter_ms:
                delay += rng.uniform(0.0, spec.jitter_ms / 1000.0)
            if spec.reorder and rng.random() < spec.reorder_rate:
                delay += spec.reorder * ptime + 0.001
            if spec.late and rng.random() < spec.late:
                delay += spec.late_ms / 1000.0
                late = True
        push(at + delay, WirePacket(at + delay, data, WireKind.MEDIA, n, late))
        if impaired and spec.dup and rng.random() < spec.dup:
            push(at + delay + _DUP_GAP_S, WirePacket(at + delay + _DUP_GAP_S, data, WireKind.DUPLICATE, n, late))
    yield from release(math.inf)


def _dtmf_packets(spec: Impairments, source: RtpStreamSource, first_slot: int, ts_base: int, ptime: float,
                  build: Callable[[bool, int, int, bytes], bytes]) -> list[WirePacket]:
    """RFC 4733 §2.5: one packet per ptime for the event, all with its start timestamp, the
    duration (in timestamp units) growing; the end packet three times (§2.5.1.4)."""
    assert spec.dtmf is not None
    spp = source.samples_per_packet
    start_ts = ts_base + first_slot * spp
    count = max(1, round(spec.dtmf[1] / ptime))
    out = []
    for k in range(count):
        end = k == count - 1
        duration = min((k + 1) * spp, 0xFFFF)
        # §2.3: event, E|R|volume (volume 10 = -10 dBm0), 16-bit duration.
        payload = bytes([spec.dtmf[2], (0x80 if end else 0) | 10]) + duration.to_bytes(2, "big")
        at = (first_slot + k) * ptime
        for copy in range(3 if end else 1):
            data = build(k == 0, spec.dtmf_pt, start_ts, payload)
            out.append(WirePacket(at + copy * _TIE_S * 100, data, WireKind.DTMF, first_slot + k))
    return out
