"""Frames → transport payloads: link layer, IP (fragments reassembled), UDP and TCP.

Link types (tcpdump.org LINKTYPE_*): 0 NULL and 108 LOOP (BSD loopback family word),
1 Ethernet (with 802.1Q / QinQ tags), 113 Linux SLL, 276 Linux SLL2 (`tcpdump -i any`),
101 / 12 / 14 raw IP. Network: IPv4 (RFC 791, fragments reassembled, §3.2 "reassembly") and
IPv6 (RFC 8200, extension headers skipped, Fragment header reassembled). Transport: UDP
(RFC 768) and TCP (RFC 9293: per-direction in-order delivery, see `_TcpDirection`). Headers are
sliced with `struct`, never parsed into per-packet objects (this runs once per frame).

The TCP reassembler keeps its own 32-bit sequence comparison (`_seq_lt`, RFC 9293 §3.4): TCP
sequence space, not RTP's (RTP wrap arithmetic lives in `harness.protocol.rtp.seqnum`).

Memory does not grow with the file: fragment and TCP buffers are bounded and evicted.
"""

from __future__ import annotations

import ipaddress
import struct
from array import array
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from harness.capture.model import Datagram, Endpoint, PayloadKind, Transport
from harness.capture.reader import FrameBlock, PcapReadError, iter_frame_blocks

__all__ = [
    "FRAGMENT_TIMEOUT",
    "MAX_FRAGMENT_SETS",
    "MAX_TCP_FLOWS",
    "MAX_TCP_PENDING_BYTES",
    "CaptureRecord",
    "FixedRtpChunk",
    "KindOf",
    "RtpBatches",
    "RtpFixedSink",
    "RtpSink",
    "iter_transport",
    "read_datagrams",
]

# Bounds that keep memory flat whatever the file size.
MAX_FRAGMENT_SETS = 256  # IP datagrams being reassembled at once
FRAGMENT_TIMEOUT = 30.0  # seconds of capture time (RFC 791 suggests 15 s; Linux uses 30 s)
MAX_TCP_FLOWS = 4096  # TCP directions tracked at once (least recently used evicted)
MAX_TCP_PENDING_BYTES = 256 * 1024  # out-of-order bytes held per direction before giving up

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
# Frames → transport payloads


# A transport payload, in `Datagram` field order:
# (index, timestamp, src, dst, transport, payload, kind, stream_gap).
CaptureRecord = tuple[int, float, Endpoint, Endpoint, Transport, bytes, PayloadKind, bool]

# Decides what a payload is: (src, dst, transport, payload) → kind (`validators.pcap.PayloadClassifier`).
KindOf = Callable[[Endpoint, Endpoint, Transport, bytes], PayloadKind]

# Receives RTP-over-UDP payloads instead of their being yielded: (index, timestamp, src, dst, payload).
RtpSink = Callable[[int, float, Endpoint, Endpoint, bytes], None]


