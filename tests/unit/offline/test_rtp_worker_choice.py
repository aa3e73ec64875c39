"""When `arec validate` hands the RTP statistics to a second process: the CPU affinity and the
capture's size decide (the forking tests are in tests/integration/test_rtp_worker.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.offline import rtp_worker


def test_worker_only_with_two_cpus_and_a_big_capture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big, small = tmp_path / "big.pcap", tmp_path / "small.pcap"
    with big.open("wb") as f:
        f.truncate(rtp_worker.MIN_WORKER_BYTES)
    small.write_bytes(b"\x00" * 1000)
    monkeypatch.setattr(rtp_worker.os, "sched_getaffinity", lambda pid: {0, 1})
    assert rtp_worker.use_rtp_worker(big)
    assert not rtp_worker.use_rtp_worker(small)
    monkeypatch.setattr(rtp_worker.os, "sched_getaffinity", lambda pid: {3})  # taskset -c 3
    assert not rtp_worker.use_rtp_worker(big)
