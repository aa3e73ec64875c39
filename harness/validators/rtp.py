"""RTP validator: per-stream statistics and findings from a capture (RFC 3550 §5.1, App. A.1/A.8).

Streams are keyed like Wireshark keys them: source address/port, destination address/port and
SSRC. Each stream is fed to `harness.protocol.rtp.stats.RtpStreamStats` (RFC 3550 + Wireshark
"RTP Stream Analysis" numbers) through the fast header path (`parse_header_fields`: one
`struct.unpack_from`, no object per packet).

Findings (requirement ids in `harness/spec/requirements.toml`):
* RTP-STREAM-RECEIVED — no RTP reached the address/port of a recorder's SDP answer although the
  offer said the Media Server would send (sendonly/sendrecv) and the answer accepted it;
* RTP-SEQ-CONTINUITY — loss / sequence errors (duplicates, reorders, jumps); a 65535→0 wrap
  and a 32-bit timestamp wrap are *not* errors (RFC 3550 §5.1 "wraps around");
* RTP-PT-MATCHES-SDP — a payload type the answer did not list (RFC 3264 §5.1: the offerer
  "MUST be prepared to receive media" only in the listed formats, and RTP streams use them);
* RTP-NO-MEDIA-ON-RECVONLY — RTP sent BY the recorder on a stream it answered recvonly or
  inactive (RFC 3264 §6.1; RTCP is allowed and not counted).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from harness.protocol.rtp.packet import RtpParseError, parse_header_fields
from harness.protocol.rtp.stats import RtpStreamStats, RtpStreamSummary
from harness.spec.catalogue import requirement
from harness.spec.findings import Evidence, Finding
from harness.validators.model import Datagram, Endpoint, NegotiatedStream, PayloadKind, Transport

__all__ = ["RtpReport", "RtpStreamResult", "StreamKey", "validate_rtp", "EMITTED_REQUIREMENTS"]

EMITTED_REQUIREMENTS = (
    "RTP-STREAM-RECEIVED",
    "RTP-SEQ-CONTINUITY",
    "RTP-PT-MATCHES-SDP",
    "RTP-NO-MEDIA-ON-RECVONLY",
)

StreamKey = tuple[Endpoint, Endpoint, int]  # (src, dst, ssrc)


@dataclass(slots=True)
class _StreamState:
    stats: RtpStreamStats
    negotiated: NegotiatedStream | None
    first_index: int
    first_timestamp: float
    last_seq: int
    first_seq_error: tuple[int, float, int, int] | None = None  # index, ts, previous, got
    bad_pt: dict[int, tuple[int, float]] = field(default_factory=dict)  # pt → first (index, ts)
    packets: int = 0


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
             expected: str | None = None) -> Finding:
    return Finding(req_id, requirement(req_id).severity, message, evidence, observed, expected)


def validate_rtp(datagrams: Iterable[Datagram], negotiated: Sequence[NegotiatedStream] = ()) -> RtpReport:
    """Analyse every RTP datagram; compare with the negotiated streams (empty: stats only)."""
    by_answer: dict[Endpoint, NegotiatedStream] = {}
    by_offer: dict[Endpoint, NegotiatedStream] = {}
    for stream in negotiated:
        if stream.answer_endpoint is not None and stream.answer_endpoint[1] != 0:
            by_answer[stream.answer_endpoint] = stream
        if stream.offer_endpoint is not None and stream.offer_endpoint[1] != 0:
            by_offer[stream.offer_endpoint] = stream
    recvonly_answers = {ep for ep, s in by_answer.items() if s.answer_direction in ("recvonly", "inactive")}
    recorder_hosts = {ep[0] for ep in recvonly_answers}

    streams: dict[StreamKey, _StreamState] = {}
    findings: list[Finding] = []
    reverse_reported: set[tuple[Endpoint, Endpoint]] = set()
    malformed = 0
    for d in datagrams:
        if d.kind is not PayloadKind.RTP or d.transport is not Transport.UDP:
            continue
        try:
            _v, _p, _x, marker, pt, seq, rtp_ts, ssrc, _start, _end = parse_header_fields(d.payload)
        except RtpParseError:
            malformed += 1
            continue
        # Media FROM the recorder on a recvonly/inactive stream: RFC 3264 §6.1 "If the answerer
        # ... recvonly ... it MUST NOT send media". Matched by the recorder's answered address
        # as source (symmetric RTP) or the Media Server's offered address as destination.
        sent_by_recorder = d.src in recvonly_answers or (
            d.dst in by_offer and d.src[0] in recorder_hosts and d.dst not in by_answer)
        if sent_by_recorder and (d.src, d.dst) not in reverse_reported:
            reverse_reported.add((d.src, d.dst))
            stream = by_answer.get(d.src) or by_offer[d.dst]
            findings.append(_finding(
                "RTP-NO-MEDIA-ON-RECVONLY",
                f"recorder sent RTP {d.src[0]}:{d.src[1]} -> {d.dst[0]}:{d.dst[1]} on a stream it "
                f"answered {stream.answer_direction} (Call-ID {stream.call_id}, m-line {stream.media_index})",
                Evidence(d.index, d.timestamp, f"RTP PT={pt} seq={seq} SSRC=0x{ssrc:08X}"),
                observed="RTP from recorder", expected=f"no RTP ({stream.answer_direction})"))
        key = (d.src, d.dst, ssrc)
        state = streams.get(key)
        if state is None:
            neg = by_answer.get(d.dst)
            stats = RtpStreamStats(
                neg.clock_rate if neg else 8000,
                telephone_event_pts=neg.telephone_event_pts if neg else (),
            )
            state = _StreamState(stats, neg, d.index, d.timestamp, seq)
            streams[key] = state
        elif state.first_seq_error is None and seq != (state.last_seq + 1) & 0xFFFF:
            # The exact modular successor is the only in-order value: 65535 -> 0 passes here.
            state.first_seq_error = (d.index, d.timestamp, state.last_seq, seq)
        state.last_seq = seq
        state.packets += 1
        state.stats.update(seq, rtp_ts, d.timestamp, pt, marker, ssrc)
        if state.negotiated is not None and pt not in state.negotiated.payload_types \
                and pt not in state.bad_pt:
            state.bad_pt[pt] = (d.index, d.timestamp)

    results: list[RtpStreamResult] = []
    table: list[dict[str, object]] = []
    received_at: set[Endpoint] = set()
    for key, state in streams.items():
        summary = state.stats.snapshot()
        results.append(RtpStreamResult(key, summary, state.negotiated, state.first_index))
        table.append(_row(key, summary))
        received_at.add(key[1])
        src, dst, ssrc = key
        label = f"{src[0]}:{src[1]} -> {dst[0]}:{dst[1]} SSRC 0x{ssrc:08X}"
        if summary.lost > 0 or summary.sequence_errors > 0:
            idx, ts, prev, got = state.first_seq_error or (state.first_index, state.first_timestamp, -1, -1)
            findings.append(_finding(
                "RTP-SEQ-CONTINUITY",
                f"RTP stream {label}: {summary.lost} lost, {summary.sequence_errors} sequence errors "
                f"in {summary.packets} packets",
                Evidence(idx, ts, f"seq {got} after {prev}" if prev >= 0 else None),
                observed=f"lost={summary.lost} sequence_errors={summary.sequence_errors}",
                expected="lost=0 sequence_errors=0"))
        if state.negotiated is not None:
            for pt, (idx, ts) in state.bad_pt.items():
                findings.append(_finding(
                    "RTP-PT-MATCHES-SDP",
                    f"RTP stream {label} uses payload type {pt}, not in the SDP answer "
                    f"(Call-ID {state.negotiated.call_id}, m-line {state.negotiated.media_index})",
                    Evidence(idx, ts, f"RTP PT={pt}"),
                    observed=str(pt), expected=" ".join(str(p) for p in sorted(state.negotiated.payload_types))))

    for stream in negotiated:
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
            observed="0 packets", expected="RTP packets"))
    return RtpReport(findings, results, table, malformed)


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