@dataclass(slots=True)
class FixedRtpChunk:
    """The vector path's fixed-header RTP packets of one chunk, in capture order (instead of one
    `RtpSink` call each), as arrays over the read buffer: packet i is frame `frames[i]`, arrived
    at `times[i]`, on flow `pairs[flow[i]]` with SSRC `ssrcs[i]`; its body (after the 12-byte
    fixed header) is `buffer[starts[i]:stops[i]]`. Cheap to send to another process (no Python
    object per packet); `columns` gives the per-packet lists."""

    frames: npt.NDArray[np.int64]
    times: npt.NDArray[np.float64]
    flow: npt.NDArray[np.int64]
    pairs: list[tuple[Endpoint, Endpoint]]
    ssrcs: npt.NDArray[np.int64]
    buffer: bytes
    starts: npt.NDArray[np.int64]
    stops: npt.NDArray[np.int64]
    # Where buffer[0] is in the capture file, when the buffer is a span of it (else None).
    file_offset: int | None = None

    def columns(self) -> tuple[list[int], list[float], list[tuple[Endpoint, Endpoint]], list[int], list[bytes]]:
        """(frame numbers, arrival times, (src, dst) pairs, SSRCs, bodies), one entry a packet."""
        pairs, buffer = self.pairs, self.buffer
        return (self.frames.tolist(), self.times.tolist(), [pairs[f] for f in self.flow.tolist()],
                self.ssrcs.tolist(),
                [buffer[a:b] for a, b in zip(self.starts.tolist(), self.stops.tolist(), strict=True)])

    def compact(self) -> FixedRtpChunk:
        """The same packets over only the part of the buffer their bodies use (what is sent)."""
        if not len(self.starts):
            return self
        low, high = int(self.starts.min()), int(self.stops.max())
        offset = self.file_offset + low if self.file_offset is not None else None
        return FixedRtpChunk(self.frames, self.times, self.flow, self.pairs, self.ssrcs, self.buffer[low:high],
                             self.starts - low, self.stops - low, offset)

    def detached(self) -> FixedRtpChunk:
        """`compact`, without the bodies when the file holds them (`file_offset` known): what is
        sent to a process that reads the span itself (`attach`), so the bodies (most of a
        capture's bytes) are not pickled and copied through a pipe."""
        chunk = self.compact()
        if chunk.file_offset is None or not len(chunk.starts):
            return chunk
        chunk.buffer = b""
        return chunk

    def attach(self, read_at: Callable[[int, int], bytes]) -> None:
        """Read back the bodies `detached` left out: `read_at(size, offset)` (`os.pread` on
        the capture file)."""
        if self.buffer or self.file_offset is None or not len(self.starts):
            return
        size = int(self.stops.max())
        buffer = read_at(size, self.file_offset)
        if len(buffer) != size:
            raise OSError(f"capture file changed while read: {len(buffer)} of {size} bytes at {self.file_offset}")
        self.buffer = buffer


# Receives the vector path's fixed-header RTP a chunk at a time.
RtpFixedSink = Callable[[FixedRtpChunk], None]

_MAX_FLOW_CACHE = 65536  # (addresses + ports) → endpoint tuples, cleared when full
_RTP_FIXED_HEADER = 12


# One flow's collected RTP: fixed headers back to back, arrival times, frame numbers.
FlowPackets = tuple[bytearray, "array[float]", "array[int]"]
# A flow's RTP as handed to `flush`: headers (bytes, 12 a packet), arrival times, frame numbers.
FlowArrays = tuple[bytes, npt.NDArray[np.float64], npt.NDArray[np.int64]]


