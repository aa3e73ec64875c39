"""Benchmark: pacing quality of `PacedSender`, 200 streams x 50 pps for 10 s on loopback.

Reports the deviation of the actual send time from each packet's deadline (p50 / p99 / max,
in ms) from the sender's own log, and writes bench/results/pacer.json. Not a test: timing
depends on the machine's load. Run: .venv/bin/python bench/bench_pacer.py [--streams N] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.media.pacer import PacedSender  # noqa: E402
from harness.media.rtp_source import PacketKind, RtpStreamSource, Run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--aligned", action="store_true", help="all streams on the same 20 ms phase")
    args = parser.parse_args()
    packets = int(args.seconds * 50)

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))  # never read: the kernel drops what overflows, pacing is unaffected
    build_t0 = time.perf_counter()
    # Pre-build the datagrams so the measurement is about pacing, not payload generation.
    streams = [
        list(RtpStreamSource.create(i % 3, rng=i).timed([Run(PacketKind.MEDIA, packets)]))
        for i in range(args.streams)
    ]
    build_s = time.perf_counter() - build_t0

    pacer = PacedSender()
    t0 = time.monotonic() + 0.5
    # Independent calls start at unrelated moments: spread the stream phases over the 20 ms
    # period (--aligned puts every stream on the same phase: 200-packet bursts).
    ids = [
        pacer.add_stream(
            iter(items),
            sink.getsockname(),
            start_at=t0 if args.aligned else t0 + 0.02 * i / args.streams,
        )
        for i, items in enumerate(streams)
    ]
    wall0 = time.perf_counter()
    pacer.start(t0=t0)
    pacer.join(timeout=args.seconds + 30)
    elapsed = time.perf_counter() - wall0
    pacer.stop()
    sink.close()

    late_ms = np.array([r.lateness * 1000.0 for sid in ids for r in pacer.log(sid)])
    errors = sum(1 for sid in ids for r in pacer.log(sid) if r.error)
    result = {
        "benchmark": "pacer",
        "streams": args.streams,
        "packets_per_stream": packets,
        "packets_sent": int(late_ms.size),
        "send_errors": errors,
        "build_seconds": round(build_s, 3),
        "run_seconds": round(elapsed, 3),
        "lateness_ms": {
            "p50": round(float(np.percentile(late_ms, 50)), 4),
            "p99": round(float(np.percentile(late_ms, 99)), 4),
            "max": round(float(late_ms.max()), 4),
            "mean": round(float(late_ms.mean()), 4),
        },
        "phases": "aligned" if args.aligned else "spread over 20 ms",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    out = Path(__file__).resolve().parent / "results" / "pacer.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
