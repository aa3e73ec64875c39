"""The RTP statistics in a second process (harness.offline.rtp_worker): the same evidence as
one process, and the worker's errors surface in the parent. Integration tier: it forks."""

from __future__ import annotations

import pytest

from harness.offline import scan
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


def test_worker_error_is_raised_in_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: RtpAnalyzer, *args: object, **kwargs: object) -> None:
        raise ValueError("sequence / timestamp out of range")

    monkeypatch.setattr(RtpAnalyzer, "feed_batch", broken)  # the forked worker inherits it
    with pytest.raises(ValueError, match="out of range"):
        scan_capture(PCAPS / f"{GOLDEN[0].name}.pcap", rtp_worker=True)
