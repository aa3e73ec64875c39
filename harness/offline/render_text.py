"""`arec validate --format text`: findings per call, the RTP table, replication, delivery, summary."""

from __future__ import annotations

from harness.offline.result import ValidationResult
from harness.offline.rows import delivery_rows, evidence_text, replication_rows, summary, table_rows
from harness.report.tables import rtp_table_text
from harness.validators.delivery import DeliveryReport

__all__ = ["render_text"]


def _delivery_text(report: DeliveryReport) -> list[str]:
    def ms(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else "-"

    lines = ["", "Delivery (sent capture -> this capture)",
             f"  {'stream':<60} {'sent':>6} {'recv':>6} {'miss':>5} {'n/j':>5} {'alt':>4} {'dup':>4} "
             f"{'extra':>5} {'reord':>5}  delay ms min/mean/max"]
    for row in delivery_rows(report):
        lines.append(f"  {row['stream']!s:<60} {row['sent']:>6} {row['received']:>6} {row['missing']:>5} "
                     f"{row['not_judged']:>5} {row['altered']:>4} {row['duplicated']:>4} {row['extra']:>5} "
                     f"{row['reordered']:>5}  {ms(row['min_delay_ms'])}/{ms(row['mean_delay_ms'])}/"
                     f"{ms(row['max_delay_ms'])}")
    return lines


def render_text(result: ValidationResult) -> str:
    lines = [f"arec validate {result.capture}"]
    if result.read_error is not None:
        # Issue a warning first: the findings below are those of the records read before it.
        lines.append(f"INCOMPLETE: {result.read_error}; only the records before it were judged")
    if not result.calls:
        lines.append("No findings in the records read." if result.read_error is not None else "No findings.")
    for call in result.calls:
        lines.append("")
        lines.append(f"Call {call.call}")
        for rid, findings in call.by_requirement.items():
            lines.append(f"  {rid} [{findings[0].severity.value}] {len(findings)} finding(s)")
            for f in findings:
                detail = f"    - {f.message}"
                if f.observed is not None or f.expected is not None:
                    detail += f" (observed: {f.observed}; expected: {f.expected})"
                where = evidence_text(f.evidence)
                lines.append(detail + (f" [{where}]" if where else ""))
    lines.append("")
    lines.append("RTP streams")
    lines.append(rtp_table_text(table_rows(result.rtp)).rstrip("\n"))
    if result.replication.pairs:
        lines.append("")
        lines.append("Replication (original -> replica, by payload)")
        for row in replication_rows(result.replication):
            lines.append(f"  {row['replica']} <- {row['original']}: {row['matched']} equal, {row['lost']} lost, "
                         f"{row['mismatched']} differing, delay ms min/mean/max "
                         f"{row['min_delay_ms']:.3f}/{row['mean_delay_ms']:.3f}/{row['max_delay_ms']:.3f}")
    if result.delivery is not None:
        lines.extend(_delivery_text(result.delivery))
    s = summary(result)
    lines.append("")
    counts = (f"{s['must']} MUST, {s['should']} SHOULD, {s['info']} INFO; "
              f"{len(result.exercised)} requirement(s) exercised, {len(result.failed)} failed"
              + (f" ({', '.join(result.failed)})" if result.failed else ""))
    if result.read_error is None:
        lines.append(f"{s['findings']} finding(s): {counts}")
    else:
        # Never a "0 finding(s)" line on an unreadable capture: it would read as a clean one.
        lines.append(f"INCOMPLETE capture, not judged whole: findings in the records read: {counts}")
        lines.append(f"INCOMPLETE: {result.read_error}")
    return "\n".join(lines) + "\n"
