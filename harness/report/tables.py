"""HTML and plain-text tables for the report: RTP stream statistics and findings.

The RTP table uses Wireshark's *RTP Streams* column names (Telephony > RTP > RTP Streams;
``tshark -z rtp,streams``) so a reader can compare our numbers with Wireshark's side by side
(docs/architecture.md §5: "use Wireshark's metric names: lost, max delta, jitter"; the jitter itself is
RFC 3550 §6.4.1 / A.8). The findings table renders the docs/architecture.md §4 ``Finding`` contract.

Every cell comes from captured traffic or from a recorder's files, so everything is escaped;
the HTML documents are standalone (inline CSS only, no scripts, no external references) for
the offline Allure report. The text table replaces control characters so that a hostile
payload cannot emit terminal escape sequences into a CI log.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Final

from harness.spec.findings import Evidence, Finding, Severity

__all__ = [
    "FINDING_COLUMNS",
    "RTP_COLUMNS",
    "findings_table_html",
    "rtp_table_html",
    "rtp_table_text",
]

MISSING: Final = "-"

# (Wireshark column title, snake_case key). A row may use either spelling for a value.
RTP_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("Source Address", "src_addr"),
    ("Source Port", "src_port"),
    ("Destination Address", "dst_addr"),
    ("Destination Port", "dst_port"),
    ("SSRC", "ssrc"),
    ("Payload", "payload"),
    ("Packets", "packets"),
    ("Lost", "lost"),
    ("Lost %", "lost_pct"),
    ("Seq Errs", "seq_errs"),
    ("Max Delta (ms)", "max_delta_ms"),
    ("Max Jitter (ms)", "max_jitter_ms"),
    ("Mean Jitter (ms)", "mean_jitter_ms"),
    ("Duration (s)", "duration_s"),
)

FINDING_COLUMNS: Final = ("Requirement", "Severity", "Message", "Evidence", "Observed", "Expected")

_NUMERIC_KEYS: Final = frozenset(key for _, key in RTP_COLUMNS[6:]) | {"src_port", "dst_port"}

_SEVERITY_ORDER: Final = {Severity.MUST: 0, Severity.SHOULD: 1, Severity.INFO: 2}

# C0/C1 controls and DEL, plus the XML-forbidden code points (lone surrogates, U+FFFE/U+FFFF).
_CONTROL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

_CSS: Final = """
body { font-family: sans-serif; font-size: 13px; color: #212121; margin: 8px; }
table { border-collapse: collapse; }
th, td { border: 1px solid #bdbdbd; padding: 3px 6px; vertical-align: top; }
th { background: #eef2f8; text-align: left; }
td.num { text-align: right; font-family: monospace; }
td.mono { font-family: monospace; white-space: pre-wrap; }
tr.warn td { background: #fff4e5; }
tr.must td { background: #fdecea; }
tr.must td.sev { color: #b71c1c; font-weight: bold; }
tr.should td.sev { color: #e65100; font-weight: bold; }
p.summary { font-weight: bold; }
""".strip()


# ----------------------------------------------------------------------------- cells


def _clean(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _h(text: str) -> str:
    return escape(_clean(text), quote=True)


def _rtp_value(row: Mapping[str, object], title: str, key: str) -> object:
    if title in row:
        return row[title]
    return row.get(key)


def _format_rtp(key: str, value: object) -> str:
    """Wireshark-like formatting: SSRC in hex, ms with 3 decimals, Lost % with 1."""
    if value is None:
        return MISSING
    if isinstance(value, float) and math.isnan(value):
        return MISSING
    if key == "ssrc" and isinstance(value, int) and not isinstance(value, bool):
        return f"0x{value & 0xFFFFFFFF:08X}"
    if isinstance(value, float):
        if key == "lost_pct":
            return f"{value:.1f}%"
        return f"{value:.3f}"
    return str(value)


def _rtp_cells(row: Mapping[str, object]) -> list[tuple[str, str]]:
    """(key, text) per column, in column order."""
    return [(key, _format_rtp(key, _rtp_value(row, title, key))) for title, key in RTP_COLUMNS]


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _html_document(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_h(title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )


# ----------------------------------------------------------------------------- RTP


def rtp_table_html(
    rows: Sequence[Mapping[str, object]], *, standalone: bool = True, title: str = "RTP Streams"
) -> str:
    """Wireshark *RTP Streams* table as HTML (a full document unless ``standalone=False``).

    Each row maps a column title (``"Max Jitter (ms)"``) or its key (``"max_jitter_ms"``, see
    ``RTP_COLUMNS``) to a value; missing or ``None`` values show as "-". Rows with lost
    packets or sequence errors are highlighted (Wireshark marks them as problems too).
    """
    head = "".join(f"<th>{_h(title_)}</th>" for title_, _ in RTP_COLUMNS)
    lines = [f'<table class="rtp-streams">\n<thead><tr>{head}</tr></thead>\n<tbody>']
    for row in rows:
        problem = any(_positive(_rtp_value(row, t, k)) for t, k in RTP_COLUMNS if k in ("lost", "seq_errs"))
        cls = ' class="warn"' if problem else ""
        cells = "".join(
            f'<td class="num">{_h(text)}</td>' if key in _NUMERIC_KEYS else f"<td>{_h(text)}</td>"
            for key, text in _rtp_cells(row)
        )
        lines.append(f"<tr{cls}>{cells}</tr>")
    if not rows:
        lines.append(f'<tr><td colspan="{len(RTP_COLUMNS)}">no RTP streams</td></tr>')
    lines.append("</tbody>\n</table>\n")
    table = "\n".join(lines)
    return _html_document(title, f"<h3>{_h(title)}</h3>\n{table}") if standalone else table


def rtp_table_text(rows: Sequence[Mapping[str, object]]) -> str:
    """The same table as fixed-width text (CI logs, ``arec validate --format text``)."""
    header = [title for title, _ in RTP_COLUMNS]
    body = [[_clean(" ".join(text.split())) for _, text in _rtp_cells(row)] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(header)]
    numeric = [key in _NUMERIC_KEYS for _, key in RTP_COLUMNS]

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in body)
    if not rows:
        out.append("(no RTP streams)")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- findings


def _evidence_text(evidence: Evidence) -> str:
    parts: list[str] = []
    if evidence.packet_index is not None:
        parts.append(f"packet #{evidence.packet_index}")
    if evidence.timestamp is not None:
        parts.append(f"t={evidence.timestamp:.6f} s")
    if evidence.file is not None:
        where = evidence.file
        if evidence.file_offset is not None:
            where += f" @ offset {evidence.file_offset}"
        parts.append(where)
    elif evidence.file_offset is not None:
        parts.append(f"offset {evidence.file_offset}")
    if evidence.header_line is not None:
        parts.append(evidence.header_line)
    return "\n".join(parts) if parts else MISSING


def findings_table_html(
    findings: Iterable[Finding], *, standalone: bool = True, title: str = "Findings"
) -> str:
    """Findings as an HTML table, MUST first (then SHOULD, INFO; stable within a severity).

    MUST rows are highlighted: a MUST finding fails the scenario and the quality gate
    (docs/architecture.md §4).
    """
    ordered = sorted(findings, key=lambda f: _SEVERITY_ORDER.get(f.severity, 3))
    counts = {s: sum(1 for f in ordered if f.severity is s) for s in Severity}
    if ordered:
        summary = f"{len(ordered)} finding{'s' if len(ordered) != 1 else ''}: " + ", ".join(
            f"{counts[s]} {s.value}" for s in Severity
        )
    else:
        summary = "No findings."
    head = "".join(f"<th>{name}</th>" for name in FINDING_COLUMNS)
    lines = [f'<p class="summary">{_h(summary)}</p>']
    if ordered:
        lines.append(f'<table class="findings">\n<thead><tr>{head}</tr></thead>\n<tbody>')
        for f in ordered:
            cls = f.severity.value.lower()
            lines.append(
                f'<tr class="{cls}" data-requirement="{_h(f.requirement_id)}">'
                f'<td class="mono">{_h(f.requirement_id)}</td>'
                f'<td class="sev">{_h(f.severity.value)}</td>'
                f"<td>{_h(f.message)}</td>"
                f'<td class="mono">{_h(_evidence_text(f.evidence))}</td>'
                f'<td class="mono">{_h(f.observed if f.observed is not None else MISSING)}</td>'
                f'<td class="mono">{_h(f.expected if f.expected is not None else MISSING)}</td>'
                "</tr>"
            )
        lines.append("</tbody>\n</table>")
    body = "\n".join(lines) + "\n"
    return _html_document(title, f"<h3>{_h(title)}</h3>\n{body}") if standalone else body
