"""End-to-end agreement with Wireshark: capture file → pcap reader → validate_rtp vs `tshark -z rtp,streams`.

tests/integration/test_stats_tshark.py checks the statistics core alone on one stream. This test
goes through the whole `arec validate` path: several streams per file (two set up by SIP/SDP,
one found only by the RTP heuristic), Ethernet/IPv4 and Linux SLL2/IPv6 link layers, with loss,
late (reordered) packets, duplicates, comfort noise, marker bits, seq/timestamp wrap and jitter
at controlled capture times (the packet scenario of the unit test, reused). Compared per
stream: packets, lost and "Problems?" exactly; min/mean/max delta and mean/max jitter within
0.1 ms (tshark prints 3 decimals).

Sequence errors: tshark 4.0's `-z rtp,streams` has no such column (no `-o` preference or other
`-z` variant adds one, and `-z expert` carries no RTP sequence analysis: the analysis lives in
ui/tap-rtp-analysis.c, not in the dissector). Wireshark 4.0's `sharkd` (same package) exposes
that very analysis: its `rtp-analyse:<src>_<sport>_<dst>_<dport>_<ssrc>` tap feeds each packet
of the stream to `rtppacket_analyse()` and returns the totals, `seq_err` being
`statinfo->sequence`, the GUI's "Sequence errors". Those are compared exactly, with the
packet count, max delta and max/mean jitter (within 0.1 ms) and max skew, on every IPv4 stream
(sharkd 4.0 parses only IPv4 addresses in that tap name: "TODO, for now only IPv4").
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from scapy.packet import Packet

from harness.validate_cli import table_rows, validate_capture
from harness.validators.pcap import read_capture
from harness.validators.rtp import validate_rtp
from tests.integration.test_stats_tshark import Pkt, _scenario
from tests.unit.validators.builders import Frame, ether, sip_flow, sll2, udp, write_pcap

TSHARK = shutil.which("tshark")
SHARKD = shutil.which("sharkd")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(TSHARK is None, reason="tshark not installed (comparison left to validators CI)"),
]

MS_A, REC_A = ("127.0.0.1", 20000), ("127.0.0.2", 30000)  # the SDP of tests/fixtures/validators/leg_a_*
MS_B, REC_B = ("127.0.0.1", 20002), ("127.0.0.2", 30002)  # leg_b_*
LONE = (("127.0.0.5", 41000), ("127.0.0.6", 42000))  # no SDP: found by the heuristics only

RowKey = tuple[str, int, str, int, str]


def _rtp_frames(src: tuple[str, int], dst: tuple[str, int], packets: list[Pkt], ssrc: int,
                link: Callable[[Packet], bytes] = ether) -> list[Frame]:
    frames = []
    for seq, ts, t, pt, marker in packets:
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, ssrc)
        frames.append((t, link(udp(src, dst, header + b"\xff" * 160))))
    return frames


def _capture(tmp_path: Path, seed: int) -> Path:
    """A two-leg SIP call with its two RTP streams, plus one stream no SDP announced."""
    sip = [(9.0 + i * 0.01, ether(udp(s, d, m))) for i, (s, d, m) in enumerate(sip_flow(parts=("invite", "ok", "ack")))]
    frames = sip + _rtp_frames(MS_A, REC_A, _scenario(seed), 0x1000 + seed) \
        + _rtp_frames(MS_B, REC_B, _scenario(seed + 100), 0x2000 + seed) \
        + _rtp_frames(*LONE, _scenario(seed + 200), 0x3000 + seed)
    frames.sort(key=lambda f: f[0])  # stable: each stream keeps its own (arrival) order
    return write_pcap(tmp_path / f"mix{seed}.pcap", frames)


def _capture_sll2_ipv6(tmp_path: Path, seed: int) -> Path:
    frames = _rtp_frames(("fd00::1", 40000), ("fd00::2", 40002), _scenario(seed), 0x4000 + seed, link=sll2)
    return write_pcap(tmp_path / f"v6_{seed}.pcap", frames, linktype=276)


def _tshark_rows(path: Path) -> dict[RowKey, list[str]]:
    assert TSHARK is not None
    out = subprocess.run(
        [TSHARK, "-r", str(path), "-q", "-o", "rtp.heuristic_rtp:TRUE", "-z", "rtp,streams"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    rows: dict[RowKey, list[str]] = {}
    for line in out.splitlines():
        tok = line.split()
        if len(tok) < 16 or not tok[6].startswith("0x"):
            continue
        # Start End SrcIP SrcPort DstIP DstPort SSRC Payload(s) Pkts Lost (Lost%) 6 numbers [X]:
        # the payload column may hold several names, so the numbers are read from the end.
        rows[(tok[2], int(tok[3]), tok[4], int(tok[5]), tok[6].upper().replace("0X", "0x"))] = tok
    return rows


def _compare(path: Path, expected_streams: int) -> None:
    ours = validate_rtp(read_capture(path)).table
    theirs = _tshark_rows(path)
    assert len(ours) == len(theirs) == expected_streams, (ours, theirs)
    for row in ours:
        key = (str(row["Src IP addr"]), int(row["Src Port"]), str(row["Dest IP addr"]),  # type: ignore[call-overload]
               int(row["Dest Port"]), str(row["SSRC"]))  # type: ignore[call-overload]
        tok = theirs[key]
        problem = tok[-1] == "X"
        nums = tok[:-1] if problem else tok
        min_d, mean_d, max_d, min_j, mean_j, max_j = (float(x) for x in nums[-6:])
        assert (row["Pkts"], row["Lost"]) == (int(nums[-9]), int(nums[-8])), (key, tok)
        assert (row["Problems?"] == "X") == problem, (key, tok)
        assert row["Min Delta(ms)"] == pytest.approx(min_d, abs=0.1)
        assert row["Mean Delta(ms)"] == pytest.approx(mean_d, abs=0.1)
        assert row["Max Delta(ms)"] == pytest.approx(max_d, abs=0.1)
        assert row["Min Jitter(ms)"] == pytest.approx(min_j, abs=0.1)
        assert row["Mean Jitter(ms)"] == pytest.approx(mean_j, abs=0.1)
        assert row["Max Jitter(ms)"] == pytest.approx(max_j, abs=0.1)


@pytest.mark.parametrize("seed", range(5))
def test_validate_rtp_table_matches_tshark(tmp_path: Path, seed: int) -> None:
    _compare(_capture(tmp_path, seed), expected_streams=3)


@pytest.mark.parametrize("seed", [7, 11])
def test_sll2_ipv6_heuristic_stream_matches_tshark(tmp_path: Path, seed: int) -> None:
    _compare(_capture_sll2_ipv6(tmp_path, seed), expected_streams=1)


def test_arec_validate_single_pass_gives_the_same_numbers(tmp_path: Path) -> None:
    """The CLI's one-pass analysis (SDP learnt on the way) equals validate_rtp given the SDP first."""
    path = _capture(tmp_path, 3)
    cli_rows = {(r["src_port"], r["dst_port"]): r for r in _json_rows(path)}
    tshark = {(k[1], k[3]): tok for k, tok in _tshark_rows(path).items()}
    assert cli_rows.keys() == tshark.keys()
    for key, tok in tshark.items():
        row = cli_rows[key]
        nums = tok[:-1] if tok[-1] == "X" else tok
        assert (row["packets"], row["lost"]) == (int(nums[-9]), int(nums[-8]))
        assert row["max_delta_ms"] == pytest.approx(float(nums[-4]), abs=0.1)
        assert row["mean_jitter_ms"] == pytest.approx(float(nums[-2]), abs=0.1)
        assert row["max_jitter_ms"] == pytest.approx(float(nums[-1]), abs=0.1)


