"""A packet the capture lost is not the recorder's fault: tcpdump's drop counters, SIP put back
from SIPp's message log, RTP loss excused up to what the capture dropped."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from harness.capture.model import Datagram, PayloadKind, Transport
from harness.capture.pcap_capture import parse_tcpdump_stats
from harness.conformance.capture_loss import NOT_IN_CAPTURE, LegLog, excuse_capture_loss, recover_sip
from harness.conformance.evidence import gather_evidence
from harness.sipp.trace import TracedMessage, parse_message_log
from harness.spec.findings import Finding, Severity
from harness.validators.pcap import read_capture
from harness.validators.sip import ExpectedMode, validate_sip
from tests.unit.validators.builders import MS_SIP, REC_SIP, ether, fixture, sip_flow, udp, write_pcap


def test_tcpdump_drop_counters_are_parsed() -> None:
    stderr = ("tcpdump: listening on lo, link-type EN10MB (Ethernet), snapshot length 65535 bytes\n"
              "1201 packets captured\n1250 packets received by filter\n49 packets dropped by kernel\n")
    stats = parse_tcpdump_stats(stderr)
    assert (stats.captured, stats.received_by_filter, stats.dropped_by_kernel) == (1201, 1250, 49)
    one = parse_tcpdump_stats("1 packet captured\n1 packet received by filter\n0 packets dropped by kernel\n")
    assert (one.captured, one.dropped_by_kernel) == (1, 0)
    assert parse_tcpdump_stats("tcpdump: killed\n").dropped_by_kernel is None


def _log(flow: list[tuple[tuple[str, int], tuple[str, int], bytes]]) -> bytes:
    """SIPp's -trace_msg text for the Media Server side of `flow`."""
    out = b""
    for i, (src, _dst, data) in enumerate(flow):
        stamp = datetime.fromtimestamp(1000.0 + i * 0.01).strftime("%Y-%m-%d %H:%M:%S.%f").encode()
        how = b"sent (%d bytes)" % len(data) if src == MS_SIP else b"received [%d] bytes " % len(data)
        out += b"----------------------------------------------- " + stamp + b"\nUDP message " + how + b":\n\n" + data
    return out


def _leg_a() -> list[tuple[tuple[str, int], tuple[str, int], bytes]]:
    return sip_flow(legs=("leg_a",))


def _capture(tmp_path: Path, flow: list[tuple[tuple[str, int], tuple[str, int], bytes]],
             lost: tuple[bytes, ...] = ()) -> list[Datagram]:
    """The capture of `flow` (capture time 1 ms before SIPp's log time) without the `lost` messages."""
    frames = [(1000.0 + i * 0.01 - 0.001, ether(udp(s, d, m))) for i, (s, d, m) in enumerate(flow) if m not in lost]
    return list(read_capture(write_pcap(tmp_path / "capture.pcap", frames)))


def test_a_200_sipp_received_but_the_capture_lacks_is_put_back(tmp_path: Path) -> None:
    flow = _leg_a()
    ok = fixture("leg_a_ok.sip")
    captured = _capture(tmp_path, flow, lost=(ok,))
    # Without the cross-check, the lost 200 fails the recorder.
    assert {f.requirement_id for f in validate_sip(captured, recorder=(REC_SIP[0], 0)).findings} == \
        {"SIP-DIALOG-ESTABLISHED"}
    messages = parse_message_log(_log(flow))
    assert len(messages) == len(flow)
    datagrams, recovered = recover_sip(captured, [LegLog(MS_SIP, REC_SIP, messages)])
    assert [str(r).split(" (")[0] for r in recovered] == ["SIP/2.0 200 OK"]
    assert recovered[0].call_id == "call-a@127.0.0.1" and recovered[0].src == REC_SIP
    put_back = [d for d in datagrams if d.index == NOT_IN_CAPTURE]
    assert len(put_back) == 1 and put_back[0].payload == ok and put_back[0].kind is PayloadKind.SIP
    assert validate_sip(datagrams, recorder=(REC_SIP[0], 0)).findings == []


def test_nothing_is_put_back_when_the_capture_is_whole(tmp_path: Path) -> None:
    flow = _leg_a()
    captured = _capture(tmp_path, flow)
    datagrams, recovered = recover_sip(captured, [LegLog(MS_SIP, REC_SIP, parse_message_log(_log(flow)))])
    assert recovered == [] and datagrams == captured


def test_a_200_the_recorder_never_sent_is_not_invented(tmp_path: Path) -> None:
    """SIPp's log has no 200 either: the recorder really did not answer; the finding stands."""
    flow = _leg_a()[:1]
    captured = _capture(tmp_path, flow)
    datagrams, recovered = recover_sip(captured, [LegLog(MS_SIP, REC_SIP, parse_message_log(_log(flow)))])
    assert recovered == []
    assert [f.requirement_id for f in validate_sip(datagrams, recorder=(REC_SIP[0], 0)).findings] == \
        ["SIP-DIALOG-ESTABLISHED"]


