"""The in-run delivery check: sent.pcap (written by the run's sender-side builder) vs the capture.

A received capture missing one sent packet must give REP-SENT-RECEIVED; the same packets
received whole give no finding (the check is not vacuous either way).
"""

from __future__ import annotations

from pathlib import Path

from harness.conformance.sent_rtp import SentRtp, write_sent_rtp
from harness.media.rtp_source import RtpStreamSource
from harness.validators.delivery import compare_delivery

MEDIA_SERVER = ("127.0.0.1", 41000)
RECORDER = ("127.0.0.1", 37000)


def _sent(count: int = 50) -> list[SentRtp]:
    source = RtpStreamSource.create(1, "PCMU", rng=7)
    return [(1_700_000_000.0 + n * 0.02, MEDIA_SERVER, RECORDER, source.packet(n, marker=n == 0))
            for n in range(count)]


def _received(sent: list[SentRtp], drop: int | None) -> list[SentRtp]:
    return [(t + 0.0005, src, dst, p) for i, (t, src, dst, p) in enumerate(sent) if i != drop]


def test_a_packet_lost_on_the_way_is_rep_sent_received(tmp_path: Path) -> None:
    sent = _sent()
    sent_pcap = write_sent_rtp(tmp_path / "sent.pcap", reversed(sent))  # written in time order anyway
    received = write_sent_rtp(tmp_path / "capture.pcap", _received(sent, drop=20))
    report = compare_delivery(sent_pcap, received, [RECORDER])
    assert [f.requirement_id for f in report.findings] == ["REP-SENT-RECEIVED"]
    (row,) = report.streams
    assert (row.sent, row.received, row.missing) == (50, 49, 1)


def test_everything_received_unchanged_gives_no_finding(tmp_path: Path) -> None:
    sent = _sent()
    sent_pcap = write_sent_rtp(tmp_path / "sent.pcap", sent)
    received = write_sent_rtp(tmp_path / "capture.pcap", _received(sent, drop=None))
    report = compare_delivery(sent_pcap, received, [RECORDER])
    assert report.findings == []
    (row,) = report.streams
    assert (row.sent, row.received, row.missing, row.altered) == (50, 50, 0, 0)
