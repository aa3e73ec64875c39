"""RTP stream tables (HTML and text) and the findings table: columns, "-", escaping, order."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from harness.report.tables import (
    RTP_COLUMNS,
    findings_table_html,
    rtp_table_html,
    rtp_table_text,
)
from harness.spec.findings import Evidence, Finding, Severity

WIRESHARK_COLUMNS = [
    "Source Address",
    "Source Port",
    "Destination Address",
    "Destination Port",
    "SSRC",
    "Payload",
    "Packets",
    "Lost",
    "Lost %",
    "Seq Errs",
    "Max Delta (ms)",
    "Max Jitter (ms)",
    "Mean Jitter (ms)",
    "Duration (s)",
]


class _Table(HTMLParser):
    """Collects header cells, body rows (cell texts + tr class) and every start tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.rows: list[tuple[str, list[str]]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None
        self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append((dict(attrs).get("class") or "", []))
        elif tag in ("td", "th"):
            self._cell = []
            self._in_th = tag == "th"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell)
            if self._in_th:
                self.headers.append(text)
            else:
                self.rows[-1][1].append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Table:
    table = _Table()
    table.feed(html)
    table.close()
    return table


def _body_rows(table: _Table) -> list[tuple[str, list[str]]]:
    return [(cls, cells) for cls, cells in table.rows if cells]


FULL_ROW: dict[str, object] = {
    "Source Address": "127.0.0.1",
    "Source Port": 40000,
    "Destination Address": "127.0.0.1",
    "Destination Port": 30000,
    "SSRC": 0x1234ABCD,
    "Payload": "g711U",
    "Packets": 250,
    "Lost": 0,
    "Lost %": 0.0,
    "Seq Errs": 0,
    "Max Delta (ms)": 20.512,
    "Max Jitter (ms)": 0.25,
    "Mean Jitter (ms)": 0.1,
    "Duration (s)": 4.98,
}


def test_rtp_columns_are_wiresharks() -> None:
    assert [title for title, _ in RTP_COLUMNS] == WIRESHARK_COLUMNS
    table = _parse(rtp_table_html([FULL_ROW]))
    assert table.headers == WIRESHARK_COLUMNS


def test_rtp_html_formats_and_dashes() -> None:
    sparse = {"src_addr": "10.0.0.1", "packets": 7, "lost": 2, "Max Jitter (ms)": None}
    table = _parse(rtp_table_html([FULL_ROW, sparse]))
    (cls_full, full), (cls_sparse, cells) = _body_rows(table)
    assert full[4] == "0x1234ABCD" and full[8] == "0.0%" and full[10] == "20.512" and full[13] == "4.980"
    assert cls_full == ""
    # snake_case keys work; missing and None values are "-"; lost > 0 is highlighted.
    assert cells[0] == "10.0.0.1" and cells[6] == "7" and cells[7] == "2"
    assert cells[1] == "-" and cells[11] == "-" and cells[13] == "-"
    assert cls_sparse == "warn"
    assert len(cells) == len(WIRESHARK_COLUMNS)


def test_rtp_html_escapes_and_is_standalone() -> None:
    row = {"Payload": "<script>alert('x')</script>&", "Source Address": '"><img src=x>'}
    html = rtp_table_html([row])
    table = _parse(html)
    assert "script" not in table.tags and "img" not in table.tags
    ((_, cells),) = _body_rows(table)
    assert cells[5] == "<script>alert('x')</script>&"
    assert cells[0] == '"><img src=x>'
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert not re.search(r"https?:|<link|<script|<img|url\(", html)


def test_rtp_html_fragment_and_empty() -> None:
    fragment = rtp_table_html([], standalone=False)
    assert fragment.startswith("<table") and "<html" not in fragment
    assert "no RTP streams" in fragment


def test_rtp_text_aligned_with_dashes_and_no_control_characters() -> None:
    rows = [FULL_ROW, {"Payload": "PCMA\x1b[31m", "Packets": 1234567}]
    text = rtp_table_text(rows)
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[0].split("  ")[0] == "Source Address"
    assert set(lines[1].replace(" ", "")) == {"-"}
    # The separator row marks each column; every value ends (numbers) or starts (text)
    # inside its column, so the columns line up.
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", lines[1])]
    assert len(spans) == len(WIRESHARK_COLUMNS)
    packets_start, packets_end = spans[6]
    assert lines[3][packets_start:packets_end].strip() == "1234567"
    assert lines[3][spans[0][0] : spans[0][1]].strip() == "-"
    assert "\x1b" not in text and "\\x1b" in text


def _finding(rid: str, sev: Severity, msg: str, **kw: object) -> Finding:
    return Finding(rid, sev, msg, **kw)  # type: ignore[arg-type]


def test_findings_table_must_first_highlighted_and_escaped() -> None:
    findings = [
        _finding("RTP-JITTER", Severity.INFO, "jitter 3 ms"),
        _finding(
            "SIP-RESP-CODES",
            Severity.MUST,
            "recorder answered <b>500</b> & hung up",
            evidence=Evidence(packet_index=12, timestamp=1.5, header_line="SIP/2.0 500 <Oops>"),
            observed="500",
            expected="200",
        ),
        _finding("SDP-PTIME", Severity.SHOULD, "no ptime"),
        _finding("REC-FILE", Severity.MUST, "missing file", evidence=Evidence(file="a.wav", file_offset=44)),
    ]
    html = findings_table_html(findings)
    table = _parse(html)
    assert "b" not in table.tags
    assert table.headers == ["Requirement", "Severity", "Message", "Evidence", "Observed", "Expected"]
    rows = _body_rows(table)
    assert [cells[0] for _, cells in rows] == ["SIP-RESP-CODES", "REC-FILE", "SDP-PTIME", "RTP-JITTER"]
    assert [cls for cls, _ in rows] == ["must", "must", "should", "info"]
    first = rows[0][1]
    assert first[2] == "recorder answered <b>500</b> & hung up"
    assert "packet #12" in first[3] and "SIP/2.0 500 <Oops>" in first[3]
    assert first[4:] == ["500", "200"]
    assert rows[1][1][3] == "a.wav @ offset 44"
    assert rows[2][1][3:] == ["-", "-", "-"]
    assert "4 findings: 2 MUST, 1 SHOULD, 1 INFO" in html
    assert "tr.must td" in html  # highlighted by inline CSS, no external stylesheet
    assert not re.search(r"https?:|<link|<script", html)


def test_findings_table_empty() -> None:
    html = findings_table_html([])
    assert "No findings." in html and "<table" not in html
