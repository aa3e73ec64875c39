"""Benchmark: `arec validate --format json` against `tshark -q -z rtp,streams` on one ~100 MB capture.

Generates (in a temporary directory, never committed) a classic pcap of several hundred
two-session ARE recording calls over Ethernet/IPv4/UDP: INVITE / 200 OK / ACK per leg with SDP
(sendonly offer, recvonly answer), G.711 µ-law RTP at 50 packets/s with a little loss, reorder
and jitter, then BYE / 200 OK. Calls overlap in time, as on a busy recorder.

Then runs each tool in a subprocess, pinned to one CPU and to two (the child's CPU affinity, as
`taskset -c 0` / `taskset -c 0,1` would), the two tools alternating so that both see the same
load: wall time (best and median of `--repeat`) and peak RSS of each run
(`resource.getrusage(RUSAGE_CHILDREN)` in a fresh parent per run, so the maximum is that tool's
own). Writes bench/results/bench_validate.json with, per CPU set, the ratio tshark / arec
(> 1: arec is faster) and arec / tshark peak memory, and prints them.

arec's modules are byte-compiled first (`python -m compileall`), as `pip install` leaves them.

Run: PYTHONPATH=. .venv/bin/python bench/bench_validate.py [--calls 400] [--seconds 11] [--repeat 5]
Not a test: the ratio of two tools measured in the same run is the number to read (the machine
may be shared); absolute seconds are for trend-watching only.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "bench_validate.json"
TSHARK = "/usr/bin/tshark"

MS_IP, REC_IP = "10.0.0.1", "10.0.0.2"
MS_SIP_PORT, REC_SIP_PORT = 5070, 5060

Packet = tuple[float, int, bytes]  # (capture time, tie-breaker, frame bytes)


# ----------------------------------------------------------------------------- frame building


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def _ip4(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


def udp_frame(src: tuple[str, int], dst: tuple[str, int], payload: bytes, ident: int = 0) -> bytes:
    """Ethernet II + IPv4 (checksum set) + UDP (checksum 0: "not computed", RFC 768)."""
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xFFFF, 0x4000, 64, 17, 0,
                       _ip4(src[0]), _ip4(dst[0]))
    head = head[:10] + struct.pack("!H", _ip_checksum(head)) + head[12:]
    return b"\x00" * 12 + b"\x08\x00" + head + udp


def _sip(start: str, headers: list[str], body: str = "") -> bytes:
    lines = [start, *headers, f"Content-Length: {len(body.encode())}", "", ""]
    return ("\r\n".join(lines) + body).encode()


def _sdp(ip: str, port: int, direction: str, version: int) -> str:
    return (f"v=0\r\no=- {version} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            f"a={direction}\r\n")


def _leg_messages(call: int, leg: int, ms_rtp: int, rec_rtp: int) -> list[tuple[str, bytes]]:
    """(direction, message) of one recording session: 'ms' = Media Server → recorder."""
    calluuid = f"BENCH{call:06d}UUID"
    dn = str(7001 + leg)
    call_id = f"bench-{call}-{leg}@{MS_IP}"
    branch = f"z9hG4bK{call}x{leg}"
    ruri = f"sip:record=REC{call}@{REC_IP}:{REC_SIP_PORT};calluuid={calluuid};dn={dn};recordDN={dn}"
    frm = f"From: <sip:ms@{MS_IP}:{MS_SIP_PORT}>;tag=ms{call}x{leg}"
    to = f"To: <sip:record=REC{call}@{REC_IP}>"
    to_tag = to + f";tag=rec{call}x{leg}"
    via = f"Via: SIP/2.0/UDP {MS_IP}:{MS_SIP_PORT};branch={branch}"
    common = [f"Call-ID: {call_id}", "Max-Forwards: 70"]
    contact_ms = f"Contact: <sip:ms@{MS_IP}:{MS_SIP_PORT}>"
    invite = _sip(f"INVITE {ruri} SIP/2.0", [via, frm, to, *common, "CSeq: 1 INVITE", contact_ms,
                                             "Content-Type: application/sdp"],
                  _sdp(MS_IP, ms_rtp, "sendonly", call))
    ok = _sip("SIP/2.0 200 OK", [via, frm, to_tag, f"Call-ID: {call_id}", "CSeq: 1 INVITE",
                                 f"Contact: <sip:rec@{REC_IP}:{REC_SIP_PORT}>", "Content-Type: application/sdp"],
              _sdp(REC_IP, rec_rtp, "recvonly", 9000 + call).replace(" 0 101", " 0").replace(
                  "a=rtpmap:101 telephone-event/8000\r\n", ""))
    ack = _sip(f"ACK sip:rec@{REC_IP}:{REC_SIP_PORT} SIP/2.0",
               [f"Via: SIP/2.0/UDP {MS_IP}:{MS_SIP_PORT};branch={branch}a", frm, to_tag, *common, "CSeq: 1 ACK"])
    bye_via = f"Via: SIP/2.0/UDP {MS_IP}:{MS_SIP_PORT};branch={branch}b"
    bye = _sip(f"BYE sip:rec@{REC_IP}:{REC_SIP_PORT} SIP/2.0", [bye_via, frm, to_tag, *common, "CSeq: 2 BYE"])
    bye_ok = _sip("SIP/2.0 200 OK", [bye_via, frm, to_tag, f"Call-ID: {call_id}", "CSeq: 2 BYE"])
    return [("ms", invite), ("rec", ok), ("ms", ack), ("bye", bye), ("rec", bye_ok)]


def _call_packets(call: int, start: float, seconds: float, rnd: random.Random) -> Iterator[Packet]:
    """Every frame of one two-session call, in capture-time order."""
    ms_sip, rec_sip = (MS_IP, MS_SIP_PORT), (REC_IP, REC_SIP_PORT)
    out: list[Packet] = []
    for leg in range(2):
        ms_rtp = 20000 + 4 * call + 2 * leg
        rec_rtp = 40000 + 4 * call + 2 * leg
        msgs = _leg_messages(call, leg, ms_rtp, rec_rtp)
        t = start + 0.001 * leg
        for i, (who, msg) in enumerate(msgs[:3]):
            src, dst = (rec_sip, ms_sip) if who == "rec" else (ms_sip, rec_sip)
            out.append((t + 0.002 * i, 0, udp_frame(src, dst, msg)))
        ssrc = rnd.getrandbits(32)
        seq = rnd.getrandbits(16)
        ts = rnd.getrandbits(32)
        payload = bytes([0xFF]) * 160
        t_rtp = t + 0.01
        n_packets = int(seconds * 50)
        for n in range(n_packets):
            arrival = t_rtp + n * 0.020 + rnd.uniform(0.0, 0.002)
            r = rnd.random()
            if r < 0.002:  # loss
                continue
            if r < 0.003:  # late arrival: reordered behind the next packet
                arrival += 0.025
            header = struct.pack("!BBHII", 0x80, 0, (seq + n) & 0xFFFF, (ts + 160 * n) & 0xFFFFFFFF, ssrc)
            out.append((arrival, 1, udp_frame((MS_IP, ms_rtp), (REC_IP, rec_rtp), header + payload, n)))
        t_end = t_rtp + n_packets * 0.020 + 0.05
        out.append((t_end, 2, udp_frame(ms_sip, rec_sip, msgs[3][1])))
        out.append((t_end + 0.002, 2, udp_frame(rec_sip, ms_sip, msgs[4][1])))
    out.sort(key=lambda p: (p[0], p[1]))
    yield from out


def write_capture(path: Path, calls: int, seconds: float, seed: int = 1) -> int:
    """Write the benchmark capture (classic pcap, µs, Ethernet); return its size in bytes."""
    rnd = random.Random(seed)
    t0 = 1_700_000_000.0
    # Calls start 50 ms apart: about seconds/0.05 of them overlap at any time.
    streams = [_call_packets(k, t0 + 0.05 * k, seconds, random.Random(rnd.getrandbits(32))) for k in range(calls)]
    record = struct.Struct("<IIII")
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for t, _, frame in heapq.merge(*streams, key=lambda p: p[0]):
            sec = int(t)
            usec = int(round((t - sec) * 1e6))
            if usec >= 1_000_000:
                sec, usec = sec + 1, usec - 1_000_000
            f.write(record.pack(sec, usec, len(frame), len(frame)))
            f.write(frame)
    return path.stat().st_size


# ----------------------------------------------------------------------------- timing

_CHILD = """
import os, resource, subprocess, sys, time
os.sched_setaffinity(0, {int(c) for c in sys.argv[1].split(",")})
t0 = time.perf_counter()
p = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stdout.write(f"{wall} {usage.ru_maxrss} {p.returncode} {len(p.stdout)} {usage.ru_utime + usage.ru_stime}\\n")
"""


def _measure(cmd: list[str], cpus: list[int]) -> tuple[float, int, int, int, float]:
    """Wall time (s), peak RSS (KiB), exit code, stdout bytes, CPU time (user + system, s) of
    `cmd` on `cpus`, from a fresh parent."""
    out = subprocess.run([sys.executable, "-c", _CHILD, ",".join(map(str, cpus)), *cmd], capture_output=True,
                         text=True, check=True)
    wall, rss, rc, size, cpu = out.stdout.split()
    return float(wall), int(rss), int(rc), int(size), float(cpu)


def _compile_project() -> None:
    """Byte-compile the project's modules, as `pip install` / `pipx install` does: a checkout whose
    environment sets PYTHONDONTWRITEBYTECODE would otherwise recompile ~50 modules (about 0.1 s)
    on every run. The bytecode goes to the usual `__pycache__` directories (git-ignored); the
    standard library and the installed packages (numpy, dpkt) have theirs already."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "harness"), str(ROOT / "reference_recorder")],
                   check=True, stdout=subprocess.DEVNULL)


