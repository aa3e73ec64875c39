"""Replication fidelity: the RTP the Media Server replicates to the recorder equals the original
(Genesys ARE-Flow step 6: the Media Server *replicates* each party's RTP stream to the recorder).

A capture taken where both the original call legs (party <-> Media Server) and the replicated
legs (Media Server -> recorder) pass holds every replicated payload twice: once on its original
stream, once on the replica, with different addresses, SSRC, sequence numbers and timestamps
(RFC 3550 §5.1: those are per-source; only the payload is carried over). Streams are therefore
paired by **payload bytes**: a payload seen on stream A and, within `window` seconds, on stream
B pairs A with B.

Only payloads that identify one packet are used: a payload repeated on its own stream within the
window (silence, comfort noise, a constant test tone) is ambiguous and ignored, so neither the
match counts nor the loss count include it.

Per pair (original -> replica), measured between the first and the last matched packet:
* delay: replica arrival - original arrival (ms): min / mean / max;
* loss: original packets with an identifying payload that the replica never carried;
* mismatched: replica packets with an identifying payload found on no original (altered bytes).

Which side is the replica: the stream whose destination is an address the recorder answered in
SDP (RFC 3264 §6) when that is known, else the later one.

Findings (REP-PAYLOAD-FIDELITY, MUST): a pair with loss or mismatched packets; and, when the
capture does hold original legs (at least one pair was found), a stream to a recorder address
that pairs with no original at all. A capture with only the replicated legs has nothing to
compare with: no pair, no finding.

Memory: the payload index holds the packets of the last `window` seconds only (a hash of each
payload, not the bytes); per stream and per pair a few counters.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.capture.model import Datagram, Endpoint, NegotiatedStream, PayloadKind, Transport
from harness.capture.transport import FixedRtpChunk
from harness.protocol.rtp.packet import RTP_HEADER_LEN, RtpParseError, fixed_header, parse_header_fields
from harness.spec.catalogue import requirement
from harness.spec.findings import Evidence, Finding

__all__ = [
    "DEFAULT_WINDOW",
    "EMITTED_REQUIREMENTS",
    "PartyReplica",
    "ReplicaPair",
    "ReplicationAnalyzer",
    "ReplicationReport",
    "replicas_match_parties",
    "validate_replication",
]

EMITTED_REQUIREMENTS = ("REP-PAYLOAD-FIDELITY",)

DEFAULT_WINDOW = 2.0  # seconds: the longest replication delay looked for
MIN_PAYLOAD = 8  # octets: shorter payloads (RFC 4733 events, CN) identify nothing

StreamKey = tuple[Endpoint, Endpoint, int]  # (src, dst, ssrc), as in harness.validators.rtp
_HEADER = RTP_HEADER_LEN  # RTP fixed header (RFC 3550 §5.1); CSRC/extension: `_payload_of`


@dataclass(frozen=True, slots=True)
class ReplicaPair:
    """One original stream and its replica, with the measured fidelity."""

    original: StreamKey
    replica: StreamKey
    matched: int  # identifying payloads carried by both
    lost: int  # original identifying payloads between the first and last match the replica lacks
    mismatched: int  # replica identifying payloads in that span found on no original
    min_delay_ms: float
    mean_delay_ms: float
    max_delay_ms: float
    first_index: int  # packet index of the first matched replica packet (evidence)
    first_timestamp: float


@dataclass(frozen=True, slots=True)
class ReplicationReport:
    pairs: list[ReplicaPair]
    findings: list[Finding]


class _Entry:
    """The first packet of one payload digest within the window."""

    __slots__ = ("arrival", "digest", "index", "matched_by", "stream")

    def __init__(self, digest: int, stream: StreamKey, arrival: float, index: int) -> None:
        self.digest = digest
        self.stream: StreamKey | None = stream  # None: ambiguous (repeated on its own stream)
        self.arrival = arrival
        self.index = index
        # Copies on other streams: (stream, arrival, packet index). They count only once the
        # entry leaves the window still identifying (a payload its own stream repeats -- a
        # constant silence frame -- would pair any two streams).
        self.matched_by: dict[StreamKey, tuple[float, int]] = {}


class _PairStats:
    """Counters of one (earlier, later) stream pair; gaps are counted per side (see `_settle`)."""

    __slots__ = ("delay_max", "delay_min", "delay_sum", "first_index", "first_ts", "gap_a", "gap_b",
                 "matched", "started_a", "started_b")

    def __init__(self, delay: float, index: int, ts: float) -> None:
        self.matched = 0
        self.delay_min = self.delay_max = delay
        self.delay_sum = 0.0
        self.first_index, self.first_ts = index, ts
        self.gap_a = self.gap_b = 0  # unmatched identifying packets between matched ones
        self.started_a = self.started_b = False

    def add(self, delay: float) -> None:
        self.matched += 1
        self.delay_sum += delay
        if delay < self.delay_min:
            self.delay_min = delay
        if delay > self.delay_max:
            self.delay_max = delay


def _payload_of(payload: bytes) -> bytes | None:
    """The RTP payload (after CSRCs and extension, before padding), or None if malformed."""
    try:
        fields = parse_header_fields(payload)
    except RtpParseError:
        return None
    return payload[fields[8]:fields[9]]


class ReplicationAnalyzer:
    """Feed every RTP-over-UDP packet in capture order, then `finish` (see the module docstring).

    Whether a packet identifies anything is only known once its payload has left the window
    (a repeat may still come), so each packet is *settled* then, in arrival order: per stream,
    the unmatched identifying packets since its previous matched one are pending, and become the
    pair's loss (original side) or mismatch (replica side) when a later matched packet settles;
    those after the last match (the replica stopped) never count.
    """

    __slots__ = ("_fifo", "_identifying", "_index", "_pairs", "_pending", "_window")

    def __init__(self, window: float = DEFAULT_WINDOW) -> None:
        self._window = window
        self._index: dict[int, _Entry] = {}  # payload digest → its first packet in the window
        # (arrival, entry, stream, original) in arrival order: an entry's own packet has
        # original None; a replica packet that matched `entry` has its original's key.
        self._fifo: deque[tuple[float, _Entry, StreamKey, StreamKey | None]] = deque()
        self._pending: dict[StreamKey, int] = {}
        self._identifying: dict[StreamKey, int] = {}  # stream → settled identifying packets
        self._pairs: dict[tuple[StreamKey, StreamKey], _PairStats] = {}  # (first seen, later)

    def feed(self, index: int, timestamp: float, src: Endpoint, dst: Endpoint, payload: bytes) -> None:
        if len(payload) < _HEADER + MIN_PAYLOAD:
            return
        body = payload[_HEADER:] if payload[0] == 0x80 else _payload_of(payload)
        if body is None or len(body) < MIN_PAYLOAD:
            return
        fifo = self._fifo
        if fifo and fifo[0][0] < timestamp - self._window:
            horizon = timestamp - self._window
            while fifo and fifo[0][0] < horizon:
                self._settle(*fifo.popleft())
        digest = hash(body)
        entries = self._index
        entry = entries.get(digest)
        if entry is not None and entry.stream is None:
            return  # ambiguous payload (silence): the common case of a quiet capture, kept cheap
        key = (src, dst, fixed_header(payload)[4])
        if entry is None:
            entry = entries[digest] = _Entry(digest, key, timestamp, index)
            fifo.append((timestamp, entry, key, None))
            return
        owner = entry.stream
        if owner is None or key in entry.matched_by:
            return  # the same replica repeating the payload: a duplicate, not a second copy
        if owner == key:
            entry.stream = None  # repeated on its own stream: identifies nothing
            return
        entry.matched_by[key] = (timestamp, index)
        fifo.append((timestamp, entry, key, owner))

    def feed_fixed(self, indices: Sequence[int], timestamps: Sequence[float],
                   pairs: Sequence[tuple[Endpoint, Endpoint]], ssrcs: Sequence[int], bodies: Sequence[bytes]) -> None:
        """`feed` for many fixed-header packets (V=2, no padding, extension or CSRC: the body is
        everything after the 12-byte header), in capture order: the same state, one call per
        batch instead of one per packet (a capture is mostly RTP, most of it silence)."""
        fifo = self._fifo
        entries = self._index
        window = self._window
        settle = self._settle
        for index, timestamp, pair, ssrc, body, digest in zip(indices, timestamps, pairs, ssrcs, bodies,
                                                             map(hash, bodies), strict=True):
            if len(body) < MIN_PAYLOAD:
                continue
            if fifo and fifo[0][0] < timestamp - window:
                horizon = timestamp - window
                while fifo and fifo[0][0] < horizon:
                    settle(*fifo.popleft())
            entry = entries.get(digest)
            if entry is not None and entry.stream is None:
                continue  # ambiguous payload (silence), as in `feed`
            key = (pair[0], pair[1], ssrc)
            if entry is None:
                entry = entries[digest] = _Entry(digest, key, timestamp, index)
                fifo.append((timestamp, entry, key, None))
                continue
            owner = entry.stream
            if owner is None or key in entry.matched_by:
                continue
            if owner == key:
                entry.stream = None
                continue
            entry.matched_by[key] = (timestamp, index)
            fifo.append((timestamp, entry, key, owner))

    def feed_chunk(self, chunk: FixedRtpChunk) -> None:
        """`feed_fixed` for one chunk of the vector path (`harness.capture.transport`)."""
        self.feed_fixed(*chunk.columns())

    def settle_all(self) -> None:
        """Settle every packet still in the window (what `finish` does first): the analyzer is
        then small to send to another process, and `finish` gives the same report."""
        while self._fifo:
            self._settle(*self._fifo.popleft())

    def _settle(self, _arrival: float, entry: _Entry, stream: StreamKey, original: StreamKey | None) -> None:
        if original is None:  # the entry's own packet
            if self._index.get(entry.digest) is entry:
                del self._index[entry.digest]  # left the window: a later copy is a new packet
            if entry.stream is None:
                return  # ambiguous
            self._identifying[stream] = self._identifying.get(stream, 0) + 1
            if not entry.matched_by:
                self._pending[stream] = self._pending.get(stream, 0) + 1
                return
            for replica, (arrival, index) in entry.matched_by.items():
                delay = arrival - entry.arrival
                stats = self._pairs.get((stream, replica))
                if stats is None:
                    stats = self._pairs[(stream, replica)] = _PairStats(delay, index, arrival)
                stats.add(delay)
                self._matched(stats, stream, first_side=True)
            return
        if entry.stream is None:
            return
        self._identifying[stream] = self._identifying.get(stream, 0) + 1
        self._matched(self._pairs[(original, stream)], stream, first_side=False)

    def _matched(self, stats: _PairStats, stream: StreamKey, *, first_side: bool) -> None:
        pending = self._pending.pop(stream, 0)
        if first_side:
            if stats.started_a:
                stats.gap_a += pending
            stats.started_a = True
        else:
            if stats.started_b:
                stats.gap_b += pending
            stats.started_b = True

    def feed_datagram(self, d: Datagram) -> None:
        if d.kind is PayloadKind.RTP and d.transport is Transport.UDP:
            self.feed(d.index, d.timestamp, d.src, d.dst, d.payload)

    def finish(self, negotiated: Sequence[NegotiatedStream] = ()) -> ReplicationReport:
        """Pairs and findings; `negotiated` tells which addresses are the recorder's."""
        self.settle_all()
        recorder = {s.answer_endpoint for s in negotiated if s.answer_endpoint is not None and s.answer_endpoint[1]}
        # The call a stream belongs to, by the negotiated address it goes to or comes from.
        endpoint_call: dict[Endpoint, str] = {}
        for neg in negotiated:
            for ep in (neg.answer_endpoint, neg.offer_endpoint):
                if ep is not None and ep[1] != 0:
                    endpoint_call[ep] = neg.call_id

        def call_of(key: StreamKey) -> str | None:
            return endpoint_call.get(key[1]) or endpoint_call.get(key[0])

        # For each later stream keep its best partner (most matches): a replica has one original.
        best: dict[StreamKey, tuple[StreamKey, _PairStats, bool]] = {}
        for (a, b), stats in self._pairs.items():
            # Orientation: the stream to a recorder address is the replica; else the later one.
            swapped = a[1] in recorder and b[1] not in recorder
            replica = a if swapped else b
            seen = best.get(replica)
            if seen is None or stats.matched > seen[1].matched:
                best[replica] = (b if swapped else a, stats, swapped)
        pairs: list[ReplicaPair] = []
        findings: list[Finding] = []
        for replica, (original, stats, swapped) in best.items():
            lost, mismatched = (stats.gap_b, stats.gap_a) if swapped else (stats.gap_a, stats.gap_b)
            sign = -1.0 if swapped else 1.0
            delays = sorted((sign * stats.delay_min * 1000.0, sign * stats.delay_max * 1000.0))
            pair = ReplicaPair(
                original=original, replica=replica, matched=stats.matched,
                lost=lost, mismatched=mismatched,
                min_delay_ms=delays[0], mean_delay_ms=sign * stats.delay_sum * 1000.0 / stats.matched,
                max_delay_ms=delays[1], first_index=stats.first_index, first_timestamp=stats.first_ts)
            pairs.append(pair)
            if pair.lost or pair.mismatched:
                findings.append(_finding(
                    f"replica {_label(replica)} of {_label(original)}: {pair.lost} original payload(s) missing, "
                    f"{pair.mismatched} replica payload(s) differing, {pair.matched} equal",
                    Evidence(pair.first_index, pair.first_timestamp),
                    observed=f"lost={pair.lost} mismatched={pair.mismatched}", expected="lost=0 mismatched=0",
                    call_id=call_of(replica) or call_of(original), stream=_label(replica)))
        if pairs and recorder:
            # Original legs are in the capture: a stream to the recorder matching none is wrong.
            paired = {p.replica for p in pairs} | {p.original for p in pairs}
            for stream, count in self._identifying.items():
                if stream[1] in recorder and stream not in paired and count > 0:
                    findings.append(_finding(
                        f"replica {_label(stream)}: none of its {count} payload(s) equals an original "
                        "payload in the capture", Evidence(None, None),
                        observed=f"0 of {count} equal", expected="payloads equal to the original stream",
                        call_id=call_of(stream), stream=_label(stream)))
        pairs.sort(key=lambda p: p.first_index)
        return ReplicationReport(pairs, findings)


