"""Recording validator: files, metadata and the audio time-code, per channel (docs/architecture.md §4).

Reads WAV PCM16 / µ-law / A-law (WAVE format tags 1 / 7 / 6; `soundfile`, since stdlib `wave`
cannot read µ-law), mono or multi-channel, and decodes the audio time-code
(`harness.media.timecode`) of every channel that should hold a stream. What was *sent* is the
`ExpectedStream` list; what was *recorded* is what the decoder finds. Never raises for a bad
recording: an unreadable, truncated, silent or mislabelled file is a finding.

Findings: REC-FILES-PRESENT (directory / file / channel missing), REC-STREAM-CHANNEL (another
stream's time-code in a DN's file or channel: swap or mix-up), REC-AUDIO-COMPLETE (segments
missing, duplicated, reordered or extra; silence only; duration off by more than one 20 ms
packet; wrong sample rate), REC-PAUSE-NO-AUDIO (a segment sent while paused is in the file: PCI),
REC-METADATA (recording.json missing or without calluuid / record id / per-channel DN),
ARE-10-FILES-FINALISED (unreadable or truncated WAV, metadata not marked complete).

Reference recorder layout: ``<root>/<calluuid>/<record_id>/stream-<n>-<dn>.wav`` (mono),
``call-stereo.wav``, ``recording.json`` with ``"channels": [{"index", "stream", "dn"}]``.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import soundfile

from harness.checks._finding import ranges
from harness.media.timecode import SAMPLE_RATE, SEGMENT_SAMPLES, SILENCE_RMS, SYMBOL_SAMPLES, decode_timecode
from harness.spec.catalogue import requirement
from harness.spec.findings import Evidence, Finding

__all__ = ["EMITTED_REQUIREMENTS", "ExpectedStream", "RecordingFiles", "StreamTimecode", "metadata_expected",
           "recording_not_found", "stream_timecodes", "timecode_absent", "timecode_streams", "validate_recording"]

EMITTED_REQUIREMENTS = (
    "REC-FILES-PRESENT",
    "REC-STREAM-CHANNEL",
    "REC-AUDIO-COMPLETE",
    "REC-PAUSE-NO-AUDIO",
    "REC-METADATA",
    "ARE-10-FILES-FINALISED",
    "REC-TIMECODE-ABSENT",
)

# One 20 ms G.711 packet at 8 kHz: the tolerance at each pause edge.
PACKET_SAMPLES: Final = SAMPLE_RATE // 50


def _overlap(segment: int, start: int, end: int) -> int:
    lo, hi = segment * SEGMENT_SAMPLES, (segment + 1) * SEGMENT_SAMPLES
    return max(0, min(hi, end) - max(lo, start))


_MONO_NAME = re.compile(r"^stream-(\d+)-(.+)\.wav$")
_STEREO_NAME = "call-stereo.wav"
_METADATA_NAME = "recording.json"
_WAVE_TAGS = {1: "PCM", 6: "A-law", 7: "µ-law", 0xFFFE: "extensible"}


@dataclass(frozen=True, slots=True)
class ExpectedStream:
    """What was sent for one stream: its time-code alphabet, DN and segment counters.

    `first_segment`..`last_segment` (inclusive) are the segments sent completely; segments in
    `paused_segments` touch a pause (the emulation counts a segment within one packet of a pause
    edge too, `RuntimeControl.expected_stream`): they are not required, and those that overlap
    it by more than one packet (`forbidden_segments`) must NOT be in the file.
    `expected_samples`: recorded length the file should have (default: the whole segment range,
    pauses included, as a wall-clock-aligned recorder pads them with silence).
    """

    stream: int
    dn: str
    first_segment: int
    last_segment: int
    paused_segments: frozenset[int] = frozenset()
    expected_samples: int | None = None
    # The pauses as sample intervals [start, end) of the sent timeline. Given, a paused segment
    # that overlaps a pause by at most one packet at its edge is not held against the recorder:
    # its audio was (nearly all) sent outside the pause, and a recorder that does not pad the
    # gap with silence moves that one packet's worth next to it (REC-PAUSE-NO-AUDIO is about
    # audio sent *while* paused). Empty: every paused segment counts.
    pauses: tuple[tuple[int, int], ...] = ()
    # Segments only part of whose packets reached the recorder (impaired media: lost, late,
    # suppressed, or at a source change): neither required nor extra (harness/checks/impaired_media.py
    # judges what must become of them).
    optional_segments: frozenset[int] = frozenset()

    @property
    def forbidden_segments(self) -> frozenset[int]:
        """Paused segments whose audio must not be in the recording (REC-PAUSE-NO-AUDIO)."""
        if not self.pauses:
            return self.paused_segments
        return frozenset(s for s in self.paused_segments
                         if any(_overlap(s, start, end) > PACKET_SAMPLES for start, end in self.pauses))

    @property
    def wanted(self) -> list[int]:
        return [s for s in range(self.first_segment, self.last_segment + 1)
                if s not in self.paused_segments and s not in self.optional_segments]

    @property
    def samples(self) -> int:
        if self.expected_samples is not None:
            return self.expected_samples
        return (self.last_segment - self.first_segment + 1) * SEGMENT_SAMPLES


@dataclass(frozen=True, slots=True)
class RecordingFiles:
    """Explicit file layout (third-party recorders): mono file per DN and/or one multi-channel file.

    `channel_dns[i]` is the DN the recorder says channel i of `multichannel` holds.
    """

    mono: dict[str, Path] = field(default_factory=dict)
    multichannel: Path | None = None
    channel_dns: tuple[str, ...] = ()
    metadata: Path | None = None


def _finding(req_id: str, message: str, file: Path | None = None, offset: int | None = None,
             observed: str | None = None, expected: str | None = None, *, stream: str | None = None) -> Finding:
    return Finding(req_id, requirement(req_id).severity, message,
                   Evidence(file=str(file) if file else None, file_offset=offset), observed, expected, stream=stream)


def validate_recording(recording: Path | RecordingFiles, expected: Sequence[ExpectedStream], *,
                       require_metadata: bool = True, other_streams: Sequence[int] = ()) -> list[Finding]:
    """Check a recording directory (reference layout) or an explicit `RecordingFiles` layout.

    `other_streams`: time-code alphabets of the call's other streams, judged elsewhere, that must
    not be found in these streams' files either (a file mixing both parties)."""
    findings: list[Finding] = []
    if isinstance(recording, Path):
        if not recording.is_dir():
            return [_finding("REC-FILES-PRESENT", f"recording directory {recording} does not exist",
                             recording, observed="missing", expected="directory")]
        files = _discover(recording, findings, require_metadata)
        if files.multichannel is not None and not files.channel_dns:
            # No usable channel labels: assume the order of `expected` (reference layout default).
            files = RecordingFiles(files.mono, files.multichannel, tuple(e.dn for e in expected), files.metadata)
    else:
        files = recording
    if files.metadata is not None:
        _check_metadata(files.metadata, expected, findings)
    streams_in_use = [*(e.stream for e in expected), *other_streams]
    for exp in expected:
        mono = files.mono.get(exp.dn)
        if mono is not None:
            _check_channel(mono, 0, exp, streams_in_use, findings, expect_channels=1)
        if files.multichannel is not None:
            if exp.dn in files.channel_dns:
                _check_channel(files.multichannel, files.channel_dns.index(exp.dn), exp, streams_in_use,
                               findings, expect_channels=len(files.channel_dns))
            else:
                findings.append(_finding(
                    "REC-FILES-PRESENT", f"no channel of {files.multichannel.name} is labelled DN {exp.dn}",
                    files.multichannel, observed=",".join(files.channel_dns) or "no labels", expected=exp.dn,
                    stream=exp.dn))
        if mono is None and files.multichannel is None:
            findings.append(_finding("REC-FILES-PRESENT", f"no recording file for DN {exp.dn}",
                                     observed="missing", expected=f"file for DN {exp.dn}", stream=exp.dn))
    return _dedupe(findings)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, str | None]] = set()
    out = []
    for f in findings:
        key = (f.requirement_id, f.message, f.evidence.file)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _discover(directory: Path, findings: list[Finding], require_metadata: bool) -> RecordingFiles:
    mono: dict[str, Path] = {}
    for path in sorted(directory.glob("stream-*.wav")):
        match = _MONO_NAME.match(path.name)
        if match:
            mono[match.group(2)] = path
    stereo = directory / _STEREO_NAME
    metadata = directory / _METADATA_NAME
    channel_dns: tuple[str, ...] = ()
    if metadata.is_file():
        channel_dns = _channel_dns(metadata)
    elif require_metadata:
        findings.append(_finding("REC-METADATA", f"{_METADATA_NAME} missing in {directory}", metadata,
                                 observed="missing", expected=_METADATA_NAME))
    return RecordingFiles(mono, stereo if stereo.is_file() else None, channel_dns,
                          metadata if metadata.is_file() else None)