def main() -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=11.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arec-bench-") as tmp:
        capture = Path(tmp) / "bench.pcap"
        t0 = time.perf_counter()
        size = write_capture(capture, args.calls, args.seconds)
        gen_s = time.perf_counter() - t0
        arec_cmd = [sys.executable, "-m", "harness.cli", "validate", str(capture), "--format", "json"]
        _compile_project()  # arec as installed: bytecode compiled once
        tshark_cmd = [TSHARK, "-q", "-z", "rtp,streams", "-r", str(capture)]
        available = sorted(os.sched_getaffinity(0))
        cpu_sets = {"one_cpu": available[:1], "two_cpus": available[:2]}
        if len(available) < 2:
            del cpu_sets["two_cpus"]
        runs: dict[str, dict[str, list[tuple[float, int, int, int, float]]]] = {
            name: {"arec": [], "tshark": []} for name in cpu_sets}
        for _ in range(args.repeat):
            for name, cpus in cpu_sets.items():
                runs[name]["arec"].append(_measure(arec_cmd, cpus))
                runs[name]["tshark"].append(_measure(tshark_cmd, cpus))
    result: dict[str, object] = {
        "benchmark": "bench_validate",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus_available": len(available),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "capture": {"calls": args.calls, "seconds_per_call": args.seconds, "bytes": size,
                    "generate_s": round(gen_s, 2)},
        "commands": {"arec": " ".join(arec_cmd[1:]).replace(str(capture), "CAPTURE"),
                     "tshark": " ".join(tshark_cmd).replace(str(capture), "CAPTURE")},
        "repeat": args.repeat,
        "arec_bytecode": "precompiled (python -m compileall harness reference_recorder), as pip install leaves it",
    }
    for name, per_tool in runs.items():
        best = {tool: min(r[0] for r in rs) for tool, rs in per_tool.items()}
        median = {tool: statistics.median(r[0] for r in rs) for tool, rs in per_tool.items()}
        peak = {tool: max(r[1] for r in rs) for tool, rs in per_tool.items()}
        cpu = {tool: min(r[4] for r in rs) for tool, rs in per_tool.items()}
        result[name] = {
            "cpus": cpu_sets[name],
            "arec_best_s": round(best["arec"], 3), "arec_median_s": round(median["arec"], 3),
            "tshark_best_s": round(best["tshark"], 3), "tshark_median_s": round(median["tshark"], 3),
            "tshark_over_arec_best": round(best["tshark"] / best["arec"], 2),
            "tshark_over_arec_median": round(median["tshark"] / median["arec"], 2),
            # CPU time (user + system, best run): less sensitive than wall time to other load.
            "arec_cpu_s": round(cpu["arec"], 3), "tshark_cpu_s": round(cpu["tshark"], 3),
            "tshark_over_arec_cpu": round(cpu["tshark"] / cpu["arec"], 2),
            "arec_peak_rss_mib": round(peak["arec"] / 1024, 1),
            "tshark_peak_rss_mib": round(peak["tshark"] / 1024, 1),
            "arec_over_tshark_rss": round(peak["arec"] / peak["tshark"], 2),
            "arec_exit_codes": sorted({r[2] for r in per_tool["arec"]}),
            "runs": {tool: [{"wall_s": round(r[0], 3), "cpu_s": round(r[4], 3), "peak_rss_kib": r[1], "exit": r[2],
                             "stdout_bytes": r[3]}
                            for r in rs] for tool, rs in per_tool.items()},
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    for name in runs:
        row = result[name]
        assert isinstance(row, dict)
        print(f"{name}: arec {row['arec_best_s']} s (median {row['arec_median_s']}) vs tshark {row['tshark_best_s']} s "
              f"(median {row['tshark_median_s']}): tshark/arec = {row['tshark_over_arec_best']} best, "
              f"{row['tshark_over_arec_median']} median, {row['tshark_over_arec_cpu']} by CPU time; "
              f"RSS arec/tshark = {row['arec_over_tshark_rss']}")
    return result


if __name__ == "__main__":
    main()
