"""The RTP statistics and the SIP validation in a second process (harness.offline.rtp_worker):
the same evidence as one process, and the worker's errors surface in the parent. Integration
tier: it forks."""

from __future__ import annotations

import pytest

from harness.offline import rtp_worker, scan
from harness.offline.scan import scan_capture
from harness.validators.rtp import RtpAnalyzer
from tests.golden import GOLDEN, PCAPS

pytestmark = pytest.mark.integration


WITH_RTP = [g for g in GOLDEN if g.streams]


@pytest.mark.parametrize("golden", WITH_RTP, ids=[g.name for g in WITH_RTP])
def test_worker_gives_the_same_rtp_evidence_as_one_process(golden: object, monkeypatch: pytest.MonkeyPatch) -> None:
    path = PCAPS / f"{golden.name}.pcap"  # type: ignore[attr-defined]
    # Hand-overs every 64 frames: formats learnt and batches interleave as on a big capture.
    monkeypatch.setattr(scan.RtpBatches.__init__, "__defaults__", (64,))
    alone = scan_capture(path, rtp_worker=False)
    split = scan_capture(path, rtp_worker=True)
    assert split.rtp is not alone.rtp
    negotiated = alone.sip.negotiated
    expected = alone.rtp.finish(negotiated)
    assert expected.streams  # the capture has RTP: the comparison means something
    assert split.rtp.finish(negotiated) == expected
    assert split.sip is not alone.sip
    assert split.sip == alone.sip  # the worker's validate_sip saw the same SIP records
    assert split.sip_seen == alone.sip_seen and split.read_error == alone.read_error


def test_worker_error_is_raised_in_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: RtpAnalyzer, *args: object, **kwargs: object) -> None:
        raise ValueError("sequence / timestamp out of range")

    monkeypatch.setattr(RtpAnalyzer, "feed_batch", broken)  # the forked worker inherits it
    with pytest.raises(ValueError, match="out of range"):
        scan_capture(PCAPS / f"{GOLDEN[0].name}.pcap", rtp_worker=True)


def test_worker_sip_error_is_raised_in_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("SIP validator failed")

    monkeypatch.setattr(rtp_worker, "validate_sip", broken)  # the forked worker inherits it
    with pytest.raises(RuntimeError, match="SIP validator failed"):
        scan_capture(PCAPS / f"{GOLDEN[0].name}.pcap", rtp_worker=True)


def test_worker_sees_sip_records_in_batches_and_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # More SIP records than one message carries: the worker's validator reads them across messages.
    monkeypatch.setattr(rtp_worker, "_SIP_BATCH", 2)
    path = PCAPS / f"{GOLDEN[0].name}.pcap"
    alone = scan_capture(path, rtp_worker=False)
    split = scan_capture(path, rtp_worker=True)
    assert len(alone.sip.dialogs) >= 1
    assert split.sip == alone.sip