def _channel_dns(metadata: Path) -> tuple[str, ...]:
    try:
        data = json.loads(metadata.read_text(encoding="utf-8"))
        channels = sorted(data["channels"], key=lambda c: int(c["index"]))
        return tuple(str(c["dn"]) for c in channels)
    except (OSError, ValueError, KeyError, TypeError):
        return ()


def _check_metadata(metadata: Path, expected: Sequence[ExpectedStream], findings: list[Finding]) -> None:
    try:
        data = json.loads(metadata.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        findings.append(_finding("REC-METADATA", f"{metadata.name} unreadable: {exc}", metadata))
        return
    if not isinstance(data, dict):
        findings.append(_finding("REC-METADATA", f"{metadata.name} is not a JSON object", metadata))
        return
    missing = [k for k in ("calluuid", "record_id", "channels", "complete") if k not in data]
    if missing:
        findings.append(_finding("REC-METADATA", f"{metadata.name} lacks {', '.join(missing)}", metadata,
                                 observed=", ".join(sorted(data)), expected="calluuid, record_id, channels, complete"))
    channels = data.get("channels")
    if isinstance(channels, list):
        bad = [c for c in channels if not isinstance(c, dict) or not {"index", "stream", "dn"} <= set(c)]
        if bad:
            findings.append(_finding("REC-METADATA", f"{metadata.name}: {len(bad)} channel entries lack "
                                     "index/stream/dn", metadata, observed=json.dumps(bad[0])))
        dns = {str(c.get("dn")) for c in channels if isinstance(c, dict)}
        for exp in expected:
            if exp.dn not in dns:
                findings.append(_finding("REC-METADATA", f"{metadata.name} names no channel for DN {exp.dn}",
                                         metadata, observed=",".join(sorted(dns)), expected=exp.dn, stream=exp.dn))
    if data.get("complete") is False:
        findings.append(_finding("ARE-10-FILES-FINALISED", f"{metadata.name} is not marked complete", metadata,
                                 observed="complete=false", expected="complete=true"))


@dataclass(frozen=True, slots=True)
class _WavLayout:
    data_offset: int
    declared: int  # data chunk size from the header
    available: int  # bytes actually present after data_offset
    format_tag: int


def _wav_layout(path: Path) -> _WavLayout | None:
    """Walk the RIFF chunks (Microsoft RIFF/WAVE): where `data` starts and how big it claims to be."""
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = path.stat().st_size
        pos, tag = 12, 0
        while pos + 8 <= size:
            f.seek(pos)
            cid, clen = struct.unpack("<4sI", f.read(8))
            if cid == b"fmt " and clen >= 2:
                tag = struct.unpack("<H", f.read(2))[0]
            if cid == b"data":
                return _WavLayout(pos + 8, clen, size - pos - 8, tag)
            pos += 8 + clen + (clen & 1)  # chunks are word-aligned
    return None


def _check_channel(path: Path, channel: int, exp: ExpectedStream, streams_in_use: list[int],
                   findings: list[Finding], expect_channels: int) -> None:
    label = f"{path.name} channel {channel} (DN {exp.dn})" if expect_channels > 1 else f"{path.name} (DN {exp.dn})"
    layout = _wav_layout(path)
    if layout is None:
        findings.append(_finding("ARE-10-FILES-FINALISED", f"{path.name} is not a readable RIFF/WAVE file", path, 0, stream=exp.dn))
        return
    if layout.available < layout.declared:
        findings.append(_finding(
            "ARE-10-FILES-FINALISED", f"{path.name} is truncated: data chunk declares {layout.declared} bytes, "
            f"{layout.available} present", path, layout.data_offset + layout.available,
            observed=str(layout.available), expected=str(layout.declared), stream=exp.dn))
    try:
        info = soundfile.info(str(path))
        audio, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        findings.append(_finding("ARE-10-FILES-FINALISED", f"{path.name} unreadable: {exc}", path, 0, stream=exp.dn))
        return
    if audio.shape[1] <= channel:
        findings.append(_finding("REC-FILES-PRESENT", f"{label}: file has only {audio.shape[1]} channel(s)", path,
                                 observed=str(audio.shape[1]), expected=str(channel + 1), stream=exp.dn))
        return
    if rate != SAMPLE_RATE:
        findings.append(_finding("REC-AUDIO-COMPLETE", f"{path.name}: header sample rate {rate} Hz", path, 24,
                                 observed=f"{rate} Hz ({info.subtype})", expected=f"{SAMPLE_RATE} Hz", stream=exp.dn))
        return
    samples: npt.NDArray[np.int16] = np.ascontiguousarray(audio[:, channel])
    bytes_per_frame = max(1, layout.available // max(1, len(audio))) if len(audio) else 1

    def offset(sample: int) -> int:
        return layout.data_offset + sample * bytes_per_frame

    track = decode_timecode(samples, SAMPLE_RATE, streams=sorted(set(streams_in_use)))
    if not track.segments and not track.undecodable and not track.partial:
        findings.append(_finding("REC-AUDIO-COMPLETE", f"{label} holds silence only", path, layout.data_offset,
                                 observed="silence", expected=f"segments {exp.first_segment}..{exp.last_segment}", stream=exp.dn))
        return
    others = [s for s in track.streams_present() if s != exp.stream]
    if others:
        first_other = next(s for s in track.segments if s.stream != exp.stream)
        own = exp.stream in track.streams_present()
        findings.append(_finding(
            "REC-STREAM-CHANNEL",
            f"{label} holds time-code of stream(s) {others}" + (" mixed with its own" if own else
                                                                  f" instead of stream {exp.stream}"),
            path, offset(first_other.start_sample), observed=f"streams {list(track.streams_present())}",
            expected=f"stream {exp.stream} only", stream=exp.dn))
    counters = list(track.counters_of(exp.stream))
    own_segments = track.segments_of(exp.stream)
    forbidden = exp.forbidden_segments
    paused_found = [s for s in own_segments if s.segment in forbidden]
    if paused_found:
        findings.append(_finding(
            "REC-PAUSE-NO-AUDIO", f"{label}: {len(paused_found)} segment(s) sent while paused are recorded "
            f"(first: segment {paused_found[0].segment})", path, offset(paused_found[0].start_sample),
            observed=" ".join(str(s.segment) for s in paused_found), expected="silence while paused", stream=exp.dn))
    if exp.stream not in track.streams_present() and others:
        return  # swapped channel: segment bookkeeping would only repeat the channel finding
    _check_sequence(label, path, exp, counters, [offset(s.start_sample) for s in own_segments], findings)
    # Duration of what was recorded for this stream: from its first to its last audible sample.
    # A wall-clock-aligned recording also holds silence before the stream's first packet (the
    # signalling took time) and after its BYE; that is alignment, not recorded audio.
    start, end = _audible_span(samples)
    recorded = end - start
    if abs(recorded - exp.samples) > SYMBOL_SAMPLES:
        findings.append(_finding(
            "REC-AUDIO-COMPLETE", f"{label}: recorded audio duration {recorded / SAMPLE_RATE:.3f} s, the "
            f"{exp.samples / SAMPLE_RATE:.3f} s sent differ by more than one 20 ms packet", path,
            offset(start), observed=f"{recorded} samples", expected=f"{exp.samples} ± {SYMBOL_SAMPLES} samples", stream=exp.dn))


def _audible_span(samples: npt.NDArray[np.int16], block: int = 40) -> tuple[int, int]:
    """(first, end) sample of the audible part, at 5 ms resolution; (0, 0) for silence only."""
    usable = len(samples) // block * block
    if usable == 0:
        return 0, 0
    blocks = samples[:usable].astype(np.float64).reshape(-1, block)
    loud = np.flatnonzero(np.sqrt((blocks**2).mean(axis=1)) > SILENCE_RMS)
    if loud.size == 0:
        return 0, 0
    return int(loud[0]) * block, int(loud[-1] + 1) * block


def _check_sequence(label: str, path: Path, exp: ExpectedStream, counters: list[int], offsets: list[int],
                    findings: list[Finding]) -> None:
    wanted = exp.wanted
    wanted_set = set(wanted)
    problems: list[str] = []
    first_offset: int | None = None
    missing = [s for s in wanted if s not in counters]
    if missing:
        problems.append(f"missing {ranges(missing)}")
    dup = sorted({c for c in counters if counters.count(c) > 1})
    if dup:
        problems.append(f"duplicated {ranges(dup)}")
        first_offset = offsets[next(i for i, c in enumerate(counters) if c in dup and counters[:i].count(c))]
    extra = sorted({c for c in counters if c not in wanted_set and c not in exp.paused_segments
                    and c not in exp.optional_segments})
    if extra:
        problems.append(f"extra {ranges(extra)}")
        first_offset = first_offset or offsets[counters.index(extra[0])]
    for i in range(1, len(counters)):
        if counters[i] < counters[i - 1]:
            problems.append(f"out of order (segment {counters[i]} after {counters[i - 1]})")
            first_offset = first_offset or offsets[i]
            break
    if problems:
        findings.append(_finding(
            "REC-AUDIO-COMPLETE", f"{label}: time-code segments " + "; ".join(problems), path, first_offset,
            observed=f"{len(counters)} segments", expected=f"segments {exp.first_segment}..{exp.last_segment} "
            f"once, in order" + (f", without paused {ranges(sorted(exp.paused_segments))}"
                                 if exp.paused_segments else ""), stream=exp.dn))



# -- the time code of each stream's file, as evidence for harness/checks/impaired_media.py ----------


@dataclass(frozen=True, slots=True)
class StreamTimecode:
    """One stream's recording as the time code sees it: (segment, first sample) of each of its
    own decoded segments, and the audible [start, end) spans of the channel (1 ms blocks: fine
    enough to see a few samples of a telephone event decoded next to the audio before it)."""

    dn: str
    decoded: tuple[tuple[int, int], ...]
    audible: tuple[tuple[int, int], ...]


def stream_timecodes(recording: Path | RecordingFiles, expected: Sequence[ExpectedStream]) -> dict[str, StreamTimecode]:
    """Decode each expected stream's file (mono file, else its channel of the multi-channel file);
    a stream whose file cannot be read is left out (validate_recording reports why)."""
    if isinstance(recording, Path):
        files = _discover(recording, [], False)
        if files.multichannel is not None and not files.channel_dns:
            files = RecordingFiles(files.mono, files.multichannel, tuple(e.dn for e in expected), files.metadata)
    else:
        files = recording
    streams = sorted({e.stream for e in expected})
    out: dict[str, StreamTimecode] = {}
    for exp in expected:
        if exp.dn in files.mono:
            path, channel = files.mono[exp.dn], 0
        elif files.multichannel is not None and exp.dn in files.channel_dns:
            path, channel = files.multichannel, files.channel_dns.index(exp.dn)
        else:
            continue
        try:
            audio, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
        except (RuntimeError, soundfile.LibsndfileError):
            continue
        if rate != SAMPLE_RATE or audio.shape[1] <= channel:
            continue
        samples: npt.NDArray[np.int16] = np.ascontiguousarray(audio[:, channel])
        track = decode_timecode(samples, SAMPLE_RATE, streams=streams)
        decoded = tuple((s.segment, s.start_sample) for s in track.segments_of(exp.stream))
        out[exp.dn] = StreamTimecode(exp.dn, decoded, _audible_spans(samples))
    return out


def _audible_spans(samples: npt.NDArray[np.int16], block: int = 8) -> tuple[tuple[int, int], ...]:
    usable = len(samples) // block * block
    if usable == 0:
        return ()
    blocks = samples[:usable].astype(np.float64).reshape(-1, block)
    loud = np.sqrt((blocks**2).mean(axis=1)) > SILENCE_RMS
    spans: list[tuple[int, int]] = []
    for index in np.flatnonzero(loud):
        start = int(index) * block
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], start + block)
        else:
            spans.append((start, start + block))
    return tuple(spans)