def _json_rows(path: Path) -> list[dict[str, object]]:
    return table_rows(validate_capture(path).rtp)


def _sharkd_analyse(path: Path, keys: list[RowKey]) -> dict[RowKey, dict[str, object]]:
    """Wireshark's own RTP Stream Analysis totals per stream, from one sharkd session."""
    assert SHARKD is not None
    taps = {f"tap{i}": f"rtp-analyse:{k[0]}_{k[1]}_{k[2]}_{k[3]}_{k[4]}" for i, k in enumerate(keys)}
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "setconf", "params": {"name": "rtp.heuristic_rtp", "value": "TRUE"}},
        {"jsonrpc": "2.0", "id": 2, "method": "load", "params": {"file": str(path)}},
        {"jsonrpc": "2.0", "id": 3, "method": "tap", "params": taps},
    ]
    out = subprocess.run([SHARKD, "-"], input="".join(json.dumps(r) + "\n" for r in requests),
                         capture_output=True, text=True, check=True, timeout=60).stdout
    replies = {reply["id"]: reply for reply in map(json.loads, out.splitlines())}
    assert "error" not in replies[2], replies[2]
    by_tap = {tap["tap"]: tap for tap in replies[3]["result"]["taps"]}
    return {key: by_tap[taps[f"tap{i}"]] for i, key in enumerate(keys)}