class RtpBatches:
    """RTP over UDP collected for batch analysis: per packet the 12-byte fixed header, the
    arrival time and the frame number, handed to `flush` per flow, in capture order, every
    `limit` frames and at the end (memory stays bounded whatever the capture size: about 28
    bytes a packet between flushes).

    Two collections: per flow (bytearray + typed arrays) for packets of the per-frame path, and
    per chunk (numpy arrays tagged with a flow number) for the vector path, so a chunk costs a
    few numpy calls and no Python step per flow. `take` merges them into capture order.

    The fixed header carries everything the receive statistics need (RFC 3550 §5.1: M, PT,
    sequence number, timestamp, SSRC); V/P/X/CC were checked when the packet was classified.
    """

    __slots__ = ("_flow_number", "_flow_pairs", "_parts", "count", "flows", "flush", "limit", "pairs")

    def __init__(self, flush: Callable[[RtpBatches], None], limit: int = 262144) -> None:
        self.flows: dict[object, FlowPackets] = {}
        self.pairs: dict[object, tuple[Endpoint, Endpoint]] = {}
        self.flush = flush
        self.limit = limit
        self.count = 0
        self._flow_number: dict[bytes, int] = {}  # raw address+port key → flow number
        self._flow_pairs: list[tuple[Endpoint, Endpoint]] = []
        self._parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray[np.float64],
                                npt.NDArray[np.int64]]] = []

    def open(self, key: object, pair: tuple[Endpoint, Endpoint]) -> FlowPackets:
        packets = self.flows[key] = (bytearray(), array("d"), array("q"))
        self.pairs[key] = pair
        return packets

    def flow_number(self, raw: bytes, pair: tuple[Endpoint, Endpoint]) -> int:
        number = self._flow_number.get(raw)
        if number is None:
            number = self._flow_number[raw] = len(self._flow_pairs)
            self._flow_pairs.append(pair)
        return number

    def add_chunk(self, flows: npt.NDArray[np.int64], headers: npt.NDArray[np.uint8],
                  arrival: npt.NDArray[np.float64], frames: npt.NDArray[np.int64]) -> None:
        """Packets of the vector path: flow number, (n, 12) headers, arrival, frame number."""
        self._parts.append((flows, headers, arrival, frames))

    def take(self) -> list[tuple[Endpoint, Endpoint, FlowArrays]]:
        """The collected packets per (src, dst) in first-packet order; empties the collection.

        One flow may have been collected under several keys (raw bytes on the fast path,
        endpoint tuples on the general one, flow numbers on the vector path): its packets are
        merged back into capture order."""
        pieces: dict[tuple[Endpoint, Endpoint], list[FlowArrays]] = {}
        for key, (headers, times, indices) in self.flows.items():
            pieces.setdefault(self.pairs[key], []).append(
                (bytes(headers), np.frombuffer(times, dtype=np.float64), np.frombuffer(indices, dtype=np.int64)))
        if self._parts:
            flows = np.concatenate([p[0] for p in self._parts])
            all_headers = np.concatenate([p[1] for p in self._parts])
            arrival = np.concatenate([p[2] for p in self._parts])
            frames = np.concatenate([p[3] for p in self._parts])
            # One stable sort by flow number (a radix sort when the numbers fit 16 bits), three
            # gathers, then each flow is a contiguous slice (copied: a flow's arrays must not
            # keep the whole collection alive).
            narrow = flows.astype(np.uint16) if int(flows.max()) < 65536 else flows
            order = np.argsort(narrow, kind="stable")
            by_flow = flows[order]
            all_headers, arrival, frames = all_headers[order], arrival[order], frames[order]
            cuts = (np.flatnonzero(np.diff(by_flow)) + 1).tolist()
            for start, stop in zip([0, *cuts], [*cuts, len(by_flow)], strict=True):
                pair = self._flow_pairs[int(by_flow[start])]
                pieces.setdefault(pair, []).append((all_headers[start:stop].tobytes(), arrival[start:stop].copy(),
                                                    frames[start:stop].copy()))
        out: list[tuple[int, tuple[Endpoint, Endpoint], FlowArrays]] = []
        for pair, parts in pieces.items():
            if len(parts) == 1:
                merged = parts[0]
            else:
                all_frames = np.concatenate([p[2] for p in parts])
                order = np.argsort(all_frames, kind="stable")
                joined = np.frombuffer(b"".join(p[0] for p in parts), dtype=np.uint8).reshape(-1, 12)
                merged = (joined[order].tobytes(), np.concatenate([p[1] for p in parts])[order],
                          all_frames[order])
            out.append((int(merged[2][0]), pair, merged))
        out.sort(key=lambda item: item[0])
        self.flows = {}
        self.pairs = {}
        self._parts = []
        self.count = 0
        return [(src, dst, arrays) for _first, (src, dst), arrays in out]


