"""Delivery of the replicated RTP: what the Media Server sent vs what reached the recorder's port.

When a capture holds only the replicated legs (Media Server -> recorder), replication fidelity
(`harness.validators.replication`) has no original to compare with. A second capture taken on
the sending side (at the Media Server, or a sender's packet log written as a pcap) gives the
reference instead: `arec validate RECEIVED.pcap --sent SENT.pcap`.

Matching (RFC 3550 §5.1, §8: within one session the SSRC identifies the source, and the
sequence number and timestamp identify a packet of that source):
* streams by (SSRC, destination address); when the destination differs between the two capture
  points (NAT, a port-mapping proxy) a sent stream whose SSRC appears on exactly one not yet
  matched received stream is matched with it;
* packets by (sequence number, RTP timestamp). The payload and the header octets 0-1 (V/P/X/CC,
  marker, payload type) are compared by hash: any difference is an *altered* packet.

Per matched stream: sent, received, missing, altered, duplicated (a sent packet received more
times than it was sent), extra (received with a (seq, ts) never sent, or a whole stream to a
port the sender used, from an SSRC the sender did not send), reordered (received after a packet
the sender sent later: RFC 4737 §3 "a packet is reordered if its sequence is less than that of
a packet received before it", with the sender's order as the reference, so seq wrap is
irrelevant), and the one-way delay (received capture time - sent capture time, min/mean/max).

The one-way delay is only meaningful when the two captures' clocks agree (both taken on one
host, or hosts synchronised by PTP/NTP); a negative minimum says they do not, and the message
says so.

Which sent packets are judged for *missing*: those the received capture could have seen. With
d_min/d_max the smallest/largest delay of all matched packets (0 when nothing matched), a packet
sent at t is judged when r0 <= t + d_min and t + d_max <= r1 (1 ms slack), [r0, r1] being the
span of the received capture. Others are counted as "not judged" (the capture started late or stopped early).

Which sent streams are judged: those to an address the recorder answered in SDP (either capture),
those matched with a received stream, and those to a host that received RTP in the received
capture (the recorder's host: a stream lost entirely is still reported). Other sent streams
(party legs in a Media Server capture) are ignored, as are received streams to a port the
sender never sent to (another sender's traffic).

Findings (one per requirement per stream, evidence = first occurrence):
* REP-SENT-RECEIVED (MUST) missing packets; REP-SENT-UNALTERED (MUST) altered packets;
* REP-SENT-NO-EXTRA (MUST) extra packets / streams;
* REP-SENT-NO-DUPLICATE (SHOULD); REP-SENT-IN-ORDER (SHOULD);
* REP-SENT-DELAY (SHOULD) the largest one-way delay above `max_delay_ms` (default 150 ms, the
  ITU-T G.114 planning limit for one-way delay; the recorder's jitter buffer must absorb it).

Memory: one small record per sent RTP packet (the sent capture is indexed, the received one is
streamed).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.capture.model import Endpoint
from harness.protocol.rtp.packet import RTP_HEADER_LEN, fixed_header
from harness.spec.catalogue import requirement
from harness.spec.findings import Evidence, Finding
from harness.validators.pcap import iter_capture

__all__ = [
    "DEFAULT_MAX_DELAY_MS",
    "EMITTED_REQUIREMENTS",
    "DeliveryComparer",
    "DeliveryReport",
    "StreamDelivery",
    "compare_delivery",
    "streams_compared",
]

EMITTED_REQUIREMENTS = (
    "REP-SENT-RECEIVED",
    "REP-SENT-UNALTERED",
    "REP-SENT-NO-EXTRA",
    "REP-SENT-NO-DUPLICATE",
    "REP-SENT-IN-ORDER",
    "REP-SENT-DELAY",
)

DEFAULT_MAX_DELAY_MS = 150.0
# Seconds of tolerance on the judged span's edges: the packets that define d_min/d_max and the
# capture's first/last frame are the same packets, and float sums must not exclude them.
_SLACK = 0.001

SentKey = tuple[int, Endpoint]  # (SSRC, destination)


@dataclass(frozen=True, slots=True)
class StreamDelivery:
    """One sent stream and what of it reached the recorder's port (a row of the table)."""

    src: Endpoint
    dst: Endpoint  # as sent
    received_dst: Endpoint | None  # where it was received (differs behind NAT), None: nothing
    ssrc: int
    sent: int  # packets in the sent capture (copies included)
    received: int  # sent packets received at least once
    missing: int
    not_judged: int  # sent outside the span the received capture covers
    altered: int
    duplicated: int
    extra: int
    reordered: int
    min_delay_ms: float | None
    mean_delay_ms: float | None
    max_delay_ms: float | None


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    streams: list[StreamDelivery]
    findings: list[Finding]
    ignored_sent_streams: int = 0  # not addressed to the recorder
    ignored_received_streams: int = 0  # to ports the sender never sent to