@pytest.mark.skipif(SHARKD is None, reason="sharkd (Wireshark) not installed")
@pytest.mark.parametrize("seed", range(5))
def test_sequence_errors_equal_wiresharks_rtp_stream_analysis(tmp_path: Path, seed: int) -> None:
    path = _capture(tmp_path, seed)
    ours = {(str(r["Src IP addr"]), int(r["Src Port"]), str(r["Dest IP addr"]),  # type: ignore[call-overload]
             int(r["Dest Port"]), str(r["SSRC"])): r  # type: ignore[call-overload]
            for r in validate_rtp(read_capture(path)).table}
    theirs = _sharkd_analyse(path, sorted(ours))
    assert len(theirs) == 3
    for key, row in ours.items():
        ws = theirs[key]
        assert int(ws["total_nr"]) == row["Pkts"], key  # type: ignore[call-overload]
        assert int(ws["seq_err"]) == row["Sequence Errors"], key  # type: ignore[call-overload]
        assert row["Sequence Errors"] != 0  # the scenario has late and duplicate packets: a real comparison
        assert row["Max Delta(ms)"] == pytest.approx(float(ws["max_delta"]), abs=0.1)  # type: ignore[arg-type]
        assert row["Max Jitter(ms)"] == pytest.approx(float(ws["max_jitter"]), abs=0.1)  # type: ignore[arg-type]
        assert row["Mean Jitter(ms)"] == pytest.approx(float(ws["mean_jitter"]), abs=0.1)  # type: ignore[arg-type]
    stats = {s.key: s.summary for s in validate_rtp(read_capture(path)).streams}
    for (src_ip, src_port, dst_ip, dst_port, ssrc), ws in theirs.items():
        summary = stats[((src_ip, src_port), (dst_ip, dst_port), int(ssrc, 16))]
        assert summary.max_skew_ms == pytest.approx(float(ws["max_skew"]), abs=0.1)  # type: ignore[arg-type]


@pytest.mark.skipif(SHARKD is None, reason="sharkd (Wireshark) not installed")
def test_sharkd_comparison_sees_a_clean_stream_as_clean(tmp_path: Path) -> None:
    """The good input: in-order packets give 0 sequence errors on both sides."""
    clean: list[Pkt] = [((65530 + i) & 0xFFFF, 160 * i, 20.0 + 0.02 * i, 0, False) for i in range(40)]
    path = write_pcap(tmp_path / "clean.pcap", _rtp_frames(*LONE, clean, 0x77))
    [row] = validate_rtp(read_capture(path)).table
    key = (LONE[0][0], LONE[0][1], LONE[1][0], LONE[1][1], "0x00000077")
    ws = _sharkd_analyse(path, [key])[key]
    assert (int(ws["seq_err"]), int(ws["total_nr"])) == (row["Sequence Errors"], row["Pkts"]) == (0, 40)  # type: ignore[call-overload]
