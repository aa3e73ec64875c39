"""RTP receive statistics: RFC 3550 A.1 (sequence validation), A.3 (loss), A.8 (jitter), and
Wireshark's "RTP Stream Analysis" numbers with Wireshark's names and definitions.

The arrival time of each packet is an *argument* (seconds, any epoch), so the very same code
measures live traffic and packets read from a pcap (docs/architecture.md §5). Nothing here reads a clock.

Two families of numbers, kept apart on purpose:

* RFC 3550 (what a receiver puts in an RTCP RR): `init_seq/update_seq` with MAX_DROPOUT 3000,
  MAX_MISORDER 100, MIN_SEQUENTIAL 2 and probation; cumulative lost = expected - received;
  interarrival jitter J += (|D| - J)/16 in timestamp units.
* Wireshark 4.0 (`ui/tap-rtp-analysis.c: rtppacket_analyse`, `ui/tap-rtp-common.c:
  rtpstream_info_calculate`, printed by `tshark -q -z rtp,streams`): packets, expected, lost,
  sequence errors, min/mean/max delta, min/mean/max jitter (ms), max skew, "Problems?". These
  are what lab engineers compare against, so they follow Wireshark 4.0 *including its quirks*
  (quoted next to each rule below), and are checked against tshark 4.0.17 in an integration
  test. Later Wireshark versions (4.2+) changed some definitions (extended sequence numbers,
  max instead of last sequence number for "expected").

Wireshark keys a stream by addresses, ports *and* SSRC. Callers here demultiplex by transport
address; an SSRC change on the same address (transfer, ARE-06/ARE-18) closes the current
per-SSRC segment and starts a new one; the summary aggregates the segments and counts changes.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields
from typing import Final

import numpy as np
import numpy.typing as npt

from harness.protocol.rtp.seqnum import (
    SEQ_MOD,
    TS_HALF,
    TS_MOD,
    seq_add,
    seq_forward,
    seq_forward_array,
    ts_distance_array,
    ts_forward,
    ts_forward_array,
    ts_unwrap,
)

__all__ = [
    "MAX_DROPOUT",
    "MAX_MISORDER",
    "MIN_SEQUENTIAL",
    "WIRESHARK_CLOCK_RATES",
    "ReceptionReport",
    "RtpStreamStats",
    "RtpStreamSummary",
]

# RFC 3550 A.1 constants.
MAX_DROPOUT: Final = 3000
MAX_MISORDER: Final = 100
MIN_SEQUENTIAL: Final = 2

# Wireshark `clock_map[]` (tap-rtp-analysis.c): clock rates of static payload types. A PT
# missing here has clock 0 and gets no jitter/skew ("Ignore jitter calculation for clockrate = 0").
WIRESHARK_CLOCK_RATES: Final[Mapping[int, int]] = {
    0: 8000, 1: 8000, 2: 8000, 3: 8000, 4: 8000, 5: 8000, 6: 16000, 7: 8000, 8: 8000,
    9: 8000, 10: 44100, 11: 44100, 12: 8000, 13: 8000, 14: 90000, 15: 8000, 16: 11025,
    17: 22050, 18: 8000, 19: 8000, 25: 90000, 26: 90000, 28: 90000, 31: 90000, 32: 90000,
    33: 90000, 34: 90000,
}  # fmt: skip
_PT_CN: Final = 13
_PT_CN_OLD: Final = 19

# Wireshark STAT_FLAG_* bits (tap-rtp-analysis.h), only those the numbers depend on.
_F_FIRST: Final = 0x001
_F_MARKER: Final = 0x002
_F_WRONG_SEQ: Final = 0x004
_F_PT_CN: Final = 0x010
_F_FOLLOW_PT_CN: Final = 0x020
_F_WRONG_TIMESTAMP: Final = 0x080
_IRREGULAR: Final = _F_FIRST | _F_MARKER | _F_PT_CN | _F_WRONG_TIMESTAMP | _F_FOLLOW_PT_CN

_RUN_WINDOW: Final = 8192  # packets examined at once by `update_batch` (bounds the temporaries)
_MAX_BACKOFF: Final = 64  # packets taken one by one after a batch step found none it could take

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# The jitter estimates are the first-order recurrence y[n] = 15/16 y[n-1] + x[n] (RFC 3550 A.8,
# Wireshark's (15 * jitter + diff) / 16). Solved in closed form a block at a time:
# y[n] = a^n (y[0] + sum_k a^-k x[k]); every term is >= 0, so the cumulative sum keeps full
# relative precision (about 1e-14 for a block of 256, where a^-256 is 1.5e7).
_DECAY: Final = 15.0 / 16.0
_BLOCK: Final = 256
_POWERS: Final = _DECAY ** np.arange(1, _BLOCK + 1)
_INVERSE_POWERS: Final = 1.0 / _POWERS


def _first_order(y0: float, x: FloatArray) -> FloatArray:
    """y[n] = 15/16 y[n-1] + x[n] for every n, from y[-1] = y0 (inputs >= 0)."""
    out = np.empty_like(x)
    y = y0
    for start in range(0, len(x), _BLOCK):
        block = x[start:start + _BLOCK]
        m = len(block)
        values = _POWERS[:m] * (y + np.cumsum(block * _INVERSE_POWERS[:m]))
        out[start:start + m] = values
        y = float(values[-1])
    return out


def _running_mean(mean: float, values: FloatArray, totals: IntArray) -> float:
    """Wireshark's mean = (mean * (total - 1) + value) / total over `values` (taken at packet
    counts `totals`), in closed form: with P = mean * total, P[j] = P[j-1] (t[j] - 1) / t[j-1]
    + v[j] (the factor is 1 between consecutive packets)."""
    factors = np.ones(len(values))
    factors[1:] = (totals[1:] - 1) / totals[:-1]
    cumulative = np.cumprod(factors)
    scaled = cumulative[-1] * (mean * (totals[0] - 1) + float(np.sum(values / cumulative)))
    return float(scaled / totals[-1])


@dataclass(frozen=True, slots=True)
class ReceptionReport:
    """One RTCP report block's worth of numbers (RFC 3550 §6.4.1, computed as in A.3)."""

    ssrc: int
    fraction_lost: int  # 8-bit fixed point, lost/expected in the interval since the last report
    cumulative_lost: int  # clamped to the 24-bit signed field
    extended_highest_seq: int
    jitter: int  # timestamp units