class _Sent:
    """The packets of one sent stream, in sending order: parallel typed arrays, about 100 bytes
    a packet with the index (a Python tuple and float per packet would be four times that)."""

    __slots__ = ("arrival", "copies", "digest", "first_index", "frame", "got", "mpt", "position", "src")

    def __init__(self, src: Endpoint) -> None:
        self.src = src
        self.position: dict[int, int] = {}  # seq << 32 | ts -> position
        self.arrival = array("d")
        self.digest = array("q")
        self.frame = array("q")
        self.copies = array("L")
        self.got = array("L")  # times received
        self.mpt = bytearray()  # header octet 1 (marker, payload type) as sent
        self.first_index = 0


@dataclass(slots=True)
class _Received:
    """Counters of one received stream matched with a sent one."""

    sent_key: SentKey
    dst: Endpoint
    altered: int = 0
    duplicated: int = 0
    extra: int = 0
    reordered: int = 0
    max_position: int = -1
    delay_min: float = float("inf")
    delay_max: float = float("-inf")
    delay_sum: float = 0.0
    delays: int = 0
    first: dict[str, tuple[int, float, str]] = field(default_factory=dict)  # req id -> evidence

    def note(self, req_id: str, index: int, ts: float, what: str) -> None:
        if req_id not in self.first:
            self.first[req_id] = (index, ts, what)


def _header(payload: bytes) -> tuple[int, int, int] | None:
    """(seq, timestamp, SSRC) of an RTP packet (RFC 3550 §5.1), None if it is not one."""
    if len(payload) < RTP_HEADER_LEN or payload[0] >> 6 != 2:
        return None
    _marker, _pt, seq, ts, ssrc = fixed_header(payload)
    return seq, ts, ssrc


def _label(src: Endpoint, dst: Endpoint, ssrc: int) -> str:
    return f"{src[0]}:{src[1]} -> {dst[0]}:{dst[1]} SSRC 0x{ssrc:08X}"


