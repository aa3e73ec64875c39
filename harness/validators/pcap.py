"""Capture → classified `Datagram` values: SIP / RTP / RTCP classification over the capture reader.

The file is framed by `harness.capture.reader` (dpkt's pcap / pcapng readers, with the one-line
`PcapReadError` naming the file and byte offset of a truncated or corrupt record) and decoded
to transport payloads by `harness.capture.transport` (link layer, IP reassembly, UDP, TCP).
Both are re-exported here under their old names.

Errors: the readers are generators; they yield every datagram they could read and only then
raise `PcapReadError`.

Classification (`PayloadClassifier`): SIP by its start line (RFC 3261 §7.1/§7.2); RTCP by
version 2 and packet type 192-223 (RFC 3550 §6, RFC 5761 §4 — SR..APP 200-204 seen as RTP
would be marker + PT 72-76); RTP by version 2 on an address/port negotiated by an SDP body seen
earlier in the capture (RFC 4566 `c=`/`m=`, RFC 3605 `a=rtcp`), or — for endpoints no SDP
named — by a stricter header heuristic.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from harness.capture.model import Datagram, Endpoint, PayloadKind, Transport
from harness.capture.reader import MAX_RECORD_LEN, PcapReadError
from harness.capture.transport import (
    FRAGMENT_TIMEOUT,
    MAX_FRAGMENT_SETS,
    MAX_TCP_FLOWS,
    MAX_TCP_PENDING_BYTES,
    CaptureRecord,
    FixedRtpChunk,
    RtpBatches,
    RtpFixedSink,
    RtpSink,
    iter_transport,
    read_datagrams,
)
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.rtp.packet import RtpParseError, parse_header_fields
from harness.protocol.sdp import parse_sdp

__all__ = [
    "FRAGMENT_TIMEOUT",
    "MAX_FRAGMENT_SETS",
    "MAX_RECORD_LEN",
    "MAX_TCP_FLOWS",
    "MAX_TCP_PENDING_BYTES",
    "CaptureRecord",
    "FixedRtpChunk",
    "PayloadClassifier",
    "PcapReadError",
    "RtpBatches",
    "RtpFixedSink",
    "RtpSink",
    "classify",
    "iter_capture",
    "read_capture",
    "read_datagrams",
]


# --------------------------------------------------------------------------------------------
# Classification

_SIP_REQUEST_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9.!%*_+`'~-]* \S+ SIP/2\.0\r?\n")
_SIP_STATUS_LINE = re.compile(rb"^SIP/2\.0 [1-6]\d\d ")
# A TCP segment may end inside a long Request-Line (Genesys R-URIs are long): a method token
# followed by a sip:/sips: URI is enough to call the stream SIP.
_SIP_REQUEST_PREFIX = re.compile(rb"^[A-Z]{3,16} sips?:[^\s]")
# Static audio payload types of RFC 3551 Table 4 plus the dynamic range: what the fallback
# heuristic accepts when no SDP named the endpoint.
_HEURISTIC_PTS = frozenset({0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, *range(96, 128)})


def looks_like_sip(payload: bytes) -> bool:
    """A SIP start line (RFC 3261 §7.1 Request-Line / §7.2 Status-Line) opens the payload."""
    head = payload[:256]
    return bool(_SIP_STATUS_LINE.match(head) or _SIP_REQUEST_LINE.match(head)
                or _SIP_REQUEST_PREFIX.match(head))


def rtp_header_ok(payload: bytes) -> bool:
    """Version 2, and CSRC list + extension + padding fit in the packet (RFC 3550 §5.1, A.1)."""
    try:
        parse_header_fields(payload)
    except RtpParseError:
        return False
    return True


def is_rtcp(payload: bytes) -> bool:
    """Version 2, RTCP packet type and a length that fits (RFC 3550 §6.4; RFC 5761 §4).

    RFC 5761 §4: packet types 192-223 are RTCP (SR 200 ... XR 207, RTPFB/PSFB 205/206); as an RTP
    header the same octet would be marker + PT 64-95, which RTP must not use on a shared port.
    """
    if len(payload) < 8 or payload[0] >> 6 != 2 or not 192 <= payload[1] <= 223:
        return False
    words: int = struct.unpack_from("!H", payload, 2)[0]
    return (words + 1) * 4 <= len(payload)


class PayloadClassifier:
    """Stateful classifier: SDP bodies seen in SIP teach it which endpoints carry RTP/RTCP."""

    def __init__(self) -> None:
        # An insertion-ordered dict used as a set: the reader reads the newly learnt ones by position.
        self.rtp_endpoints: dict[Endpoint, None] = {}
        self.rtcp_endpoints: set[Endpoint] = set()
        self.sdp_seen = False
        self._sip_tcp: dict[tuple[Endpoint, Endpoint], bool] = {}

    def classify(self, datagram: Datagram) -> PayloadKind:
        return self.kind_of(datagram.src, datagram.dst, datagram.transport, datagram.payload)

    def kind_of(self, src: Endpoint, dst: Endpoint, transport: Transport, payload: bytes) -> PayloadKind:
        """Classify one payload (the per-packet hot path of every capture read)."""
        if transport is Transport.TCP:
            key = (src, dst)
            if looks_like_sip(payload):
                self._sip_tcp[key] = True
            if self._sip_tcp.get(key):
                self.learn_sdp(payload)
                return PayloadKind.SIP
            return PayloadKind.OTHER
        # RTP and RTCP start with version 2 (first octet 0x80-0xBF, RFC 3550 §5.1/§6.4); a SIP
        # start line starts with a letter (RFC 3261 §7.1, §7.2). So the SIP patterns only run
        # on payloads that could be SIP, and the RTP checks only on those that could be RTP.
        if not payload or payload[0] >> 6 != 2:
            if looks_like_sip(payload):
                self.learn_sdp(payload)
                return PayloadKind.SIP
            return PayloadKind.OTHER
        if len(payload) >= 8 and 192 <= payload[1] <= 223 and is_rtcp(payload):
            return PayloadKind.RTCP
        # 0x80: no padding, extension or CSRC — the fixed 12-byte header is the whole header.
        if not (payload[0] == 0x80 and len(payload) >= 12) and not rtp_header_ok(payload):
            return PayloadKind.OTHER
        if dst in self.rtp_endpoints or src in self.rtp_endpoints:
            return PayloadKind.RTP
        # Heuristic for endpoints no SDP named (no SIP in the capture, or media sent somewhere
        # it was not negotiated — which a validator must still see): unprivileged ports on
        # both sides and an audio/dynamic payload type.
        pt = payload[1] & 0x7F
        if src[1] >= 1024 and dst[1] >= 1024 and pt in _HEURISTIC_PTS:
            return PayloadKind.RTP
        return PayloadKind.OTHER

    def learn_sdp(self, payload: bytes) -> None:
        """Record the media endpoints of an SDP body (RFC 4566 §5.7 c=, §5.14 m=, RFC 3605).

        Read with the project's one SDP parser (`harness.protocol.sdp.parse_sdp`); a body it
        refuses teaches nothing (the SIP validator reports it), and RTP to such a stream is
        still found by the header heuristic."""
        split = payload.find(b"\r\n\r\n")
        body = payload[split + 4:] if split >= 0 else b""
        if not body.startswith(b"v=0"):
            return
        self.sdp_seen = True
        try:
            sdp = parse_sdp(body)
        except RemoteProtocolError:
            return
        for media in sdp.media:
            # Session-level c= applies to every m= section that has none of its own (§5.7).
            conn = media.connection or sdp.connection
            if media.port == 0 or conn is None:
                continue  # refused stream (RFC 3264 §6), or nowhere to send
            host = _normalise_ip(conn.address)
            self.rtp_endpoints[(host, media.port)] = None
            rtcp = next((v for n, v in media.attributes if n == "rtcp" and v), None)
            if rtcp is not None and rtcp.split()[0].isdigit():
                words = rtcp.split()
                rtcp_host = _normalise_ip(words[3]) if len(words) >= 4 else host
                self.rtcp_endpoints.add((rtcp_host, int(words[0])))
            elif not any(n == "rtcp-mux" for n, _ in media.attributes):
                self.rtcp_endpoints.add((host, media.port + 1))  # RFC 3550 §11: next odd port


def _normalise_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text  # an FQDN: kept as written, it simply never matches a packet address


def classify(datagrams: Iterable[Datagram]) -> Iterator[Datagram]:
    """Attach a `PayloadKind` to each datagram, learning media endpoints from SDP as it goes."""
    classifier = PayloadClassifier()
    for datagram in datagrams:
        yield replace(datagram, kind=classifier.classify(datagram))


def iter_capture(path: str | Path, rtp_sink: RtpSink | None = None, *,
                 rtp_batches: RtpBatches | None = None,
                 rtp_fixed_sink: RtpFixedSink | None = None) -> Iterator[CaptureRecord]:
    """`read_capture` as plain tuples, for consumers that handle every packet of big captures.

    `Datagram(*record)` is the `Datagram` `read_capture` yields. Same errors: everything
    readable is yielded, then `PcapReadError` (one line: file + byte offset) is raised.
    With `rtp_sink` / `rtp_batches`, RTP over UDP is handed to them (in capture order,
    interleaved with the records yielded) instead of being yielded; with `rtp_fixed_sink`
    too, the fixed-header RTP of the vector path goes to it a chunk at a time (`iter_transport`).
    """
    classifier = PayloadClassifier()
    return iter_transport(path, classifier.kind_of, classifier.rtp_endpoints, rtp_sink, rtp_batches,
                          rtp_fixed_sink)


def read_capture(path: str | Path) -> Iterator[Datagram]:
    """Read and classify a capture: `classify(read_datagrams(path))`.

    A generator: it yields everything readable, then raises `PcapReadError` (one line: file +
    byte offset) if the file is truncated or corrupt, so callers keep the evidence read so far.
    """
    for record in iter_capture(path):
        yield Datagram(*record)
