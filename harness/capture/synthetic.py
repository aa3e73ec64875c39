"""Unprivileged capture fallback: our emulators log what they send and receive, we write a pcap.

When :func:`harness.capture.pcap_capture.capture_available` says no (no CAP_NET_RAW), the
emulators call :meth:`SyntheticCapture.record` for every datagram/segment they send or
receive, and this module writes a classic pcap with LINKTYPE_ETHERNET (1) frames, zeroed
MACs, IPv4 and UDP (or TCP) headers built with dpkt, the same link type ``tcpdump -i lo``
produces, so validators read either kind with the same code. Checksums are computed (dpkt
fills them when serialising a header whose checksum is 0).

What it cannot show, and a report must say so via :attr:`SyntheticCapture.method`: packets
that our own code never saw (a recorder's stray traffic, RTCP to other ports, kernel
retransmissions), and true wire timing (the timestamps are the ones our code passed in).
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import dpkt

LINKTYPE_ETHERNET = 1
_ZERO_MAC = b"\x00" * 6


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    port: int

    def __post_init__(self) -> None:
        if not isinstance(ipaddress.ip_address(self.ip), ipaddress.IPv4Address):
            raise ValueError(f"synthetic capture writes IPv4 only, got {self.ip!r}")
        if not 0 <= self.port < 65536:
            raise ValueError(f"port {self.port} outside 0..65535")


def _ep(value: tuple[str, int] | Endpoint) -> Endpoint:
    return value if isinstance(value, Endpoint) else Endpoint(value[0], int(value[1]))


class SyntheticCapture:
    """Thread-safe in-process recorder writing a pcap as packets are recorded.

    ``why`` says why the privileged capture was not used; it becomes part of ``method``.
    """

    def __init__(self, path: Path, why: str = "no CAP_NET_RAW") -> None:
        self.path = Path(path)
        self.method = f"synthetic: {why}"
        self.count = 0
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._writer: dpkt.pcap.Writer | None = None
        # Per (src, dst) TCP flow: next sequence number, so a reader sees a contiguous stream.
        self._tcp_seq: dict[tuple[Endpoint, Endpoint], int] = {}
        self._ip_id = 0

    def open(self) -> SyntheticCapture:
        with self._lock:
            if self._writer is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("wb")
                self._writer = dpkt.pcap.Writer(self._file, linktype=LINKTYPE_ETHERNET)
        return self

    def frame(self, src: Endpoint, dst: Endpoint, payload: bytes, transport: str) -> bytes:
        """The Ethernet/IPv4/UDP-or-TCP frame bytes for one payload (no I/O)."""
        l4: dpkt.udp.UDP | dpkt.tcp.TCP
        if transport == "udp":
            l4 = dpkt.udp.UDP(sport=src.port, dport=dst.port, data=payload)
            l4.ulen = 8 + len(payload)
            proto = dpkt.ip.IP_PROTO_UDP
        elif transport == "tcp":
            key = (src, dst)
            seq = self._tcp_seq.get(key, 1)
            self._tcp_seq[key] = (seq + len(payload)) & 0xFFFFFFFF
            ack = self._tcp_seq.get((dst, src), 1)
            l4 = dpkt.tcp.TCP(sport=src.port, dport=dst.port, seq=seq, ack=ack,
                              flags=dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK, win=65535, data=payload)
            proto = dpkt.ip.IP_PROTO_TCP
        else:
            raise ValueError(f"transport must be 'udp' or 'tcp', not {transport!r}")
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        ip = dpkt.ip.IP(src=ipaddress.IPv4Address(src.ip).packed, dst=ipaddress.IPv4Address(dst.ip).packed,
                        p=proto, ttl=64, id=self._ip_id, data=l4)
        ip.len = 20 + len(bytes(l4))  # bytes(l4) also fills its checksum (pseudo-header from ip)
        eth = dpkt.ethernet.Ethernet(dst=_ZERO_MAC, src=_ZERO_MAC, type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
        return bytes(eth)

    def record(
        self,
        src: tuple[str, int] | Endpoint,
        dst: tuple[str, int] | Endpoint,
        payload: bytes,
        t: float,
        transport: str = "udp",
    ) -> None:
        """Log one datagram (or TCP segment payload) seen at time ``t`` (epoch seconds)."""
        s, d = _ep(src), _ep(dst)
        with self._lock:
            if self._writer is None:
                raise RuntimeError("SyntheticCapture is not open (use it as a context manager)")
            self._writer.writepkt(self.frame(s, d, payload, transport), ts=t)
            self.count += 1

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
                self._file.close()
            self._file = None
            self._writer = None

    def __enter__(self) -> SyntheticCapture:
        return self.open()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
