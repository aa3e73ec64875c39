"""Streaming capture reader: pcap / pcapng → `Datagram` values (docs/architecture.md §2 "validators").

File formats:
* classic libpcap (magic a1b2c3d4 µs / a1b23c4d ns, either byte order);
* pcapng (Section Header Block magic 0a0d0d0a; IDB link type + `if_tsresol`, EPB, SPB, OPB).
  dpkt's `pcap.Reader` rejects pcapng and, worse, stops *silently* on a truncated record; the
  record framing here is therefore done with `struct` so that every record's byte offset is
  known and a truncated or corrupt file is reported (`PcapReadError`) instead of being cut
  short without a word. The record layout follows the libpcap file format and
  draft-ietf-opsawg-pcapng (§4.1 SHB, §4.2 IDB, §4.3 EPB, §4.4 SPB, Appendix A OPB).

Link types (tcpdump.org LINKTYPE_*): 0 NULL and 108 LOOP (BSD loopback family word),
1 Ethernet (with 802.1Q / QinQ tags), 113 Linux SLL, 276 Linux SLL2 (`tcpdump -i any`),
101 / 12 / 14 raw IP. Network: IPv4 (RFC 791, fragments reassembled, §3.2 "reassembly") and
IPv6 (RFC 8200, extension headers skipped, Fragment header reassembled). Transport: UDP
(RFC 768) and TCP (RFC 9293: per-direction in-order delivery, see `_TcpDirection`).
Headers are sliced with `struct` (the fast path measured in docs/tooling.md), never parsed into
per-packet objects.

Errors: the reader is a generator; it yields every datagram it could read and only then raises
`PcapReadError`, whose `str()` is one line naming the file and the byte offset of the bad
record. Memory does not grow with the file: fragment and TCP buffers are bounded and evicted.

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
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from harness.validators.model import Datagram, Endpoint, PayloadKind, Transport

__all__ = [
    "CaptureRecord",
    "PayloadClassifier",
    "PcapReadError",
    "RtpSink",
    "classify",
    "iter_capture",
    "read_capture",
    "read_datagrams",
]

# Bounds that keep memory flat whatever the file size.
MAX_FRAGMENT_SETS = 256  # IP datagrams being reassembled at once
FRAGMENT_TIMEOUT = 30.0  # seconds of capture time (RFC 791 suggests 15 s; Linux uses 30 s)
MAX_TCP_FLOWS = 4096  # TCP directions tracked at once (least recently used evicted)
MAX_TCP_PENDING_BYTES = 256 * 1024  # out-of-order bytes held per direction before giving up
MAX_RECORD_LEN = 256 * 1024 * 1024  # a record claiming more than this is corruption, not data

_PCAP_MAGICS = {
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"

_ETHERTYPE_IPV4 = 0x0800
_ETHERTYPE_IPV6 = 0x86DD
_ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)
# BSD loopback address-family values for IPv6 differ per OS (NetBSD/OpenBSD 24, FreeBSD 28,
# Darwin 30); Linux AF_INET6 is 10. AF_INET is 2 everywhere.
_AF_INET = 2
_AF_INET6 = (10, 24, 28, 30)

_IPPROTO_TCP = 6
_IPPROTO_UDP = 17
_IPV6_EXT_HEADERS = (0, 43, 60, 51)  # hop-by-hop, routing, destination options, AH
_IPV6_FRAGMENT = 44


class PcapReadError(Exception):
    """A capture file is unreadable, truncated or corrupt at `offset`.

    `str()` is a single line: "<file>: <what> at byte offset <n>", fit for stderr (exit code 2).
    """

    def __init__(self, path: str, offset: int, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"{path}: {reason} at byte offset {offset}")


# --------------------------------------------------------------------------------------------
# File framing: (frame number, timestamp, link type, frame bytes)


# A frame is a plain tuple (frame number, timestamp, link type, frame bytes): this runs once per
# packet of a multi-gigabyte capture, and a tuple costs a fraction of a (frozen) dataclass.
_Frame = tuple[int, float, int, bytes]

_READ_CHUNK = 1 << 20  # bytes read from the file at a time (records are sliced out of it)


def _read_exact(f: BinaryIO, n: int) -> bytes:
    return f.read(n)


def _iter_pcap(f: BinaryIO, path: str, magic: bytes) -> Iterator[list[_Frame]]:
    """Classic pcap records, in batches: the frames of each 1 MiB read (a generator round trip
    per batch instead of per frame). The frames read before a bad record are yielded before the
    `PcapReadError`."""
    endian, resolution = _PCAP_MAGICS[magic]
    header = magic + _read_exact(f, 20)
    if len(header) < 24:
        raise PcapReadError(path, len(header), "truncated pcap file header")
    snaplen, linktype_field = struct.unpack(endian + "II", header[16:24])
    linktype = linktype_field & 0x0FFFFFFF  # upper bits carry FCS info (pcap-linktype(7))
    max_caplen = min(max(snaplen, 262144), MAX_RECORD_LEN)
    unpack_record = struct.Struct(endian + "IIII").unpack_from
    # Records are sliced out of 1 MiB reads (two small reads per record cost more than the
    # whole IP/UDP decode); `base` is the file offset of buf[0], for the error messages.
    buf = b""
    pos = 0
    base = 24
    index = 0
    batch: list[_Frame] = []
    try:
        while True:
            if len(buf) - pos < 16:
                if batch:
                    yield batch
                    batch = []
                base += pos
                buf = buf[pos:] + f.read(_READ_CHUNK)
                pos = 0
                if not buf:
                    return
                if len(buf) < 16:
                    raise PcapReadError(path, base, f"truncated record header ({len(buf)} of 16 bytes)")
            sec, frac, caplen, _origlen = unpack_record(buf, pos)
            if caplen > max_caplen:
                raise PcapReadError(path, base + pos, f"corrupt record header (captured length {caplen})")
            end = pos + 16 + caplen
            if end > len(buf):
                if batch:
                    yield batch
                    batch = []
                base += pos
                buf = buf[pos:] + f.read(max(_READ_CHUNK, end - len(buf)))
                end -= pos
                pos = 0
                if end > len(buf):
                    raise PcapReadError(path, base, f"truncated record ({len(buf) - 16} of {caplen} bytes)")
            index += 1
            batch.append((index, sec + frac * resolution, linktype, buf[pos + 16:end]))
            pos = end
    except PcapReadError:
        if batch:
            yield batch
        raise


@dataclass(slots=True)
class _Interface:
    linktype: int
    snaplen: int
    resolution: float = 1e-6


def _idb_resolution(options: bytes, endian: str) -> float:
    """`if_tsresol` (option 9): bit 7 clear → 10^-v seconds, set → 2^-v (pcapng §4.2)."""
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack(endian + "HH", options[pos:pos + 4])
        if code == 0:
            break
        value = options[pos + 4:pos + 4 + length]
        if code == 9 and length >= 1:
            v = value[0]
            return 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        pos += 4 + ((length + 3) & ~3)
    return 1e-6


def _iter_pcapng(f: BinaryIO, path: str) -> Iterator[_Frame]:
    offset = 0
    index = 0
    endian = "<"
    interfaces: list[_Interface] = []
    while True:
        head = _read_exact(f, 8)
        if not head:
            return
        if len(head) < 8:
            raise PcapReadError(path, offset, f"truncated block header ({len(head)} of 8 bytes)")
        if head[:4] == _PCAPNG_SHB:
            # The byte-order magic follows the length; it decides how to read everything else.
            bom = _read_exact(f, 4)
            if len(bom) < 4:
                raise PcapReadError(path, offset, "truncated section header block")
            if bom == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            else:
                raise PcapReadError(path, offset, "corrupt section header (bad byte-order magic)")
            (length,) = struct.unpack(endian + "I", head[4:8])
            already = 12
            interfaces = []  # interface ids are per section (pcapng §4.1)
        else:
            btype, length = struct.unpack(endian + "II", head)
            already = 8
        if length < 12 or length % 4 or length > MAX_RECORD_LEN:
            raise PcapReadError(path, offset, f"corrupt block (total length {length})")
        rest = _read_exact(f, length - already)
        if len(rest) < length - already:
            raise PcapReadError(path, offset, f"truncated block ({already + len(rest)} of {length} bytes)")
        block = head + rest if already == 8 else head + b"\x00" * 4 + rest
        (trailer,) = struct.unpack(endian + "I", block[-4:])
        if trailer != length:
            raise PcapReadError(path, offset, "corrupt block (trailing length differs)")
        if head[:4] == _PCAPNG_SHB:
            offset += length
            continue
        (btype,) = struct.unpack(endian + "I", head[:4])
        body = block[8:-4]
        frame: tuple[float, int, bytes] | None = None  # (timestamp, link type, bytes)
        if btype == 1:  # Interface Description Block
            if len(body) < 8:
                raise PcapReadError(path, offset, "corrupt interface description block")
            linktype, _reserved, snaplen = struct.unpack(endian + "HHI", body[:8])
            interfaces.append(_Interface(linktype, snaplen, _idb_resolution(body[8:], endian)))
        elif btype in (6, 2):  # Enhanced Packet Block / obsolete Packet Block
            if len(body) < 20:
                raise PcapReadError(path, offset, "corrupt packet block")
            if btype == 6:
                iface_id, ts_hi, ts_lo, caplen, _orig = struct.unpack(endian + "IIIII", body[:20])
            else:
                iface_id, _drops, ts_hi, ts_lo, caplen, _orig = struct.unpack(endian + "HHIIII", body[:20])
            if iface_id >= len(interfaces) or 20 + caplen > len(body):
                raise PcapReadError(path, offset, "corrupt packet block (interface or length)")
            iface = interfaces[iface_id]
            frame = (((ts_hi << 32) | ts_lo) * iface.resolution, iface.linktype, body[20:20 + caplen])
        elif btype == 3:  # Simple Packet Block: no timestamp, interface 0
            if not interfaces or len(body) < 4:
                raise PcapReadError(path, offset, "corrupt simple packet block")
            (orig,) = struct.unpack(endian + "I", body[:4])
            caplen = min(orig, interfaces[0].snaplen or orig, len(body) - 4)
            frame = (0.0, interfaces[0].linktype, body[4:4 + caplen])
        # Other block types (name resolution, statistics, custom...) carry no packets.
        if frame is not None:
            index += 1
            yield (index, *frame)
        offset += length


def _iter_frame_batches(path: str | Path) -> Iterator[list[_Frame]]:
    name = str(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in the finally below, generator-scoped
    except OSError as exc:
        raise PcapReadError(name, 0, f"cannot open ({exc.strerror})") from None
    try:
        magic = f.read(4)
        if magic in _PCAP_MAGICS:
            yield from _iter_pcap(f, name, magic)
        elif magic == _PCAPNG_SHB:
            f.seek(0)
            for frame in _iter_pcapng(f, name):
                yield [frame]
        else:
            raise PcapReadError(name, 0, f"not a pcap or pcapng file (magic {magic.hex() or 'empty'})")
    finally:
        f.close()


def _iter_frames(path: str | Path) -> Iterator[_Frame]:
    """(frame number, timestamp, link type, frame bytes) of every record, in file order."""
    for batch in _iter_frame_batches(path):
        yield from batch


# --------------------------------------------------------------------------------------------
# Link layer → network layer


def _network_payload(linktype: int, data: bytes) -> tuple[int, int] | None:
    """Return (IP version, offset of the IP header) or None for non-IP frames."""
    if linktype == 1:  # Ethernet II, possibly VLAN-tagged
        pos = 12
        while pos + 2 <= len(data):
            (etype,) = struct.unpack_from("!H", data, pos)
            if etype in _ETHERTYPE_VLAN:
                pos += 4
                continue
            return _by_ethertype(etype, pos + 2)
        return None
    if linktype == 113:  # Linux cooked v1: 16-byte header, protocol at 14
        if len(data) < 16:
            return None
        return _by_ethertype(struct.unpack_from("!H", data, 14)[0], 16)
    if linktype == 276:  # Linux cooked v2: 20-byte header, protocol at 0
        if len(data) < 20:
            return None
        return _by_ethertype(struct.unpack_from("!H", data, 0)[0], 20)
    if linktype in (0, 108):  # BSD loopback: 4-byte family, host order (NULL) / network (LOOP)
        if len(data) < 4:
            return None
        family = struct.unpack_from("!I", data, 0)[0] if linktype == 108 else struct.unpack_from("<I", data, 0)[0]
        if family > 0xFFFF:  # NULL written on a big-endian host
            family = struct.unpack_from(">I", data, 0)[0]
        if family == _AF_INET:
            return (4, 4)
        if family in _AF_INET6:
            return (6, 4)
        return None
    if linktype in (101, 12, 14):  # raw IP: the version nibble decides
        if not data:
            return None
        version = data[0] >> 4
        return (version, 0) if version in (4, 6) else None
    return None


def _by_ethertype(etype: int, offset: int) -> tuple[int, int] | None:
    if etype == _ETHERTYPE_IPV4:
        return (4, offset)
    if etype == _ETHERTYPE_IPV6:
        return (6, offset)
    return None


# --------------------------------------------------------------------------------------------
# IP fragment reassembly (RFC 791 §3.2; RFC 8200 §4.5), bounded


@dataclass(slots=True)
class _FragmentSet:
    first_seen: float
    pieces: dict[int, bytes] = field(default_factory=dict)  # offset → bytes
    total: int | None = None  # known once the last fragment (MF=0) arrived


class _Reassembler:
    def __init__(self) -> None:
        self._sets: OrderedDict[tuple[object, ...], _FragmentSet] = OrderedDict()

    def add(self, key: tuple[object, ...], offset: int, more: bool, data: bytes, now: float) -> bytes | None:
        self._expire(now)
        frag = self._sets.get(key)
        if frag is None:
            frag = _FragmentSet(first_seen=now)
            self._sets[key] = frag
            while len(self._sets) > MAX_FRAGMENT_SETS:
                self._sets.popitem(last=False)
        if offset + len(data) > 65535:  # larger than any IP datagram: drop the whole set
            del self._sets[key]
            return None
        frag.pieces[offset] = data
        if not more:
            frag.total = offset + len(data)
        if frag.total is None:
            return None
        # Complete when the pieces cover [0, total) without a hole (overlaps: first copy wins).
        buf = bytearray()
        for start in sorted(frag.pieces):
            piece = frag.pieces[start]
            if start > len(buf):
                return None
            buf += piece[len(buf) - start:]
        if len(buf) < frag.total:
            return None
        del self._sets[key]
        return bytes(buf[:frag.total])

    def _expire(self, now: float) -> None:
        while self._sets:
            key, oldest = next(iter(self._sets.items()))
            if now - oldest.first_seen <= FRAGMENT_TIMEOUT:
                return
            del self._sets[key]


# --------------------------------------------------------------------------------------------
# TCP: per-direction in-order delivery


@dataclass(slots=True)
class _TcpDirection:
    """Next expected sequence number and a bounded store of early (out-of-order) segments.

    Gaps: a segment beyond `next_seq` is held until the hole is filled by a retransmission.
    If more than MAX_TCP_PENDING_BYTES pile up (the capture missed the segment for good), the
    reader skips to the earliest held segment and marks that datagram `stream_gap=True`.
    Retransmitted bytes (before `next_seq`) are dropped; a partial overlap is trimmed.
    """

    next_seq: int | None = None
    pending: dict[int, tuple[int, float, bytes]] = field(default_factory=dict)  # seq → (index, ts, data)
    pending_bytes: int = 0


def _seq_lt(a: int, b: int) -> bool:
    """Sequence comparison modulo 2^32 (RFC 9293 §3.4)."""
    return a != b and ((b - a) & 0xFFFFFFFF) < 0x80000000


class _TcpReassembler:
    def __init__(self) -> None:
        self._flows: OrderedDict[tuple[Endpoint, Endpoint], _TcpDirection] = OrderedDict()

    def add(self, src: Endpoint, dst: Endpoint, seq: int, flags: int, payload: bytes,
            index: int, ts: float) -> Iterator[Datagram]:
        key = (src, dst)
        state = self._flows.get(key)
        if state is None:
            state = _TcpDirection()
            self._flows[key] = state
            while len(self._flows) > MAX_TCP_FLOWS:
                self._flows.popitem(last=False)
        else:
            self._flows.move_to_end(key)
        syn = bool(flags & 0x02)
        if syn:
            state.next_seq = (seq + 1) & 0xFFFFFFFF  # SYN consumes one sequence number
            state.pending.clear()
            state.pending_bytes = 0
            return
        if not payload:
            return
        if state.next_seq is None:  # capture started mid-connection: trust the first segment
            state.next_seq = seq
        if _seq_lt(seq, state.next_seq):
            skip = (state.next_seq - seq) & 0xFFFFFFFF
            if skip >= len(payload):
                return  # pure retransmission
            payload = payload[skip:]
            seq = state.next_seq
        if seq != state.next_seq:
            if seq not in state.pending:
                state.pending[seq] = (index, ts, payload)
                state.pending_bytes += len(payload)
            if state.pending_bytes <= MAX_TCP_PENDING_BYTES:
                return
            # Give up on the hole: continue from the earliest held segment.
            base = state.next_seq
            earliest = min(state.pending, key=lambda s: (s - base) & 0xFFFFFFFF)
            p_index, p_ts, p_data = state.pending.pop(earliest)
            state.pending_bytes -= len(p_data)
            state.next_seq = (earliest + len(p_data)) & 0xFFFFFFFF
            yield Datagram(p_index, p_ts, src, dst, Transport.TCP, p_data, stream_gap=True)
        else:
            state.next_seq = (seq + len(payload)) & 0xFFFFFFFF
            yield Datagram(index, ts, src, dst, Transport.TCP, payload)
        # Deliver held segments that have become in order (index/time of the completing packet).
        while state.pending:
            nxt = state.next_seq
            hit = None
            for p_seq in state.pending:
                if not _seq_lt(nxt, p_seq):  # p_seq <= nxt
                    hit = p_seq
                    break
            if hit is None:
                return
            p_index, p_ts, p_data = state.pending.pop(hit)
            state.pending_bytes -= len(p_data)
            skip = (nxt - hit) & 0xFFFFFFFF
            if skip < len(p_data):
                state.next_seq = (hit + len(p_data)) & 0xFFFFFFFF
                yield Datagram(index, ts, src, dst, Transport.TCP, p_data[skip:])


# --------------------------------------------------------------------------------------------
# Frames → datagrams


# A transport payload, in `Datagram` field order:
# (index, timestamp, src, dst, transport, payload, kind, stream_gap).
CaptureRecord = tuple[int, float, Endpoint, Endpoint, Transport, bytes, PayloadKind, bool]

_MAX_FLOW_CACHE = 65536  # (addresses + ports) → endpoint tuples, cleared when full


# Receives RTP-over-UDP payloads instead of their being yielded: (index, timestamp, src, dst, payload).
RtpSink = Callable[[int, float, Endpoint, Endpoint, bytes], None]


def _iter_transport(path: str | Path, classifier: PayloadClassifier | None,
                    rtp_sink: RtpSink | None = None) -> Iterator[CaptureRecord]:
    """The work of `read_datagrams` (+ classification when a classifier is given), as tuples.

    With `rtp_sink`, UDP payloads classified RTP go to it, in capture order, instead of being
    yielded (a capture is mostly RTP: this saves a generator round trip and a tuple per packet).

    Fast path: untagged Ethernet, IPv4 without options or fragments, UDP. The endpoint pair of
    a flow is built once and looked up by its raw address+port bytes, and a flow whose address
    an SDP named is remembered, so a media packet costs a few slices and two lookups instead of
    an object and a classifier call. Everything else takes the general path.
    """
    ip_frags = _Reassembler()
    tcp = _TcpReassembler()
    flows: dict[bytes, tuple[Endpoint, Endpoint]] = {}
    sdp_flows: set[bytes] = set()  # flows with an SDP-named endpoint (rtp_endpoints only grows)
    udp_proto = Transport.UDP
    other, rtp_kind = PayloadKind.OTHER, PayloadKind.RTP
    unpack_udp = struct.Struct("!HHH").unpack_from
    kind_of = classifier.kind_of if classifier is not None else None
    for batch in _iter_frame_batches(path):
        for index, timestamp, linktype, data in batch:
            # ---- fast path: untagged Ethernet II + IPv4 (IHL 5, not a fragment) + UDP
            if linktype == 1 and data[12:14] == b"\x08\x00" and len(data) >= 42 and data[14] == 0x45 \
                    and data[23] == _IPPROTO_UDP and not (data[20] & 0x3F or data[21]):
                total_len = (data[16] << 8) | data[17]
                end = 14 + total_len if total_len >= 20 and 14 + total_len <= len(data) else len(data)
                if end < 42:
                    continue  # no room for a UDP header: the general path drops it too
                key = data[26:38]  # source address, destination address, source port, destination port
                pair = flows.get(key)
                if pair is None:
                    if len(flows) >= _MAX_FLOW_CACHE:
                        flows.clear()
                        sdp_flows.clear()
                    sport, dport, _ulen = unpack_udp(data, 34)
                    pair = ((_ip4_text(data[26:30]), sport), (_ip4_text(data[30:34]), dport))
                    flows[key] = pair
                ulen = (data[38] << 8) | data[39]
                seg_len = end - 34
                stop = 34 + ulen if 8 <= ulen <= seg_len else end
                payload = data[42:stop]
                if kind_of is None:
                    kind = other
                elif stop - 42 >= 12 and data[42] == 0x80 and not 192 <= data[43] <= 223 and key in sdp_flows:
                    # What kind_of decides for a fixed-header RTP packet to/from an SDP-named address.
                    if rtp_sink is not None:
                        rtp_sink(index, timestamp, pair[0], pair[1], payload)
                        continue
                    kind = rtp_kind
                else:
                    src, dst = pair
                    kind = kind_of(src, dst, udp_proto, payload)
                    if kind is rtp_kind and classifier is not None and (
                            src in classifier.rtp_endpoints or dst in classifier.rtp_endpoints):
                        sdp_flows.add(key)
                    if kind is rtp_kind and rtp_sink is not None:
                        rtp_sink(index, timestamp, src, dst, payload)
                        continue
                yield (index, timestamp, pair[0], pair[1], udp_proto, payload, kind, False)
                continue
            # ---- general path
            located = _network_payload(linktype, data)
            if located is None:
                continue
            version, off = located
            if version == 4:
                parsed = _ipv4(data, off, ip_frags, timestamp)
            else:
                parsed = _ipv6(data, off, ip_frags, timestamp)
            if parsed is None:
                continue
            src_ip, dst_ip, proto, segment = parsed
            if proto == _IPPROTO_UDP:
                if len(segment) < 8:
                    continue
                sport, dport, ulen = unpack_udp(segment, 0)
                end = ulen if 8 <= ulen <= len(segment) else len(segment)
                src, dst, payload = (src_ip, sport), (dst_ip, dport), segment[8:end]
                kind = kind_of(src, dst, udp_proto, payload) if kind_of is not None else other
                if kind is rtp_kind and rtp_sink is not None:
                    rtp_sink(index, timestamp, src, dst, payload)
                    continue
                yield (index, timestamp, src, dst, udp_proto, payload, kind, False)
            elif proto == _IPPROTO_TCP:
                if len(segment) < 20:
                    continue
                sport, dport, seq = struct.unpack_from("!HHI", segment, 0)
                header_len = (segment[12] >> 4) * 4
                flags = segment[13]
                if header_len < 20 or header_len > len(segment):
                    continue
                for d in tcp.add((src_ip, sport), (dst_ip, dport), seq, flags, segment[header_len:], index, timestamp):
                    kind = kind_of(d.src, d.dst, d.transport, d.payload) if kind_of is not None else other
                    yield (d.index, d.timestamp, d.src, d.dst, d.transport, d.payload, kind, d.stream_gap)


def read_datagrams(path: str | Path) -> Iterator[Datagram]:
    """Yield every UDP datagram and in-order TCP payload of a capture, unclassified.

    Raises `PcapReadError` after the last readable datagram if the file is truncated/corrupt.
    """
    for record in _iter_transport(path, None):
        yield Datagram(*record)


def _ipv4(data: bytes, off: int, frags: _Reassembler, now: float) -> tuple[str, str, int, bytes] | None:
    if len(data) < off + 20 or data[off] >> 4 != 4:
        return None
    ihl = (data[off] & 0x0F) * 4
    total_len, ident, frag_field = struct.unpack_from("!HHH", data, off + 2)
    proto = data[off + 9]
    src = _ip4_text(data[off + 12:off + 16])
    dst = _ip4_text(data[off + 16:off + 20])
    # Ethernet pads short frames: trust the IP total length, not the frame length.
    end = off + total_len if ihl <= total_len and off + total_len <= len(data) else len(data)
    payload = data[off + ihl:end]
    more = bool(frag_field & 0x2000)
    frag_offset = (frag_field & 0x1FFF) * 8
    if more or frag_offset:
        whole = frags.add((4, src, dst, ident, proto), frag_offset, more, payload, now)
        if whole is None:
            return None
        payload = whole
    return src, dst, proto, payload


def _ipv6(data: bytes, off: int, frags: _Reassembler, now: float) -> tuple[str, str, int, bytes] | None:
    if len(data) < off + 40 or data[off] >> 4 != 6:
        return None
    (payload_len,) = struct.unpack_from("!H", data, off + 4)
    nh = data[off + 6]
    src = str(ipaddress.IPv6Address(data[off + 8:off + 24]))
    dst = str(ipaddress.IPv6Address(data[off + 24:off + 40]))
    end = off + 40 + payload_len if payload_len and off + 40 + payload_len <= len(data) else len(data)
    payload = data[off + 40:end]
    while True:
        if nh in _IPV6_EXT_HEADERS:
            if len(payload) < 2:
                return None
            # AH counts its length in 4-octet units minus 2, the others in 8-octet units minus 1.
            ext_len = (payload[1] + 2) * 4 if nh == 51 else (payload[1] + 1) * 8
            nh, payload = payload[0], payload[ext_len:]
        elif nh == _IPV6_FRAGMENT:
            if len(payload) < 8:
                return None
            nxt = payload[0]
            (frag_field, ident) = struct.unpack_from("!HI", payload, 2)
            whole = frags.add((6, src, dst, ident), frag_field & 0xFFF8, bool(frag_field & 1), payload[8:], now)
            if whole is None:
                return None
            nh, payload = nxt, whole
        else:
            return src, dst, nh, payload


def _ip4_text(raw: bytes) -> str:
    return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"


# --------------------------------------------------------------------------------------------
# Classification

_SIP_REQUEST_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9.!%*_+`'~-]* \S+ SIP/2\.0\r?\n")
_SIP_STATUS_LINE = re.compile(rb"^SIP/2\.0 [1-6]\d\d ")
# A TCP segment may end inside a long Request-Line (Genesys R-URIs are long): a method token
# followed by a sip:/sips: URI is enough to call the stream SIP.
_SIP_REQUEST_PREFIX = re.compile(rb"^[A-Z]{3,16} sips?:[^\s]")
_SDP_CONNECTION = re.compile(rb"^c=IN IP[46] ([^\s/]+)", re.MULTILINE)
_SDP_MEDIA = re.compile(rb"^m=\w+ (\d+)(?:/\d+)? ", re.MULTILINE)
_SDP_RTCP = re.compile(rb"^a=rtcp:(\d+)(?: IN IP[46] ([^\s]+))?", re.MULTILINE)
_SDP_RTCP_MUX = re.compile(rb"^a=rtcp-mux\b", re.MULTILINE)
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
    if len(payload) < 12 or payload[0] >> 6 != 2:
        return False
    header = 12 + 4 * (payload[0] & 0x0F)
    if payload[0] & 0x10:
        if len(payload) < header + 4:
            return False
        header += 4 + 4 * struct.unpack_from("!H", payload, header + 2)[0]
    if header > len(payload):
        return False
    return not (payload[0] & 0x20 and (payload[-1] == 0 or header + payload[-1] > len(payload)))


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
        self.rtp_endpoints: set[Endpoint] = set()
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
        """Record the media endpoints of an SDP body (RFC 4566 §5.7 c=, §5.14 m=, RFC 3605)."""
        split = payload.find(b"\r\n\r\n")
        body = payload[split + 4:] if split >= 0 else b""
        if not body.startswith(b"v=0"):
            return
        self.sdp_seen = True
        # Session-level c= applies to every m= section that has none of its own (§5.7).
        sections = re.split(rb"(?m)^(?=m=)", body)
        session_conn = _first_group(_SDP_CONNECTION, sections[0])
        for section in sections[1:]:
            media = _SDP_MEDIA.match(section)
            conn = _first_group(_SDP_CONNECTION, section) or session_conn
            if media is None or conn is None:
                continue
            port = int(media.group(1))
            if port == 0:
                continue  # refused stream (RFC 3264 §6)
            host = _normalise_ip(conn)
            self.rtp_endpoints.add((host, port))
            rtcp = _SDP_RTCP.search(section)
            if rtcp is not None:
                rtcp_host = _normalise_ip(rtcp.group(2)) if rtcp.group(2) else host
                self.rtcp_endpoints.add((rtcp_host, int(rtcp.group(1))))
            elif not _SDP_RTCP_MUX.search(section):
                self.rtcp_endpoints.add((host, port + 1))  # RFC 3550 §11: next odd port


def _first_group(pattern: re.Pattern[bytes], text: bytes) -> bytes | None:
    match = pattern.search(text)
    return match.group(1) if match else None


def _normalise_ip(raw: bytes) -> str:
    text = raw.decode("ascii", "replace")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text  # an FQDN: kept as written, it simply never matches a packet address


def classify(datagrams: Iterable[Datagram]) -> Iterator[Datagram]:
    """Attach a `PayloadKind` to each datagram, learning media endpoints from SDP as it goes."""
    classifier = PayloadClassifier()
    for datagram in datagrams:
        yield replace(datagram, kind=classifier.classify(datagram))


def iter_capture(path: str | Path, rtp_sink: RtpSink | None = None) -> Iterator[CaptureRecord]:
    """`read_capture` as plain tuples, for consumers that handle every packet of big captures.

    `Datagram(*record)` is the `Datagram` `read_capture` yields. Same errors: everything
    readable is yielded, then `PcapReadError` (one line: file + byte offset) is raised.
    With `rtp_sink`, RTP over UDP is handed to it (in capture order, interleaved with the
    records yielded) instead of being yielded.
    """
    return _iter_transport(path, PayloadClassifier(), rtp_sink)


def read_capture(path: str | Path) -> Iterator[Datagram]:
    """Read and classify a capture: `classify(read_datagrams(path))`.

    A generator: it yields everything readable, then raises `PcapReadError` (one line: file +
    byte offset) if the file is truncated or corrupt, so callers keep the evidence read so far.
    """
    for record in iter_capture(path):
        yield Datagram(*record)