@dataclass(frozen=True, slots=True)
class RtpStreamSummary:
    """Snapshot of one stream. `*_ms` Wireshark values are None where Wireshark shows -1 / nothing."""

    ssrc: int | None
    ssrcs: tuple[int, ...]
    ssrc_changes: int
    # Wireshark "RTP Streams" columns (tshark -z rtp,streams) ---------------------------------
    packets: int
    expected: int
    lost: int
    lost_percent: float
    sequence_errors: int
    min_delta_ms: float | None
    mean_delta_ms: float
    max_delta_ms: float
    min_jitter_ms: float | None
    mean_jitter_ms: float
    max_jitter_ms: float
    max_skew_ms: float
    problem: bool
    duration_s: float
    first_arrival: float | None
    last_arrival: float | None
    first_seq: int | None
    last_seq: int | None
    payload_types: tuple[int, ...]
    marker_count: int
    # RFC 3550 A.1 / A.8 (current SSRC only: that is what an RR reports) ------------------------
    clock_rate: int
    rfc3550_valid: bool
    rfc3550_received: int
    rfc3550_expected: int
    rfc3550_lost: int
    rfc3550_extended_max_seq: int | None
    rfc3550_jitter: float  # timestamp units
    rfc3550_jitter_ms: float

    def to_json(self) -> str:
        """Stable JSON (sorted keys); tuples become lists."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_dict(self) -> dict[str, object]:
        """`json.loads(self.to_json())` without the round trip (keys sorted, tuples as lists): a
        recorder checkpoints one per stream five times a second, and `asdict` + JSON cost
        ~60 % of the reference recorder's CPU at 200 streams (cProfile, bench_recorder_ingest)."""
        return {name: list(value) if isinstance(value := getattr(self, name), tuple) else value
                for name in _SUMMARY_FIELDS}


_SUMMARY_FIELDS: Final = tuple(sorted(f.name for f in fields(RtpStreamSummary)))


class _Rfc3550Source:
    """RFC 3550 Appendix A.1 `source` state plus A.8 jitter, for one SSRC."""

    __slots__ = (
        "bad_seq", "base_seq", "cycles", "expected_prior", "jitter", "max_seq", "probation",
        "received", "received_prior", "transit", "ts_highest", "valid",
    )  # fmt: skip

    def __init__(self, seq: int) -> None:
        # A.1: "init_seq(s, seq); s->max_seq = seq - 1; s->probation = MIN_SEQUENTIAL;"
        # Highest extended RTP timestamp seen (the `ExtendedTimestamp` rule, kept inline here
        # because `RtpStreamStats.update`'s fast path unwraps without a method call).
        self.ts_highest: int | None = None
        self.transit: float | None = None
        self.jitter = 0.0
        self.valid = False
        self._init_seq(seq)
        self.max_seq = seq_add(seq, -1)
        self.probation = MIN_SEQUENTIAL

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = SEQ_MOD + 1  # "so seq == bad_seq is false"
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update_seq(self, seq: int) -> bool:
        """RFC 3550 A.1 `update_seq`, line for line; True when the packet counts as received."""
        udelta = seq_forward(self.max_seq, seq)
        if self.probation:
            # "Source is not valid until MIN_SEQUENTIAL packets with sequential sequence
            # numbers have been received."
            if seq == seq_add(self.max_seq, 1):
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    self.valid = True
                    return True
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            # "in order, with permissible gap"
            if seq < self.max_seq:
                # "Sequence number wrapped - count another 64K cycle."
                self.cycles += SEQ_MOD
            self.max_seq = seq
        elif udelta <= SEQ_MOD - MAX_MISORDER:
            # "the sequence number made a very large jump"
            if seq == self.bad_seq:
                # "Two sequential packets -- assume that the other side restarted without
                # telling us so just re-sync (i.e., pretend this was the first packet)."
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) & (SEQ_MOD - 1)
                return False
        # else: "duplicate or reordered packet" -- counted as received
        self.received += 1
        return True

    def update_jitter(self, timestamp: int, arrival: float, clock_rate: int) -> None:
        """RFC 3550 A.8: transit = arrival - ts (timestamp units); J += (|D| - J) / 16.

        The first packet only seeds `transit` (A.8 starts from an unset transit time)."""
        highest = self.ts_highest
        if highest is None:
            extended = self.ts_highest = timestamp
        else:
            # Serial arithmetic (seqnum.ExtendedTimestamp): nearest position to the highest.
            extended = ts_unwrap(highest, timestamp)
            if extended > highest:
                self.ts_highest = extended
        transit = arrival * clock_rate - extended
        if self.transit is not None:
            d = abs(transit - self.transit)
            self.jitter += (d - self.jitter) / 16.0
        self.transit = transit

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        # A.3: "expected = s->cycles + s->max_seq - s->base_seq + 1"
        return self.extended_max - self.base_seq + 1 if self.valid else 0


