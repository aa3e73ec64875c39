"""Loopback capture with tcpdump, and the unprivileged synthetic pcap, read back with dpkt."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import dpkt
import pytest

from harness.capture.pcap_capture import CaptureError, LoopbackCapture, capture_available, parse_tcpdump_stats
from harness.capture.synthetic import LINKTYPE_ETHERNET, SyntheticCapture
from harness.sipp.command import sipp_available
from harness.sipp.leg import SippLeg, Transport
from harness.sipp.process import SippProcess
from harness.sipp.twin import Direction
from tests.integration.test_sipp_legs import CALLUUID, FakeRecorder

# Sockets, processes or real time: the integration tier (tests/unit/conftest.py guards the unit tier).
pytestmark = pytest.mark.integration


def need_capture() -> None:
    ok, why = capture_available()
    if not ok:
        pytest.fail(f"loopback capture impossible here: {why}")


def udp_payloads(path: Path) -> list[tuple[float, dpkt.ip.IP, bytes]]:
    with path.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        assert reader.datalink() == LINKTYPE_ETHERNET
        out = []
        for ts, buf in reader:
            ip = dpkt.ethernet.Ethernet(buf).data
            out.append((ts, ip, bytes(ip.data.data)))
        return out


@pytest.mark.integration
def test_capture_of_a_sipp_call_keeps_the_final_bye(tmp_path: Path) -> None:
    need_capture()
    if (why := sipp_available()) is not None:
        pytest.fail(why)
    rec = FakeRecorder(tmp_path / "rec", "uas_recorder.xml", Transport.UDP, (41000,))
    pcap = tmp_path / "call.pcap"
    leg = SippLeg("127.0.0.1", rec.port, "0A1B2C3D4E5F", CALLUUID, "7001", "7001", recv_timeout_ms=3000)
    try:
        # The capture stops right after SIPp exits (inner context first): the BYE and its
        # 200 left a few ms earlier, and SIGINT must not lose them.
        with LoopbackCapture(pcap, f"udp port {rec.port}") as cap, SippProcess(leg, tmp_path / "leg") as proc:
            proc.control.wait_answer(5)
            proc.control.reinvite(Direction.INACTIVE)
            proc.control.bye()
            proc.control.wait_finished(5)
            assert proc.wait(5).ok
    finally:
        rec.stop()
    assert cap.method == "tcpdump"
    packets = udp_payloads(pcap)
    first_lines = [p.split(b"\r\n", 1)[0].decode() for _, _, p in packets]
    methods = [line.split()[0] for line in first_lines if not line.startswith("SIP/2.0")]
    assert methods == ["INVITE", "ACK", "INVITE", "ACK", "BYE"], first_lines
    assert sum(line.startswith("SIP/2.0 200") for line in first_lines) == 3
    assert first_lines[-1] == "SIP/2.0 200 OK" and b"CSeq: 3 BYE" in packets[-1][2]
    assert cap.stats is not None and cap.stats.captured == len(packets)
    assert cap.stats.dropped_by_kernel == 0
    times = [ts for ts, _, _ in packets]
    assert times == sorted(times)


@pytest.mark.integration
def test_capture_sees_each_loopback_datagram_once(tmp_path: Path) -> None:
    need_capture()
    pcap = tmp_path / "burst.pcap"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        port = rx.getsockname()[1]
        with LoopbackCapture(pcap, f"udp and dst port {port}") as cap:
            for i in range(200):
                tx.sendto(b"pkt%03d" % i, ("127.0.0.1", port))
                time.sleep(0.001)  # ~1k pps, paced like RTP (TOOLING: lossless up to 10k pps)
    payloads = [p for _, _, p in udp_payloads(pcap)]
    assert payloads == [b"pkt%03d" % i for i in range(200)]
    assert cap.stats is not None and cap.stats.captured == 200 and cap.stats.dropped_by_kernel == 0


@pytest.mark.integration
def test_bad_filter_is_a_clear_error(tmp_path: Path) -> None:
    need_capture()
    t0 = time.monotonic()
    with pytest.raises(CaptureError, match="tcpdump did not start"), \
            LoopbackCapture(tmp_path / "x.pcap", "udp port notaport"):
        pass
    assert time.monotonic() - t0 < 5


def test_tcpdump_counter_parsing() -> None:
    stats = parse_tcpdump_stats("tcpdump: listening on lo\n9 packets captured\n18 packets received by filter\n"
                                "0 packets dropped by kernel\n")
    assert (stats.captured, stats.received_by_filter, stats.dropped_by_kernel) == (9, 18, 0)
    assert parse_tcpdump_stats("").captured is None


def test_synthetic_capture_reads_back_with_dpkt(tmp_path: Path) -> None:
    pcap = tmp_path / "synthetic.pcap"
    invite = b"INVITE sip:record=1@127.0.0.1:5060 SIP/2.0\r\n\r\n"
    with SyntheticCapture(pcap, why="tcpdump not permitted") as cap:
        cap.record(("127.0.0.1", 5070), ("127.0.0.2", 5060), invite, 1700000000.25)
        cap.record(("127.0.0.2", 5060), ("127.0.0.1", 5070), b"SIP/2.0 200 OK\r\n\r\n", 1700000000.5)
        cap.record(("127.0.0.1", 40000), ("127.0.0.2", 41000), b"\x80" + bytes(171), 1700000000.75)
        cap.record(("127.0.0.1", 5071), ("127.0.0.2", 5061), b"abc", 1700000001.0, transport="tcp")
        cap.record(("127.0.0.1", 5071), ("127.0.0.2", 5061), b"defg", 1700000001.5, transport="tcp")
    assert cap.method == "synthetic: tcpdump not permitted" and cap.count == 5
    packets = udp_payloads(pcap)
    assert [p for _, _, p in packets] == [invite, b"SIP/2.0 200 OK\r\n\r\n", b"\x80" + bytes(171), b"abc", b"defg"]
    assert [ts for ts, _, _ in packets] == [1700000000.25, 1700000000.5, 1700000000.75, 1700000001.0, 1700000001.5]
    ts, ip, _ = packets[0]
    assert socket.inet_ntoa(ip.src) == "127.0.0.1" and socket.inet_ntoa(ip.dst) == "127.0.0.2"
    assert (ip.data.sport, ip.data.dport) == (5070, 5060)
    assert ip.len == len(bytes(ip)) and ip.data.ulen == 8 + len(invite)
    # Checksums are valid: re-serialising with the checksum zeroed recomputes the same value.
    raw = bytes(ip)
    again = dpkt.ip.IP(raw)
    again.sum = 0
    assert bytes(again)[10:12] == raw[10:12]
    tcp1, tcp2 = packets[3][1].data, packets[4][1].data
    assert isinstance(tcp1, dpkt.tcp.TCP) and tcp2.seq == tcp1.seq + 3


def test_synthetic_capture_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    with SyntheticCapture(tmp_path / "x.pcap") as cap:
        with pytest.raises(ValueError, match="IPv4"):
            cap.record(("::1", 1), ("::1", 2), b"x", 0.0)
        with pytest.raises(ValueError, match="transport"):
            cap.record(("127.0.0.1", 1), ("127.0.0.1", 2), b"x", 0.0, transport="sctp")
    with pytest.raises(RuntimeError, match="not open"):
        cap.record(("127.0.0.1", 1), ("127.0.0.1", 2), b"x", 0.0)