def iter_transport(path: str | Path, kind_of: KindOf | None = None,
                   rtp_endpoints: Collection[Endpoint] = (), rtp_sink: RtpSink | None = None,
                   rtp_batches: RtpBatches | None = None,
                   rtp_fixed_sink: RtpFixedSink | None = None) -> Iterator[CaptureRecord]:
    """Every UDP datagram and in-order TCP payload of a capture, classified by `kind_of`
    (everything OTHER without one), as tuples; `PcapReadError` after the last readable frame.

    RTP over UDP goes to `rtp_batches` (batch statistics) and/or `rtp_sink`, in capture order
    (with `rtp_fixed_sink` too, the vector path's packets go to it a chunk at a time, not to `rtp_sink`),
    instead of being yielded (a capture is mostly RTP: this saves a generator round trip and a
    tuple per packet). `rtp_endpoints` is the classifier's insertion-ordered collection of
    SDP-named media endpoints (it only grows, new ones at the end).

    With `rtp_batches`, Ethernet chunks are first sorted with numpy: IPv4 (no options, not a
    fragment) + UDP frames whose payload starts like a fixed-header RTP packet (RFC 3550 §5.1
    V=2, no P/X/CC; not an RTCP type, RFC 5761 §4) are classified as a whole, by the rule
    `kind_of` applies to them (an SDP-named endpoint, learnt from a frame before this one, or
    the header heuristic), and their headers are collected per flow without a per-packet
    Python step; every other frame takes the per-frame path below, in capture order. Frames
    of that shape that are not RTP are yielded after the chunk's other records.

    Per-frame fast path: untagged Ethernet, IPv4 without options or fragments, UDP. The
    endpoint pair of a flow is built once and looked up by its raw address+port bytes, and a
    flow whose address an SDP named is remembered. Everything else takes the general path.
    """
    ip_frags = _Reassembler()
    tcp = _TcpReassembler()
    flows: dict[bytes, tuple[Endpoint, Endpoint]] = {}
    vector_flows: dict[bytes, _VectorFlow] = {}  # the vector path's per-flow facts (see `_VectorFlow`)
    sdp_flows: set[bytes] = set()  # flows with an SDP-named endpoint (rtp_endpoints only grows)
    udp_proto = Transport.UDP
    other, rtp_kind, sip_kind = PayloadKind.OTHER, PayloadKind.RTP, PayloadKind.SIP
    unpack_udp = struct.Struct("!HHH").unpack_from
    batch_flows = rtp_batches.flows if rtp_batches is not None else None
    # When each SDP-named endpoint was learnt (frame number of the SIP message): the vector
    # path classifies a frame as RTP by that rule only if its endpoint was known before it.
    learnt: dict[Endpoint, int] = dict.fromkeys(rtp_endpoints, 0)
    vector = rtp_batches is not None and kind_of is not None
    index = 0
    for block in _blocks(path, rtp_batches):
        linktype, buffer, count = block.linktype, block.buffer, len(block)
        if rtp_batches is not None:
            rtp_batches.count += count
            if rtp_batches.count >= rtp_batches.limit:
                rtp_batches.flush(rtp_batches)
                batch_flows = rtp_batches.flows
        base = index
        index += count
        candidates = _rtp_candidates(block) if vector and linktype == 1 and count >= 32 else None
        positions: Iterable[int] = range(count) if candidates is None \
            else np.flatnonzero(~candidates.mask).tolist()
        times: list[float] = block.times.tolist()
        starts: list[int] = block.starts.tolist()
        ends: list[int] = (block.starts + block.lengths).tolist()
        for pos in positions:
            timestamp, data = times[pos], buffer[starts[pos]:ends[pos]]
            index_here = base + pos + 1
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
                if kind_of is None:
                    kind = other
                elif stop - 42 >= 12 and data[42] == 0x80 and not 192 <= data[43] <= 223 and key in sdp_flows:
                    # What kind_of decides for a fixed-header RTP packet to/from an SDP-named address.
                    if batch_flows is not None or rtp_sink is not None:
                        _divert(key, pair, timestamp, index_here, data[42:stop], rtp_batches, rtp_sink)
                        continue
                    kind = rtp_kind
                else:
                    src, dst = pair
                    payload = data[42:stop]
                    known = len(rtp_endpoints)
                    kind = kind_of(src, dst, udp_proto, payload)
                    if kind is sip_kind and len(rtp_endpoints) != known:
                        _note_learnt(rtp_endpoints, learnt, index_here)
                    if kind is rtp_kind:
                        if src in rtp_endpoints or dst in rtp_endpoints:
                            sdp_flows.add(key)
                        if batch_flows is not None or rtp_sink is not None:
                            _divert(key, pair, timestamp, index_here, payload, rtp_batches, rtp_sink)
                            continue
                    yield (index_here, timestamp, src, dst, udp_proto, payload, kind, False)
                    continue
                yield (index_here, timestamp, pair[0], pair[1], udp_proto, data[42:stop], kind, False)
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
                known = len(rtp_endpoints)
                kind = kind_of(src, dst, udp_proto, payload) if kind_of is not None else other
                if kind is sip_kind and len(rtp_endpoints) != known:
                    _note_learnt(rtp_endpoints, learnt, index_here)
                if kind is rtp_kind and (batch_flows is not None or rtp_sink is not None):
                    _divert((src, dst), (src, dst), timestamp, index_here, payload, rtp_batches, rtp_sink)
                    continue
                yield (index_here, timestamp, src, dst, udp_proto, payload, kind, False)
            elif proto == _IPPROTO_TCP:
                if len(segment) < 20:
                    continue
                sport, dport, seq = struct.unpack_from("!HHI", segment, 0)
                header_len = (segment[12] >> 4) * 4
                flags = segment[13]
                if header_len < 20 or header_len > len(segment):
                    continue
                for d in tcp.add((src_ip, sport), (dst_ip, dport), seq, flags, segment[header_len:],
                                 index_here, timestamp):
                    known = len(rtp_endpoints)
                    kind = kind_of(d.src, d.dst, d.transport, d.payload) if kind_of is not None else other
                    if kind is sip_kind and len(rtp_endpoints) != known:
                        _note_learnt(rtp_endpoints, learnt, index_here)
                    yield (d.index, d.timestamp, d.src, d.dst, d.transport, d.payload, kind, d.stream_gap)
        if candidates is not None:
            yield from _vector_rtp(candidates, base, block, flows, learnt, rtp_batches, rtp_sink,
                                  rtp_fixed_sink, vector_flows)
    if rtp_batches is not None:
        rtp_batches.flush(rtp_batches)


