"""Test helpers: build small captures (scapy frames, dpkt writers) and SIP flows from fixture files."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import dpkt
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Ether
from scapy.packet import Packet, Raw

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "validators"
MS_SIP = ("127.0.0.1", 5070)
REC_SIP = ("127.0.0.2", 5060)

Frame = tuple[float, bytes]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def rtp(seq: int, ts: int, ssrc: int = 0x1234, pt: int = 0, payload: bytes = b"\xff" * 160,
        marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF,
                       ssrc) + payload


def rtcp_rr(ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)


def udp(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> Packet:
    ip: Packet = IPv6(src=src[0], dst=dst[0]) if ":" in src[0] else IP(src=src[0], dst=dst[0])
    return ip / UDP(sport=src[1], dport=dst[1]) / Raw(payload)


def tcp(src: tuple[str, int], dst: tuple[str, int], seq: int, payload: bytes = b"", flags: str = "PA") -> Packet:
    return IP(src=src[0], dst=dst[0]) / TCP(sport=src[1], dport=dst[1], seq=seq, flags=flags) / Raw(payload)


def ether(pkt: Packet) -> bytes:
    return bytes(Ether(src="00:00:00:00:00:00", dst="00:00:00:00:00:00") / pkt)


def sll(pkt: Packet) -> bytes:
    proto = 0x86DD if pkt.haslayer(IPv6) else 0x0800
    return bytes(CookedLinux(proto=proto) / pkt)


def sll2(pkt: Packet) -> bytes:
    proto = 0x86DD if pkt.haslayer(IPv6) else 0x0800
    return bytes(CookedLinuxV2(proto=proto) / pkt)


def null_loop(pkt: Packet) -> bytes:
    family = 24 if pkt.haslayer(IPv6) else 2
    return struct.pack("<I", family) + bytes(pkt)


def ip_fragments(pkt: Packet, size: int = 64) -> list[Packet]:
    return list(fragment(pkt, fragsize=size))


def write_pcap(path: Path, frames: Iterable[Frame], linktype: int = dpkt.pcap.DLT_EN10MB) -> Path:
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=linktype)
        for ts, data in frames:
            writer.writepkt(data, ts=ts)
    return path


def write_pcapng(path: Path, frames: Iterable[Frame], linktype: int = dpkt.pcap.DLT_EN10MB) -> Path:
    with path.open("wb") as f:
        writer = dpkt.pcapng.Writer(f, linktype=linktype)
        for ts, data in frames:
            writer.writepkt(data, ts=ts)
    return path


def sip_flow(legs: Sequence[str] = ("leg_a", "leg_b"),
             parts: Sequence[str] = ("invite", "ok", "ack", "bye", "bye_ok"),
             t0: float = 1000.0) -> list[tuple[tuple[str, int], tuple[str, int], bytes]]:
    """Fixture messages in wire order, with the direction each one travels."""
    flow = []
    for part in parts:
        for leg in legs:
            src, dst = (REC_SIP, MS_SIP) if part in ("ok", "bye_ok") else (MS_SIP, REC_SIP)
            flow.append((src, dst, fixture(f"{leg}_{part}.sip")))
    return flow


def rtp_stream(src: tuple[str, int], dst: tuple[str, int], seqs: Iterable[int], *, ssrc: int = 0x1234,
               pt: int = 0, t0: float = 1001.0, ts0: int = 0) -> list[Frame]:
    """One RTP packet per sequence number; timestamp and capture time follow the sequence offset."""
    frames = []
    seqs = list(seqs)
    base = seqs[0] if seqs else 0
    for seq in seqs:
        n = (seq - base) & 0xFFFF
        frames.append((t0 + n * 0.02, ether(udp(src, dst, rtp(seq, ts0 + n * 160, ssrc, pt)))))
    return frames
