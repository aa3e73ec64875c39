"""The golden captures in `pcaps/`: `arec validate --format json` on each gives the findings and
RTP numbers kept next to it (`<name>.expected.json`, written by scripts/regenerate_pcaps.py).

Offline and socket-free (the command line's own entry point, in-process, on a file): unit tier.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import dpkt
import pytest

from harness.cli import main
from tests.golden import GOLDEN, PCAPS, Golden, finding_counts, reduce, refusals, stream_rows

MAX_CAPTURE_BYTES = 200_000
MAX_TOTAL_BYTES = 1_000_000


def _validate(pcap: Path) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", str(pcap), "--format", "json"])
    assert code in (0, 1), err.getvalue()[-2000:]
    return dict(json.loads(out.getvalue()))


def _expected(golden: Golden) -> dict[str, Any]:
    return dict(json.loads((PCAPS / f"{golden.name}.expected.json").read_text(encoding="utf-8")))


@pytest.mark.parametrize("golden", GOLDEN, ids=[g.name for g in GOLDEN])
def test_validate_finds_what_the_golden_capture_expects(golden: Golden) -> None:
    expected = _expected(golden)
    reduced = reduce(_validate(PCAPS / expected["capture"]))
    assert reduced["error"] is None and expected["error"] is None
    assert reduced["summary"] == expected["summary"]
    assert reduced["findings"] == expected["findings"]
    assert reduced["rtp_streams"] == expected["rtp_streams"]


@pytest.mark.parametrize("golden", GOLDEN, ids=[g.name for g in GOLDEN])
def test_each_expected_file_still_shows_what_its_capture_is_for(golden: Golden) -> None:
    # A hand edit of an expected file cannot turn a capture into something else.
    assert refusals(golden, _expected(golden)) == []


def test_the_captures_are_small_and_every_one_is_described() -> None:
    sizes = {g.name: (PCAPS / f"{g.name}.pcap").stat().st_size for g in GOLDEN}
    assert all(0 < size < MAX_CAPTURE_BYTES for size in sizes.values()), sizes
    assert sum(sizes.values()) < MAX_TOTAL_BYTES
    readme = (PCAPS / "README.md").read_text(encoding="utf-8")
    for golden in GOLDEN:
        assert f"`{golden.name}.pcap`" in readme
    # Nothing in pcaps/ that the tests do not cover.
    assert {p.name for p in PCAPS.glob("*.pcap")} == {f"{g.name}.pcap" for g in GOLDEN}


def test_a_capture_that_lost_rtp_no_longer_matches(tmp_path: Path) -> None:
    # The comparison can fail: drop every 10th RTP packet of the two-session capture.
    golden = next(g for g in GOLDEN if g.name == "two-session")
    damaged = tmp_path / "damaged.pcap"
    with (PCAPS / "two-session.pcap").open("rb") as source, damaged.open("wb") as sink:
        reader = dpkt.pcap.Reader(source)
        writer = dpkt.pcap.Writer(sink, linktype=reader.datalink())
        rtp = 0
        for timestamp, frame in reader:
            ip = dpkt.ethernet.Ethernet(frame).data
            udp = getattr(ip, "data", None)
            if isinstance(udp, dpkt.udp.UDP) and udp.data[:1] and udp.data[0] >> 6 == 2:  # RTP version 2; SIP starts with a letter
                rtp += 1
                if rtp % 10 == 5:
                    continue
            writer.writepkt(frame, ts=timestamp)
    reduced = reduce(_validate(damaged))
    expected = _expected(golden)
    assert [r["lost"] for r in reduced["rtp_streams"]] != [r["lost"] for r in expected["rtp_streams"]]
    assert sum(r["lost"] for r in reduced["rtp_streams"]) >= rtp // 10
    assert reduced["findings"] != expected["findings"]


def test_findings_are_counted_from_either_json_layout() -> None:
    per_call = {"calls": [
        {"call": "A", "requirements": [{"id": "RTP-SEQ-CONTINUITY", "severity": "SHOULD",
                                        "findings": [{"severity": "SHOULD"}, {"severity": "SHOULD"}]}]},
        {"call": "B", "requirements": [{"id": "SDP-ANSWER-RECVONLY", "severity": "MUST", "findings": [{}]},
                                       {"id": "RTP-SEQ-CONTINUITY", "severity": "SHOULD", "findings": [{}]}]}]}
    flat = {"findings": [{"requirement_id": "RTP-SEQ-CONTINUITY", "severity": "SHOULD"}] * 3
            + [{"requirement_id": "SDP-ANSWER-RECVONLY", "severity": "MUST", "message": "new field"}]}
    want = {"RTP-SEQ-CONTINUITY": {"SHOULD": 3}, "SDP-ANSWER-RECVONLY": {"MUST": 1}}
    assert finding_counts(per_call) == finding_counts(flat) == want
    assert finding_counts({}) == {}


def test_stream_rows_keep_the_numbers_not_the_addresses() -> None:
    doc = {"rtp_streams": [
        {"src_port": 4002, "dst_port": 20002, "ssrc": 7, "packets": 50, "lost": 1, "payload": "0", "new": "x"},
        {"src_port": 4000, "dst_port": 20000, "ssrc": 9, "packets": 49, "lost": 0, "payload": "0"}]}
    rows = stream_rows(doc)
    assert [r["packets"] for r in rows] == [49, 50]
    assert all("src_port" not in r and "new" not in r for r in rows)