def _note_learnt(rtp_endpoints: Collection[Endpoint], learnt: dict[Endpoint, int], index: int) -> None:
    """Stamp the endpoints learnt since the last call (those after the first len(learnt) of an
    insertion-ordered collection) with the frame number that taught them."""
    new = len(rtp_endpoints) - len(learnt)
    if new <= 0:
        return
    if isinstance(rtp_endpoints, dict):
        # The classifier's dict: the newest entries read from its end (islice from the start
        # walks every endpoint learnt before them, on every SIP message that teaches one).
        for ep in islice(reversed(rtp_endpoints), new):
            learnt.setdefault(ep, index)
        return
    for ep in islice(rtp_endpoints, len(learnt), None):
        learnt.setdefault(ep, index)


_NEVER = np.iinfo(np.int64).max


class _VectorFlow:
    """One flow as the vector path knows it: its endpoints, its `RtpBatches` flow number, and
    the frame number from which an SDP names one of its endpoints (`_NEVER`: not yet)."""

    __slots__ = ("known_since", "number", "pair")

    def __init__(self, pair: tuple[Endpoint, Endpoint], number: int) -> None:
        self.pair = pair
        self.number = number
        self.known_since = _NEVER


@dataclass(slots=True)
class _Candidates:
    """Frames of a chunk shaped like Ethernet + IPv4 + UDP + fixed-header RTP (see `iter_transport`)."""

    mask: npt.NDArray[np.bool_]  # per frame of the chunk
    positions: npt.NDArray[np.int64]  # their positions in the chunk
    offsets: npt.NDArray[np.int64]  # their offsets in `blob`
    stops: npt.NDArray[np.int64]  # end of their UDP payload, relative to the frame
    blob: npt.NDArray[np.uint8]  # the block's buffer (`FrameBlock.buffer`)


_HEURISTIC_PT_TABLE = np.zeros(128, dtype=bool)
_HEURISTIC_PT_TABLE[[0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, *range(96, 128)]] = True
_KEY_BYTES = np.arange(26, 38)  # source address, destination address, ports
_HEADER_BYTES = np.arange(42, 54)  # the RTP fixed header
_SSRC_BYTES = np.arange(50, 54)


