"""Benchmark: G.711 encode+decode throughput (samples/s) on 10 s and 10 min of 8 kHz audio.

Writes bench/results/g711.json and prints it. Not a test: numbers are for trend-watching only.
Run: .venv/bin/python bench/bench_g711.py
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.protocol.rtp import g711  # noqa: E402

RATE = 8000
DURATIONS_S = {"10s": 10, "10min": 600}


def _best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> dict[str, object]:
    rng = np.random.default_rng(1)
    results: dict[str, object] = {}
    for label, seconds in DURATIONS_S.items():
        n = RATE * seconds
        pcm = rng.integers(-32768, 32768, size=n, dtype=np.int16)
        repeat = 20 if seconds < 60 else 3
        for codec in ("PCMU", "PCMA"):
            payload = g711.encode(codec, pcm)
            enc = _best_of(lambda c=codec, x=pcm: g711.encode(c, x), repeat)
            dec = _best_of(lambda c=codec, p=payload: g711.decode(c, p), repeat)
            results[f"{codec}_{label}"] = {
                "samples": n,
                "encode_s": enc,
                "decode_s": dec,
                "encode_samples_per_s": n / enc,
                "decode_samples_per_s": n / dec,
                "encode_decode_samples_per_s": n / (enc + dec),
                "realtime_factor": seconds / (enc + dec),
            }
    out = {
        "benchmark": "g711",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "results": results,
    }
    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "g711.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
