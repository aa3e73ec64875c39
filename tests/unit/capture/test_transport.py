"""The batch (numpy) RTP path classifies and collects exactly what the per-frame path does."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from harness.capture.model import PayloadKind
from harness.capture.transport import RtpBatches, iter_transport
from harness.offline.scan import scan_capture
from harness.validators.pcap import PayloadClassifier, read_capture
from harness.validators.rtp import validate_rtp
from tests.unit.validators.builders import MS_SIP, REC_SIP, ether, fixture, rtp, rtp_stream, udp, write_pcap

MS_RTP, REC_RTP = ("127.0.0.1", 20000), ("127.0.0.2", 30000)  # named by the fixtures' SDP


def _with_csrc(seq: int, ts: int, ssrc: int = 0xA) -> bytes:
    """An RTP packet with one CSRC (CC=1): not fixed-header-shaped, so it takes the per-frame path."""
    return bytes([0x81, 0]) + struct.pack("!HII", seq, ts, ssrc) + struct.pack("!I", 0x77) + b"\xff" * 160


def _capture(tmp_path: Path) -> Path:
    frames = [
        *rtp_stream(MS_RTP, REC_RTP, range(100, 140), ssrc=0xA, t0=999.0),  # before its SDP: heuristic
        (1000.0, ether(udp(MS_SIP, REC_SIP, fixture("leg_a_invite.sip")))),
        (1000.1, ether(udp(REC_SIP, MS_SIP, fixture("leg_a_ok.sip")))),
        *rtp_stream(MS_RTP, REC_RTP, [*range(140, 180), 185, 181, *range(186, 230)], ssrc=0xA, t0=1000.2),
        # the same stream goes on with CSRC-carrying packets, interleaved with another flow's
        *[(1002.0 + i * 0.02, ether(udp(MS_RTP, REC_RTP, _with_csrc(230 + i, 160 * (130 + i))))) for i in range(5)],
        *rtp_stream(("127.0.0.1", 20100), ("127.0.0.2", 30100), range(1, 60), ssrc=0xB, t0=1000.3, pt=8),
        # RTP-shaped but to a privileged port and no SDP: not RTP (OTHER)
        *[(1000.4 + i * 0.02, ether(udp(("127.0.0.1", 999), ("127.0.0.2", 53), rtp(i, 0)))) for i in range(40)],
    ]
    return write_pcap(tmp_path / "mixed.pcap", sorted(frames, key=lambda f: f[0]))


def test_batch_path_gives_the_per_frame_numbers(tmp_path: Path) -> None:
    path = _capture(tmp_path)
    per_frame = validate_rtp(read_capture(path))
    scanned = scan_capture(path)
    batched = scanned.rtp.finish(scanned.sip.negotiated)
    assert scanned.read_error is None
    assert [s.key for s in batched.streams] == [s.key for s in per_frame.streams]
    assert len(batched.table) == len(per_frame.table)
    for got, want in zip(batched.table, per_frame.table, strict=True):
        assert got.keys() == want.keys()
        for column, value in want.items():  # floats to rounding (closed-form recurrences)
            assert got[column] == (pytest.approx(value, rel=1e-9, abs=1e-9) if isinstance(value, float) else value)
    assert [s.first_index for s in batched.streams] == [s.first_index for s in per_frame.streams]


def test_batch_path_yields_non_rtp_and_collects_rtp_per_flow(tmp_path: Path) -> None:
    path = _capture(tmp_path)
    collected: list[tuple[tuple[str, int], tuple[str, int], int]] = []

    def flush(batches: RtpBatches) -> None:
        for src, dst, (headers, times, indices) in batches.take():
            assert len(headers) == 12 * len(times) == 12 * len(indices)
            assert list(indices) == sorted(indices)  # capture order within the flow
            collected.append((src, dst, len(indices)))

    classifier = PayloadClassifier()
    records = list(iter_transport(path, classifier.kind_of, classifier.rtp_endpoints,
                                  rtp_batches=RtpBatches(flush)))
    kinds = [r[6] for r in records]
    assert kinds.count(PayloadKind.SIP) == 2 and kinds.count(PayloadKind.OTHER) == 40
    assert not any(k is PayloadKind.RTP for k in kinds)  # RTP went to the batches
    per_flow: dict[tuple[object, object], int] = {}
    for src, dst, n in collected:
        per_flow[(src, dst)] = per_flow.get((src, dst), 0) + n
    assert per_flow == {(MS_RTP, REC_RTP): 40 + 86 + 5, (("127.0.0.1", 20100), ("127.0.0.2", 30100)): 59}


def test_a_detached_chunk_reads_its_bodies_back_from_the_file(tmp_path: Path) -> None:
    # `arec validate`'s second process is sent vector-path chunks without their bodies when the
    # read buffer is a span of the file; what it reads back from the file must be what was left out.
    from harness.capture.transport import FixedRtpChunk
    from harness.validators.pcap import iter_capture

    pcap = write_pcap(tmp_path / "rtp.pcap", rtp_stream(("127.0.0.1", 20000), ("127.0.0.2", 30000), range(1, 40)))
    chunks: list[FixedRtpChunk] = []
    list(iter_capture(pcap, lambda *a: None, rtp_batches=RtpBatches(lambda b: None), rtp_fixed_sink=chunks.append))
    assert chunks and all(c.file_offset is not None for c in chunks)
    data = pcap.read_bytes()
    for chunk in chunks:
        sent = chunk.detached()
        assert sent.buffer == b""
        sent.attach(lambda size, offset: data[offset:offset + size])
        assert sent.columns()[4] == chunk.columns()[4]  # the same bodies
        cut = chunk.detached()
        with pytest.raises(OSError, match="changed"):
            cut.attach(lambda size, offset: data[offset:offset + size - 1])