def _rtp_candidates(block: FrameBlock) -> _Candidates | None:
    n = len(block)
    lengths, starts = block.lengths, block.starts
    blob = np.frombuffer(block.buffer, dtype=np.uint8)
    long_enough = np.flatnonzero(lengths >= 54)
    o = starts[long_enough]
    ln = lengths[long_enough]
    # Ethernet II, IPv4 with a 20-byte header, UDP, not a fragment (MF clear, offset 0).
    ok = (blob[o + 12] == 0x08) & (blob[o + 13] == 0x00) & (blob[o + 14] == 0x45) & (blob[o + 23] == _IPPROTO_UDP)
    ok &= ((blob[o + 20] & 0x3F) == 0) & (blob[o + 21] == 0)
    total_len = (blob[o + 16].astype(np.int64) << 8) | blob[o + 17]
    end = np.where((total_len >= 20) & (14 + total_len <= ln), 14 + total_len, ln)
    ulen = (blob[o + 38].astype(np.int64) << 8) | blob[o + 39]
    stop = np.where((ulen >= 8) & (ulen <= end - 34), 34 + ulen, end)
    # RTP version 2 with no padding, extension or CSRC, a whole fixed header, not RTCP (RFC 5761 §4).
    second = blob[o + 43]
    ok &= (stop - 42 >= 12) & (blob[o + 42] == 0x80) & ((second < 192) | (second > 223))
    chosen = np.flatnonzero(ok)
    if not chosen.size:
        return None
    mask = np.zeros(n, dtype=bool)
    positions = long_enough[chosen]
    mask[positions] = True
    return _Candidates(mask, positions, o[chosen], stop[chosen], blob)


def _vector_rtp(c: _Candidates, base: int, block: FrameBlock,
                flows: dict[bytes, tuple[Endpoint, Endpoint]], learnt: dict[Endpoint, int],
                rtp_batches: RtpBatches | None, rtp_sink: RtpSink | None,
                rtp_fixed_sink: RtpFixedSink | None = None,
                vector_flows: dict[bytes, _VectorFlow] | None = None) -> Iterator[CaptureRecord]:
    """Classify and collect a chunk's RTP-shaped frames (see `iter_transport`)."""
    blob, offsets = c.blob, c.offsets
    # Group the packets by flow (addresses + ports): a sort on two integer columns (np.unique of
    # 12-byte void keys compares bytes one by one, several times slower). Group order is
    # irrelevant: `RtpBatches.take` hands flows on in first-packet order.
    key_bytes = np.ascontiguousarray(blob[offsets[:, None] + _KEY_BYTES])
    high = np.ascontiguousarray(key_bytes[:, :8]).view(np.uint64).ravel()
    low = np.ascontiguousarray(key_bytes[:, 8:]).view(np.uint32).ravel()
    order = np.lexsort((low, high))
    sorted_high, sorted_low = high[order], low[order]
    starts_group = np.empty(len(order), dtype=bool)
    starts_group[0] = True
    starts_group[1:] = (sorted_high[1:] != sorted_high[:-1]) | (sorted_low[1:] != sorted_low[:-1])
    flow_of = np.empty(len(order), dtype=np.int64)
    flow_of[order] = np.cumsum(starts_group) - 1
    unique_keys = key_bytes[order[starts_group]]
    frame_numbers = c.positions + (base + 1)
    # When the flow's endpoints became SDP-named (a later frame is RTP by the SDP rule).
    if vector_flows is None or len(vector_flows) >= _MAX_FLOW_CACHE:
        vector_flows = {} if vector_flows is None else vector_flows
        vector_flows.clear()
    count = len(unique_keys)
    whole = unique_keys.tobytes()  # the distinct 12-byte keys back to back
    raws = [whole[i:i + 12] for i in range(0, 12 * count, 12)]
    found = list(map(vector_flows.get, raws))  # one C-level lookup per flow; new flows below
    for i, flow in enumerate(found):
        if flow is None:
            raw = raws[i]
            pair = flows.get(raw)
            if pair is None:
                sport, dport = struct.unpack_from("!HH", raw, 8)
                pair = ((_ip4_text(raw[0:4]), sport), (_ip4_text(raw[4:8]), dport))
                flows[raw] = pair
            number = rtp_batches.flow_number(raw, pair) if rtp_batches is not None else -1
            flow = found[i] = vector_flows[raw] = _VectorFlow(pair, number)
        if flow.known_since == _NEVER:
            # `learnt` only grows and keeps each endpoint's first stamp: a known flow stays known.
            pair = flow.pair
            flow.known_since = min(learnt.get(pair[0], _NEVER), learnt.get(pair[1], _NEVER))
    flows_found = cast("list[_VectorFlow]", found)  # every None was replaced above
    pairs = [flow.pair for flow in flows_found]
    known_since = np.fromiter([flow.known_since for flow in flows_found], dtype=np.int64, count=count)
    numbers = np.fromiter([flow.number for flow in flows_found], dtype=np.int64, count=count)
    ports = key_bytes[:, 8:].astype(np.int64)
    heuristic = (((ports[:, 0] << 8) | ports[:, 1]) >= 1024) & (((ports[:, 2] << 8) | ports[:, 3]) >= 1024)
    heuristic &= _HEURISTIC_PT_TABLE[blob[offsets + 43] & 0x7F]
    is_rtp = (frame_numbers > known_since[flow_of]) | heuristic
    rtp_at = np.flatnonzero(is_rtp)
    if rtp_batches is not None and rtp_at.size:
        rtp_batches.add_chunk(numbers[flow_of[rtp_at]],
                              np.ascontiguousarray(blob[offsets[rtp_at][:, None] + _HEADER_BYTES]),
                              block.times[c.positions[rtp_at]],
                              frame_numbers[rtp_at].astype(np.int64))
    buffer = block.buffer
    if rtp_fixed_sink is not None and rtp_at.size:
        at = offsets[rtp_at]
        header = blob[at[:, None] + _SSRC_BYTES].astype(np.int64)
        ssrcs = (header[:, 0] << 24) | (header[:, 1] << 16) | (header[:, 2] << 8) | header[:, 3]
        rtp_fixed_sink(FixedRtpChunk(frame_numbers[rtp_at], block.times[c.positions[rtp_at]], flow_of[rtp_at],
                                     pairs, ssrcs, buffer, at + 54, at + c.stops[rtp_at], block.file_offset))
    elif rtp_sink is not None:
        for number, pos, o, flow, stop in zip(frame_numbers[rtp_at].tolist(), c.positions[rtp_at].tolist(),
                                              offsets[rtp_at].tolist(), flow_of[rtp_at].tolist(),
                                              c.stops[rtp_at].tolist(), strict=True):
            src, dst = pairs[flow]
            rtp_sink(number, float(block.times[pos]), src, dst, buffer[o + 42:o + stop])
    for j in np.flatnonzero(~is_rtp).tolist():
        pos = int(c.positions[j])
        o = int(offsets[j])
        pair = pairs[int(flow_of[j])]
        yield (base + pos + 1, float(block.times[pos]), pair[0], pair[1], Transport.UDP,
               buffer[o + 42:o + int(c.stops[j])], PayloadKind.OTHER, False)