class DeliveryComparer:
    """Feed the sent capture's RTP (`add_sent`), then the received one's (`add_received`),
    each in capture order, then `finish` (see the module docstring for the rules)."""

    def __init__(self, *, max_delay_ms: float = DEFAULT_MAX_DELAY_MS, sent_file: str | None = None) -> None:
        self._max_delay_ms = max_delay_ms
        self._sent_file = sent_file
        self._sent: dict[SentKey, _Sent] = {}
        self._by_ssrc: dict[int, list[SentKey]] = {}
        self._received: dict[tuple[int, Endpoint], _Received | None] = {}  # None: not the sender's
        self._extra_streams: dict[tuple[Endpoint, Endpoint, int], tuple[int, float, int]] = {}
        self._ignored_received: set[tuple[int, Endpoint]] = set()
        self._received_hosts: set[str] = set()
        self._span: tuple[float, float] | None = None  # received capture: first, last frame time
        self._sent_dsts: set[Endpoint] = set()
        self._calls: dict[Endpoint, str] = {}  # recorder address → Call-ID (set by `finish`)

    # -- sent side ---------------------------------------------------------------------------

    def add_sent(self, index: int, timestamp: float, src: Endpoint, dst: Endpoint, payload: bytes) -> None:
        header = _header(payload)
        if header is None:
            return
        seq, rtp_ts, ssrc = header
        key = (ssrc, dst)
        stream = self._sent.get(key)
        if stream is None:
            stream = self._sent[key] = _Sent(src)
            stream.first_index = index
            self._by_ssrc.setdefault(ssrc, []).append(key)
            self._sent_dsts.add(dst)
        pos = stream.position.get(seq << 32 | rtp_ts)
        if pos is not None:
            stream.copies[pos] += 1  # the sender sent it twice: two receptions are no duplicate
            return
        stream.position[seq << 32 | rtp_ts] = len(stream.arrival)
        stream.arrival.append(timestamp)
        stream.digest.append(hash((payload[:2], payload[12:])))
        stream.frame.append(index)
        stream.copies.append(1)
        stream.got.append(0)
        stream.mpt.append(payload[1])

    # -- received side -----------------------------------------------------------------------

    def see_frame(self, timestamp: float) -> None:
        """Any frame of the received capture (for the span it covers)."""
        span = self._span
        if span is None:
            self._span = (timestamp, timestamp)
        elif timestamp > span[1]:
            self._span = (span[0], timestamp)
        elif timestamp < span[0]:
            self._span = (timestamp, span[1])

    def _match_stream(self, ssrc: int, dst: Endpoint) -> _Received | None:
        if (ssrc, dst) in self._sent:
            return _Received((ssrc, dst), dst)
        taken = {r.sent_key for r in self._received.values() if r is not None}
        candidates = [k for k in self._by_ssrc.get(ssrc, ()) if k not in taken]
        if len(candidates) == 1:  # same source, other address: NAT between the capture points
            return _Received(candidates[0], dst)
        return None

    def add_received(self, index: int, timestamp: float, src: Endpoint, dst: Endpoint, payload: bytes) -> None:
        self.see_frame(timestamp)
        header = _header(payload)
        if header is None:
            return
        seq, rtp_ts, ssrc = header
        self._received_hosts.add(dst[0])
        rkey = (ssrc, dst)
        if rkey in self._received:
            rec = self._received[rkey]
        else:
            rec = self._received[rkey] = self._match_stream(ssrc, dst)
        if rec is None:
            if dst in self._sent_dsts:  # to a port the sender used, from a source it never was
                skey = (src, dst, ssrc)
                first = self._extra_streams.get(skey)
                self._extra_streams[skey] = (first[0], first[1], first[2] + 1) if first else (index, timestamp, 1)
            else:
                self._ignored_received.add(rkey)
            return
        stream = self._sent[rec.sent_key]
        pos = stream.position.get(seq << 32 | rtp_ts)
        if pos is None:
            rec.extra += 1
            rec.note("REP-SENT-NO-EXTRA", index, timestamp, f"seq {seq} ts {rtp_ts} never sent")
            return
        got = stream.got[pos] + 1
        stream.got[pos] = got
        if got > stream.copies[pos]:
            rec.duplicated += 1
            rec.note("REP-SENT-NO-DUPLICATE", index, timestamp, f"seq {seq} received {got} times")
            return
        if got > 1:
            return  # a copy the sender itself sent
        if hash((payload[:2], payload[12:])) != stream.digest[pos]:
            rec.altered += 1
            what = "marker/payload type" if payload[1] != stream.mpt[pos] else "payload"
            rec.note("REP-SENT-UNALTERED", index, timestamp, f"seq {seq}: {what} differs from sent frame "
                     f"#{stream.frame[pos]}")
        if pos < rec.max_position:
            rec.reordered += 1
            rec.note("REP-SENT-IN-ORDER", index, timestamp, f"seq {seq} after a packet sent later")
        else:
            rec.max_position = pos
        delay = timestamp - stream.arrival[pos]
        rec.delays += 1
        rec.delay_sum += delay
        if delay < rec.delay_min:
            rec.delay_min = delay
        if delay > rec.delay_max:
            rec.delay_max = delay
            rec.first["max_delay"] = (index, timestamp, f"seq {seq}")

    # -- verdict -----------------------------------------------------------------------------

    def finish(self, recorder_endpoints: Iterable[Endpoint] = (), *,
               calls: Mapping[Endpoint, str] | None = None) -> DeliveryReport:
        """`calls`: the SIP Call-ID of each recorder address (tags the findings with their call)."""
        recorder = {ep for ep in recorder_endpoints if ep[1] != 0}
        self._calls = dict(calls or {})
        matched = {r.sent_key: r for r in self._received.values() if r is not None}
        d_min = min((r.delay_min for r in matched.values() if r.delays), default=0.0)
        d_max = max((r.delay_max for r in matched.values() if r.delays), default=0.0)
        span = self._span
        streams: list[StreamDelivery] = []
        findings: list[Finding] = []
        ignored_sent = 0
        for key, sent in self._sent.items():
            ssrc, dst = key
            rec = matched.get(key)
            if rec is None and dst not in recorder and dst[0] not in self._received_hosts:
                ignored_sent += 1
                continue
            missing = not_judged = received = 0
            first_missing: tuple[int, float] | None = None
            for pos, t in enumerate(sent.arrival):
                if sent.got[pos]:
                    received += 1
                elif span is not None and span[0] - _SLACK <= t + d_min and t + d_max <= span[1] + _SLACK:
                    missing += 1
                    if first_missing is None:
                        first_missing = (sent.frame[pos], t)
                else:
                    not_judged += 1
            row = StreamDelivery(
                src=sent.src, dst=dst, received_dst=rec.dst if rec else None, ssrc=ssrc,
                sent=sum(sent.copies), received=received, missing=missing, not_judged=not_judged,
                altered=rec.altered if rec else 0, duplicated=rec.duplicated if rec else 0,
                extra=rec.extra if rec else 0, reordered=rec.reordered if rec else 0,
                min_delay_ms=rec.delay_min * 1000.0 if rec and rec.delays else None,
                mean_delay_ms=rec.delay_sum * 1000.0 / rec.delays if rec and rec.delays else None,
                max_delay_ms=rec.delay_max * 1000.0 if rec and rec.delays else None)
            streams.append(row)
            findings.extend(self._stream_findings(row, rec, first_missing))
        for (src, dst, ssrc), (index, ts, count) in self._extra_streams.items():
            findings.append(_finding(
                "REP-SENT-NO-EXTRA",
                f"{count} RTP packet(s) {_label(src, dst, ssrc)} reached a port the sender sends to, "
                "from an SSRC the sender never sent", Evidence(index, ts),
                observed=f"{count} extra", expected="only the sent streams",
                call_id=self._calls.get(dst), stream=_label(src, dst, ssrc)))
        return DeliveryReport(streams, findings, ignored_sent, len(self._ignored_received))

    def _stream_findings(self, row: StreamDelivery, rec: _Received | None,
                         first_missing: tuple[int, float] | None) -> list[Finding]:
        label = stream = _label(row.src, row.dst, row.ssrc)
        call_id = self._calls.get(row.dst) or (self._calls.get(row.received_dst) if row.received_dst else None)
        if row.received_dst is not None and row.received_dst != row.dst:
            label += f" (received at {row.received_dst[0]}:{row.received_dst[1]})"
        out: list[Finding] = []
        if row.missing:
            assert first_missing is not None
            out.append(_finding(
                "REP-SENT-RECEIVED",
                f"stream {label}: {row.missing} of {row.missing + row.received} sent packet(s) never reached "
                "the recorder's port", Evidence(first_missing[0], first_missing[1], "first missing, sent capture",
                                                file=self._sent_file),
                observed=f"missing={row.missing}", expected="missing=0", call_id=call_id, stream=stream))
        if rec is None:
            return out
        counts = {"REP-SENT-UNALTERED": ("altered", row.altered), "REP-SENT-NO-EXTRA": ("extra", row.extra),
                  "REP-SENT-NO-DUPLICATE": ("duplicated", row.duplicated),
                  "REP-SENT-IN-ORDER": ("reordered", row.reordered)}
        for req_id, (name, count) in counts.items():
            if count:
                index, ts, what = rec.first[req_id]
                out.append(_finding(req_id, f"stream {label}: {count} packet(s) {name} ({what} first)",
                                    Evidence(index, ts), observed=f"{name}={count}", expected=f"{name}=0",
                                    call_id=call_id, stream=stream))
        if row.max_delay_ms is not None and row.max_delay_ms > self._max_delay_ms:
            index, ts, what = rec.first["max_delay"]
            skew = " (negative minimum: the two capture clocks disagree)" if (row.min_delay_ms or 0) < 0 else ""
            out.append(_finding(
                "REP-SENT-DELAY",
                f"stream {label}: one-way delay up to {row.max_delay_ms:.1f} ms ({what}){skew}", Evidence(index, ts),
                observed=f"max {row.max_delay_ms:.1f} ms", expected=f"<= {self._max_delay_ms:.0f} ms",
                call_id=call_id, stream=stream))
        return out


