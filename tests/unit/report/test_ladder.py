"""Ladder diagram: well-formed standalone SVG, one arrow per message, escaping, column order."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import harness.report.ladder as ladder_mod
from harness.protocol.sip.headers import CSeq
from harness.protocol.sip.message import Headers, SipMessage, SipParseError, SipRequest, SipResponse
from harness.protocol.sip.uri import SipUri
from harness.report.ladder import (
    LadderMessage,
    Participant,
    ladder_from_sip,
    render_ladder,
    rtp_summary_message,
)

SVG_NS = "http://www.w3.org/2000/svg"
NS = {"svg": SVG_NS}
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report"

MS_A = "127.0.0.1:5070"
REC = "127.0.0.1:5060"
TSERVER = "127.0.0.1:7000"


def _flow() -> list[LadderMessage]:
    return [
        LadderMessage(
            10.0, MS_A, REC, "INVITE sip:record=8001@127.0.0.1:5060", "INVITE sip:...\nCSeq: 1 INVITE"
        ),
        LadderMessage(10.010, REC, MS_A, "100 Trying (INVITE)"),
        LadderMessage(10.123, REC, MS_A, "200 OK (INVITE)"),
        LadderMessage(10.130, MS_A, REC, "ACK"),
        rtp_summary_message(
            10.2, "127.0.0.1:40000", "127.0.0.1:30000", payload="PCMU", packets=250, duration=5.0
        ),
        LadderMessage(10.0, TSERVER, "127.0.0.1:7001", "EventPrivateInfo 3013", kind="tlib"),
        LadderMessage(12.0, REC, "", "recording paused", kind="note"),
        LadderMessage(15.3, MS_A, REC, "BYE sip:rec@127.0.0.1:5060"),
    ]


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _msgs(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{{{SVG_NS}}}g") if "msg" in g.get("class", "").split()]


def _columns(root: ET.Element) -> list[str]:
    return [g.get("data-address", "") for g in root.iter(f"{{{SVG_NS}}}g") if g.get("class") == "participant"]


def _all_text(el: ET.Element) -> str:
    return "\n".join(t for t in el.itertext())


def test_svg_is_well_formed_with_one_group_per_message() -> None:
    svg = render_ladder(_flow())
    root = _parse(svg)
    assert root.tag == f"{{{SVG_NS}}}svg"
    assert len(_msgs(root)) == len(_flow())
    # Each kind gets its shape: arrows are lines, the RTP band and the note are rectangles.
    kinds = {g.get("class", "").split()[1] for g in _msgs(root)}
    assert kinds == {"sip", "rtp-summary", "tlib", "note"}
    for g in _msgs(root):
        kind = g.get("class", "").split()[1]
        if kind in ("sip", "tlib"):
            assert g.find("svg:line", NS) is not None and g.find("svg:polygon", NS) is not None
        else:
            assert g.find("svg:rect", NS) is not None
    tlib = next(g for g in _msgs(root) if "tlib" in g.get("class", ""))
    line = tlib.find("svg:line", NS)
    assert line is not None and line.get("stroke-dasharray")


def test_svg_is_self_contained() -> None:
    svg = render_ladder(_flow(), [Participant(MS_A, "Media Server leg A")])
    # The only URL is the SVG namespace itself: no links, fonts, images or scripts.
    assert re.findall(r"https?:", svg) == ["http:"]
    assert f'xmlns="{SVG_NS}"' in svg
    for forbidden in ("<script", "href", "@import", "url(", "<image", "<foreignObject", "@font-face"):
        assert forbidden not in svg


def test_labels_are_xml_escaped() -> None:
    nasty = "INVITE sip:<&>\"'@x </text><script>alert(1)</script>"
    svg = render_ladder([LadderMessage(0.0, MS_A, REC, nasty, detail="detail <&> ]]>")])
    assert "<script" not in svg
    root = _parse(svg)
    (g,) = _msgs(root)
    title = g.find("svg:title", NS)
    assert title is not None and title.text == "detail <&> ]]>"
    texts = [t.text or "" for t in g.iter(f"{{{SVG_NS}}}text")]
    assert any(t.startswith('INVITE sip:<&>"') for t in texts)


def test_http_in_a_label_is_counted_by_the_http_check() -> None:
    # Guard for the self-contained test: labels are rendered, so an http label does show up.
    svg = render_ladder([LadderMessage(0.0, MS_A, REC, "INVITE http://x")])
    assert len(re.findall("http", svg)) > 1


def test_control_characters_do_not_break_the_document() -> None:
    label = "BYE \x00\x1b[31m\udcff\ufffe end"
    root = _parse(render_ladder([LadderMessage(0.0, MS_A, REC, label, detail="a\x07b")]))
    (g,) = _msgs(root)
    text = _all_text(g)
    assert "\\x00" in text and "\\x1b" in text and "\\x07" in text
    assert "\x00" not in text and "\x1b" not in text


def test_columns_in_first_appearance_order_by_time() -> None:
    msgs = [
        LadderMessage(2.0, "10.0.0.3:1", "10.0.0.1:1", "late"),
        LadderMessage(1.0, "10.0.0.2:1", "10.0.0.3:1", "early"),
    ]
    root = _parse(render_ladder(msgs))
    assert _columns(root) == ["10.0.0.2:1", "10.0.0.3:1", "10.0.0.1:1"]
    # Rows are ordered by time too: the first drawn row is "early".
    first = _msgs(root)[0]
    assert "early" in _all_text(first)


def test_participant_names_aliases_and_silent_participants() -> None:
    parts = [
        Participant(REC, "Recorder", aliases=("127.0.0.1:30000",)),
        Participant(MS_A, "Media Server leg A", aliases=("127.0.0.1:40000",)),
        Participant("127.0.0.1:9999", "Silent party"),
    ]
    root = _parse(render_ladder(_flow(), parts))
    # The RTP ports fold into their participants' columns; the never-seen party comes last.
    assert _columns(root) == [MS_A, REC, TSERVER, "127.0.0.1:7001", "127.0.0.1:9999"]
    header_text = _all_text(root)
    assert "Media Server leg A" in header_text and "Recorder" in header_text and "Silent party" in header_text


def test_relative_times_and_rtp_band_label() -> None:
    root = _parse(render_ladder(_flow()))
    times = [t.text for t in root.iter(f"{{{SVG_NS}}}text") if t.get("class") == "time"]
    assert times[0] == "+0.000 s"
    assert "+0.123 s" in times
    assert times[-1] == "+5.300 s"
    band = next(g for g in _msgs(root) if "rtp-summary" in g.get("class", ""))
    assert "RTP PCMU 250 pkts 5.0 s" in _all_text(band)


def test_failed_rows_are_red() -> None:
    msgs = [LadderMessage(0.0, MS_A, REC, "INVITE"), LadderMessage(0.1, REC, MS_A, "500 Oops", failed=True)]
    root = _parse(render_ladder(msgs))
    ok, bad = _msgs(root)
    assert "failed" in bad.get("class", "") and "failed" not in ok.get("class", "")
    bad_line = bad.find("svg:line", NS)
    ok_line = ok.find("svg:line", NS)
    assert bad_line is not None and ok_line is not None
    assert bad_line.get("stroke") == "#d32f2f" != ok_line.get("stroke")


def test_cap_says_how_many_more() -> None:
    msgs = [LadderMessage(i * 0.01, MS_A, REC, f"OPTIONS {i}") for i in range(450)]
    root = _parse(render_ladder(msgs, max_arrows=400))
    assert len(_msgs(root)) == 400
    more = [t.text for t in root.iter(f"{{{SVG_NS}}}text") if t.get("class") == "more"]
    assert more == ["... 50 more messages not shown"]
    assert len(_msgs(_parse(render_ladder(msgs[:400])))) == 400
    assert "more" not in render_ladder(msgs[:400])


def test_self_message_and_empty_ladder() -> None:
    root = _parse(render_ladder([LadderMessage(0.0, MS_A, MS_A, "loop")]))
    (g,) = _msgs(root)
    assert g.find("svg:path", NS) is not None
    empty = _parse(render_ladder([]))
    assert _msgs(empty) == [] and "no messages" in _all_text(empty)


def test_long_label_is_truncated_but_kept_in_the_tooltip() -> None:
    label = "INVITE sip:" + "x" * 500
    (g,) = _msgs(_parse(render_ladder([LadderMessage(0.0, MS_A, REC, label)])))
    drawn = [t.text or "" for t in g.iter(f"{{{SVG_NS}}}text") if t.get("class") != "time"]
    assert drawn and drawn[0].endswith("\u2026") and len(drawn[0]) < 200
    title = g.find("svg:title", NS)
    assert title is not None and title.text == label


def test_ladder_message_validation() -> None:
    with pytest.raises(ValueError):
        LadderMessage(0.0, MS_A, REC, "x", kind="rtp")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        LadderMessage(float("nan"), MS_A, REC, "x")
    with pytest.raises(ValueError):
        render_ladder([], max_arrows=0)


@settings(max_examples=60, deadline=None)
@given(labels=st.lists(st.text(max_size=80), min_size=1, max_size=6), detail=st.text(max_size=200))
def test_any_text_gives_well_formed_svg(labels: list[str], detail: str) -> None:
    msgs = [LadderMessage(float(i), MS_A, REC, label, detail or None) for i, label in enumerate(labels)]
    root = _parse(render_ladder(msgs))
    assert len(_msgs(root)) == len(labels)


# ----------------------------------------------------------------------------- ladder_from_sip


@dataclass(frozen=True, slots=True)
class _Uri(SipUri):
    text: str = ""

    def __str__(self) -> str:
        return self.text


class _Response(SipResponse):
    cseq_method: str | None

    @property
    def cseq(self) -> CSeq:
        if self.cseq_method is None:
            raise SipParseError("missing CSeq")
        return CSeq(1, self.cseq_method)


def _fake_parse(data: bytes) -> SipMessage:
    """Stand-in for the SIP parser (being written in parallel): start line + CSeq only."""
    lines = data.decode("utf-8", "replace").split("\r\n")
    first = lines[0].split(" ", 2)
    cseq = next((ln.split()[-1] for ln in lines if ln.startswith("CSeq:")), None)
    if first[0] == "SIP/2.0" and len(first) == 3:
        resp = _Response(int(first[1]), first[2], Headers())
        resp.cseq_method = cseq
        return resp
    if len(first) == 3 and first[2] == "SIP/2.0":
        return SipRequest(first[0], _Uri("sip", None, None, "127.0.0.1", None, text=first[1]), Headers())
    raise SipParseError("bad start line")


@pytest.fixture
def fake_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ladder_mod, "parse_message", _fake_parse)


def test_ladder_from_sip_labels(fake_parser: None) -> None:
    invite = (FIXTURES / "invite.sip").read_bytes()
    ok = (FIXTURES / "ok_invite.sip").read_bytes()
    garbage = (FIXTURES / "garbage.sip").read_bytes()
    no_cseq = b"SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n"
    rows = ladder_from_sip(
        [
            (1.0, ("127.0.0.1", 5070), ("127.0.0.1", 5060), invite),
            (1.1, ("127.0.0.1", 5060), ("127.0.0.1", 5070), ok),
            (1.2, ("::1", 5070), ("::1", 5060), garbage),
            (1.3, ("127.0.0.1", 5060), ("127.0.0.1", 5070), no_cseq),
        ],
        failed={1},
    )
    assert [r.label for r in rows] == [
        "INVITE sip:record=8001@127.0.0.1:5060",
        "200 OK (INVITE)",
        f"unparseable ({len(garbage)} bytes)",
        "486 Busy Here",
    ]
    assert [r.failed for r in rows] == [False, True, True, False]
    assert rows[0].src == MS_A and rows[0].dst == REC
    assert rows[2].src == "[::1]:5070"
    assert rows[0].detail is not None and rows[0].detail.splitlines()[5] == "CSeq: 1 INVITE"
    assert "\r" not in rows[0].detail
    assert rows[2].detail is not None and rows[2].detail.startswith("bad start line")
    # The whole thing renders, garbage included.
    root = _parse(render_ladder(rows))
    assert len(_msgs(root)) == 4


def test_ladder_from_sip_detail_is_capped(fake_parser: None) -> None:
    invite = (FIXTURES / "invite.sip").read_bytes()
    (row,) = ladder_from_sip([(0.0, ("127.0.0.1", 5070), ("127.0.0.1", 5060), invite)], detail_lines=3)
    assert row.detail is not None
    lines = row.detail.splitlines()
    assert lines[0].startswith("INVITE ") and len(lines) == 4 and lines[-1].startswith("... (")


def test_fixtures_keep_crlf() -> None:
    assert b"\r\n" in (FIXTURES / "invite.sip").read_bytes()
    assert b"\n" not in (FIXTURES / "invite.sip").read_bytes().replace(b"\r\n", b"")


def test_ladder_from_sip_with_the_project_parser() -> None:
    """Contract check against the real harness.protocol.sip parser (no monkeypatching)."""
    rows = ladder_from_sip(
        [
            (0.0, ("127.0.0.1", 5070), ("127.0.0.1", 5060), (FIXTURES / "invite.sip").read_bytes()),
            (0.1, ("127.0.0.1", 5060), ("127.0.0.1", 5070), (FIXTURES / "ok_invite.sip").read_bytes()),
            (0.2, ("127.0.0.1", 5060), ("127.0.0.1", 5070), (FIXTURES / "garbage.sip").read_bytes()),
        ]
    )
    assert [(r.label, r.failed) for r in rows] == [
        ("INVITE sip:record=8001@127.0.0.1:5060", False),
        ("200 OK (INVITE)", False),
        ("unparseable (27 bytes)", True),
    ]
    svg = render_ladder(rows, [Participant(MS_A, "Media Server leg A"), Participant(REC, "Recorder")])
    root = _parse(svg)
    assert len(_msgs(root)) == 3 and _columns(root) == [MS_A, REC]
