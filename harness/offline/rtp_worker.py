"""The RTP statistics, the SIP validation and the replication analysis of a scan in a second
process, when the scan may use a second CPU.

The scan's one pass stays in the parent (framing, classification, SDP learning); the three
analyses that give the pass nothing back run in the worker:

* the RTP analysis needs only what the parent collects anyway: each flow's fixed headers,
  arrival times and frame numbers (`RtpBatches.take`), and the formats SDP bodies announced
  (`harness.offline.formats.learn_formats`, stamped with their frame number). The worker learns
  the formats itself from the SIP records of each message: a message holds the SIP records
  read before its batch, so it applies them in the sequential scan's order (the formats learnt
  before a batch, then the batch) and its `RtpAnalyzer` holds exactly the state the parent's
  would; the parent parses no SDP;
* the SIP validation (`validate_sip`) reads the SIP records in capture order, a few hundred
  per message, as the sequential scan's generator would hand them to it;
* the replication analysis gets its packets in capture order: the vector path's chunks as
  `FixedRtpChunk`s (arrays and the bodies' part of the read buffer: no Python object per
  packet to pickle) and the other RTP packets one by one (`replicate_packet`), interleaved as
  the sequential scan feeds them (a chunk read from a classic pcap without its bodies: the
  worker reads that span of the file itself, `FixedRtpChunk.detached`). Its window is settled in the worker before it is sent back
  (`ReplicationAnalyzer.settle_all`), so the analyzer sent is small.

The results are sent back at the end (`result`); an error in any is re-raised in the parent.

Worker count from the CPU affinity (`os.sched_getaffinity`: what this process may run on, as
`taskset` sets it), not `os.cpu_count()`; small captures stay in one process (a fork costs more
than their statistics).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from harness.capture.model import Datagram, Endpoint, Transport
from harness.capture.transport import CaptureRecord, FixedRtpChunk, FlowArrays
from harness.offline.formats import learn_formats
from harness.validators.replication import ReplicationAnalyzer
from harness.validators.rtp import RtpAnalyzer
from harness.validators.sip import ExpectedMode, SipReport, validate_sip

__all__ = ["MIN_WORKER_BYTES", "RtpWorker", "use_rtp_worker"]

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

_SIP_BATCH = 256  # SIP records sent at a time (the worker validates while the parent reads on)
_CHUNKS_PER_MESSAGE = 2  # replication chunks sent at a time (about 4096 packets each)

MIN_WORKER_BYTES = 16 * 1024 * 1024  # captures below this are analysed in one process

_Batch = list[tuple[Endpoint, Endpoint, FlowArrays]]
# Replication input in capture order: a vector-path chunk, or one packet (index, time, src, dst, payload).
_Replicated = FixedRtpChunk | tuple[int, float, Endpoint, Endpoint, bytes]


def use_rtp_worker(path: Path) -> bool:
    """A second process pays off: two CPUs allowed and a capture big enough."""
    try:
        cpus = len(os.sched_getaffinity(0))
        size = path.stat().st_size
    except (AttributeError, OSError):
        return False
    return cpus >= 2 and size >= MIN_WORKER_BYTES


class _CaptureFile:
    """The capture, opened by the worker at the first chunk sent without its bodies."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None

    def read_at(self, size: int, offset: int) -> bytes:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDONLY)
        return os.pread(self._fd, size, offset)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _serve(conn: Connection, path: str) -> None:
    analyzer = RtpAnalyzer()
    capture = _CaptureFile(path)
    replication = ReplicationAnalyzer()
    errors: list[BaseException] = []
    done = False
    udp = Transport.UDP

    def datagrams() -> Iterator[Datagram]:
        nonlocal done
        while True:
            try:
                message = conn.recv()
            except EOFError:
                done = True
                return  # the parent is gone
            if message is None:
                done = True
                return
            if errors:
                continue  # drain until the end: the parent learns of the error then
            batches, sip, replicated = message
            try:
                for record in sip:
                    if record[4] is udp:
                        learn_formats(record[5], analyzer, record[0])
                for src, dst, packets in batches:
                    analyzer.feed_batch(src, dst, *packets)
                for item in replicated:
                    if isinstance(item, FixedRtpChunk):
                        item.attach(capture.read_at)
                        replication.feed_chunk(item)
                    else:
                        replication.feed(*item)
            except Exception as exc:  # noqa: BLE001 - re-raised in the parent by `result`
                errors.append(exc)
                continue
            for record in sip:
                yield Datagram(*record)

    report: SipReport | None = None
    try:
        report = validate_sip(datagrams(), mode=ExpectedMode.ANY)
    except Exception as exc:  # noqa: BLE001 - re-raised in the parent by `result`
        errors.append(exc)
    while not done:  # the validator stopped early (an error): drain what the parent still sends
        for _ in datagrams():
            pass
    capture.close()
    if not errors:
        try:
            replication.settle_all()
        except Exception as exc:  # noqa: BLE001 - re-raised in the parent by `result`
            errors.append(exc)
    conn.send((None, None, None, errors[0]) if errors else (analyzer, report, replication, None))
    conn.close()


class RtpWorker:
    """The parent's side: `feed`, `sip` and the replication calls as the sequential scan makes them, `result`."""

    def __init__(self, path: Path) -> None:
        import multiprocessing  # here: a run on one CPU never needs it (import time)

        # fork: the worker starts with the modules already imported (no second import time).
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, str(path)), daemon=True, name="arec-rtp-stats")
        self._process.start()
        child.close()
        self._sip: list[CaptureRecord] = []
        self._replicated: list[_Replicated] = []
        self._replicated_chunks = 0

    def feed(self, batches: _Batch) -> None:
        self._send(batches)

    def sip(self, record: CaptureRecord) -> None:
        """A SIP record, in capture order, for the worker's `validate_sip`."""
        self._sip.append(record)
        if len(self._sip) >= _SIP_BATCH:
            self._send([])

    def replicate_chunk(self, chunk: FixedRtpChunk) -> None:
        """`ReplicationAnalyzer.feed_chunk`, in the worker (sent with the next message)."""
        # The bodies stay in the file when they are a span of it: the worker reads them there.
        self._replicated.append(chunk.detached())
        self._replicated_chunks += 1
        if self._replicated_chunks >= _CHUNKS_PER_MESSAGE:
            self._send([])

    def replicate_packet(self, index: int, timestamp: float, src: Endpoint, dst: Endpoint, payload: bytes) -> None:
        """`ReplicationAnalyzer.feed`, in the worker, in order with the chunks."""
        self._replicated.append((index, timestamp, src, dst, payload))

    def _send(self, batches: _Batch) -> None:
        self._conn.send((batches, self._sip, self._replicated))
        self._sip = []
        self._replicated = []
        self._replicated_chunks = 0

    def result(self) -> tuple[RtpAnalyzer, SipReport, ReplicationAnalyzer]:
        """The worker's analyzers and SIP report, once everything sent is applied (its error re-raised)."""
        try:
            self._send([])
            self._conn.send(None)
            analyzer, report, replication, error = self._conn.recv()
        finally:
            self._conn.close()
            self._process.join()
        if error is not None:
            raise error
        assert isinstance(analyzer, RtpAnalyzer) and isinstance(report, SipReport)
        assert isinstance(replication, ReplicationAnalyzer)
        return analyzer, report, replication

    def close(self) -> None:
        """Stop the worker without a result (the scan failed)."""
        self._conn.close()
        self._process.join()
