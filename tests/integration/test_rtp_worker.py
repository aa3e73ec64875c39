"""The RTP statistics and the SIP validation in a second process (harness.offline.rtp_worker):
the same evidence as one process, and the worker's errors surface in the parent. Integration
tier: it forks."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.offline import rtp_worker, scan
from harness.offline.scan import scan_capture
from harness.validators.rtp import RtpAnalyzer
from tests.golden import GOLDEN, PCAPS
from tests.unit.validators.builders import ether, rtp, udp, write_pcap

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


def test_worker_gives_the_same_replication_evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Original and replica legs (loss, an altered payload, a silent stream), with RTP on both the
    vector path and the per-packet path (a CSRC header): the worker's replication analyzer, fed
    the chunks and packets in capture order, reports exactly what one process does."""
    monkeypatch.setattr(rtp_worker, "_CHUNKS_PER_MESSAGE", 1)
    rnd = random.Random(3)
    payloads = [bytes(rnd.getrandbits(8) for _ in range(160)) for _ in range(300)]
    lossy: list[bytes | None] = list(payloads)
    for n in (10, 11, 170):
        lossy[n] = None
    lossy[40] = b"\x00" * 160
    party, ms_in, ms_out, rec = ("127.0.0.3", 16000), ("127.0.0.1", 20002), ("127.0.0.1", 20000), ("127.0.0.2", 30000)

    def stream(src: tuple[str, int], dst: tuple[str, int], bodies: list[bytes | None], ssrc: int, t0: float,
               csrc: bool = False) -> list[tuple[float, bytes]]:
        out = []
        for n, body in enumerate(bodies):
            if body is None:
                continue
            packet = rtp(100 + n, 160 * n, ssrc, payload=body)
            if csrc:  # CC=1: not the fixed 12-byte header, so the per-packet path
                packet = bytes([0x81]) + packet[1:12] + b"\x00\x00\x00\x07" + packet[12:]
            out.append((t0 + n * 0.02, ether(udp(src, dst, packet))))
        return out

    frames = sorted(stream(party, ms_in, list(payloads), 0xAAAA, 1000.0, csrc=True)
                    + stream(ms_out, rec, lossy, 0xBBBB, 1000.005)
                    + stream(("127.0.0.4", 16002), ("127.0.0.1", 20004), [b"\xff" * 160] * 300, 0xCCCC, 1000.001),
                    key=lambda f: f[0])
    path = write_pcap(tmp_path / "rep.pcap", frames)
    alone = scan_capture(path, rtp_worker=False)
    split = scan_capture(path, rtp_worker=True)
    assert split.replication is not alone.replication
    expected = alone.replication.finish(())
    assert expected.pairs and expected.pairs[0].matched > 0
    assert split.replication.finish(()) == expected
