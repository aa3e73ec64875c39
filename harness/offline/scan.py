"""The one pass over a capture: SIP to the SIP validator, RTP to the statistics and replication.

RTP over UDP (most of a capture) never becomes a `Datagram`: the reader collects each flow's
fixed headers, arrival times and frame numbers (`harness.capture.transport.RtpBatches`) and the
RTP analysis takes them a flow at a time (`RtpAnalyzer.feed_batch`, numpy over the headers).
The replication analysis compares payloads across streams in arrival order, so it is fed each
RTP payload as it is read. SDP bodies seen on the way tell the RTP analysis each receiving
address's clock and telephone-event payload types (`learn_format`, stamped with the frame
number, so batching does not change which SDP a stream's first packet saw), as Wireshark
learns them.

Never raises for a bad file: the `PcapReadError` is kept, and everything read before it has
been judged (RTP collected so far is analysed before the error propagates).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.capture.model import Datagram, Endpoint, PayloadKind, Transport
from harness.offline.rtp_worker import RtpWorker, use_rtp_worker
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sdp import parse_sdp
from harness.validators.pcap import (
    CaptureRecord,
    PcapReadError,
    RtpBatches,
    RtpFixedSink,
    RtpSink,
    iter_capture,
)
from harness.validators.replication import ReplicationAnalyzer
from harness.validators.rtp import RtpAnalyzer
from harness.validators.sip import ExpectedMode, SipReport, validate_sip

__all__ = ["ScanEvidence", "learn_formats", "scan_capture"]

@dataclass(slots=True)
class ScanEvidence:
    """What one pass over a capture gathered (analyzers not finished yet)."""

    sip: SipReport
    rtp: RtpAnalyzer
    replication: ReplicationAnalyzer
    sip_seen: bool
    read_error: PcapReadError | None


class FormatLearner(Protocol):
    """What `learn_formats` tells: an `RtpAnalyzer`, or the `RtpWorker` in front of one."""

    def learn_format(self, endpoint: Endpoint, clock_rate: int, telephone_event_pts: frozenset[int], *,
                     since_index: int = 0) -> None: ...


def learn_formats(payload: bytes, analyzer: FormatLearner, index: int) -> None:
    """Tell the RTP analysis what each SDP-described address receives (see `learn_format`)."""
    split = payload.find(b"\r\n\r\n")
    if split < 0 or not payload.startswith(b"v=0", split + 4):
        return
    try:
        sdp = parse_sdp(payload[split + 4:])
    except (RemoteProtocolError, ValueError):
        return  # validate_sip reports the unparsable body (SIP-MESSAGE-WELLFORMED)
    for i, media in enumerate(sdp.media):
        conn = sdp.media_connection(i)
        if media.port == 0 or conn is None:
            continue
        rtpmap = media.rtpmap
        events = frozenset(pt for pt, r in rtpmap.items() if r.encoding.lower() == "telephone-event")
        # Same rule as the SIP validator's NegotiatedStream.clock_rate: first non-event codec.
        clock = next((r.clock_rate for r in rtpmap.values() if r.encoding.lower() != "telephone-event"), 8000)
        analyzer.learn_format((conn.host, media.port), clock, events, since_index=index)


def scan_capture(path: Path, *, rtp_worker: bool | None = None) -> ScanEvidence:
    """Read `path` once and gather the SIP, RTP and replication evidence.

    `rtp_worker`: the RTP statistics and the SIP validation in a second process
    (`harness.offline.rtp_worker`); None decides by the CPU affinity and the capture's size.
    Same evidence either way."""
    if rtp_worker is None:
        rtp_worker = use_rtp_worker(path)
    worker = RtpWorker() if rtp_worker else None
    analyzer = RtpAnalyzer()
    learner: FormatLearner = worker if worker is not None else analyzer
    replication = ReplicationAnalyzer()
    state: dict[str, object] = {"sip_seen": False, "error": None}

    replicate_packet: RtpSink = worker.replicate_packet if worker is not None else replication.feed
    replicate_chunk: RtpFixedSink = worker.replicate_chunk if worker is not None else replication.feed_chunk

    def flush(batches: RtpBatches) -> None:
        if worker is not None:
            worker.feed(batches.take())
            return
        for src, dst, packets in batches.take():
            analyzer.feed_batch(src, dst, *packets)

    def sip_records() -> Iterator[CaptureRecord]:
        sip_kind, udp = PayloadKind.SIP, Transport.UDP
        try:
            # The same hand-over points with or without a worker: the batch boundaries split the
            # statistics' vector runs, and the floats must not depend on where they fall.
            batches = RtpBatches(flush)
            for record in iter_capture(path, replicate_packet, rtp_batches=batches, rtp_fixed_sink=replicate_chunk):
                if record[6] is sip_kind:
                    state["sip_seen"] = True
                    if record[4] is udp:
                        learn_formats(record[5], learner, record[0])
                    yield record
        except PcapReadError as exc:
            state["error"] = exc

    if worker is None:
        sip = validate_sip((Datagram(*record) for record in sip_records()), mode=ExpectedMode.ANY)
    else:
        # The SIP validation runs in the worker too: the pass only classifies and hands on.
        try:
            for record in sip_records():
                worker.sip(record)
        except BaseException:
            worker.close()
            raise
        analyzer, sip, replication = worker.result()
    error = state["error"]
    return ScanEvidence(sip, analyzer, replication, bool(state["sip_seen"]),
                        error if isinstance(error, PcapReadError) else None)
