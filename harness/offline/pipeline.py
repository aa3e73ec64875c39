"""`validate_capture`: read a capture once, gather the evidence, judge it (`harness.offline.judge`)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import TYPE_CHECKING

from harness.offline.judge import OfflineEvidence, judge
from harness.offline.result import ValidationResult
from harness.offline.scan import scan_capture
from harness.validators.delivery import DeliveryReport, compare_delivery
from harness.validators.pcap import PcapReadError

if TYPE_CHECKING:
    from harness.recorders.locate import RecordingsSpec

__all__ = ["validate_capture"]


def validate_capture(capture: str | Path, recordings: str | Path | None = None, *,
                     parallel: bool | None = None, sent: str | Path | None = None,
                     layout: RecordingsSpec | None = None) -> ValidationResult:
    """Validate a capture (and the recordings under `recordings`); never raises for bad input.

    `layout`: how a recorder profile says its files are named (`--recorder-profile`); None:
    the reference layout `<recordings>/<calluuid>/<record_id>/`.
    `sent`: a capture taken on the sending side (`harness.validators.delivery`): what the Media
    Server sent is compared with what this capture saw reach the recorder's port.
    `parallel`: True runs the scan's analyses in a second process, False in this one, None
    decides by the CPU affinity and the capture's size (`harness.offline.rtp_worker`); the
    result is the same either way.
    """
    path = Path(capture)
    # The pass allocates small objects per packet and builds no reference cycles: the cyclic
    # collector would only re-scan young objects, so it is paused for the pass and restored after.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        scanned = scan_capture(path, rtp_worker=parallel)
        sip = scanned.sip
        rtp = scanned.rtp.finish(sip.negotiated)
        rep = scanned.replication.finish(sip.negotiated)
    finally:
        if gc_was_enabled:
            gc.enable()
    error = str(scanned.read_error) if scanned.read_error is not None else None
    delivery: DeliveryReport | None = None
    if sent is not None and error is None:
        try:
            calls = {s.answer_endpoint: s.call_id for s in sip.negotiated if s.answer_endpoint is not None}
            delivery = compare_delivery(sent, path, calls, calls=calls)
        except PcapReadError as exc:
            error = str(exc)
    return judge(OfflineEvidence(path, sip, rtp, rep, scanned.sip_seen, error,
                                 Path(recordings) if recordings is not None else None, layout, delivery))
