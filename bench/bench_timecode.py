"""Benchmark: time-code oracle, generation and decode speed on 10 minutes of 8 kHz audio.

Decodes a mono file of one stream and a mono mix of streams 0 + 1 (µ-law round trip), all
three alphabets searched. Writes bench/results/timecode.json. Not a test.
Run: .venv/bin/python bench/bench_timecode.py
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.media.timecode import SAMPLE_RATE, decode_timecode, timecode_samples  # noqa: E402
from harness.protocol.rtp import g711  # noqa: E402

SECONDS = 600


def main() -> None:
    n = SECONDS * SAMPLE_RATE
    t0 = time.perf_counter()
    s0 = timecode_samples(0, 0, n)
    gen_s = time.perf_counter() - t0
    s1 = timecode_samples(1, 777, n)
    mix = g711.ulaw_decode(
        g711.ulaw_encode(np.clip(s0.astype(np.int32) + s1, -32768, 32767).astype(np.int16))
    )

    results: dict[str, object] = {
        "benchmark": "timecode",
        "audio_seconds": SECONDS,
        "generate_seconds": round(gen_s, 3),
    }
    for name, x in (("mono", s0), ("mix_ulaw", mix)):
        t0 = time.perf_counter()
        track = decode_timecode(x)
        dt = time.perf_counter() - t0
        results[name] = {
            "decode_seconds": round(dt, 3),
            "realtime_factor": round(SECONDS / dt, 1),
            "segments": len(track.segments),
            "partial": len(track.partial),
        }
    results.update(python=sys.version.split()[0], machine=platform.machine())
    out = Path(__file__).resolve().parent / "results" / "timecode.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
