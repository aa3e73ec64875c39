"""`arec validate` gives the same document whichever way the capture is read: the fast pcap
framer or dpkt's reader, one process or the second process (RTP statistics, SIP validation and
replication there), on a generated capture shaped like the benchmark's (overlapping two-session
calls, G.711 RTP with loss, late packets and jitter; bench/bench_validate.py writes it).
Integration tier: the second process is forked."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from harness.capture import reader, transport
from harness.offline import scan
from harness.offline.pipeline import validate_capture
from harness.offline.render_json import render_json

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_validate.py"


def _write_bench_capture(path: Path, calls: int, seconds: float) -> None:
    spec = importlib.util.spec_from_file_location("bench_validate", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_capture(path, calls, seconds)


def _document(path: Path, *, fast: bool, worker: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as m:
        m.setattr(transport, "iter_frame_blocks", lambda p: reader.iter_frame_blocks(p, fast=fast))
        m.setattr(scan, "use_rtp_worker", lambda p: worker)
        return render_json(validate_capture(path))


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("equivalence") / "bench.pcap"
    _write_bench_capture(path, calls=24, seconds=3.0)  # ~14 k frames, several 4096-frame chunks
    return path


def test_same_document_with_either_framer_and_either_process_layout(capture: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Hand-overs every 2048 frames: several flushes, formats and SIP interleaved with them.
    monkeypatch.setattr(scan.RtpBatches.__init__, "__defaults__", (2048,))
    reference = _document(capture, fast=False, worker=False, monkeypatch=monkeypatch)
    assert '"rtp_streams": [' in reference and '"sip_dialogs": 48' in reference
    for fast, worker in ((True, False), (False, True), (True, True)):
        assert _document(capture, fast=fast, worker=worker, monkeypatch=monkeypatch) == reference, (fast, worker)


def test_same_document_and_error_on_a_cut_capture(capture: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(capture.read_bytes()[:-1000])
    reference = _document(cut, fast=False, worker=False, monkeypatch=monkeypatch)
    assert "truncated record" in reference and f"{cut}:" in reference
    for fast, worker in ((True, False), (True, True)):
        assert _document(cut, fast=fast, worker=worker, monkeypatch=monkeypatch) == reference, (fast, worker)
