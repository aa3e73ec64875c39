"""Cross-check RtpStreamStats against `tshark -q -z rtp,streams` (Wireshark 4.0 definitions).

Writes small pcaps with scapy and compares packets/lost/"Problems?" exactly and the delta and
jitter columns within 0.1 ms. Runs only where /usr/bin/tshark exists (the validators' CI image).
"""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from harness.protocol.rtp.stats import RtpStreamStats, RtpStreamSummary

TSHARK = shutil.which("tshark")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(TSHARK is None, reason="tshark not installed (comparison left to validators CI)"),
]

Pkt = tuple[int, int, float, int, bool]


def _scenario(seed: int) -> list[Pkt]:
    """~300 G.711 packets with loss, late, duplicate, CN, marker, seq and ts wrap."""
    rnd = random.Random(seed)
    seq = rnd.choice([65500, 100, 0, 65535])
    ts = rnd.choice([2**32 - 3000, 5000, 0])
    t = 10.0
    out: list[Pkt] = []
    for _ in range(300):
        r = rnd.random()
        pt = 0 if rnd.random() > 0.03 else rnd.choice([13, 8])
        marker = rnd.random() < 0.02
        if r < 0.05:  # burst loss
            k = rnd.randint(2, 5)
            seq = (seq + k) % 65536
            ts = (ts + 160 * k) % 2**32
        elif r < 0.08 and out:  # late packet from the past
            out.append(((seq - rnd.randint(1, 3)) % 65536, (ts - 320) % 2**32, t + 0.001, pt, marker))
        elif r < 0.10 and out:  # duplicate
            out.append((out[-1][0], out[-1][1], out[-1][2] + 0.0005, out[-1][3], out[-1][4]))
        seq = (seq + 1) % 65536
        ts = (ts + 160) % 2**32
        t += 0.020 + rnd.uniform(-0.004, 0.006)
        out.append((seq, ts, round(t, 6), pt, marker))
    return out


def _write_pcap(path: Path, packets: list[Pkt], ssrc: int) -> None:
    from scapy.all import IP, UDP, Ether, Raw, wrpcap

    frames = []
    for seq, ts, t, pt, marker in packets:
        hdr = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, ssrc)
        frame = Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=40000, dport=40002) / Raw(hdr + b"\xff" * 160)
        frame.time = t
        frames.append(frame)
    wrpcap(str(path), frames)


def _tshark_row(path: Path) -> list[str]:
    assert TSHARK is not None
    out = subprocess.run(
        [TSHARK, "-r", str(path), "-q", "-o", "rtp.heuristic_rtp:TRUE", "-z", "rtp,streams"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    rows = [line for line in out.splitlines() if "0x0000ABCD" in line]
    assert len(rows) == 1, out
    return rows[0].split()


@pytest.mark.parametrize("seed", range(8))
def test_matches_tshark_rtp_streams(tmp_path: Path, seed: int) -> None:
    packets = _scenario(seed)
    pcap = tmp_path / f"s{seed}.pcap"
    _write_pcap(pcap, packets, 0xABCD)
    tok = _tshark_row(pcap)
    problem = tok[-1] == "X"
    nums = tok[:-1] if problem else tok
    min_d, mean_d, max_d, min_j, mean_j, max_j = (float(x) for x in nums[-6:])
    pkts, lost = int(nums[-9]), int(nums[-8])

    stats = RtpStreamStats()
    for seq, ts, t, pt, marker in packets:
        stats.update(seq, ts, t, pt, marker, 0xABCD)
    s: RtpStreamSummary = stats.snapshot()

    assert (s.packets, s.lost, s.problem) == (pkts, lost, problem)
    assert s.min_delta_ms == pytest.approx(min_d, abs=0.1)
    assert s.mean_delta_ms == pytest.approx(mean_d, abs=0.1)
    assert s.max_delta_ms == pytest.approx(max_d, abs=0.1)
    assert s.min_jitter_ms == pytest.approx(min_j, abs=0.1)
    assert s.mean_jitter_ms == pytest.approx(mean_j, abs=0.1)
    assert s.max_jitter_ms == pytest.approx(max_j, abs=0.1)
