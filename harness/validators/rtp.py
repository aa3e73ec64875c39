"""RTP validator: per-stream statistics and findings from a capture (RFC 3550 §5.1, App. A.1/A.8).

Streams are keyed like Wireshark keys them: source address/port, destination address/port and
SSRC. Each stream is fed to `harness.protocol.rtp.stats.RtpStreamStats` (RFC 3550 + Wireshark
"RTP Stream Analysis" numbers), packet by packet (`feed`, through `fixed_header` /
`parse_header_fields`) or a flow's packets at a time (`feed_batch`: the fixed headers decoded
by `header_view` in one numpy call, the statistics by `RtpStreamStats.update_batch`). Both give
the same numbers.

Findings (requirement ids in `harness/spec/requirements.toml`):
* RTP-STREAM-RECEIVED — no RTP reached the address/port of a recorder's SDP answer although the
  offer said the Media Server would send (sendonly/sendrecv) and the answer accepted it;
* RTP-SEQ-CONTINUITY — loss / sequence errors (duplicates, reorders, jumps); a 65535→0 wrap
  and a 32-bit timestamp wrap are *not* errors (RFC 3550 §5.1 "wraps around");
* RTP-PT-MATCHES-SDP — a payload type the answer did not list (RFC 3264 §5.1: the offerer
  "MUST be prepared to receive media" only in the listed formats, and RTP streams use them);
* RTP-NO-MEDIA-ON-RECVONLY — RTP sent BY the recorder on a stream it answered recvonly or
  inactive (RFC 3264 §6.1; RTCP is allowed and not counted);
* RTP-SSRC-CHANGE (INFO) — a new SSRC on the same source/destination address pair (RFC 3550
  §8.2: a source changing its SSRC; expected on transfer), one finding per new SSRC, at its
  first packet. Wireshark shows each SSRC as its own stream, and so does the table.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from harness.capture.model import Datagram, Endpoint, NegotiatedStream, PayloadKind, Transport
from harness.protocol.rtp.packet import RtpParseError, fixed_header, header_view, parse_header_fields
from harness.protocol.rtp.seqnum import seq_add, seq_forward_array
from harness.protocol.rtp.stats import RtpStreamStats, RtpStreamSummary
from harness.spec.catalogue import requirement
from harness.spec.findings import Evidence, Finding

__all__ = ["EMITTED_REQUIREMENTS", "RtpAnalyzer", "RtpReport", "RtpStreamResult", "SentStream", "StreamKey",
           "stream_label", "streams_received", "validate_rtp"]

EMITTED_REQUIREMENTS = (
    "RTP-STREAM-RECEIVED",
    "RTP-SEQ-CONTINUITY",
    "RTP-PT-MATCHES-SDP",
    "RTP-NO-MEDIA-ON-RECVONLY",
    "RTP-SSRC-CHANGE",
)

StreamKey = tuple[Endpoint, Endpoint, int]  # (src, dst, ssrc)



def stream_label(key: StreamKey) -> str:
    """How findings and tables name an RTP stream: "src:port -> dst:port SSRC 0x...". """
    (s_ip, s_port), (d_ip, d_port), ssrc = key
    return f"{s_ip}:{s_port} -> {d_ip}:{d_port} SSRC 0x{ssrc:08X}"


@dataclass(slots=True)
class _StreamState:
    stats: RtpStreamStats
    negotiated: NegotiatedStream | None
    first_index: int
    first_timestamp: float
    last_seq: int
    first_pt: int
    first_seq_error: tuple[int, float, int, int] | None = None  # index, ts, previous, got
    pts: dict[int, tuple[int, float]] = field(default_factory=dict)  # pt → first (index, ts)
    last_pt: int = -1  # of the previous packet (already in `pts`)


@dataclass(frozen=True, slots=True)
class RtpStreamResult:
    key: StreamKey
    summary: RtpStreamSummary
    negotiated: NegotiatedStream | None
    first_index: int


@dataclass(frozen=True, slots=True)
class RtpReport:
    findings: list[Finding]
    streams: list[RtpStreamResult]
    # One row per stream, keyed by the column names of `tshark -q -z rtp,streams`.
    table: list[dict[str, object]]
    malformed: int = 0  # RTP-classified datagrams the header parser rejected


def _finding(req_id: str, message: str, evidence: Evidence, observed: str | None = None,
             expected: str | None = None, *, calluuid: str | None = None, call_id: str | None = None,
             stream: str | None = None) -> Finding:
    return Finding(req_id, requirement(req_id).severity, message, evidence, observed, expected,
                   calluuid=calluuid, call_id=call_id, stream=stream)


class RtpAnalyzer:
    """`validate_rtp` one packet at a time, for a single pass over a capture.

    Negotiated streams may be added while packets are fed (the SDP answer is read from the same
    capture, before the media it announces): a stream takes its clock rate and telephone-event
    payload types from the negotiation known when its first packet arrives, as Wireshark does
    for RTP set up by SDP. The checks that depend on the negotiation (payload type, media sent by
    the recorder, stream received) are decided in `finish` against the complete list, from the
    first occurrences recorded per stream — so they do not depend on when it was learnt.
    """

    __slots__ = ("_by_answer", "_formats", "_negotiated", "_streams", "malformed")

    def __init__(self, negotiated: Sequence[NegotiatedStream] = ()) -> None:
        self._negotiated: list[NegotiatedStream] = []
        self._by_answer: dict[Endpoint, NegotiatedStream] = {}
        self._streams: dict[StreamKey, _StreamState] = {}
        # endpoint → (frame number the SDP was seen at, clock, telephone-event PTs), in order
        self._formats: dict[Endpoint, list[tuple[int, int, frozenset[int]]]] = {}
        self.malformed = 0  # RTP-classified payloads the header parser rejected
        for stream in negotiated:
            self.add_negotiated(stream)

    def add_negotiated(self, stream: NegotiatedStream) -> None:
        self._negotiated.append(stream)
        if stream.answer_endpoint is not None and stream.answer_endpoint[1] != 0:
            self._by_answer[stream.answer_endpoint] = stream

    def learn_format(self, endpoint: Endpoint, clock_rate: int, telephone_event_pts: frozenset[int], *,
                     since_index: int = 0) -> None:
        """What an SDP seen so far says `endpoint` receives: the clock of its first audio codec
        and its RFC 4733 telephone-event payload types (RFC 4566 §6 a=rtpmap; RFC 3264 §5.1: an
        SDP lists the formats its sender is willing to *receive* at that address).

        Used for streams to `endpoint` that start before their negotiation is known; a
        negotiated stream's own answer wins (it carries the same rtpmap). `since_index`: the
        frame the SDP was read from; a stream whose first packet is at a later frame takes it
        (so packets analysed in batches see the SDP their first packet saw)."""
        self._formats.setdefault(endpoint, []).append((since_index, clock_rate, telephone_event_pts))

    def _format_at(self, endpoint: Endpoint, index: int) -> tuple[int, frozenset[int]]:
        history = self._formats.get(endpoint)
        if not history:
            return 8000, frozenset()
        pos = bisect_left(history, index, key=lambda h: h[0])
        if pos == 0:
            return 8000, frozenset()
        _since, clock, events = history[pos - 1]
        return clock, events

    def absorb(self, other: RtpAnalyzer) -> None:
        """Take over the streams `other` analysed from the same capture (disjoint streams: the
        capture's packets split between two analyzers by stream), keeping first-packet order."""
        merged = {**self._streams, **other._streams}
        self._streams = dict(sorted(merged.items(), key=lambda item: item[1].first_index))
        self.malformed += other.malformed
        for endpoint, history in other._formats.items():
            self._formats.setdefault(endpoint, history)

    def feed_datagram(self, d: Datagram) -> None:
        if d.kind is PayloadKind.RTP and d.transport is Transport.UDP:
            self.feed(d.index, d.timestamp, d.src, d.dst, d.payload)

    def feed(self, index: int, timestamp: float, src: Endpoint, dst: Endpoint, payload: bytes) -> None:
        """Account one RTP-over-UDP payload seen at `timestamp` (capture time, seconds)."""
        if len(payload) >= 12 and payload[0] == 0x80:
            # V=2 and no padding, extension or CSRC: the 12-byte fixed header is all there is to
            # check (RFC 3550 §5.1), so skip parse_header_fields' bounds walk on the common case.
            marker, pt, seq, rtp_ts, ssrc = fixed_header(payload)
        else:
            try:
                _v, _p, _x, marker, pt, seq, rtp_ts, ssrc, _start, _end = parse_header_fields(payload)
            except RtpParseError:
                self.malformed += 1
                return
        key = (src, dst, ssrc)
        state = self._streams.get(key)
        if state is None:
            state = self._new_stream(key, index, timestamp, seq, pt)
        else:
            if seq != seq_add(state.last_seq, 1) and state.first_seq_error is None:
                # The exact modular successor is the only in-order value: 65535 -> 0 passes here.
                state.first_seq_error = (index, timestamp, state.last_seq, seq)
            if pt != state.last_pt and pt not in state.pts:
                state.pts[pt] = (index, timestamp)
        state.last_seq = seq
        state.last_pt = pt
        state.stats.update(seq, rtp_ts, timestamp, pt, marker, ssrc)

    def _new_stream(self, key: StreamKey, index: int, timestamp: float, seq: int, pt: int) -> _StreamState:
        neg = self._by_answer.get(key[1])
        if neg is not None:
            clock, events = neg.clock_rate, neg.telephone_event_pts
        else:
            clock, events = self._format_at(key[1], index)
        state = _StreamState(RtpStreamStats(clock, telephone_event_pts=events), neg, index, timestamp, seq, pt)
        state.pts[pt] = (index, timestamp)
        self._streams[key] = state
        return state

    def feed_batch(self, src: Endpoint, dst: Endpoint, headers: bytes | bytearray,
                   times: array[float] | npt.NDArray[np.float64], indices: array[int] | npt.NDArray[np.int64]) -> None:
        """Account a flow's RTP packets at once: their 12-byte fixed headers back to back (RTP
        version 2, already checked), arrival times and frame numbers, in capture order.

        Same result as `feed` packet by packet (each SSRC is its own stream, in order)."""
        if not len(indices):
            return
        view = header_view(headers)
        arrival = np.frombuffer(times, dtype=np.float64)
        frames = np.frombuffer(indices, dtype=np.int64)
        ssrcs = view.ssrc
        first_ssrc = int(ssrcs[0])
        if bool((ssrcs == first_ssrc).all()):
            self._feed_stream((src, dst, first_ssrc), view.sequence, view.timestamp, arrival, view.payload_type,
                              view.marker, ssrcs, frames)
            return
        _values, first_pos = np.unique(ssrcs, return_index=True)
        for pos in sorted(first_pos.tolist()):
            ssrc = int(ssrcs[pos])
            sel = ssrcs == ssrc
            self._feed_stream((src, dst, ssrc), view.sequence[sel], view.timestamp[sel], arrival[sel],
                              view.payload_type[sel], view.marker[sel], ssrcs[sel], frames[sel])

    def _feed_stream(self, key: StreamKey, seq: np.ndarray, ts: np.ndarray, arrival: np.ndarray,
                     pt: np.ndarray, marker: np.ndarray, ssrc: np.ndarray, frames: np.ndarray) -> None:
        state = self._streams.get(key)
        if state is None:
            state = self._new_stream(key, int(frames[0]), float(arrival[0]), int(seq[0]), int(pt[0]))
            prev_seq = seq[:-1]
            follows = seq[1:]
            offset = 1
        else:
            prev_seq = np.concatenate(([state.last_seq], seq[:-1]))
            follows = seq
            offset = 0
        if state.first_seq_error is None and follows.size:
            # The exact modular successor is the only in-order value: 65535 -> 0 passes.
            bad = np.flatnonzero(seq_forward_array(prev_seq, follows) != 1)
            if bad.size:
                j = int(bad[0]) + offset
                state.first_seq_error = (int(frames[j]), float(arrival[j]), int(seq[j - 1]) if j else state.last_seq,
                                         int(seq[j]))
        if bool((pt == pt[0]).all()):
            first_pts = [(0, int(pt[0]))]
        else:
            _values, first_pos = np.unique(pt, return_index=True)
            first_pts = sorted((int(p), int(pt[p])) for p in first_pos.tolist())
        for pos, value in first_pts:
            if value not in state.pts:
                state.pts[value] = (int(frames[pos]), float(arrival[pos]))
        state.last_seq = int(seq[-1])
        state.last_pt = int(pt[-1])
        state.stats.update_batch(seq, ts, arrival, pt, marker, ssrc)

    def finish(self, negotiated: Sequence[NegotiatedStream] | None = None) -> RtpReport:
        """Statistics and findings; `negotiated` (when given) is the complete list to judge by."""
        if negotiated is not None:
            known = set(map(id, self._negotiated))
            for stream in negotiated:
                if id(stream) not in known:
                    self.add_negotiated(stream)
        # Streams in first-packet order (batches reach the analyzer a flow at a time).
        self._streams = dict(sorted(self._streams.items(), key=lambda item: item[1].first_index))
        all_negotiated = self._negotiated
        by_answer = self._by_answer
        by_offer: dict[Endpoint, NegotiatedStream] = {}
        for stream in all_negotiated:
            if stream.offer_endpoint is not None and stream.offer_endpoint[1] != 0:
                by_offer[stream.offer_endpoint] = stream
        # Which call an address belongs to (the recorder's answered or the Media Server's offered).
        endpoint_call: dict[Endpoint, str] = {}
        for stream in all_negotiated:
            for ep in (stream.answer_endpoint, stream.offer_endpoint):
                if ep is not None and ep[1] != 0:
                    endpoint_call[ep] = stream.call_id
        recvonly_answers = {ep for ep, s in by_answer.items() if s.answer_direction in ("recvonly", "inactive")}
        recorder_hosts = {ep[0] for ep in recvonly_answers}

        findings: list[Finding] = []
        # Media FROM the recorder on a recvonly/inactive stream: RFC 3264 §6.1 "If the answerer
        # ... recvonly ... it MUST NOT send media". Matched by the recorder's answered address
        # as source (symmetric RTP) or the Media Server's offered address as destination.
        # One finding per direction, at its first packet.
        reverse: dict[tuple[Endpoint, Endpoint], tuple[StreamKey, _StreamState]] = {}
        for key, state in self._streams.items():
            src, dst, _ssrc = key
            sent_by_recorder = src in recvonly_answers or (
                dst in by_offer and src[0] in recorder_hosts and dst not in by_answer)
            if sent_by_recorder:
                seen = reverse.get((src, dst))
                if seen is None or state.first_index < seen[1].first_index:
                    reverse[(src, dst)] = (key, state)
        for (src, dst), (key, state) in sorted(reverse.items(), key=lambda item: item[1][1].first_index):
            stream = by_answer.get(src) or by_offer[dst]
            findings.append(_finding(
                "RTP-NO-MEDIA-ON-RECVONLY",
                f"recorder sent RTP {src[0]}:{src[1]} -> {dst[0]}:{dst[1]} on a stream it "
                f"answered {stream.answer_direction} (Call-ID {stream.call_id}, m-line {stream.media_index})",
                Evidence(state.first_index, state.first_timestamp,
                         f"RTP PT={state.first_pt} seq={state.stats.snapshot().first_seq} SSRC=0x{key[2]:08X}"),
                observed="RTP from recorder", expected=f"no RTP ({stream.answer_direction})",
                call_id=stream.call_id, stream=stream_label(key)))

        results: list[RtpStreamResult] = []
        table: list[dict[str, object]] = []
        received_at: set[Endpoint] = set()
        for key, state in self._streams.items():
            if state.negotiated is None:
                state.negotiated = by_answer.get(key[1])
            summary = state.stats.snapshot()
            results.append(RtpStreamResult(key, summary, state.negotiated, state.first_index))
            table.append(_row(key, summary))
            received_at.add(key[1])
            src, dst, ssrc = key
            label = stream_label(key)
            call_id = endpoint_call.get(dst) or endpoint_call.get(src)
            if summary.lost > 0 or summary.sequence_errors > 0:
                idx, ts, prev, got = state.first_seq_error or (state.first_index, state.first_timestamp, -1, -1)
                findings.append(_finding(
                    "RTP-SEQ-CONTINUITY",
                    f"RTP stream {label}: {summary.lost} lost, {summary.sequence_errors} sequence errors "
                    f"in {summary.packets} packets",
                    Evidence(idx, ts, f"seq {got} after {prev}" if prev >= 0 else None),
                    observed=f"lost={summary.lost} sequence_errors={summary.sequence_errors}",
                    expected="lost=0 sequence_errors=0", call_id=call_id, stream=label))
            neg = state.negotiated
            if neg is not None:
                for pt, (idx, ts) in state.pts.items():
                    if pt in neg.payload_types:
                        continue
                    findings.append(_finding(
                        "RTP-PT-MATCHES-SDP",
                        f"RTP stream {label} uses payload type {pt}, not in the SDP answer "
                        f"(Call-ID {neg.call_id}, m-line {neg.media_index})",
                        Evidence(idx, ts, f"RTP PT={pt}"),
                        observed=str(pt), expected=" ".join(str(p) for p in sorted(neg.payload_types)),
                        call_id=neg.call_id, stream=label))

        # SSRC changes: streams are keyed with the SSRC, so a change shows as a second key on
        # the same address pair; report each SSRC after the first (by first packet).
        by_flow: dict[tuple[Endpoint, Endpoint], list[tuple[int, float, int]]] = {}
        for (src, dst, ssrc), state in self._streams.items():
            by_flow.setdefault((src, dst), []).append((state.first_index, state.first_timestamp, ssrc))
        for (src, dst), ssrcs in by_flow.items():
            if len(ssrcs) < 2:
                continue
            ssrcs.sort()
            for (_i, _t, before), (idx, ts, after) in zip(ssrcs, ssrcs[1:], strict=False):
                findings.append(_finding(
                    "RTP-SSRC-CHANGE",
                    f"RTP {src[0]}:{src[1]} -> {dst[0]}:{dst[1]} changed SSRC 0x{before:08X} -> 0x{after:08X}",
                    Evidence(idx, ts, f"SSRC=0x{after:08X}"), observed=f"0x{after:08X}", expected=f"0x{before:08X}",
                    call_id=endpoint_call.get(dst) or endpoint_call.get(src), stream=stream_label((src, dst, after))))

        for stream in all_negotiated:
            ep = stream.answer_endpoint
            media_expected = stream.offer_direction in ("sendonly", "sendrecv") and stream.answer_direction in (
                "recvonly", "sendrecv")
            if ep is None or ep[1] == 0 or not media_expected or ep in received_at:
                continue
            findings.append(_finding(
                "RTP-STREAM-RECEIVED",
                f"no RTP reached {ep[0]}:{ep[1]}, the address the recorder answered for m-line "
                f"{stream.media_index} of Call-ID {stream.call_id}",
                Evidence(stream.answer_index, stream.answer_timestamp, f"m={stream.kind} {ep[1]}"),
                observed="0 packets", expected="RTP packets", call_id=stream.call_id,
                stream=f"{ep[0]}:{ep[1]}"))
        return RtpReport(findings, results, table, self.malformed)


def validate_rtp(datagrams: Iterable[Datagram], negotiated: Sequence[NegotiatedStream] = ()) -> RtpReport:
    """Analyse every RTP datagram; compare with the negotiated streams (empty: stats only)."""
    analyzer = RtpAnalyzer(negotiated)
    feed = analyzer.feed
    rtp, udp = PayloadKind.RTP, Transport.UDP
    for d in datagrams:
        if d.kind is rtp and d.transport is udp:
            feed(d.index, d.timestamp, d.src, d.dst, d.payload)
    return analyzer.finish()


def _row(key: StreamKey, s: RtpStreamSummary) -> dict[str, object]:
    (src_ip, src_port), (dst_ip, dst_port), ssrc = key
    return {
        "Start time": s.first_arrival,
        "End time": s.last_arrival,
        "Src IP addr": src_ip,
        "Src Port": src_port,
        "Dest IP addr": dst_ip,
        "Dest Port": dst_port,
        "SSRC": f"0x{ssrc:08X}",
        "Payload": ",".join(str(pt) for pt in s.payload_types),
        "Pkts": s.packets,
        "Lost": s.lost,
        "Lost (%)": s.lost_percent,
        "Sequence Errors": s.sequence_errors,
        "Min Delta(ms)": s.min_delta_ms,
        "Mean Delta(ms)": s.mean_delta_ms,
        "Max Delta(ms)": s.max_delta_ms,
        "Min Jitter(ms)": s.min_jitter_ms,
        "Mean Jitter(ms)": s.mean_jitter_ms,
        "Max Jitter(ms)": s.max_jitter_ms,
        "Problems?": "X" if s.problem else "",
    }


# -- checks that need the scenario's own facts (what was sent), judged here with the capture --


@dataclass(frozen=True, slots=True)
class SentStream:
    """What the Media Server emulation sent for one stream, and what the capture shows arriving."""

    side: str
    destination: Endpoint | None  # the recorder's answered media address; None: none was given
    sent: int
    received: int  # packets of the stream seen arriving at `destination`


def streams_received(streams: Sequence[SentStream] | None, *, calluuid: str | None = None) -> list[Finding]:
    """GVP-MSRec: each replicated stream's RTP reaches the port the recorder answered, all of it.
    `streams` None: no recording was set up, so nothing could be sent."""
    if streams is None:
        return [_finding("RTP-STREAM-RECEIVED", "no recording was set up, so no RTP reached the recorder",
                         Evidence(), calluuid=calluuid)]
    findings: list[Finding] = []
    for s in streams:
        if s.destination is None:
            findings.append(_finding("RTP-STREAM-RECEIVED", f"{s.side} stream: no RTP could be sent (the recorder "
                                     "gave no media address for it)", Evidence(), "no destination",
                                     "RTP at the answered port", calluuid=calluuid, stream=s.side))
        elif s.received != s.sent:
            findings.append(_finding("RTP-STREAM-RECEIVED", f"{s.side} stream: {s.sent} packets sent, {s.received} "
                                     f"seen arriving at the recorder's port {s.destination}", Evidence(),
                                     str(s.received), str(s.sent), calluuid=calluuid, stream=s.side))
    return findings