def _finding(req_id: str, message: str, evidence: Evidence, observed: str, expected: str, *,
             call_id: str | None = None, stream: str | None = None) -> Finding:
    return Finding(req_id, requirement(req_id).severity, message, evidence, observed, expected,
                   call_id=call_id, stream=stream)


def compare_delivery(sent: str | Path, received: str | Path, recorder_endpoints: Iterable[Endpoint] = (), *,
                     max_delay_ms: float = DEFAULT_MAX_DELAY_MS,
                     calls: Mapping[Endpoint, str] | None = None) -> DeliveryReport:
    """Read both captures (RTP over UDP only) and compare them; `PcapReadError` propagates.
    `calls`: the SIP Call-ID of each recorder address, to tag the findings with their call."""
    comparer = DeliveryComparer(max_delay_ms=max_delay_ms, sent_file=str(sent))
    _drain(sent, comparer.add_sent, None)
    _drain(received, comparer.add_received, comparer.see_frame)
    return comparer.finish(recorder_endpoints, calls=calls)


def _drain(path: str | Path, sink: Callable[[int, float, Endpoint, Endpoint, bytes], None],
           other: Callable[[float], None] | None) -> None:
    for record in iter_capture(path, sink):
        if other is not None:
            other(record[1])


def streams_compared(sent: int, judged: int) -> list[Finding]:
    """Every stream the Media Server emulation sent is compared with what reached the recorder's
    port: a sent stream the comparison could not match at all never reached it."""
    if judged >= sent:
        return []
    return [_finding("REP-SENT-RECEIVED", f"{sent} stream(s) sent, {judged} judged against the recorder's port",
                     Evidence(), observed=str(judged), expected=str(sent))]
