"""The RTP statistics of a scan in a second process, when the scan may use a second CPU.

The scan's one pass stays in the parent (dpkt framing, classification, SIP, replication); the
RTP analysis needs only what the parent collects anyway: each flow's fixed headers, arrival
times and frame numbers (`RtpBatches.take`), and the formats SDP bodies announced
(`learn_format`, stamped with their frame number). They are sent to the worker in the order the
sequential scan applies them (the formats learnt before a batch, then the batch), so the
worker's `RtpAnalyzer` holds exactly the state the parent's would; it is sent back at the end.

Worker count from the CPU affinity (`os.sched_getaffinity`: what this process may run on, as
`taskset` sets it), not `os.cpu_count()`; small captures stay in one process (a fork costs more
than their statistics).
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.connection import Connection
from pathlib import Path

from harness.capture.model import Endpoint
from harness.capture.transport import FlowArrays
from harness.validators.rtp import RtpAnalyzer

__all__ = ["MIN_WORKER_BYTES", "RtpWorker", "use_rtp_worker"]

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
    error: BaseException | None = None
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return  # the parent is gone
        if message is None:
            break
        if error is not None:
            continue  # drain until the end: the parent learns of the error then
        learnt, batches = message
        try:
            for endpoint, clock, events, since in learnt:
                analyzer.learn_format(endpoint, clock, events, since_index=since)
            for src, dst, packets in batches:
                analyzer.feed_batch(src, dst, *packets)
        except Exception as exc:  # noqa: BLE001 - re-raised in the parent by `result`
            error = exc
    conn.send((None, error) if error is not None else (analyzer, None))
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

    def learn_format(self, endpoint: Endpoint, clock_rate: int, telephone_event_pts: frozenset[int], *,
                     since_index: int = 0) -> None:
        self._learnt.append((endpoint, clock_rate, telephone_event_pts, since_index))

    def feed(self, batches: _Batch) -> None:
        self._conn.send((self._learnt, batches))
        self._learnt = []

    def result(self) -> RtpAnalyzer:
        """The worker's analyzer, once everything sent is applied (its error re-raised)."""
        try:
            self._conn.send((self._learnt, []))
            self._conn.send(None)
            analyzer, error = self._conn.recv()
        finally:
            self._conn.close()
            self._process.join()
        if error is not None:
            raise error
        assert isinstance(analyzer, RtpAnalyzer)
        return analyzer

    def close(self) -> None:
        """Stop the worker without a result (the scan failed)."""
        self._conn.close()
        self._process.join()