def test_a_lost_retransmission_counts_once_per_copy(tmp_path: Path) -> None:
    invite = _leg_a()[0]
    captured = _capture(tmp_path, [invite])
    traced = [TracedMessage(1000.0, "udp", True, invite[2]), TracedMessage(1000.5, "udp", True, invite[2])]
    datagrams, recovered = recover_sip(captured, [LegLog(MS_SIP, REC_SIP, traced)])
    assert len(recovered) == 1 and len(datagrams) == 2


def test_gather_evidence_puts_back_sip_and_names_the_drops(tmp_path: Path) -> None:
    flow = _leg_a()
    _capture(tmp_path, flow, lost=(fixture("leg_a_ok.sip"),))
    pcap = tmp_path / "capture.pcap"
    leg = tmp_path / "sipp" / "leg1"
    leg.mkdir(parents=True)
    (leg / "messages.log").write_bytes(_log(flow))
    stats = parse_tcpdump_stats("4 packets captured\n5 packets received by filter\n1 packet dropped by kernel\n")
    evidence = gather_evidence(pcap, "tcpdump", recorder=(REC_SIP[0], REC_SIP[1]), mode=ExpectedMode.ANY,
                               sipp_dir=tmp_path / "sipp", sent=[], capture_stats=stats)
    assert evidence.sip.findings == []
    assert evidence.capture_dropped == 1 and len(evidence.recovered_sip) == 1
    summary = evidence.capture_loss_summary()
    assert "1 dropped by kernel" in summary and "SIP/2.0 200 OK" in summary


def _missing(severity: Severity = Severity.MUST) -> Finding:
    return Finding("REP-SENT-RECEIVED", severity, "stream x: 25 of 51 sent packet(s) never reached the recorder's port")


def test_missing_rtp_within_the_capture_drops_is_not_blamed() -> None:
    (finding,) = excuse_capture_loss([_missing()], "REP-SENT-RECEIVED", missing=25, dropped=30)
    assert finding.severity is Severity.INFO and "capture dropped 30 packet(s)" in finding.message


def test_missing_rtp_beyond_the_capture_drops_still_fails() -> None:
    (finding,) = excuse_capture_loss([_missing()], "REP-SENT-RECEIVED", missing=25, dropped=5)
    assert finding.severity is Severity.MUST and "at least 20 missing packet(s)" in finding.message


def test_without_capture_drops_nothing_is_excused() -> None:
    other = Finding("REP-SENT-UNALTERED", Severity.MUST, "altered")
    assert excuse_capture_loss([_missing(), other], "REP-SENT-RECEIVED", missing=25, dropped=0) == [_missing(), other]
    assert excuse_capture_loss([_missing()], "REP-SENT-RECEIVED", missing=25, dropped=None) == [_missing()]
    (kept,) = excuse_capture_loss([other], "REP-SENT-RECEIVED", missing=25, dropped=100)
    assert kept.severity is Severity.MUST


def test_transport_of_put_back_messages_is_udp(tmp_path: Path) -> None:
    flow = _leg_a()
    tcp_traced = [TracedMessage(1000.0, "tcp", True, flow[0][2])]
    datagrams, recovered = recover_sip([], [LegLog(MS_SIP, REC_SIP, tcp_traced)])
    assert recovered == [] and datagrams == []
    datagrams, _ = recover_sip([], [LegLog(MS_SIP, REC_SIP, [TracedMessage(1000.0, "udp", True, flow[0][2])])])
    assert datagrams[0].transport is Transport.UDP


def test_gather_evidence_ignores_and_counts_foreign_sip(tmp_path: Path) -> None:
    """Before scoping, another process's malformed INVITE on the recorder's host failed
    SIP-MESSAGE-WELLFORMED in the scenario; now it is ignored and counted."""
    flow = _leg_a()
    noise = b"INVITE sip:user@example.com; lr SIP/2.0\r\nCall-ID: other@x\r\nContent-Length: 0\r\n\r\n"
    frames = [(1000.0 + i * 0.01 - 0.001, ether(udp(s, d, m))) for i, (s, d, m) in enumerate(flow)]
    frames.append((1000.2, ether(udp(("127.0.0.9", 5999), (REC_SIP[0], 5999), noise))))
    pcap = write_pcap(tmp_path / "capture.pcap", frames)
    assert [f.requirement_id for f in validate_sip(read_capture(pcap), recorder=(REC_SIP[0], 0)).findings] == \
        ["SIP-MESSAGE-WELLFORMED"]
    leg = tmp_path / "sipp" / "leg1"
    leg.mkdir(parents=True)
    (leg / "messages.log").write_bytes(_log(flow))
    evidence = gather_evidence(pcap, "tcpdump", recorder=(REC_SIP[0], 0), mode=ExpectedMode.ANY,
                               sipp_dir=tmp_path / "sipp", sent=[])
    assert evidence.sip.findings == [] and evidence.recovered_sip == []
    assert evidence.foreign.total == 1 and evidence.foreign.by_kind["SIP"] == 1
    assert all(b"example.com" not in d.payload for d in evidence.datagrams)
