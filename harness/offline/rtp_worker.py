"""The RTP statistics and the SIP validation of a scan in a second process, when the scan may
use a second CPU.

The scan's one pass stays in the parent (framing, classification, replication); the two
analyses that give the pass nothing back run in the worker:

* the RTP analysis needs only what the parent collects anyway: each flow's fixed headers,
  arrival times and frame numbers (`RtpBatches.take`), and the formats SDP bodies announced
  (`learn_format`, stamped with their frame number). They are sent in the order the sequential
  scan applies them (the formats learnt before a batch, then the batch), so the worker's
  `RtpAnalyzer` holds exactly the state the parent's would;
* the SIP validation (`validate_sip`) reads the SIP records in capture order, a few hundred
  per message, as the sequential scan's generator would hand them to it.

Both results are sent back at the end (`result`); an error in either is re-raised in the parent.

Worker count from the CPU affinity (`os.sched_getaffinity`: what this process may run on, as
`taskset` sets it), not `os.cpu_count()`; small captures stay in one process (a fork costs more
than their statistics).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

from harness.capture.model import Datagram, Endpoint
from harness.capture.transport import CaptureRecord, FlowArrays
from harness.validators.rtp import RtpAnalyzer
from harness.validators.sip import ExpectedMode, SipReport, validate_sip

__all__ = ["MIN_WORKER_BYTES", "RtpWorker", "use_rtp_worker"]

_SIP_BATCH = 256  # SIP records sent at a time (the worker validates while the parent reads on)

MIN_WORKER_BYTES = 16 * 1024 * 1024  # captures below this are analysed in one process

_Learnt = tuple[Endpoint, int, frozenset[int], int]  # endpoint, clock, event payload types, since
_Batch = list[tuple[Endpoint, Endpoint, FlowArrays]]


def use_rtp_worker(path: Path) -> bool:
    """A second process pays off: two CPUs allowed and a capture big enough."""
    try:
        cpus = len(os.sched_getaffinity(0))
        size = path.stat().st_size
    except (AttributeError, OSError):
        return False
    return cpus >= 2 and size >= MIN_WORKER_BYTES


def _serve(conn: Connection) -> None:
    analyzer = RtpAnalyzer()
    errors: list[BaseException] = []
    done = False

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
            learnt, batches, sip = message
            try:
                for endpoint, clock, events, since in learnt:
                    analyzer.learn_format(endpoint, clock, events, since_index=since)
                for src, dst, packets in batches:
                    analyzer.feed_batch(src, dst, *packets)
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
    conn.send((None, None, errors[0]) if errors else (analyzer, report, None))
    conn.close()


class RtpWorker:
    """The parent's side: `learn_format` and `feed` as the sequential scan calls them, `result`."""

    def __init__(self) -> None:
        # fork: the worker starts with the modules already imported (no second import time).
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True, name="arec-rtp-stats")
        self._process.start()
        child.close()
        self._learnt: list[_Learnt] = []
        self._sip: list[CaptureRecord] = []

    def learn_format(self, endpoint: Endpoint, clock_rate: int, telephone_event_pts: frozenset[int], *,
                     since_index: int = 0) -> None:
        self._learnt.append((endpoint, clock_rate, telephone_event_pts, since_index))

    def feed(self, batches: _Batch) -> None:
        self._send(batches)

    def sip(self, record: CaptureRecord) -> None:
        """A SIP record, in capture order, for the worker's `validate_sip`."""
        self._sip.append(record)
        if len(self._sip) >= _SIP_BATCH:
            self._send([])

    def _send(self, batches: _Batch) -> None:
        self._conn.send((self._learnt, batches, self._sip))
        self._learnt = []
        self._sip = []

    def result(self) -> tuple[RtpAnalyzer, SipReport]:
        """The worker's analyzer and SIP report, once everything sent is applied (its error re-raised)."""
        try:
            self._send([])
            self._conn.send(None)
            analyzer, report, error = self._conn.recv()
        finally:
            self._conn.close()
            self._process.join()
        if error is not None:
            raise error
        assert isinstance(analyzer, RtpAnalyzer) and isinstance(report, SipReport)
        return analyzer, report

    def close(self) -> None:
        """Stop the worker without a result (the scan failed)."""
        self._conn.close()
        self._process.join()
