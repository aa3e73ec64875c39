from __future__ import annotations

from pathlib import Path

import dpkt
import pytest

from harness.capture.model import PayloadKind, Transport
from harness.validators.pcap import PcapReadError, read_capture, read_datagrams
from tests.unit.validators.builders import (
    MS_SIP,
    REC_SIP,
    ether,
    fixture,
    ip_fragments,
    null_loop,
    rtcp_rr,
    rtp,
    sll,
    sll2,
    tcp,
    udp,
    write_pcap,
    write_pcapng,
)

MS_RTP = ("127.0.0.1", 20000)
REC_RTP = ("127.0.0.2", 30000)


def _call_frames(link=ether, ms_rtp=MS_RTP, rec_rtp=REC_RTP, ms_sip=MS_SIP, rec_sip=REC_SIP):  # type: ignore[no-untyped-def]
    invite, ok = fixture("leg_a_invite.sip"), fixture("leg_a_ok.sip")
    if ":" in ms_rtp[0]:
        invite = invite.replace(b"IN IP4 127.0.0.1", f"IN IP6 {ms_rtp[0]}".encode())
        ok = ok.replace(b"IN IP4 127.0.0.2", f"IN IP6 {rec_rtp[0]}".encode())
    return [
        (1.0, link(udp(ms_sip, rec_sip, invite))),
        (1.1, link(udp(rec_sip, ms_sip, ok))),
        (1.2, link(udp(ms_rtp, rec_rtp, rtp(1, 160)))),
        (1.22, link(udp(ms_rtp, rec_rtp, rtp(2, 320)))),
        (1.3, link(udp((ms_rtp[0], ms_rtp[1] + 1), (rec_rtp[0], rec_rtp[1] + 1), rtcp_rr()))),
        (1.4, link(udp(ms_rtp, (rec_rtp[0], 53), b"\x12\x34dns-ish"))),
    ]


def _kinds(path: Path) -> list[tuple[int, PayloadKind]]:
    return [(d.index, d.kind) for d in read_capture(path)]


EXPECTED_KINDS = [(1, PayloadKind.SIP), (2, PayloadKind.SIP), (3, PayloadKind.RTP), (4, PayloadKind.RTP),
                  (5, PayloadKind.RTCP), (6, PayloadKind.OTHER)]


@pytest.mark.parametrize(("link", "linktype"), [
    (ether, dpkt.pcap.DLT_EN10MB), (sll, 113), (sll2, 276), (null_loop, dpkt.pcap.DLT_NULL),
])
def test_pcap_link_types_classify_sip_rtp_rtcp(tmp_path: Path, link, linktype) -> None:  # type: ignore[no-untyped-def]
    path = write_pcap(tmp_path / "c.pcap", _call_frames(link), linktype)
    assert _kinds(path) == EXPECTED_KINDS
    first = next(read_datagrams(path))
    assert first.src == MS_SIP and first.dst == REC_SIP and first.transport is Transport.UDP
    assert first.payload == fixture("leg_a_invite.sip") and first.timestamp == pytest.approx(1.0)


def test_pcapng_sll2_ipv6(tmp_path: Path) -> None:
    ms, rec = ("::1", 20000), ("fd00::2", 30000)
    frames = _call_frames(sll2, ms, rec, ("::1", 5070), ("fd00::2", 5060))
    path = write_pcapng(tmp_path / "c.pcapng", frames, 276)
    datagrams = list(read_capture(path))
    assert [(d.index, d.kind) for d in datagrams] == EXPECTED_KINDS
    assert datagrams[2].src == ms and datagrams[2].dst == rec
    assert datagrams[2].timestamp == pytest.approx(1.2)


def test_raw_ip_linktype(tmp_path: Path) -> None:
    frames = [(ts, data[14:]) for ts, data in _call_frames()]  # strip Ethernet
    path = write_pcap(tmp_path / "raw.pcap", frames, 101)
    assert _kinds(path) == EXPECTED_KINDS


def test_rtp_without_sdp_falls_back_to_heuristics(tmp_path: Path) -> None:
    frames = _call_frames()[2:]
    path = write_pcap(tmp_path / "nosdp.pcap", frames)
    assert [d.kind for d in read_capture(path)] == [PayloadKind.RTP, PayloadKind.RTP, PayloadKind.RTCP,
                                                    PayloadKind.OTHER]