def _label(key: StreamKey) -> str:
    (s_ip, s_port), (d_ip, d_port), ssrc = key
    return f"{s_ip}:{s_port} -> {d_ip}:{d_port} SSRC 0x{ssrc:08X}"


def _finding(message: str, evidence: Evidence, observed: str, expected: str, *, call_id: str | None,
             stream: str) -> Finding:
    req = requirement("REP-PAYLOAD-FIDELITY")
    return Finding(req.id, req.severity, message, evidence, observed, expected, call_id=call_id, stream=stream)


def validate_replication(datagrams: Iterable[Datagram], negotiated: Sequence[NegotiatedStream] = (), *,
                         window: float = DEFAULT_WINDOW) -> ReplicationReport:
    """Pair original and replicated RTP streams by payload; measure delay and loss per pair."""
    analyzer = ReplicationAnalyzer(window)
    for d in datagrams:
        analyzer.feed_datagram(d)
    return analyzer.finish(negotiated)


# -- checks that need the scenario's own facts (which original leg each replica copies) --------


@dataclass(frozen=True, slots=True)
class PartyReplica:
    """One party's replica as the scenario sent it, and the original leg it must copy."""

    side: str
    replica: tuple[Endpoint, Endpoint]  # (Media Server's sending address, the recorder's port)
    original: tuple[Endpoint, Endpoint] | None  # the party's original leg (src, dst); None: unknown


def replicas_match_parties(replicas: Sequence[PartyReplica], pairs: Sequence[ReplicaPair]) -> list[Finding]:
    """GVP-MSRec: each party's replica carries that party's own stream (not nothing, not the other
    party's: crossed streams)."""
    by_replica = {(p.replica[0], p.replica[1]): p for p in pairs}
    findings: list[Finding] = []
    for r in replicas:
        pair = by_replica.get(r.replica)
        label = f"the {r.side} replica {r.replica[0]} -> {r.replica[1]}"
        if pair is None:
            findings.append(_finding(f"{label} carries no payload of any original leg in the capture", Evidence(),
                                     observed="no equal payload", expected="the payloads of the party's original stream",
                                     call_id=None, stream=r.side))
        elif r.original is None or (pair.original[0], pair.original[1]) != r.original:
            findings.append(_finding(f"{label} carries the payload of {pair.original[0]} -> {pair.original[1]}",
                                     Evidence(pair.first_index, pair.first_timestamp),
                                     observed=f"{pair.original[0]} -> {pair.original[1]}",
                                     expected=f"{r.original[0]} -> {r.original[1]}" if r.original is not None
                                     else "the party's original stream", call_id=None, stream=r.side))
    return findings
