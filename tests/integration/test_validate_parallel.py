"""`arec validate`'s parallel pass: the RTP statistics run in a worker process and give the
serial result (moved from tests/unit/validators/test_validate_cli.py: these start processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.offline import scan
from harness.offline.rtp_worker import RtpWorker
from harness.validate_cli import validate_capture
from tests.unit.validators.builders import rtp_stream, sip_flow, write_pcap
from tests.unit.validators.test_validate_cli import MS_A, MS_B, REC_A, REC_B, _frames

# Worker processes (fork / fork server): the integration tier.
pytestmark = pytest.mark.integration


def test_parallel_pass_gives_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lossy = rtp_stream(MS_A, REC_A, [*range(1, 20), *range(22, 50)], ssrc=0xA) + \
        rtp_stream(MS_B, REC_B, range(1, 50), ssrc=0xB)
    pcap = write_pcap(tmp_path / "lossy.pcap", _frames(sip_flow(), lossy))
    started: list[RtpWorker] = []

    class CountingWorker(RtpWorker):
        def __init__(self, path: Path) -> None:
            super().__init__(path)
            started.append(self)

    monkeypatch.setattr(scan, "RtpWorker", CountingWorker)
    serial = validate_capture(pcap, parallel=False)
    assert not started  # one process
    forked = validate_capture(pcap, parallel=True)
    assert len(started) == 1  # the second process ran the analyses
    assert serial.findings and forked.findings == serial.findings
    assert forked.rtp.table == serial.rtp.table and forked.exercised == serial.exercised
