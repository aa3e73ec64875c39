from __future__ import annotations

from pathlib import Path

import pytest

from harness.capture.model import NegotiatedStream
from harness.validators.pcap import read_capture
from harness.validators.rtp import validate_rtp
from tests.unit.validators.builders import Frame, ether, rtp, rtp_stream, udp, write_pcap

MS = ("127.0.0.1", 20000)
REC = ("127.0.0.2", 30000)
NEG = NegotiatedStream(
    call_id="call-a@127.0.0.1", media_index=0, kind="audio", offer_endpoint=MS, answer_endpoint=REC,
    offer_direction="sendonly", answer_direction="recvonly", payload_types=frozenset({0}),
    answer_index=2, answer_timestamp=1000.1,
)


def _run(tmp_path: Path, frames: list[Frame], negotiated: list[NegotiatedStream] | None = None):  # type: ignore[no-untyped-def]
    path = write_pcap(tmp_path / "rtp.pcap", frames)
    return validate_rtp(read_capture(path), [NEG] if negotiated is None else negotiated)


def _ids(report) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(f.requirement_id for f in report.findings)


def test_clean_stream_has_no_finding_and_a_table_row(tmp_path: Path) -> None:
    report = _run(tmp_path, rtp_stream(MS, REC, range(100, 150)))
    assert report.findings == []
    assert len(report.table) == 1
    row = report.table[0]
    assert row["Pkts"] == 50 and row["Lost"] == 0 and row["Dest Port"] == REC[1]
    assert row["SSRC"] == "0x00001234" and row["Max Delta(ms)"] == pytest.approx(20.0)


def test_sequence_wrap_and_timestamp_wrap_are_not_errors(tmp_path: Path) -> None:
    seqs = [(65530 + i) & 0xFFFF for i in range(12)]
    frames = rtp_stream(MS, REC, seqs, ts0=0xFFFFFFFF - 500)
    report = _run(tmp_path, frames)
    assert report.findings == []
    assert report.streams[0].summary.packets == 12


@pytest.mark.parametrize(("seqs", "lost", "errors"), [
    ([1, 2, 3, 5, 6], 1, 1),  # loss
    ([1, 2, 4, 3, 5, 6], 0, 2),  # reorder
    ([1, 2, 3, 3, 4, 5], None, 1),  # duplicate
])
def test_sequence_problems(tmp_path: Path, seqs: list[int], lost: int | None, errors: int) -> None:
    report = _run(tmp_path, rtp_stream(MS, REC, seqs))
    assert _ids(report) == ["RTP-SEQ-CONTINUITY"]
    finding = report.findings[0]
    summary = report.streams[0].summary
    assert summary.sequence_errors >= errors
    if lost is not None:
        assert summary.lost == lost
    assert f"lost={summary.lost}" in (finding.observed or "")
    assert finding.evidence.packet_index is not None and finding.evidence.packet_index > 1


def test_wrong_payload_type(tmp_path: Path) -> None:
    frames = rtp_stream(MS, REC, range(1, 6), pt=8)
    report = _run(tmp_path, frames)
    assert _ids(report) == ["RTP-PT-MATCHES-SDP"]
    assert report.findings[0].observed == "8" and report.findings[0].evidence.packet_index == 1


def test_no_rtp_to_answered_port(tmp_path: Path) -> None:
    frames = rtp_stream(MS, ("127.0.0.2", 30002), range(1, 6))  # wrong port
    report = _run(tmp_path, frames)
    assert _ids(report) == ["RTP-STREAM-RECEIVED"]
    assert report.findings[0].evidence.packet_index == 2


def test_recorder_sending_on_recvonly(tmp_path: Path) -> None:
    frames = rtp_stream(MS, REC, range(1, 6))
    frames += [(1002.0 + i * 0.02, ether(udp(REC, MS, rtp(i, i * 160, ssrc=0x9999)))) for i in range(3)]
    report = _run(tmp_path, frames)
    assert _ids(report) == ["RTP-NO-MEDIA-ON-RECVONLY"]
    assert report.findings[0].evidence.packet_index == 6


def test_without_sdp_statistics_only(tmp_path: Path) -> None:
    report = _run(tmp_path, rtp_stream(MS, REC, [1, 2, 3, 5]), negotiated=[])
    assert _ids(report) == ["RTP-SEQ-CONTINUITY"]
    assert report.streams[0].negotiated is None


def test_ssrc_change_mid_stream_is_an_info_finding(tmp_path: Path) -> None:
    frames = rtp_stream(MS, REC, range(100, 120), ssrc=0x1111)
    frames += rtp_stream(MS, REC, range(5000, 5020), ssrc=0x2222, t0=1001.4)
    report = _run(tmp_path, frames)
    assert _ids(report) == ["RTP-SSRC-CHANGE"]
    finding = report.findings[0]
    assert finding.severity.value == "INFO"
    assert "0x00001111 -> 0x00002222" in finding.message
    assert finding.evidence.packet_index == 21  # first packet of the new SSRC
    assert [r["SSRC"] for r in report.table] == ["0x00001111", "0x00002222"]


def test_one_ssrc_per_address_pair_is_no_ssrc_change(tmp_path: Path) -> None:
    report = _run(tmp_path, rtp_stream(MS, REC, range(1, 30), ssrc=0x1111))
    assert "RTP-SSRC-CHANGE" not in _ids(report)
