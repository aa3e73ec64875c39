"""A picture of a recording: one row per channel, the waveform envelope and the time-code marks.

The reader of a compliance report should *see* what the recording validator concluded: for
each channel (labelled with the DN it should hold) which 200 ms time-code segments were found,
which are missing, which were rightly left out because the recording was paused, which were
recorded although paused (PCI), and where another stream's audio sits (channel swap). The
marks come from the same decoder the validator uses (harness.media.timecode) and the same
expectations (`ExpectedStream`, what the Media Server emulation sent).

Hand-written SVG (no plotting library): the report is opened offline, and a few hundred
polygon points per row keep it small.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import soundfile

from harness.media.timecode import (
    SAMPLE_RATE,
    SEGMENT_SAMPLES,
    SILENCE_RMS,
    SYMBOL_SAMPLES,
    TimecodeTrack,
    decode_timecode,
)
from harness.validators.recording import ExpectedStream

__all__ = [
    "ChannelView",
    "captions_by_file",
    "Mark",
    "MarkKind",
    "channel_view",
    "drop_flat_runs",
    "recording_views",
    "render_recording_svg",
]


class MarkKind(enum.Enum):
    PRESENT = "segment recorded"
    MISSING = "segment missing"
    PAUSED = "paused (rightly not recorded)"
    RECORDED_WHILE_PAUSED = "recorded while paused"
    OTHER_STREAM = "another stream's segment"
    PARTIAL = "partial / damaged segment"


MARK_COLOURS: Final = {
    MarkKind.PRESENT: "#2e7d32",
    MarkKind.MISSING: "#d32f2f",
    MarkKind.PAUSED: "#90a4ae",
    MarkKind.RECORDED_WHILE_PAUSED: "#ef6c00",
    MarkKind.OTHER_STREAM: "#7b1fa2",
    MarkKind.PARTIAL: "#f9a825",
}
_ENVELOPE_BINS: Final = 600


@dataclass(frozen=True, slots=True)
class Mark:
    """A segment's place on the channel's time line (samples at 8 kHz) and what it means."""

    start_sample: int
    end_sample: int
    kind: MarkKind
    segment: int | None = None


@dataclass(frozen=True, slots=True)
class ChannelView:
    label: str  # "DN 7001"
    detail: str  # "stream-2-7001.wav" / "call-stereo.wav ch 1"
    sample_count: int
    bin_samples: int  # samples per envelope value
    envelope: tuple[float, ...]  # peak |amplitude| per bin, 0..1 of full scale
    marks: tuple[Mark, ...]
    file: str = ""

    @property
    def end_sample(self) -> int:
        return max([self.sample_count, *(m.end_sample for m in self.marks)])

    def count(self, kind: MarkKind) -> int:
        return sum(1 for m in self.marks if m.kind is kind)


def _envelope(samples: npt.NDArray[np.int16]) -> tuple[int, tuple[float, ...]]:
    n = len(samples)
    if n == 0:
        return 1, ()
    bin_samples = max(1, -(-n // _ENVELOPE_BINS))
    padded = np.zeros(-(-n // bin_samples) * bin_samples, dtype=np.float64)
    padded[:n] = np.abs(samples.astype(np.float64)) / 32768.0
    return bin_samples, tuple(float(v) for v in padded.reshape(-1, bin_samples).max(axis=1))


def _first_audible(samples: npt.NDArray[np.int16], block: int = 40) -> int:
    usable = len(samples) // block * block
    if usable == 0:
        return 0
    rms = np.sqrt((samples[:usable].astype(np.float64).reshape(-1, block) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > SILENCE_RMS)
    return int(loud[0]) * block if loud.size else 0


def _segment_origin(track: TimecodeTrack, expected: ExpectedStream, samples: npt.NDArray[np.int16]) -> int:
    """File sample where `expected.first_segment` starts (or would have started)."""
    own = track.segments_of(expected.stream)
    if own:
        # Median over the decoded segments: robust to a few misplaced ones (duplicates, reorder).
        return int(np.median([s.start_sample - (s.segment - expected.first_segment) * SEGMENT_SAMPLES
                              for s in own]))
    return _first_audible(samples)


def channel_marks(track: TimecodeTrack, expected: ExpectedStream | None,
                  samples: npt.NDArray[np.int16]) -> tuple[Mark, ...]:
    marks: list[Mark] = []
    own = expected.stream if expected is not None else None
    paused = expected.paused_segments if expected is not None else frozenset()
    for seg in track.segments:
        if own is not None and seg.stream != own:
            kind = MarkKind.OTHER_STREAM
        elif seg.segment in paused:
            kind = MarkKind.RECORDED_WHILE_PAUSED
        else:
            kind = MarkKind.PRESENT
        marks.append(Mark(seg.start_sample, seg.end_sample, kind, seg.segment))
    for part in track.partial:
        # Only the symbols that read cleanly are known to be there.
        length = max(1, part.symbols_ok) * SYMBOL_SAMPLES
        marks.append(Mark(part.start_sample, min(part.start_sample + length, track.sample_count), MarkKind.PARTIAL))
    if expected is not None:
        found = set(track.counters_of(expected.stream))
        origin = _segment_origin(track, expected, samples)
        for segment in range(expected.first_segment, expected.last_segment + 1):
            if segment in found:
                continue
            start = max(0, origin + (segment - expected.first_segment) * SEGMENT_SAMPLES)
            kind = MarkKind.PAUSED if segment in paused else MarkKind.MISSING
            marks.append(Mark(start, start + SEGMENT_SAMPLES, kind, segment))
    return tuple(sorted(marks, key=lambda m: (m.start_sample, m.kind.value)))


def channel_view(samples: npt.NDArray[np.int16], label: str, detail: str, expected: ExpectedStream | None,
                 streams: Sequence[int] | None = None) -> ChannelView:
    """Decode one channel and place its marks. `streams`: time-code alphabets to look for."""
    samples = np.ascontiguousarray(samples, dtype=np.int16)
    track = decode_timecode(samples, SAMPLE_RATE, streams=streams)
    bin_samples, envelope = _envelope(samples)
    return ChannelView(label, detail, len(samples), bin_samples, envelope, channel_marks(track, expected, samples))


_MONO: Final = re.compile(r"^stream-(\d+)-(.+)\.wav$")


def _channel_dns(directory: Path) -> list[str]:
    try:
        data = json.loads((directory / "recording.json").read_text(encoding="utf-8"))
        return [str(c["dn"]) for c in sorted(data["channels"], key=lambda c: int(c["index"]))]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def recording_views(directory: Path, expected: Sequence[ExpectedStream]) -> list[ChannelView]:
    """Every channel of every WAV in a recording directory (reference layout names the DNs:
    ``stream-<n>-<dn>.wav`` and ``recording.json`` channels for ``call-stereo.wav``)."""
    by_dn = {e.dn: e for e in expected}
    streams = sorted({e.stream for e in expected}) or None
    stereo_dns = _channel_dns(directory) or [e.dn for e in expected]
    views: list[ChannelView] = []
    for wav in sorted(directory.glob("*.wav")):
        try:
            audio, rate = soundfile.read(str(wav), dtype="int16", always_2d=True)
        except (RuntimeError, soundfile.LibsndfileError) as error:
            views.append(ChannelView("unreadable", f"{wav.name}: {error}", 0, 1, (), (), wav.name))
            continue
        if rate != SAMPLE_RATE:
            views.append(ChannelView("not 8 kHz", f"{wav.name}: {rate} Hz, no time-code decoding", 0, 1, (), (),
                                     wav.name))
            continue
        mono = _MONO.match(wav.name)
        for channel in range(audio.shape[1]):
            if mono and audio.shape[1] == 1:
                dn: str | None = mono.group(2)
                detail = wav.name
            else:
                dn = stereo_dns[channel] if channel < len(stereo_dns) else None
                detail = f"{wav.name} ch {channel}"
            view = channel_view(audio[:, channel], f"DN {dn}" if dn else f"channel {channel}", detail,
                                by_dn.get(dn) if dn else None, streams)
            views.append(dataclasses.replace(view, file=wav.name))
    return views


def captions_by_file(views: Sequence[ChannelView]) -> dict[str, str]:
    """"channel 0: DN 5551234, channel 1: DN 7001" per file, for the audio players."""
    per_file: dict[str, list[ChannelView]] = {}
    for view in views:
        per_file.setdefault(view.file, []).append(view)
    return {name: (", ".join(f"channel {i}: {v.label}" for i, v in enumerate(vs)) if len(vs) > 1 else vs[0].label)
            for name, vs in per_file.items() if name}


# ---------------------------------------------------------------------------------- SVG


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _tick_step(seconds: float) -> float:
    for step in (0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if seconds / step <= 12:
            return step
    return 1200.0


def drop_flat_runs(points: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The polyline without the inner points of horizontal runs (same printed y before and
    after): the same picture, a fraction of the bytes (a steady time code or silence draws
    long flat runs, and every byte costs 4/3 again in the single-file report)."""
    kept = [p for i, p in enumerate(points)
            if i in (0, len(points) - 1) or not (points[i - 1][1] == p[1] == points[i + 1][1])]
    return kept