def test_ipv4_fragments_reassembled(tmp_path: Path) -> None:
    invite = fixture("leg_a_invite.sip")
    pieces = ip_fragments(udp(MS_SIP, REC_SIP, invite), size=200)
    assert len(pieces) > 2
    frames = [(1.0 + i * 0.001, ether(p)) for i, p in enumerate(reversed(pieces))]  # out of order too
    path = write_pcap(tmp_path / "frag.pcap", frames)
    datagrams = list(read_capture(path))
    assert len(datagrams) == 1
    assert datagrams[0].payload == invite and datagrams[0].kind is PayloadKind.SIP
    assert datagrams[0].index == len(pieces)  # reported at the frame that completed it


def test_tcp_in_order_reordered_retransmitted_and_gap(tmp_path: Path) -> None:
    a, b = ("127.0.0.1", 40000), ("127.0.0.2", 5060)
    msg = fixture("leg_a_invite.sip")
    p1, p2, p3 = msg[:100], msg[100:300], msg[300:]
    frames = [
        (1.0, ether(tcp(a, b, 999, flags="S"))),
        (1.1, ether(tcp(a, b, 1000, p1))),
        (1.2, ether(tcp(a, b, 1000 + len(p1) + len(p2), p3))),  # early: held
        (1.3, ether(tcp(a, b, 1000 + len(p1), p2))),  # fills the hole: p2 then p3 delivered
        (1.4, ether(tcp(a, b, 1000, p1))),  # retransmission: dropped
    ]
    path = write_pcap(tmp_path / "tcp.pcap", frames)
    datagrams = list(read_capture(path))
    assert b"".join(d.payload for d in datagrams) == msg
    assert all(d.transport is Transport.TCP and d.kind is PayloadKind.SIP for d in datagrams)
    assert not any(d.stream_gap for d in datagrams)


def test_tcp_unfilled_gap_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.capture.transport as pcap_mod

    monkeypatch.setattr(pcap_mod, "MAX_TCP_PENDING_BYTES", 10)
    a, b = ("127.0.0.1", 40000), ("127.0.0.2", 5060)
    frames = [
        (1.0, ether(tcp(a, b, 1, b"A" * 8))),
        (1.1, ether(tcp(a, b, 100, b"B" * 8))),  # hole 9..99 never filled
        (1.2, ether(tcp(a, b, 108, b"C" * 8))),  # pending exceeds the bound: give up on the hole
    ]
    path = write_pcap(tmp_path / "gap.pcap", frames)
    datagrams = list(read_datagrams(path))
    assert [d.payload for d in datagrams] == [b"A" * 8, b"B" * 8, b"C" * 8]
    assert [d.stream_gap for d in datagrams] == [False, True, False]


@pytest.mark.parametrize("writer", [write_pcap, write_pcapng])
def test_truncated_capture_yields_then_raises_one_line(tmp_path: Path, writer) -> None:  # type: ignore[no-untyped-def]
    good = writer(tmp_path / "good", _call_frames())
    data = good.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-30])
    seen = []
    with pytest.raises(PcapReadError) as info:
        for datagram in read_capture(cut):
            seen.append(datagram.index)
    assert seen == [1, 2, 3, 4, 5]  # everything before the truncated last record
    message = str(info.value)
    assert "\n" not in message and str(cut) in message and "byte offset" in message
    assert 0 < info.value.offset < len(data) - 30


def test_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(b"hello world")
    with pytest.raises(PcapReadError, match=r"x\.pcap: not a pcap or pcapng file .* at byte offset 0"):
        list(read_capture(path))


def test_corrupt_record_length(tmp_path: Path) -> None:
    good = write_pcap(tmp_path / "good.pcap", _call_frames())
    data = bytearray(good.read_bytes())
    data[24 + 8:24 + 12] = (0x7FFFFFFF).to_bytes(4, "little")  # caplen of record 1
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(bytes(data))
    with pytest.raises(PcapReadError, match="at byte offset 24$"):
        list(read_capture(bad))