class _WiresharkSegment:
    """Wireshark 4.0 `tap_rtp_stat_t` + `rtppacket_analyse()` for one SSRC (times in ms)."""

    __slots__ = (
        "first_timestamp", "jitter", "lastnominaltime", "max_delta", "max_jitter", "max_skew",
        "mean_delta", "mean_jitter", "min_delta", "min_jitter", "problem", "pt", "seq_cycles",
        "seq_num", "sequence", "start_seq_nr", "start_time", "stop_seq_nr", "time", "delta",
        "total_nr", "under",
    )  # fmt: skip

    def __init__(self, seq: int, timestamp: int, now_ms: float, pt: int) -> None:
        # First packet: "statinfo->start_seq_nr = ...; stop_seq_nr = ...; seq_num = ...;
        # first_timestamp = ...; time = current_time; min_delta = -1; min_jitter = -1; ..."
        self.start_seq_nr = seq
        self.stop_seq_nr = seq
        self.seq_num = seq
        self.start_time = now_ms
        self.first_timestamp = timestamp
        self.time = now_ms
        self.lastnominaltime = 0.0
        self.pt = pt
        self.delta = 0.0
        self.max_delta = 0.0
        self.min_delta = -1.0
        self.mean_delta = 0.0
        self.jitter = 0.0
        self.min_jitter = -1.0
        self.max_jitter = 0.0
        self.mean_jitter = 0.0
        self.max_skew = 0.0
        self.seq_cycles = 0
        self.under = False
        self.sequence = 0
        self.problem = False
        self.total_nr = 1

    def analyse(self, seq: int, ts: int, now_ms: float, pt: int, marker: bool, clock_rate: int) -> None:
        flags = 0
        # "Check if time sequence of packets is in order. We check whether timestamp difference
        # is below 1/2 of timestamp range" -- relative to the FIRST packet's timestamp (4.0).
        first = self.first_timestamp
        # (For first > ts, Wireshark's (0xFFFFFFFF - first) + ts is the forward distance - 1.)
        forward = ts_forward(first, ts)
        if (first <= ts and forward < TS_HALF) or (first > ts and forward - 1 < TS_HALF):
            in_time_sequence = True
        else:
            in_time_sequence = False
            flags |= _F_WRONG_TIMESTAMP

        # "if the current sequence number is less than the start one we assume, that there is
        # another cycle running" / "what if the start seq nr was 0?" / "the whole round is over".
        # (Branches kept separate, as in Wireshark, so they can be compared line by line.)
        if seq < self.start_seq_nr and in_time_sequence and not self.under:  # noqa: SIM114
            self.seq_cycles += 1
            self.under = True
        elif seq == 0 and self.stop_seq_nr == 65535 and in_time_sequence and not self.under:
            self.seq_cycles += 1
            self.under = True
        elif seq > self.start_seq_nr and in_time_sequence and self.under:
            self.under = False

        # Sequence errors: "we would like to know at least how many times the sequence number
        # was not ok". seq_num is a guint16 in C: seq_num+1 is int arithmetic (65535+1 = 65536),
        # seq_num - seq is int too (can be negative).
        if in_time_sequence and self.seq_num + 1 == seq:  # noqa: SIM114
            self.seq_num = seq
        elif in_time_sequence and self.seq_num == 65535 and seq == 0:  # "we wrap"
            self.seq_num = seq
        elif in_time_sequence and (self.seq_num + 1 < seq or self.seq_num - seq > 0xFF00):
            # "Lost packets. If the prev seq is enormously larger than the cur seq we assume
            # that instead of being massively late we lost the packet(s) [...] wrapping."
            self.seq_num = seq
            self.sequence += 1
            flags |= _F_WRONG_SEQ
        elif self.seq_num + 1 > seq:  # "Late or duplicated"
            self.sequence += 1
            flags |= _F_WRONG_SEQ

        if pt in (_PT_CN, _PT_CN_OLD):
            flags |= _F_PT_CN
        if self.pt in (_PT_CN, _PT_CN_OLD):
            flags |= _F_FOLLOW_PT_CN
        self.pt = pt

        current_jitter = 0.0
        # "diff/jitter/skew calculations are done just for in sequence packets"
        if in_time_sequence:
            arrivaltime = now_ms - self.start_time
            nominal_ticks = forward  # guint32_wraparound_diff(ts, first_timestamp)
            if clock_rate != 0:
                # "Convert from sampling clock to ms": nominaltime / (clock_rate/1000) -- an
                # INTEGER division of the guint32 clock rate (44100 -> 44), kept as in Wireshark.
                nominaltime = nominal_ticks / (clock_rate // 1000)
                # "expected_time = statinfo->time + (nominaltime - statinfo->lastnominaltime);
                #  current_diff = fabs(current_time - expected_time);
                #  current_jitter = (15 * statinfo->jitter + current_diff) / 16;"
                expected_time = self.time + (nominaltime - self.lastnominaltime)
                current_diff = abs(now_ms - expected_time)
                current_jitter = (15.0 * self.jitter + current_diff) / 16.0
                self.delta = now_ms - self.time
                self.jitter = current_jitter
                self.lastnominaltime = nominaltime
                # "Skew is positive if TS (nominal) is too fast"
                skew = nominaltime - arrivaltime
                if abs(skew) > abs(self.max_skew):
                    self.max_skew = skew
            else:
                self.delta = now_ms - self.time

        if marker:
            flags |= _F_MARKER

        # "Is it a regular packet?" -- not first, no marker, not CN, not after CN, timestamp in
        # sequence. Only regular packets feed min/mean/max delta and jitter.
        if not flags & _IRREGULAR:
            if self.delta > self.max_delta:
                self.max_delta = self.delta
            if self.min_delta == -1 or self.delta < self.min_delta:
                self.min_delta = self.delta
            # "when we divide by total_nr here, we're not dividing by the number of packets,
            # but by the number of deltas" (total_nr not yet incremented for this packet).
            self.mean_delta = (self.mean_delta * (self.total_nr - 1) + self.delta) / self.total_nr
            if clock_rate != 0:
                if self.jitter > self.max_jitter:
                    self.max_jitter = self.jitter
                self.mean_jitter = (self.mean_jitter * (self.total_nr - 1) + current_jitter) / self.total_nr
                if self.min_jitter == -1 or self.jitter < self.min_jitter:
                    self.min_jitter = self.jitter

        # tap-rtp-common.c: "if (flags & STAT_FLAG_WRONG_TIMESTAMP || flags & STAT_FLAG_WRONG_SEQ)
        # stream_info->problem = TRUE" -- the "Problems?" X column.
        if flags & (_F_WRONG_TIMESTAMP | _F_WRONG_SEQ):
            self.problem = True
        # "We remember last time just for in_time sequence packets"
        if in_time_sequence:
            self.time = now_ms
        # stop_seq_nr is the LAST packet's sequence number, not the highest (Wireshark 4.0).
        self.stop_seq_nr = seq
        self.total_nr += 1

    @property
    def expected(self) -> int:
        # rtpstream_info_calculate: "packet_expected = (stop_seq_nr + seq_cycles*0x10000)
        # - start_seq_nr + 1"; "lost_num = packet_expected - total_nr" (may be negative).
        return self.stop_seq_nr + self.seq_cycles * 0x10000 - self.start_seq_nr + 1


class RtpStreamStats:
    """Receive statistics of one RTP stream (one transport address); feed it every packet.

    `clock_rate` is the negotiated RTP clock (SDP rtpmap). It is the unit of the RFC 3550
    jitter and Wireshark's clock for dynamic payload types (as when Wireshark saw the SDP).
    Static payload types use Wireshark's table; `telephone_event_pts` get clock 0, as Wireshark
    does for "telephone-event" ("Timestamp is not increased for telephone-event packets").
    `dynamic_clock_rates` overrides the clock per dynamic PT.
    """

    __slots__ = (
        "_closed", "_dynamic", "_fast_div", "_fast_pt", "_first_arrival", "_last_arrival", "_last_seq",
        "_marker_count", "_origin", "_payload_types", "_rfc", "_seg", "_ssrc", "_ssrcs", "_te", "clock_rate",
    )  # fmt: skip

    def __init__(
        self,
        clock_rate: int = 8000,
        *,
        telephone_event_pts: Collection[int] = (),
        dynamic_clock_rates: Mapping[int, int] | None = None,
    ) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock_rate must be positive, got {clock_rate}")
        self.clock_rate = clock_rate
        self._te = frozenset(telephone_event_pts)
        self._dynamic = dict(dynamic_clock_rates or {})
        self._closed: list[_WiresharkSegment] = []
        self._seg: _WiresharkSegment | None = None
        self._rfc: _Rfc3550Source | None = None
        self._ssrc: int | None = None
        self._ssrcs: list[int] = []
        self._origin: float | None = None
        self._first_arrival: float | None = None
        self._last_arrival: float | None = None
        self._last_seq: int | None = None
        self._payload_types: dict[int, None] = {}
        self._marker_count = 0
        # Fast path (see `update`): the payload type of the previous packet when a packet of that
        # type can take it (not CN, not telephone-event, Wireshark clock >= 1 kHz), else -1;
        # and that clock in Wireshark's integer kHz.
        self._fast_pt = -1
        self._fast_div = 0

    def _wireshark_clock(self, pt: int) -> int:
        if pt < 96:
            return WIRESHARK_CLOCK_RATES.get(pt, 0)
        if pt in self._te:
            return 0
        return self._dynamic.get(pt, self.clock_rate)

    def update(
        self,
        sequence: int,
        timestamp: int,
        arrival_time: float,
        payload_type: int,
        marker: bool,
        ssrc: int,
    ) -> None:
        """Account one packet. `arrival_time` is its capture/receive time in seconds."""
        if not 0 <= sequence < SEQ_MOD or not 0 <= timestamp < TS_MOD:
            raise ValueError(f"sequence {sequence} / timestamp {timestamp} out of range")
        seg = self._seg
        rfc = self._rfc
        # Fast path: the packet every healthy stream is made of -- same SSRC, same (non-CN,
        # non-event) payload type as the previous packet, no marker, the next sequence number
        # for Wireshark, in time sequence, and an RFC 3550 source out of probation with the
        # packet "in order, with permissible gap". That is exactly the case where every flag of
        # `_WiresharkSegment.analyse` stays 0 and `_Rfc3550Source.update_seq` takes its first
        # branch, so the same arithmetic, in the same order, is done here inline (this runs once
        # per packet of multi-gigabyte captures). Any other packet takes the general path below,
        # which is the line-by-line transcription; nothing is changed before the checks pass.
        if (
            seg is not None
            and rfc is not None
            and ssrc == self._ssrc
            and not marker
            and payload_type == self._fast_pt
            and sequence == seg.seq_num + 1
            and rfc.probation == 0
            and rfc.transit is not None
            and rfc.ts_highest is not None
        ):
            first = seg.first_timestamp
            nominal_ticks = ts_forward(first, timestamp)
            udelta = seq_forward(rfc.max_seq, sequence)
            origin = self._origin
            if nominal_ticks < TS_HALF and udelta < MAX_DROPOUT and origin is not None:
                self._last_arrival = arrival_time
                self._last_seq = sequence
                now_ms = (arrival_time - origin) * 1000.0
                # Wireshark "another cycle" bookkeeping (sequence != 0 here, in time sequence).
                if sequence < seg.start_seq_nr:
                    if not seg.under:
                        seg.seq_cycles += 1
                        seg.under = True
                elif sequence > seg.start_seq_nr and seg.under:
                    seg.under = False
                seg.seq_num = sequence
                nominaltime = nominal_ticks / self._fast_div
                last_time = seg.time
                expected_time = last_time + (nominaltime - seg.lastnominaltime)
                current_diff = abs(now_ms - expected_time)
                current_jitter = (15.0 * seg.jitter + current_diff) / 16.0
                delta = now_ms - last_time
                seg.delta = delta
                seg.jitter = current_jitter
                seg.lastnominaltime = nominaltime
                skew = nominaltime - (now_ms - seg.start_time)
                if abs(skew) > abs(seg.max_skew):
                    seg.max_skew = skew
                # A regular packet: min/mean/max delta and jitter.
                if delta > seg.max_delta:
                    seg.max_delta = delta
                if seg.min_delta == -1 or delta < seg.min_delta:
                    seg.min_delta = delta
                total_nr = seg.total_nr
                seg.mean_delta = (seg.mean_delta * (total_nr - 1) + delta) / total_nr
                if current_jitter > seg.max_jitter:
                    seg.max_jitter = current_jitter
                seg.mean_jitter = (seg.mean_jitter * (total_nr - 1) + current_jitter) / total_nr
                if seg.min_jitter == -1 or current_jitter < seg.min_jitter:
                    seg.min_jitter = current_jitter
                seg.time = now_ms
                seg.stop_seq_nr = sequence
                seg.total_nr = total_nr + 1
                # RFC 3550 A.1 update_seq, "in order, with permissible gap".
                if sequence < rfc.max_seq:
                    rfc.cycles += SEQ_MOD
                rfc.max_seq = sequence
                rfc.received += 1
                # RFC 3550 A.8 jitter (see `_Rfc3550Source.update_jitter`).
                highest = rfc.ts_highest
                extended = ts_unwrap(highest, timestamp)
                if extended > highest:
                    rfc.ts_highest = extended
                transit = arrival_time * self.clock_rate - extended
                d = abs(transit - rfc.transit)
                rfc.jitter += (d - rfc.jitter) / 16.0
                rfc.transit = transit
                return
        self._update_general(sequence, timestamp, arrival_time, payload_type, marker, ssrc)

    def update_batch(
        self,
        sequence: IntArray,
        timestamp: IntArray,
        arrival_time: npt.NDArray[np.float64],
        payload_type: IntArray,
        marker: npt.NDArray[np.bool_],
        ssrc: IntArray,
    ) -> None:
        """`update` for many packets (arrays in arrival order): the same numbers, bit for bit.

        Runs of packets that `update`'s fast path would take (same SSRC and regular payload
        type, sequence numbers moving forward by less than MAX_DROPOUT, timestamps not going
        back, in Wireshark's time sequence) are computed with numpy; the RFC 3550 A.8 and
        Wireshark jitter estimates and Wireshark's running means are first-order recurrences,
        evaluated in one tight loop with the very operations `update` does, so the floats are
        identical. Every other packet (first packets, probation, SSRC or payload type change,
        late or duplicate packets, timestamp jumps) goes through `update` itself.
        """
        n = len(sequence)
        if n and (int(sequence.min()) < 0 or int(sequence.max()) >= SEQ_MOD
                  or int(timestamp.min()) < 0 or int(timestamp.max()) >= TS_MOD):
            raise ValueError("sequence / timestamp out of range")
        i = 0
        backoff = 1
        while i < n:
            taken = self._run(sequence, timestamp, arrival_time, payload_type, marker, ssrc, i)
            if taken:
                i += taken
                backoff = 1
                continue
            stop = min(n, i + backoff)
            for j in range(i, stop):
                self.update(int(sequence[j]), int(timestamp[j]), float(arrival_time[j]), int(payload_type[j]),
                            bool(marker[j]), int(ssrc[j]))
            i = stop
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _run(
        self,
        sequence: IntArray,
        timestamp: IntArray,
        arrival_time: npt.NDArray[np.float64],
        payload_type: IntArray,
        marker: npt.NDArray[np.bool_],
        ssrc: IntArray,
        start: int,
    ) -> int:
        """Account the longest run from `start` that `update`'s fast path would take; its length."""
        seg, rfc, origin = self._seg, self._rfc, self._origin
        if (seg is None or rfc is None or origin is None or rfc.probation or rfc.transit is None
                or rfc.ts_highest is None or self._fast_pt < 0):
            return 0
        end = min(len(sequence), start + _RUN_WINDOW)
        seq = sequence[start:end]
        ts = timestamp[start:end]
        # Previous packet's sequence number as Wireshark (seq_num) and RFC 3550 (max_seq) hold
        # it, valid as long as every packet of the run advances both (checked below).
        prev = np.empty_like(seq)
        prev[1:] = seq[:-1]
        prev[0] = seg.seq_num
        nominal_ticks = ts_forward_array(seg.first_timestamp, ts)  # guint32_wraparound_diff
        wrapped = (prev == 65535) & (seq == 0)
        forward = (prev + 1 < seq) | (prev - seq > 0xFF00)  # Wireshark "lost packets" branch
        ok = (ssrc[start:end] == self._ssrc) & (payload_type[start:end] == self._fast_pt)
        ok &= nominal_ticks < TS_HALF  # in time sequence
        ok &= (seq == prev + 1) | wrapped | forward
        rfc_prev = prev.copy()
        rfc_prev[0] = rfc.max_seq
        ok &= seq_forward_array(rfc_prev, seq) < MAX_DROPOUT  # RFC 3550 A.1 "in order, with permissible gap"
        ts_prev = np.empty_like(ts)
        ts_prev[1:] = ts[:-1]
        ts_prev[0] = rfc.ts_highest % TS_MOD
        ts_step = ts_distance_array(ts_prev, ts)
        ok &= ts_step >= 0  # the extended timestamp keeps rising (else the highest stays put)
        k = len(seq) if bool(ok.all()) else int(np.argmin(ok))
        if k == 0:
            return 0
        seq, ts_step, nominal_ticks = seq[:k], ts_step[:k], nominal_ticks[:k]
        arrival = arrival_time[start:start + k]
        mark = marker[start:start + k]
        lost_branch = forward[:k] & ~(seq == prev[:k] + 1) & ~wrapped[:k]

        # Wireshark rtppacket_analyse on the run (see `_WiresharkSegment.analyse`).
        now_ms = (arrival - origin) * 1000.0
        nominaltime = nominal_ticks / self._fast_div
        last_time = np.empty_like(now_ms)
        last_time[1:] = now_ms[:-1]
        last_time[0] = seg.time
        last_nominal = np.empty_like(nominaltime)
        last_nominal[1:] = nominaltime[:-1]
        last_nominal[0] = seg.lastnominaltime
        current_diff = np.abs(now_ms - (last_time + (nominaltime - last_nominal)))
        delta = now_ms - last_time
        skew = nominaltime - (now_ms - seg.start_time)
        worst = int(np.argmax(np.abs(skew)))
        if abs(skew[worst]) > abs(seg.max_skew):
            seg.max_skew = float(skew[worst])
        # "another cycle running": a packet below the start sequence number (or 0 after 65535)
        # sets `under` and counts a cycle if it was clear; one above the start clears it.
        stop_prev = prev[:k].copy()
        stop_prev[0] = seg.stop_seq_nr
        below = (seq < seg.start_seq_nr) | ((seq == 0) & (stop_prev == 65535))
        above = (seq > seg.start_seq_nr) & ~below
        events = np.where(below, 1, np.where(above, -1, 0))
        events = events[events != 0]
        if events.size:
            before = np.empty_like(events)
            before[1:] = events[:-1]
            before[0] = 1 if seg.under else -1
            seg.seq_cycles += int(np.count_nonzero((events == 1) & (before == -1)))
            seg.under = bool(events[-1] == 1)
        regular = ~mark
        if regular.any():
            reg_delta = delta[regular]
            top = float(reg_delta.max())
            if top > seg.max_delta:
                seg.max_delta = top
            low = float(reg_delta.min())
            if seg.min_delta == -1 or low < seg.min_delta:
                seg.min_delta = low
        # Wireshark: jitter = (15 * jitter + diff) / 16 on every packet of the run; min/mean/max
        # jitter and mean delta over the regular ones, the means as Wireshark's running means
        # over total_nr ("the number of deltas").
        jitters = _first_order(seg.jitter, current_diff / 16.0)
        totals = seg.total_nr + np.arange(k)
        if regular.any():
            reg_jitter = jitters[regular]
            reg_totals = totals[regular]
            seg.mean_delta = _running_mean(seg.mean_delta, delta[regular], reg_totals)
            seg.mean_jitter = _running_mean(seg.mean_jitter, reg_jitter, reg_totals)
            top = float(reg_jitter.max())
            if top > seg.max_jitter:
                seg.max_jitter = top
            low = float(reg_jitter.min())
            if seg.min_jitter == -1 or low < seg.min_jitter:
                seg.min_jitter = low
        seg.jitter = float(jitters[-1])
        seg.total_nr += k
        last_seq = int(seq[-1])
        seg.seq_num = seg.stop_seq_nr = last_seq
        seg.time = float(now_ms[-1])
        seg.lastnominaltime = float(nominaltime[-1])
        seg.delta = float(delta[-1])
        errors = int(np.count_nonzero(lost_branch))
        if errors:
            seg.sequence += errors
            seg.problem = True

        # RFC 3550 A.1 update_seq ("in order, with permissible gap") and A.8 jitter.
        rfc_prev = rfc_prev[:k]
        rfc.cycles += SEQ_MOD * int(np.count_nonzero(seq < rfc_prev))
        rfc.max_seq = last_seq
        rfc.received += k
        extended = rfc.ts_highest + np.cumsum(ts_step)
        transit = arrival * self.clock_rate - extended
        prev_transit = np.empty_like(transit)
        prev_transit[1:] = transit[:-1]
        prev_transit[0] = rfc.transit
        # A.8: J += (|D| - J) / 16, i.e. J = 15/16 J + |D|/16.
        rfc.jitter = float(_first_order(rfc.jitter, np.abs(transit - prev_transit) / 16.0)[-1])
        rfc.ts_highest = int(extended[-1])
        rfc.transit = float(transit[-1])

        self._last_arrival = float(arrival[-1])
        self._last_seq = last_seq
        self._marker_count += int(np.count_nonzero(mark))
        return k

    def _update_general(
        self, sequence: int, timestamp: int, arrival_time: float, payload_type: int, marker: bool, ssrc: int
    ) -> None:
        """`update` for any packet: the transcription of Wireshark's and RFC 3550's code."""
        if self._origin is None:
            self._origin = arrival_time
            self._first_arrival = arrival_time
        self._last_arrival = arrival_time
        self._last_seq = sequence
        self._payload_types.setdefault(payload_type, None)
        if marker:
            self._marker_count += 1
        # Relative ms keeps float precision for epoch-based capture times.
        now_ms = (arrival_time - self._origin) * 1000.0

        if ssrc != self._ssrc or self._seg is None or self._rfc is None:
            # New SSRC = new source for RFC 3550 (A.1 probation again) and a new Wireshark
            # stream (Wireshark's stream key includes the SSRC).
            if self._seg is not None:
                self._closed.append(self._seg)
            self._ssrc = ssrc
            self._ssrcs.append(ssrc)
            self._seg = _WiresharkSegment(sequence, timestamp, now_ms, payload_type)
            self._rfc = _Rfc3550Source(sequence)
        else:
            self._seg.analyse(
                sequence, timestamp, now_ms, payload_type, marker, self._wireshark_clock(payload_type)
            )
        if self._rfc.update_seq(sequence) and payload_type not in self._te:
            # RFC 4733 events keep the event's start timestamp: not media timing, skip for A.8.
            self._rfc.update_jitter(timestamp, arrival_time, self.clock_rate)
        clock = self._wireshark_clock(payload_type)
        fast = payload_type not in (_PT_CN, _PT_CN_OLD) and payload_type not in self._te and clock >= 1000
        self._fast_pt = payload_type if fast else -1
        self._fast_div = clock // 1000

    def report_block(self) -> ReceptionReport | None:
        """RFC 3550 A.3 numbers for an RR report block; advances the interval counters."""
        s = self._rfc
        if s is None or self._ssrc is None or not s.valid:
            return None
        expected = s.expected
        lost = expected - s.received
        expected_interval = expected - s.expected_prior
        s.expected_prior = expected
        received_interval = s.received - s.received_prior
        s.received_prior = s.received
        lost_interval = expected_interval - received_interval
        # A.3: "if (expected_interval == 0 || lost_interval <= 0) fraction = 0;
        #       else fraction = (lost_interval << 8) / expected_interval;"
        fraction = (
            0 if expected_interval == 0 or lost_interval <= 0 else (lost_interval << 8) // expected_interval
        )
        return ReceptionReport(
            ssrc=self._ssrc,
            fraction_lost=min(fraction, 255),
            # §6.4.1: cumulative lost is a signed 24-bit field; A.3 clamps it.
            cumulative_lost=max(-0x800000, min(0x7FFFFF, lost)),
            extended_highest_seq=s.extended_max % TS_MOD,  # the 32-bit RR field (§6.4.1)
            jitter=int(s.jitter),
        )

    def snapshot(self) -> RtpStreamSummary:
        """Current numbers; aggregates the per-SSRC segments (sums, max of max, weighted means)."""
        segs = [*self._closed, *([self._seg] if self._seg is not None else [])]
        packets = sum(s.total_nr for s in segs)
        expected = sum(s.expected for s in segs)
        lost = expected - packets
        weights = [s.total_nr - 1 for s in segs]
        total_weight = sum(weights)

        def wmean(values: list[float]) -> float:
            if total_weight == 0:
                return 0.0
            return sum(v * w for v, w in zip(values, weights, strict=True)) / total_weight

        min_deltas = [s.min_delta for s in segs if s.min_delta != -1]
        min_jitters = [s.min_jitter for s in segs if s.min_jitter != -1]
        rfc = self._rfc
        rfc_expected = rfc.expected if rfc else 0
        rfc_received = rfc.received if rfc else 0
        rfc_jitter = rfc.jitter if rfc else 0.0
        return RtpStreamSummary(
            ssrc=self._ssrc,
            ssrcs=tuple(self._ssrcs),
            ssrc_changes=max(0, len(self._ssrcs) - 1),
            packets=packets,
            expected=expected,
            lost=lost,
            # rtpstream_info_calculate: "lost_perc = (double)(lost_num*100)/(double)packet_expected"
            lost_percent=(lost * 100.0 / expected) if expected else 0.0,
            sequence_errors=sum(s.sequence for s in segs),
            min_delta_ms=min(min_deltas) if min_deltas else None,
            mean_delta_ms=wmean([s.mean_delta for s in segs]),
            max_delta_ms=max((s.max_delta for s in segs), default=0.0),
            min_jitter_ms=min(min_jitters) if min_jitters else None,
            mean_jitter_ms=wmean([s.mean_jitter for s in segs]),
            max_jitter_ms=max((s.max_jitter for s in segs), default=0.0),
            max_skew_ms=max((s.max_skew for s in segs), key=abs, default=0.0),
            problem=any(s.problem for s in segs),
            duration_s=(self._last_arrival - self._first_arrival)
            if self._first_arrival is not None and self._last_arrival is not None
            else 0.0,
            first_arrival=self._first_arrival,
            last_arrival=self._last_arrival,
            first_seq=segs[0].start_seq_nr if segs else None,
            last_seq=self._last_seq,
            payload_types=tuple(self._payload_types),
            marker_count=self._marker_count,
            clock_rate=self.clock_rate,
            rfc3550_valid=bool(rfc and rfc.valid),
            rfc3550_received=rfc_received,
            rfc3550_expected=rfc_expected,
            rfc3550_lost=rfc_expected - rfc_received,
            rfc3550_extended_max_seq=rfc.extended_max if rfc and rfc.valid else None,
            rfc3550_jitter=rfc_jitter,
            rfc3550_jitter_ms=rfc_jitter * 1000.0 / self.clock_rate,
        )