def render_recording_svg(views: Sequence[ChannelView], title: str = "Recording") -> str:
    """One row per channel: envelope above, time-code marks in a strip below, a legend, a time axis."""
    label_w, plot_w, pad = 190, 740, 16
    width = label_w + plot_w + pad
    legend_h, row_h, env_h, strip_h, axis_h = 52, 74, 44, 14, 30
    height = legend_h + row_h * max(1, len(views)) + axis_h
    total = max([v.end_sample for v in views] + [SEGMENT_SAMPLES])
    scale = plot_w / total

    def x(sample: float) -> float:
        return label_w + sample * scale

    peak = max([max(v.envelope, default=0.0) for v in views] + [0.03])
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="8" y="18" font-size="14" font-weight="bold">{_esc(title)}</text>']
    lx = 8
    for kind in MarkKind:
        out.append(f'<rect x="{lx}" y="30" width="12" height="12" fill="{MARK_COLOURS[kind]}"/>')
        out.append(f'<text x="{lx + 16}" y="40">{_esc(kind.value)}</text>')
        lx += 24 + int(len(kind.value) * 6.2)
    for i, view in enumerate(views):
        top = legend_h + i * row_h
        mid = top + env_h / 2
        out.append(f'<rect x="{label_w}" y="{top}" width="{plot_w}" height="{env_h}" fill="#f7f9fb" stroke="#e0e0e0"/>')
        out.append(f'<text x="8" y="{top + 18}" font-weight="bold">{_esc(view.label)}</text>')
        out.append(f'<text x="8" y="{top + 34}" font-size="10" fill="#555">{_esc(view.detail)}</text>')
        summary = ", ".join(f"{view.count(k)} {k.name.lower().replace('_', ' ')}" for k in MarkKind if view.count(k))
        out.append(f'<text x="8" y="{top + 48}" font-size="10" fill="#555">{_esc(summary or "no time-code")}</text>')
        if view.envelope:
            # Whole pixels vertically (the band is 44 px high): the envelope of a steady time
            # code then prints flat, and flat runs are drawn with their two end points only.
            upper = [(f"{x(j * view.bin_samples):.1f}", f"{mid - v / peak * (env_h / 2 - 2):.0f}")
                     for j, v in enumerate(view.envelope)]
            lower = [(f"{x(j * view.bin_samples):.1f}", f"{mid + v / peak * (env_h / 2 - 2):.0f}")
                     for j, v in reversed(list(enumerate(view.envelope)))]
            points = " ".join(f"{px},{py}" for px, py in drop_flat_runs(upper) + drop_flat_runs(lower))
            out.append(f'<polygon points="{points}" fill="#5c7cfa" fill-opacity="0.75"/>')
        if view.sample_count < total:
            # Past the end of this file: nothing was recorded there.
            out.append(f'<rect x="{x(view.sample_count):.1f}" y="{top}" width="{x(total) - x(view.sample_count):.1f}" '
                       f'height="{env_h}" fill="none" stroke="#bbb" stroke-dasharray="3,3"/>')
        strip = top + env_h + 2
        for mark in view.marks:
            colour = MARK_COLOURS[mark.kind]
            w = max(1.0, (mark.end_sample - mark.start_sample) * scale - 0.6)
            tip = f"{mark.kind.value}" + (f" (segment {mark.segment})" if mark.segment is not None else "")
            out.append(f'<rect x="{x(mark.start_sample):.1f}" y="{strip}" width="{w:.1f}" height="{strip_h}" '
                       f'fill="{colour}"><title>{_esc(tip)}</title></rect>')
            if mark.kind in (MarkKind.MISSING, MarkKind.RECORDED_WHILE_PAUSED, MarkKind.OTHER_STREAM):
                # Tint the envelope too, so a problem is visible at a glance.
                out.append(f'<rect x="{x(mark.start_sample):.1f}" y="{top}" width="{w:.1f}" height="{env_h}" '
                           f'fill="{colour}" fill-opacity="0.18"/>')
    axis_y = legend_h + row_h * max(1, len(views)) + 4
    out.append(f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + plot_w}" y2="{axis_y}" stroke="#333"/>')
    seconds = total / SAMPLE_RATE
    step = _tick_step(seconds)
    t = 0.0
    while t <= seconds + 1e-9:
        tx = x(t * SAMPLE_RATE)
        out.append(f'<line x1="{tx:.1f}" y1="{axis_y}" x2="{tx:.1f}" y2="{axis_y + 5}" stroke="#333"/>')
        out.append(f'<text x="{tx:.1f}" y="{axis_y + 17}" text-anchor="middle" font-size="10">{t:g} s</text>')
        t += step
    out.append("</svg>")
    return "\n".join(out)
