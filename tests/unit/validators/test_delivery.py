"""Delivery (harness.validators.delivery, `arec validate RECEIVED --sent SENT`): two captures built
with scapy, one on the Media Server's side and one at the recorder's port, compared per stream."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pytest

from harness.spec.catalogue import load_catalogue
from harness.validate_cli import delivery_rows, render_json, render_text, validate_capture, validate_from_cli
from harness.validators import delivery
from harness.validators.delivery import DeliveryReport, compare_delivery
from tests.unit.validators.builders import Frame, ether, rtp, udp, write_pcap

MS = ("127.0.0.1", 20000)  # Media Server replicating
REC = ("127.0.0.2", 30000)  # recorder's port
REC_B = ("127.0.0.2", 30002)
PARTY = (("127.0.0.3", 16000), ("127.0.0.1", 20002))  # a party's leg, also in a Media Server capture

# (seq, ts, payload, pt) of one packet; the capture time is given apart.
Pkt = tuple[int, int, bytes, int]


def _packets(n: int, *, seed: int = 3, seq0: int = 65500) -> list[Pkt]:
    """`n` packets with distinct random payloads; seq wraps 65535 -> 0 on the way."""
    rnd = random.Random(seed)
    return [((seq0 + i) & 0xFFFF, 160 * i, bytes(rnd.getrandbits(8) for _ in range(160)), 0) for i in range(n)]


def _frames(src: tuple[str, int], dst: tuple[str, int], packets: list[Pkt], times: list[float],
            ssrc: int = 0xCAFE) -> list[Frame]:
    return [(t, ether(udp(src, dst, rtp(seq, ts, ssrc, pt, payload)))) for (seq, ts, payload, pt), t in
            zip(packets, times, strict=True)]


def _times(n: int, t0: float, delay: float = 0.0) -> list[float]:
    return [t0 + 0.02 * i + delay for i in range(n)]


def _compare(tmp_path: Path, sent: list[Frame], received: list[Frame]) -> DeliveryReport:
    sent_pcap = write_pcap(tmp_path / "sent.pcap", sorted(sent, key=lambda f: f[0]))
    received_pcap = write_pcap(tmp_path / "received.pcap", sorted(received, key=lambda f: f[0]))
    return compare_delivery(sent_pcap, received_pcap)


def _ids(report: DeliveryReport) -> list[str]:
    return sorted(f.requirement_id for f in report.findings)


def test_emitted_ids_are_in_the_catalogue() -> None:
    assert set(delivery.EMITTED_REQUIREMENTS) <= set(load_catalogue())


def test_everything_delivered_gives_no_finding_and_the_delay(tmp_path: Path) -> None:
    pkts = _packets(60)
    report = _compare(tmp_path, _frames(MS, REC, pkts, _times(60, 1000.0)),
                      _frames(MS, REC, pkts, _times(60, 1000.0, delay=0.004)))
    assert report.findings == []
    [row] = report.streams
    assert (row.sent, row.received, row.missing, row.altered, row.duplicated, row.extra, row.reordered) == \
        (60, 60, 0, 0, 0, 0, 0)
    assert row.received_dst == REC and row.not_judged == 0
    assert row.min_delay_ms == pytest.approx(4.0, abs=1e-3)
    assert row.max_delay_ms == pytest.approx(4.0, abs=1e-3)


def test_lost_packets_are_missing_with_the_first_one_as_evidence(tmp_path: Path) -> None:
    pkts = _packets(60)
    times = _times(60, 1000.0, 0.004)
    kept = [i for i in range(60) if i not in (10, 11, 40)]
    report = _compare(tmp_path, _frames(MS, REC, pkts, _times(60, 1000.0)),
                      _frames(MS, REC, [pkts[i] for i in kept], [times[i] for i in kept]))
    assert _ids(report) == ["REP-SENT-RECEIVED"]
    assert report.streams[0].missing == 3 and report.streams[0].received == 57
    finding = report.findings[0]
    assert finding.severity.value == "MUST" and "3 of 60" in finding.message
    assert finding.evidence.packet_index == 11 and finding.evidence.file is not None  # frame 11 of sent.pcap
    assert finding.evidence.file.endswith("sent.pcap")


def test_altered_payload_and_payload_type_are_findings(tmp_path: Path) -> None:
    pkts = _packets(30)
    changed = list(pkts)
    seq, ts, payload, pt = changed[5]
    changed[5] = (seq, ts, bytes(160), pt)  # other bytes
    seq, ts, payload, pt = changed[20]
    changed[20] = (seq, ts, payload, 8)  # PCMA instead of PCMU
    report = _compare(tmp_path, _frames(MS, REC, pkts, _times(30, 1000.0)),
                      _frames(MS, REC, changed, _times(30, 1000.0, 0.003)))
    assert _ids(report) == ["REP-SENT-UNALTERED"]
    assert report.streams[0].altered == 2 and report.streams[0].received == 30
    assert "payload differs" in report.findings[0].message
    assert report.findings[0].evidence.packet_index == 6


def test_duplicated_packets_are_a_should_finding(tmp_path: Path) -> None:
    pkts = _packets(30)
    times = _times(30, 1000.0, 0.003)
    received = _frames(MS, REC, pkts, times) + _frames(MS, REC, [pkts[7], pkts[7]], [times[7] + 0.001] * 2)
    report = _compare(tmp_path, _frames(MS, REC, pkts, _times(30, 1000.0)), received)
    assert _ids(report) == ["REP-SENT-NO-DUPLICATE"]
    assert report.findings[0].severity.value == "SHOULD"
    assert report.streams[0].duplicated == 2 and report.streams[0].received == 30


def test_a_packet_the_sender_sent_twice_may_arrive_twice(tmp_path: Path) -> None:
    pkts = _packets(20)
    sent_times = _times(20, 1000.0)
    recv_times = _times(20, 1000.0, 0.003)
    sent = _frames(MS, REC, pkts, sent_times) + _frames(MS, REC, [pkts[4]], [sent_times[4] + 0.001])
    received = _frames(MS, REC, pkts, recv_times) + _frames(MS, REC, [pkts[4]], [recv_times[4] + 0.001])
    report = _compare(tmp_path, sent, received)
    assert report.findings == []
    assert report.streams[0].sent == 21


def test_extra_packets_and_a_foreign_stream_are_findings(tmp_path: Path) -> None:
    pkts = _packets(30)
    times = _times(30, 1000.0, 0.003)
    unsent = [(1234, 999_999, bytes(160), 0)]
    received = _frames(MS, REC, pkts + unsent, [*times, times[-1] + 0.01]) + \
        _frames(("127.0.0.9", 5000), REC, _packets(5, seed=9), _times(5, 1000.1), ssrc=0xBAD)
    report = _compare(tmp_path, _frames(MS, REC, pkts, _times(30, 1000.0)), received)
    assert _ids(report) == ["REP-SENT-NO-EXTRA", "REP-SENT-NO-EXTRA"]
    assert report.streams[0].extra == 1
    messages = " | ".join(f.message for f in report.findings)
    assert "seq 1234 ts 999999 never sent" in messages
    assert "5 RTP packet(s) 127.0.0.9:5000 -> 127.0.0.2:30000 SSRC 0x00000BAD" in messages


def test_reordered_arrival_is_counted_against_the_sending_order(tmp_path: Path) -> None:
    pkts = _packets(30)  # crosses the 65535 -> 0 wrap: order is the sender's, not the seq value's
    times = _times(30, 1000.0, 0.003)
    times[14], times[15] = times[15], times[14]  # 15 arrives before 14
    report = _compare(tmp_path, _frames(MS, REC, pkts, _times(30, 1000.0)), _frames(MS, REC, pkts, times))
    assert _ids(report) == ["REP-SENT-IN-ORDER"]
    assert report.streams[0].reordered == 1


def test_one_way_delay_numbers_and_the_limit(tmp_path: Path) -> None:
    pkts = _packets(30)
    delays = [0.010, 0.020, 0.030] * 10
    recv_times = [t + d for t, d in zip(_times(30, 1000.0), delays, strict=True)]
    report = _compare(tmp_path, _frames(MS, REC, pkts, _times(30, 1000.0)), _frames(MS, REC, pkts, recv_times))
    assert report.findings == []
    row = report.streams[0]
    assert row.min_delay_ms == pytest.approx(10.0, abs=1e-3)
    assert row.mean_delay_ms == pytest.approx(20.0, abs=1e-3)
    assert row.max_delay_ms == pytest.approx(30.0, abs=1e-3)
    slow = _compare(tmp_path, _frames(MS, REC, pkts, _times(30, 1000.0)),
                    _frames(MS, REC, pkts, _times(30, 1000.0, delay=0.2)))
    assert _ids(slow) == ["REP-SENT-DELAY"]
    assert slow.findings[0].observed == "max 200.0 ms"


def test_packets_sent_before_the_received_capture_started_are_not_judged(tmp_path: Path) -> None:
    pkts = _packets(60)
    times = _times(60, 1000.0, 0.004)
    report = _compare(tmp_path, _frames(MS, REC, pkts, _times(60, 1000.0)),
                      _frames(MS, REC, pkts[10:], times[10:]))
    assert report.findings == []
    assert (report.streams[0].missing, report.streams[0].not_judged) == (0, 10)


def test_a_stream_lost_entirely_is_missing_and_party_legs_are_ignored(tmp_path: Path) -> None:
    pkts = _packets(30)
    sent = _frames(MS, REC, pkts, _times(30, 1000.0)) + \
        _frames(("127.0.0.1", 20002), REC_B, _packets(30, seed=5), _times(30, 1000.0), ssrc=0xBEEF) + \
        _frames(*PARTY, _packets(30, seed=6), _times(30, 1000.0), ssrc=0x1111)
    report = _compare(tmp_path, sent, _frames(MS, REC, pkts, _times(30, 1000.0, 0.003)))
    assert _ids(report) == ["REP-SENT-RECEIVED"]
    assert "0x0000BEEF" in report.findings[0].message and "30 of 30" in report.findings[0].message
    assert len(report.streams) == 2 and report.ignored_sent_streams == 1


def test_nat_between_the_capture_points_matches_by_ssrc(tmp_path: Path) -> None:
    pkts = _packets(30)
    public = ("192.0.2.10", 40000)  # what the Media Server sends to; REC is where it arrives
    report = _compare(tmp_path, _frames(MS, public, pkts, _times(30, 1000.0)),
                      _frames(("198.51.100.1", 1024), REC, pkts, _times(30, 1000.0, 0.003)))
    assert report.findings == []
    assert report.streams[0].received_dst == REC and report.streams[0].received == 30


def test_a_sender_log_rendered_as_a_pcap_is_a_sent_capture(tmp_path: Path) -> None:
    """The sending side as our RTP sender logs it (`SyntheticCapture`, the unprivileged capture
    fallback), compared with what a capture at the recorder saw: one packet lost, one late."""
    from harness.capture.synthetic import SyntheticCapture

    pkts = _packets(25)
    with SyntheticCapture(tmp_path / "sender_log.pcap", why="sender log") as log:
        for (seq, ts, payload, pt), t in zip(pkts, _times(25, 1000.0), strict=True):
            log.record(MS, REC, rtp(seq, ts, 0xCAFE, pt, payload), t)
    times = _times(25, 1000.0, 0.002)
    times[12] += 0.05  # arrives after 13 and 14
    kept = [i for i in range(25) if i != 3]
    received = write_pcap(tmp_path / "rec.pcap", sorted(_frames(MS, REC, [pkts[i] for i in kept],
                                                                [times[i] for i in kept])))
    report = compare_delivery(tmp_path / "sender_log.pcap", received)
    assert _ids(report) == ["REP-SENT-IN-ORDER", "REP-SENT-RECEIVED"]
    [row] = report.streams
    assert (row.sent, row.received, row.missing, row.reordered) == (25, 24, 1, 1)
    assert row.max_delay_ms == pytest.approx(52.0, abs=1e-3)


# ------------------------------------------------------------------------- arec validate --sent


def _pair(directory: Path, lost: tuple[int, ...] = ()) -> tuple[Path, Path]:
    directory.mkdir(exist_ok=True)
    pkts = _packets(40)
    times = _times(40, 1000.0, 0.005)
    kept = [i for i in range(40) if i not in lost]
    sent = write_pcap(directory / "sent.pcap", _frames(MS, REC, pkts, _times(40, 1000.0)))
    received = write_pcap(directory / "received.pcap", _frames(MS, REC, [pkts[i] for i in kept],
                                                              [times[i] for i in kept]))
    return sent, received


def test_arec_validate_with_sent_reports_table_and_findings(tmp_path: Path) -> None:
    sent, received = _pair(tmp_path, lost=(3, 4))
    result = validate_capture(received, sent=sent)
    assert result.delivery is not None
    assert "REP-SENT-RECEIVED" in result.failed and result.exit_code == 1
    assert set(delivery.EMITTED_REQUIREMENTS) <= set(result.exercised)
    [row] = delivery_rows(result.delivery)
    assert (row["sent"], row["received"], row["missing"]) == (40, 38, 2)
    assert json.loads(render_json(result))["delivery"][0]["missing"] == 2
    text = render_text(result)
    assert "Delivery (sent capture -> this capture)" in text and "REP-SENT-RECEIVED" in text
    good_sent, good_received = _pair(tmp_path / "ok")
    good = validate_capture(good_received, sent=good_sent)
    assert good.exit_code == 0 and good.findings == []


def test_without_sent_there_is_no_delivery_check(tmp_path: Path) -> None:
    _sent, received = _pair(tmp_path)
    result = validate_capture(received)
    assert result.delivery is None and "REP-SENT-RECEIVED" not in result.exercised


def test_unusable_sent_capture_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sent, received = _pair(tmp_path)
    args = argparse.Namespace(capture=str(received), recordings=None, recorder_profile=None, format="text",
                              sent=str(tmp_path / "nope.pcap"))
    assert validate_from_cli(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sent" in err[0]
    sent.write_bytes(sent.read_bytes()[:-30])  # truncated in the last packet
    args.sent = str(sent)
    assert validate_from_cli(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sent.pcap" in err[0]
