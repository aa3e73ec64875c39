"""Row views of the reports, shared by the text, JSON and JUnit renderers (and the Gherkin
bindings' attachments): RTP streams, replica pairs, delivery per sent stream, the summary."""

from __future__ import annotations

from harness.capture.model import Endpoint
from harness.offline.result import NO_CALL, ValidationResult
from harness.spec.findings import Evidence, Severity
from harness.validators.delivery import DeliveryReport
from harness.validators.replication import ReplicationReport
from harness.validators.rtp import RtpReport
from harness.validators.rtp import stream_label as _rtp_stream_label

__all__ = ["delivery_rows", "evidence_text", "replication_rows", "stream_label", "summary", "table_rows"]


def table_rows(report: RtpReport) -> list[dict[str, object]]:
    """One row per RTP stream, keyed like `harness.report.tables.RTP_COLUMNS` (+ the other
    Wireshark numbers): the `rtp_streams` of the JSON output and the text table."""
    rows: list[dict[str, object]] = []
    for stream in report.streams:
        (src_ip, src_port), (dst_ip, dst_port), ssrc = stream.key
        s = stream.summary
        rows.append({
            "src_addr": src_ip, "src_port": src_port, "dst_addr": dst_ip, "dst_port": dst_port,
            "ssrc": ssrc, "payload": ",".join(str(pt) for pt in s.payload_types),
            "packets": s.packets, "expected": s.expected, "lost": s.lost, "lost_pct": s.lost_percent,
            "seq_errs": s.sequence_errors, "min_delta_ms": s.min_delta_ms, "mean_delta_ms": s.mean_delta_ms,
            "max_delta_ms": s.max_delta_ms, "min_jitter_ms": s.min_jitter_ms,
            "mean_jitter_ms": s.mean_jitter_ms, "max_jitter_ms": s.max_jitter_ms,
            "max_skew_ms": s.max_skew_ms, "duration_s": s.duration_s, "ssrc_changes": s.ssrc_changes,
            "marker_count": s.marker_count, "problem": s.problem,
            "call_id": stream.negotiated.call_id if stream.negotiated else None,
        })
    return rows


def replication_rows(report: ReplicationReport) -> list[dict[str, object]]:
    """One row per original -> replica pair: the `replication` of the JSON output."""
    rows: list[dict[str, object]] = []
    for pair in report.pairs:
        rows.append({
            "original": stream_label(pair.original), "replica": stream_label(pair.replica),
            "matched": pair.matched, "lost": pair.lost, "mismatched": pair.mismatched,
            "min_delay_ms": pair.min_delay_ms, "mean_delay_ms": pair.mean_delay_ms,
            "max_delay_ms": pair.max_delay_ms,
        })
    return rows


def delivery_rows(report: DeliveryReport | None) -> list[dict[str, object]]:
    """One row per sent stream judged: the `delivery` of the JSON output and the text table."""
    if report is None:
        return []
    return [{"stream": stream_label((d.src, d.dst, d.ssrc)),
             "received_at": f"{d.received_dst[0]}:{d.received_dst[1]}" if d.received_dst else None,
             "sent": d.sent, "received": d.received, "missing": d.missing, "not_judged": d.not_judged,
             "altered": d.altered, "duplicated": d.duplicated, "extra": d.extra, "reordered": d.reordered,
             "min_delay_ms": d.min_delay_ms, "mean_delay_ms": d.mean_delay_ms, "max_delay_ms": d.max_delay_ms}
            for d in report.streams]


def stream_label(key: tuple[Endpoint, Endpoint, int]) -> str:
    return _rtp_stream_label(key)


def summary(result: ValidationResult) -> dict[str, object]:
    findings = result.findings
    return {
        "findings": len(findings),
        "must": sum(1 for f in findings if f.severity is Severity.MUST),
        "should": sum(1 for f in findings if f.severity is Severity.SHOULD),
        "info": sum(1 for f in findings if f.severity is Severity.INFO),
        "calls": sum(1 for c in result.calls if c.call != NO_CALL),
        "sip_dialogs": len(result.sip.dialogs),
        "rtp_streams": len(result.rtp.streams),
        "rtp_malformed": result.rtp.malformed,
        "replicated_streams_compared": len(result.replication.pairs),
        "requirements_exercised": len(result.exercised),
        "requirements_failed": result.failed,
        "exit_code": result.exit_code,
        # False when the capture could not be read to its end: the counts are of what was read.
        "complete": result.read_error is None,
    }


def evidence_text(evidence: Evidence) -> str:
    parts = []
    if evidence.packet_index is not None:
        parts.append(f"packet #{evidence.packet_index}")
    if evidence.timestamp is not None:
        parts.append(f"t={evidence.timestamp:.6f}")
    if evidence.file is not None:
        parts.append(evidence.file + (f" @ {evidence.file_offset}" if evidence.file_offset is not None else ""))
    if evidence.header_line:
        parts.append(repr(evidence.header_line))
    return ", ".join(parts)