# -- evidence the caller gathered: a recording not found, audio without a time-code ------------


def metadata_expected(recording: Path | RecordingFiles) -> bool:
    """Whether REC-METADATA can be judged: the reference layout's directory carries recording.json;
    a profile layout's own metadata (if any) is not the reference recorder's, so there is nothing
    to hold against REC-METADATA (not applicable, never passed)."""
    return isinstance(recording, Path) or recording.metadata is not None


def recording_not_found(what: str, *, where: Path | None = None, calluuid: str | None = None,
                        observed: str = "missing", expected: str | None = None,
                        packet_index: int | None = None, timestamp: float | None = None,
                        call_id: str | None = None) -> Finding:
    """REC-FILES-PRESENT for a recording the harness looked for and did not find at all (a
    recording id after stop/start, an answered call's directory offline)."""
    return Finding("REC-FILES-PRESENT", requirement("REC-FILES-PRESENT").severity, what,
                   Evidence(packet_index, timestamp, file=str(where) if where else None),
                   observed, expected, calluuid=calluuid, call_id=call_id)


def timecode_absent(endpoint: tuple[str, int], dn: str, what: str, *, where: Path | None = None,
                    calluuid: str | None = None, call_id: str | None = None) -> Finding:
    """REC-TIMECODE-ABSENT (INFO): the RTP to the recorder carries no decodable audio time-code,
    so the recorded audio cannot be compared with what was sent (offline validation of a capture
    of some other sender's audio)."""
    return Finding("REC-TIMECODE-ABSENT", requirement("REC-TIMECODE-ABSENT").severity,
                   f"RTP to {endpoint[0]}:{endpoint[1]} (DN {dn}) carries no decodable audio time-code: {what}",
                   Evidence(file=str(where) if where else None), observed="no time-code", expected="time-code audio",
                   calluuid=calluuid, call_id=call_id, stream=dn)


def timecode_streams(path: Path) -> tuple[int, ...]:
    """The time-code streams found in the first channel of `path` (empty when it cannot be read).
    The SIPREC participant check (harness.validators.siprec) asks whose audio a file holds; the
    decoder stays behind this module, the one validator allowed to use it (docs/architecture.md §3.1)."""
    try:
        audio, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
        return decode_timecode(audio[:, 0], rate).streams_present()
    except (OSError, RuntimeError, ValueError):
        return ()
