"""Replication fidelity (harness.validators.replication): captures built with scapy holding the
original party -> Media Server leg and the Media Server -> recorder replica, or only the replica."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.capture.model import NegotiatedStream
from harness.validators.pcap import read_capture
from harness.validators.replication import ReplicationReport, validate_replication
from tests.unit.validators.builders import Frame, ether, rtp, udp, write_pcap

PARTY = ("127.0.0.3", 16000)  # caller's phone
MS_IN = ("127.0.0.1", 20002)  # Media Server port the party sends to
MS_OUT = ("127.0.0.1", 20000)  # Media Server replicating to the recorder
REC = ("127.0.0.2", 30000)  # recorder's SDP answer
NEG = NegotiatedStream(
    call_id="call-a@127.0.0.1", media_index=0, kind="audio", offer_endpoint=MS_OUT, answer_endpoint=REC,
    offer_direction="sendonly", answer_direction="recvonly", payload_types=frozenset({0}))


def _payloads(n: int, seed: int = 7) -> list[bytes]:
    rnd = random.Random(seed)
    return [bytes(rnd.getrandbits(8) for _ in range(160)) for _ in range(n)]


def _stream(src: tuple[str, int], dst: tuple[str, int], payloads: list[bytes | None], *, ssrc: int,
            seq0: int, t0: float) -> list[Frame]:
    """One packet per payload (None: lost, nothing sent), 20 ms apart."""
    return [(t0 + n * 0.02, ether(udp(src, dst, rtp(seq0 + n, 160 * n, ssrc, payload=p))))
            for n, p in enumerate(payloads) if p is not None]


def _run(tmp_path: Path, *streams: list[Frame], negotiated: tuple[NegotiatedStream, ...] = (NEG,)) -> ReplicationReport:
    frames = sorted((f for s in streams for f in s), key=lambda f: f[0])
    path = write_pcap(tmp_path / "rep.pcap", frames)
    return validate_replication(read_capture(path), negotiated)


def test_faithful_replica_pairs_with_delay_and_no_finding(tmp_path: Path) -> None:
    payloads = _payloads(50)
    original = _stream(PARTY, MS_IN, list(payloads), ssrc=0xAAAA, seq0=100, t0=1000.0)
    replica = _stream(MS_OUT, REC, list(payloads), ssrc=0xBBBB, seq0=7000, t0=1000.005)
    report = _run(tmp_path, original, replica)
    assert report.findings == []
    assert len(report.pairs) == 1
    pair = report.pairs[0]
    assert pair.original == (PARTY, MS_IN, 0xAAAA) and pair.replica == (MS_OUT, REC, 0xBBBB)
    assert pair.matched == 50 and pair.lost == 0 and pair.mismatched == 0
    assert pair.mean_delay_ms == pytest.approx(5.0, abs=0.01)
    assert pair.max_delay_ms == pytest.approx(5.0, abs=0.01)


def test_replica_missing_payloads_is_a_finding_with_the_loss(tmp_path: Path) -> None:
    payloads = _payloads(50)
    lossy: list[bytes | None] = list(payloads)
    for n in (10, 11, 30):
        lossy[n] = None
    original = _stream(PARTY, MS_IN, list(payloads), ssrc=0xAAAA, seq0=100, t0=1000.0)
    replica = _stream(MS_OUT, REC, lossy, ssrc=0xBBBB, seq0=7000, t0=1000.008)
    report = _run(tmp_path, original, replica)
    assert [p.lost for p in report.pairs] == [3]
    assert [f.requirement_id for f in report.findings] == ["REP-PAYLOAD-FIDELITY"]
    assert "3 original payload(s) missing" in report.findings[0].message
    assert report.findings[0].severity.value == "MUST"


def test_replica_with_altered_payloads_is_a_finding(tmp_path: Path) -> None:
    payloads = _payloads(40)
    altered: list[bytes | None] = list(payloads)
    altered[20] = bytes(160 - 1) + b"\x01"  # a different payload in place of the original one
    original = _stream(PARTY, MS_IN, list(payloads), ssrc=0xAAAA, seq0=1, t0=1000.0)
    replica = _stream(MS_OUT, REC, altered, ssrc=0xBBBB, seq0=1, t0=1000.004)
    report = _run(tmp_path, original, replica)
    pair = report.pairs[0]
    assert (pair.matched, pair.lost, pair.mismatched) == (39, 1, 1)
    assert [f.requirement_id for f in report.findings] == ["REP-PAYLOAD-FIDELITY"]


def test_only_replicated_legs_nothing_to_compare_no_finding(tmp_path: Path) -> None:
    replica = _stream(MS_OUT, REC, list(_payloads(50)), ssrc=0xBBBB, seq0=7000, t0=1000.0)
    other = _stream(("127.0.0.1", 20004), ("127.0.0.2", 30002), list(_payloads(50, seed=8)), ssrc=0xCCCC,
                    seq0=1, t0=1000.001)
    report = _run(tmp_path, replica, other)
    assert report.pairs == [] and report.findings == []


def test_constant_payloads_identify_nothing(tmp_path: Path) -> None:
    silence: list[bytes | None] = [b"\xff" * 160] * 50
    original = _stream(PARTY, MS_IN, list(silence), ssrc=0xAAAA, seq0=1, t0=1000.0)
    replica = _stream(MS_OUT, REC, [None] * 25 + silence[25:], ssrc=0xBBBB, seq0=1, t0=1000.030)
    report = _run(tmp_path, original, replica)
    assert report.findings == []
    assert all(p.lost == 0 for p in report.pairs)


def test_recorder_stream_matching_no_original_is_a_finding_when_originals_exist(tmp_path: Path) -> None:
    payloads = _payloads(30)
    original = _stream(PARTY, MS_IN, list(payloads), ssrc=0xAAAA, seq0=1, t0=1000.0)
    replica = _stream(MS_OUT, REC, list(payloads), ssrc=0xBBBB, seq0=1, t0=1000.004)
    rec2 = ("127.0.0.2", 30002)
    garbage = _stream(("127.0.0.1", 20004), rec2, list(_payloads(30, seed=99)), ssrc=0xCCCC, seq0=1, t0=1000.002)
    neg2 = NegotiatedStream(
        call_id="call-a@127.0.0.1", media_index=1, kind="audio", offer_endpoint=("127.0.0.1", 20004),
        answer_endpoint=rec2, offer_direction="sendonly", answer_direction="recvonly", payload_types=frozenset({0}))
    report = _run(tmp_path, original, replica, garbage, negotiated=(NEG, neg2))
    assert len(report.pairs) == 1
    assert [f.requirement_id for f in report.findings] == ["REP-PAYLOAD-FIDELITY"]
    assert "127.0.0.2:30002" in report.findings[0].message


def test_replica_seen_before_original_is_oriented_by_the_recorder_address(tmp_path: Path) -> None:
    payloads = _payloads(20)
    original = _stream(PARTY, MS_IN, list(payloads), ssrc=0xAAAA, seq0=1, t0=1000.003)
    replica = _stream(MS_OUT, REC, list(payloads), ssrc=0xBBBB, seq0=1, t0=1000.0)
    report = _run(tmp_path, original, replica)
    pair = report.pairs[0]
    assert pair.replica == (MS_OUT, REC, 0xBBBB)
    assert pair.mean_delay_ms == pytest.approx(-3.0, abs=0.01)
    assert report.findings == []


def test_batch_feed_of_the_scan_equals_the_per_packet_feed(tmp_path: Path) -> None:
    """`feed_fixed` (the vector path's chunks, as `arec validate` scans) keeps `feed`'s state:
    same pairs, loss, mismatch and findings as feeding every datagram one by one."""
    from harness.validators.pcap import FixedRtpChunk, RtpBatches, iter_capture
    from harness.validators.replication import ReplicationAnalyzer

    payloads = _payloads(120)
    lossy: list[bytes | None] = list(payloads)
    for n in (10, 11, 70):
        lossy[n] = None
    lossy[40] = b"\x00" * 160  # altered
    silence: list[bytes | None] = [b"\xff" * 160] * 120  # ambiguous on its own stream
    streams = (_stream(PARTY, MS_IN, list(payloads), ssrc=0xAAAA, seq0=100, t0=1000.0),
               _stream(MS_OUT, REC, lossy, ssrc=0xBBBB, seq0=7000, t0=1000.005),
               _stream(("127.0.0.4", 16002), ("127.0.0.1", 20004), silence, ssrc=0xCCCC, seq0=1, t0=1000.001))
    frames = sorted((f for s in streams for f in s), key=lambda f: f[0])
    path = write_pcap(tmp_path / "rep.pcap", frames)
    expected = validate_replication(read_capture(path), (NEG,))
    assert expected.pairs and expected.pairs[0].lost == 4 and expected.pairs[0].mismatched == 1
    batched = ReplicationAnalyzer()
    calls: list[int] = []

    def fixed(chunk: FixedRtpChunk) -> None:
        calls.append(len(chunk.frames))
        # What the worker process receives: the chunk over its bodies' part of the buffer.
        batched.feed_chunk(chunk.compact())

    for _ in iter_capture(path, batched.feed, rtp_batches=RtpBatches(lambda b: None), rtp_fixed_sink=fixed):
        pass
    # Every packet but the file's last went the batch way (the reader hands the last record on
    # alone, once the file is known to hold it whole: it takes the per-packet path).
    assert sum(calls) == len(frames) - 1
    assert batched.finish((NEG,)) == expected
