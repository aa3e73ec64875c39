"""Benchmark for `arec load`: generator pacing vs SIPp's own RTP streaming, and memory per call.

Part 1, side by side in one run, at several stream counts (20 ms G.711 streams on loopback):
  * arec's `PacedSender` without its spin phase (`spin_seconds=0`), with and without a 2 ms
    batching tick (`tick_seconds=0.002` with `CachedTimecodeSource.timed_media`: what the media
    process of an `arec load` worker runs);
  * the same sender with its default 1.5 ms spin phase (what the conformance suite uses);
  * SIPp 3.6 `rtp_stream` (one SIPp process, one call per stream, answered by a tiny UAS here).
Every packet is timestamped on arrival by a sink in its own process, and each stream's pacing
error is measured the same way for all three: arrival of packet k minus (k x 20 ms), less the
stream's median offset, in absolute value (a constant path delay is not counted; early counts
like late). Also: packets lost,
and the CPU the generator used (% of one core).

Part 2: `arec load` itself (Locust, one worker process, reference recorder) at several ramp
tops; peak RSS and CPU of the Locust process, its judge and media processes and the recorder,
the difference per concurrent call, and the generator's lateness as the verdicts report it; with
--baseline-tree DIR, another checkout's `arec load` right after at each top (before / after).

Writes bench/results/bench_load.json. Not a test: timing depends on the machine's load.
Run: .venv/bin/python bench/bench_load.py [--streams 20,100,200] [--seconds 5] [--load-calls 5,20] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.load.media import CachedTimecodeSource  # noqa: E402
from harness.media.pacer import PacedSender  # noqa: E402
from harness.media.rtp_source import PacketKind, Run  # noqa: E402
from harness.protocol.sip.message import SipRequest, build_response, parse_message  # noqa: E402

PTIME = 0.02
RESULTS = Path(__file__).resolve().parent / "results" / "bench_load.json"


# ----------------------------------------------------------------------------- sink (own process)

def _sink(port_out: Connection, result_out: Connection, stop_after: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    port_out.send(sock.getsockname()[1])
    sock.settimeout(0.5)
    times: list[float] = []
    ports: list[int] = []
    deadline = time.monotonic() + stop_after
    idle_since: float | None = None
    while time.monotonic() < deadline:
        try:
            data, addr = sock.recvfrom(2048)  # noqa: F841 (addr only for non-RTP)
        except TimeoutError:
            if times and idle_since is None:
                idle_since = time.monotonic()
            if idle_since is not None and time.monotonic() - idle_since > 1.5:
                break
            continue
        idle_since = None
        times.append(time.monotonic())
        # Streams are told apart by SSRC: SIPp sends every call's rtp_stream from one socket.
        ports.append(int.from_bytes(data[8:12], "big") if len(data) >= 12 else -addr[1])
    result_out.send((np.array(times), np.array(ports)))


def _pacing(times: np.ndarray, ports: np.ndarray, expected_per_stream: int) -> dict[str, Any]:
    errors = []
    received = 0
    streams = 0
    for port in np.unique(ports):
        t = times[ports == port]
        streams += 1
        received += len(t)
        offsets = t - np.arange(len(t)) * PTIME
        # Deviation from the stream's median offset: a constant path delay is not an error, and
        # a packet sent early (SIPp's first ones) counts as much as one sent late.
        errors.append(np.abs(offsets - np.median(offsets)) * 1000.0)
    if not errors:
        return {"streams_seen": 0}
    err = np.concatenate(errors)
    return {"streams_seen": streams, "packets": int(received),
            "lost": int(max(0, streams * expected_per_stream - received)),
            "p50_ms": round(float(np.percentile(err, 50)), 3), "p99_ms": round(float(np.percentile(err, 99)), 3),
            "max_ms": round(float(err.max()), 3),
            "share_over_2ms_pct": round(float((err > 2.0).mean() * 100), 3)}


class _Sink:
    def __init__(self, seconds: float) -> None:
        ctx = mp.get_context("spawn")
        port_r, port_w = ctx.Pipe(duplex=False)
        self._res_r, res_w = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_sink, args=(port_w, res_w, seconds + 60), daemon=True)
        self.proc.start()
        self.port: int = port_r.recv()

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        value: tuple[np.ndarray, np.ndarray] = self._res_r.recv()
        self.proc.join(5)
        return value


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


# ----------------------------------------------------------------------------- arec paced sender

def bench_pacer(streams: int, seconds: float, spin: float, tick: float = 0.0) -> dict[str, Any]:
    packets = int(seconds / PTIME)
    sink = _Sink(seconds)
    me = psutil.Process()
    pacer = PacedSender(spin_seconds=spin, tick_seconds=tick)
    t0 = time.monotonic() + 0.3
    # Payloads as arec load makes them: encoded once per slot, shared by the calls.
    sources = [CachedTimecodeSource.create(i % 2, rng=i) for i in range(streams)]
    # With the tick, as arec load's media process sends: the one-struct-call packet path.
    ids = [pacer.add_stream(src.timed_media(packets) if tick and isinstance(src, CachedTimecodeSource)
                            else src.timed([Run(PacketKind.MEDIA, packets)]),
                            ("127.0.0.1", sink.port), start_at=t0 + PTIME * i / streams) for i, src in enumerate(sources)]
    cpu0, wall0 = _cpu(me), time.monotonic()
    pacer.start(t0=t0)
    pacer.join(timeout=seconds + 30)
    cpu = (_cpu(me) - cpu0) / (time.monotonic() - wall0) * 100
    late = np.array([r.lateness for i in ids for r in pacer.log(i)]) * 1000
    errors = sum(1 for i in ids for r in pacer.log(i) if r.error)
    pacer.stop()
    out = _pacing(*sink.result(), packets)
    out.update(cpu_pct_of_one_core=round(cpu, 1), sender_log_p99_ms=round(float(np.percentile(late, 99)), 3),
               send_errors=errors)
    return out


# ----------------------------------------------------------------------------- SIPp rtp_stream

_SIPP_UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bench rtp_stream">
  <send retrans="500"><![CDATA[
INVITE sip:sink@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: <sip:bench@[local_ip]:[local_port]>;tag=[pid]-[call_number]
To: <sip:sink@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:bench@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=bench 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendonly
]]></send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
  <send><![CDATA[
ACK sip:sink@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: <sip:bench@[local_ip]:[local_port]>;tag=[pid]-[call_number]
To: <sip:sink@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  <nop><action><exec rtp_stream="{wav},-1,0"/></action></nop>
  <pause milliseconds="{ms}"/>
  <nop><action><exec rtp_stream="pause"/></action></nop>
  <send retrans="500"><![CDATA[
BYE sip:sink@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: <sip:bench@[local_ip]:[local_port]>;tag=[pid]-[call_number]
To: <sip:sink@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>
"""