def _blocks(path: str | Path, rtp_batches: RtpBatches | None) -> Iterator[FrameBlock]:
    """The file's frame blocks; on a read error, the RTP collected so far is flushed before the
    error propagates (every record read is judged, then the bad one is reported)."""
    try:
        yield from iter_frame_blocks(path)
    except PcapReadError:
        if rtp_batches is not None:
            rtp_batches.flush(rtp_batches)
        raise


def _divert(key: object, pair: tuple[Endpoint, Endpoint], timestamp: float, index: int, payload: bytes,
            rtp_batches: RtpBatches | None, rtp_sink: RtpSink | None) -> None:
    """An RTP packet off the fast path: to the batches (fixed header) and/or the sink."""
    if rtp_batches is not None:
        packets = rtp_batches.flows.get(key)
        if packets is None:
            packets = rtp_batches.open(key, pair)
        packets[0].extend(payload[:_RTP_FIXED_HEADER])
        packets[1].append(timestamp)
        packets[2].append(index)
    if rtp_sink is not None:
        rtp_sink(index, timestamp, pair[0], pair[1], payload)


def read_datagrams(path: str | Path) -> Iterator[Datagram]:
    """Yield every UDP datagram and in-order TCP payload of a capture, unclassified.

    Raises `PcapReadError` after the last readable datagram if the file is truncated/corrupt.
    """
    for record in iter_transport(path):
        yield Datagram(*record)
