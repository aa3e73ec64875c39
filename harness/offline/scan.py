"""The one pass over a capture: SIP to the SIP validator, RTP to the statistics and replication.

RTP over UDP (most of a capture) never becomes a `Datagram`: the reader collects each flow's
fixed headers, arrival times and frame numbers (`harness.capture.transport.RtpBatches`) and the
RTP analysis takes them a flow at a time (`RtpAnalyzer.feed_batch`, numpy over the headers).
The replication analysis compares payloads across streams in arrival order, so it is fed each
RTP payload as it is read. SDP bodies seen on the way tell the RTP analysis each receiving
address's clock and telephone-event payload types (`harness.offline.formats`, stamped with
the frame number, so batching does not change which SDP a stream's first packet saw), as
Wireshark learns them; with a second process, that process learns them from the SIP records
it is sent.

Never raises for a bad file: the `PcapReadError` is kept, and everything read before it has
been judged (RTP collected so far is analysed before the error propagates).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.capture.model import Datagram, PayloadKind, Transport
from harness.offline.formats import learn_formats
from harness.offline.rtp_worker import RtpWorker, use_rtp_worker
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


def scan_capture(path: Path, *, rtp_worker: bool | None = None) -> ScanEvidence:
    """Read `path` once and gather the SIP, RTP and replication evidence.

    `rtp_worker`: the RTP statistics and the SIP validation in a second process
    (`harness.offline.rtp_worker`); None decides by the CPU affinity and the capture's size.
    Same evidence either way."""
    if rtp_worker is None:
        rtp_worker = use_rtp_worker(path)
    worker = RtpWorker(path) if rtp_worker else None
    analyzer = RtpAnalyzer()
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
                    # With a worker, the worker learns them from the SIP records it is sent.
                    if worker is None and record[4] is udp:
                        learn_formats(record[5], analyzer, record[0])
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