def _uas(sock: socket.socket, media_port: int, stop: threading.Event) -> None:
    """Answer every INVITE 200 with the sink as the media destination; 200 every BYE."""
    sock.settimeout(0.2)
    sdp = (f"v=0\r\no=uas 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"m=audio {media_port} RTP/AVP 0\r\na=recvonly\r\n").encode()
    while not stop.is_set():
        try:
            data, addr = sock.recvfrom(65535)
        except TimeoutError:
            continue
        try:
            msg = parse_message(data)
        except Exception:
            continue
        if not isinstance(msg, SipRequest) or msg.method == "ACK":
            continue
        body = sdp if msg.method == "INVITE" else b""
        response = build_response(msg, 200, to_tag="uas", body=body,
                                  content_type="application/sdp" if body else None)
        if msg.method == "INVITE":
            response.headers.add("Contact", f"<sip:sink@127.0.0.1:{sock.getsockname()[1]}>")
        sock.sendto(response.to_bytes(), addr)


def _free_udp_even() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port % 2 == 0 and port < 65000:
            return port
    return 46000


def bench_sipp(streams: int, seconds: float, work: Path) -> dict[str, Any]:
    packets = int(seconds / PTIME)
    wav = work / "tone.wav"
    if not wav.exists():
        t = np.arange(8000 * 2) / 8000
        soundfile.write(wav, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 8000, subtype="ULAW")
    scenario = work / "rtp_stream_uac.xml"
    scenario.write_text(_SIPP_UAC.replace("{wav}", str(wav)).replace("{ms}", str(int(seconds * 1000))))
    sink = _Sink(seconds + streams / 100)
    uas_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    uas_sock.bind(("127.0.0.1", 0))
    stop = threading.Event()
    threading.Thread(target=_uas, args=(uas_sock, sink.port, stop), daemon=True).start()
    rate = min(200, streams * 4)
    cmd = ["sipp", f"127.0.0.1:{uas_sock.getsockname()[1]}", "-sf", str(scenario), "-m", str(streams),
           "-l", str(streams), "-r", str(rate), "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "0", "-mp", str(_free_udp_even()),
           "-nostdin", "-trace_err", "-timeout", str(int(seconds + 60))]
    proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    cpu = 0.0
    rss = 0
    wall0 = time.monotonic()
    while proc.poll() is None:
        try:
            cpu = _cpu(ps)
            rss = max(rss, ps.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.2)
    wall = time.monotonic() - wall0
    stop.set()
    errors = proc.stderr.read().decode(errors="replace")[-300:] if proc.stderr else ""
    out = _pacing(*sink.result(), packets)
    if proc.returncode:
        out["sipp_stderr_tail"] = errors
    out.update(cpu_pct_of_one_core=round(cpu / wall * 100, 1), sipp_exit=proc.returncode,
               sipp_peak_rss_mb=round(rss / 2**20, 1))
    return out


# ----------------------------------------------------------------------------- arec load memory

def bench_load_memory(calls: int, work: Path, call_length: float, duration: float,
                      tree: Path | None = None) -> dict[str, Any]:
    """`arec load` at one ramp top; `tree`: another checkout of arec to run instead (a baseline)."""
    report = work / f"load-{calls}-{'baseline' if tree else 'this'}"
    cmd = [sys.executable, "-m", "harness.cli", "load", "--calls", str(calls), "--steps", "1", "--duration",
           str(duration), "--rate", "20", "--call-length", str(call_length), "--report-dir", str(report)]
    env = {**os.environ, "PYTHONPATH": str(tree or Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(cmd, env=env, cwd=tree or None, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    peaks: dict[str, int] = {"locust": 0, "recorder": 0, "judge": 0, "media": 0}
    cpu: dict[int, tuple[str, float]] = {}
    while proc.poll() is None:
        try:
            for child in root.children(recursive=True):
                line = " ".join(child.cmdline())
                key = ("judge" if "harness.load.judge" in line else "media" if "harness.load.media_process" in line
                       else "locust" if "locust" in line else "recorder" if "reference_recorder" in line else None)
                if key:
                    cpu[child.pid] = (key, _cpu(child))
                if key:
                    peaks[key] = max(peaks[key], child.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.25)
    data = json.loads((report / "load.json").read_text())
    cpu_s = {k: round(sum(c for key, c in cpu.values() if key == k), 2) for k in peaks}
    return {"calls": calls, "tree": "baseline" if tree else "this", "locust_peak_rss_mb": round(peaks["locust"] / 2**20, 1),
            "recorder_peak_rss_mb": round(peaks["recorder"] / 2**20, 1),
            "judge_peak_rss_mb": round(peaks["judge"] / 2**20, 1),
            "media_peak_rss_mb": round(peaks["media"] / 2**20, 1), "cpu_seconds": cpu_s,
            "generator_late_p99_ms_per_step": [s["generator"]["late_p99_ms"] for s in data["steps"]],
            "generator_late_max_ms": max(s["generator"]["late_max_ms"] for s in data["steps"]),
            "outcomes": data["totals"]["outcomes"], "highest_complete_load": data["highest_complete_load"],
            "generator_late_p99_ms": data["steps"][-1]["generator"]["late_p99_ms"],
            "invite_latency_ms": data["totals"]["invite_latency_ms"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="20,100,200")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--load-calls", default="5,20")
    parser.add_argument("--load-duration", type=float, default=12.0)
    parser.add_argument("--skip-sipp", action="store_true")
    parser.add_argument("--baseline-tree", metavar="DIR",
                        help="another arec checkout whose `arec load` runs right after this one at each ramp top")
    parser.add_argument("--runs", type=int, default=1, help="repeat the pacing comparison (noisy shared host)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    load_before = os.getloadavg()
    pacing = []
    for run, n in ((r, int(x)) for r in range(args.runs) for x in args.streams.split(",") if x):
        row: dict[str, Any] = {"run": run + 1, "streams": n, "loadavg_1min": round(os.getloadavg()[0], 2),
                               "arec_no_spin": bench_pacer(n, args.seconds, 0.0),
                               "arec_no_spin_tick_2ms": bench_pacer(n, args.seconds, 0.0, 0.002),
                               "arec_spin_1_5ms": bench_pacer(n, args.seconds, 0.0015)}
        if not args.skip_sipp and shutil.which("sipp"):
            row["sipp_rtp_stream"] = bench_sipp(n, args.seconds, work)
        pacing.append(row)
        print(json.dumps(row), flush=True)
    memory = []
    baseline = []
    for n in (int(x) for x in args.load_calls.split(",") if x):
        memory.append(bench_load_memory(n, work, 2.0, args.load_duration))
        print(json.dumps(memory[-1]), flush=True)
        if args.baseline_tree:
            baseline.append(bench_load_memory(n, work, 2.0, args.load_duration, Path(args.baseline_tree)))
            print(json.dumps(baseline[-1]), flush=True)
    per_call = None
    if len(memory) >= 2 and memory[-1]["calls"] != memory[0]["calls"]:
        span = memory[-1]["calls"] - memory[0]["calls"]
        per_call = {k: round((memory[-1][k] - memory[0][k]) / span, 3)
                    for k in ("locust_peak_rss_mb", "recorder_peak_rss_mb", "judge_peak_rss_mb", "media_peak_rss_mb")}
    result = {
        "benchmark": "bench_load", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
                    "python": platform.python_version(), "loadavg_before": load_before,
                    "loadavg_after": os.getloadavg()},
        "note": "machine shared with other jobs while measured: numbers are an upper bound on error",
        "seconds_per_point": args.seconds, "pacing": pacing, "arec_load_memory": memory,
        "arec_load_baseline": baseline, "baseline_tree": args.baseline_tree,
        "memory_per_concurrent_call_mb": per_call,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
