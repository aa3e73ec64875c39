"""Benchmark: the audio time-code oracle's margin and tolerance per codec (issue 11). Not a test.

For each codec the emulation offers (PCMU, PCMA, G.722), 30 s of one stream's time code is sent
packet by packet (20 ms) through the codec, then:
* margin: the weakest symbol margin (dB, best tone over the runner-up) of the decoded segments,
  clean, and with white noise added at a given SNR: the lowest SNR at which every segment decodes;
* loss: packets dropped at random, their 20 ms filled with silence (what a truthful recorder
  writes; G.722's decoder state then misses the lost packet): the share of segments whose ten
  packets all arrived that the oracle still identifies, and any segment reported that should not be;
* jitter: each packet's audio placed up to +-J samples off its slot (a recorder placing by
  arrival time): the share of segments still identified.
Writes bench/results/timecode_codecs.json.
Run: .venv/bin/python bench/bench_timecode_codecs.py
"""

from __future__ import annotations

import json
import platform
import random
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.media.timecode import SEGMENT_SAMPLES, decode_timecode, timecode_samples  # noqa: E402
from harness.protocol.rtp import g711  # noqa: E402
from harness.protocol.rtp.g722 import G722Decoder, G722Encoder  # noqa: E402

SECONDS = 30
SPP = 160
STREAM = 0
LOSS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
JITTER = (0, 4, 8, 12, 16, 24, 40)
SNR_DB = (40, 30, 25, 20, 15, 12, 10, 8, 6)

Pcm = npt.NDArray[np.int16]


def _codec_path(codec: str) -> Callable[[list[Pcm], set[int]], list[Pcm]]:
    """Packets through the codec; lost packets come out as silence (decoder never sees them)."""
    def run(packets: list[Pcm], lost: set[int]) -> list[Pcm]:
        if codec == "G722":
            encoder, decoder = G722Encoder(), G722Decoder()
            encoded = [encoder.encode(p) for p in packets]
            return [np.zeros(SPP, np.int16) if i in lost else decoder.decode(e) for i, e in enumerate(encoded)]
        return [np.zeros(SPP, np.int16) if i in lost else g711.decode(codec, g711.encode(codec, p))
                for i, p in enumerate(packets)]
    return run


def _segments(audio: Pcm) -> tuple[list[int], list[float]]:
    track = decode_timecode(audio, 8000, streams=[STREAM])
    return list(track.counters_of(STREAM)), [s.score for s in track.segments_of(STREAM)]


def main() -> None:
    total = SECONDS * 8000
    signal = timecode_samples(STREAM, 0, total)
    packets = [signal[i:i + SPP] for i in range(0, total, SPP)]
    segments = total // SEGMENT_SAMPLES
    per_segment = SEGMENT_SAMPLES // SPP
    rng = random.Random(11)
    results: dict[str, object] = {"benchmark": "timecode_codecs", "audio_seconds": SECONDS, "ptime_ms": 20,
                                  "segments": segments, "python": platform.python_version(), "codecs": {}}
    codecs: dict[str, object] = {}
    for codec in ("PCMU", "PCMA", "G722"):
        path = _codec_path(codec)
        clean = np.concatenate(path(packets, set()))
        counters, scores = _segments(clean)
        entry: dict[str, object] = {
            "clean": {"decoded": len(set(counters)), "min_margin_db": round(min(scores), 1),
                      "median_margin_db": round(float(np.median(scores)), 1)}}
        noise_rng = np.random.default_rng(5)
        power = float(np.mean(clean.astype(np.float64) ** 2))
        snr_rows = []
        for snr in SNR_DB:
            noise = noise_rng.normal(0.0, np.sqrt(power / 10 ** (snr / 10)), clean.size)
            noisy = np.clip(clean + noise, -32768, 32767).astype(np.int16)
            got, got_scores = _segments(noisy)
            snr_rows.append({"snr_db": snr, "decoded_share": round(len(set(got) & set(range(segments))) / segments, 3),
                             "min_margin_db": round(min(got_scores), 1) if got_scores else None})
        entry["noise"] = snr_rows
        entry["lowest_snr_db_all_decoded"] = min((r["snr_db"] for r in snr_rows if r["decoded_share"] >= 0.99),
                                                 default=None)
        loss_rows = []
        for rate in LOSS:
            lost = {i for i in range(len(packets)) if rng.random() < rate}
            intact = {s for s in range(segments) if not any(s * per_segment + k in lost for k in range(per_segment))}
            got, _ = _segments(np.concatenate(path(packets, lost)))
            wrong = sorted(set(got) - intact)
            loss_rows.append({"loss": rate, "intact_segments": len(intact),
                              "intact_identified_share": round(len(intact & set(got)) / max(1, len(intact)), 3),
                              "reported_not_intact": len(wrong)})
        entry["loss"] = loss_rows
        jitter_rows = []
        for j in JITTER:
            out = np.zeros(total + 2 * max(JITTER) + SPP, np.int16)
            decoded = path(packets, set())
            for i, pcm in enumerate(decoded):
                at = max(JITTER) + i * SPP + (rng.randint(-j, j) if j else 0)
                out[at:at + SPP] = pcm  # later packets overwrite: gaps and overlaps as placed
            got, _ = _segments(out)
            jitter_rows.append({"placement_jitter_samples": j, "placement_jitter_ms": j / 8,
                                "identified_share": round(len(set(got) & set(range(segments))) / segments, 3)})
        entry["jitter"] = jitter_rows
        codecs[codec] = entry
        print(codec, json.dumps(entry["clean"]), "lowest SNR", entry["lowest_snr_db_all_decoded"])
    results["codecs"] = codecs
    out_path = Path(__file__).resolve().parent / "results" / "timecode_codecs.json"
    out_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
