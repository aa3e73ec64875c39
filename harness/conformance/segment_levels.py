"""The level of each decoded time-code segment in a recording's per-stream file or channel:
evidence for the codec-change check (harness.checks.midcall.codec_change_decoded).

Why the level: G.711 A-law bytes decoded as µ-law still carry a readable time code (the
companding curves are close enough that every tone stays the strongest of its alphabet), but
about 10 dB too loud; the right law gives back the time code's own level (ITU-T G.711, RFC 3551
§4.5.14). So a recorder that ignores a codec change is caught by the level of the segments it
wrote after it, whichever way the change went.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from harness.media.timecode import AMPLITUDE, SAMPLE_RATE, SEGMENT_SAMPLES, decode_timecode
from harness.validators.recording import RecordingFiles

__all__ = ["TIMECODE_RMS", "segment_levels"]

# Each symbol is one pure tone of peak AMPLITUDE: its RMS is AMPLITUDE / sqrt(2).
TIMECODE_RMS = AMPLITUDE / np.sqrt(2.0)


def _channel(target: Path | RecordingFiles, dn: str) -> tuple[Path, int] | None:
    if isinstance(target, Path):
        files = sorted(target.glob(f"stream-*-{dn}.wav"))
        return (files[0], 0) if files else None
    if dn in target.mono:
        return target.mono[dn], 0
    if target.multichannel is not None and dn in target.channel_dns:
        return target.multichannel, target.channel_dns.index(dn)
    return None


def segment_levels(target: Path | RecordingFiles, dn: str, stream: int) -> list[tuple[int, float]] | None:
    """(segment counter, RMS over the segment) of every segment of `stream` decoded in DN `dn`'s
    file or channel; None when the layout has no file or channel of that DN alone, or it cannot
    be read (the recording validator reports that)."""
    where = _channel(target, dn)
    if where is None:
        return None
    path, channel = where
    try:
        audio, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError):
        return None
    if rate != SAMPLE_RATE or audio.shape[1] <= channel:
        return None
    samples = np.ascontiguousarray(audio[:, channel])
    track = decode_timecode(samples, SAMPLE_RATE, streams=[stream])
    out = []
    for segment in track.segments_of(stream):
        part = samples[segment.start_sample:segment.start_sample + SEGMENT_SAMPLES].astype(np.float64)
        out.append((segment.segment, float(np.sqrt(np.mean(part**2))) if part.size else 0.0))
    return out
