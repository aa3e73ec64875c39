"""Find one call's recording files in a recorder's recordings directory (docs/architecture.md §4, profile).

A third-party recorder names its files its own way; the profile says how (`[recordings]`):

- ``locate = "pattern"``: a path pattern with the call's placeholders ({calluuid} {record_id}
  {dn} {record_dn} {call_id}); the values are glob-escaped (a DN may hold ``[``) and the
  pattern's own ``*``/``?`` stay wildcards. Mono: one file per stream ({dn} or {call_id});
  stereo: one file per call.
- ``locate = "newest"``: files matching `glob` modified after the call started, newest first.
- ``locate = "metadata"``: a JSON file (pattern) whose ``"files"`` list gives
  ``{"path", "dn", "channel"}``.

The selection functions are pure (a listing + `since` in, a choice out); `RecordingLocator`
is the thin part that lists the directory.
"""

from __future__ import annotations

import glob as globlib
import json
import os
import string
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.validators.recording import RecordingFiles

LAYOUTS = ("mono-per-stream", "stereo", "reference")
LOCATES = ("pattern", "newest", "metadata")
FORMATS = ("pcm16", "mulaw", "alaw")
SIDES = ("customer", "agent")
CALL_PLACEHOLDERS = frozenset({"calluuid", "record_id", "dn", "record_dn", "call_id"})
# WAVE format tags (RFC 2361 / mmreg.h): 1 PCM, 6 A-law, 7 µ-law.
_FORMAT_TAGS = {1: "pcm16", 6: "alaw", 7: "mulaw"}


@dataclass(frozen=True, slots=True)
class RecordingsSpec:
    """The profile's `[recordings]` table, validated (see `harness.recorders.profile`)."""

    directory: str  # template: may hold {work_dir} {profile_dir} {port} {ns_address}
    locate: str = "pattern"
    pattern: str | None = None
    glob: str = "*.wav"
    metadata: str | None = None
    layout: str = "mono-per-stream"
    channels: tuple[str, ...] = ()
    format: str = "pcm16"
    settle_s: float = 2.0
    # SIPREC: a JSON file (pattern, no {dn}/{call_id}) where the SRS keeps who is in which
    # labelled stream (docs/recorder-profiles.md "participant_map"); None: not known.
    participant_map: str | None = None

    @property
    def separates_recordings(self) -> bool:
        """Whether two recordings of one call (stop then start: a new record id) can be told
        apart: the reference layout, or a pattern / metadata name holding {record_id} or the
        session's {call_id}. "newest" can only see files, not which recording they belong to."""
        if self.layout == "reference":
            return True
        template = {"pattern": self.pattern, "metadata": self.metadata}.get(self.locate)
        return template is not None and bool(placeholders(template) & {"record_id", "call_id"})


# The reference recorder's layout <root>/<calluuid>/<record_id>/ (stream WAVs, recording.json).
REFERENCE_LAYOUT = RecordingsSpec(directory="{recordings}", layout="reference")


@dataclass(frozen=True, slots=True)
class StreamKey:
    dn: str
    side: str | None = None  # "customer" | "agent" when known
    call_id: str | None = None  # the recording session's SIP Call-ID
    timecode: int | None = None  # the stream's time-code alphabet (harness.media.timecode), when known


@dataclass(frozen=True, slots=True)
class CallKeys:
    """What identifies one recording: the values the placeholders expand to."""

    calluuid: str
    record_id: str
    record_dn: str
    streams: tuple[StreamKey, ...]

    def values(self, stream: StreamKey | None = None) -> dict[str, str]:
        call_id = stream.call_id if stream is not None else next(
            (s.call_id for s in self.streams if s.call_id), None)
        return {"calluuid": self.calluuid, "record_id": self.record_id, "record_dn": self.record_dn,
                "dn": stream.dn if stream is not None else self.record_dn, "call_id": call_id or ""}

    def dn_of_side(self, side: str) -> str | None:
        return next((s.dn for s in self.streams if s.side == side), None)


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: Path
    mtime: float
    size: int


@dataclass(frozen=True, slots=True)
class Located:
    """Where one recording is, as `validate_recording` takes it, and what was not found."""

    target: Path | RecordingFiles  # Path: reference layout directory
    directory: Path  # the directory the files are in (evidence for the report)
    found: tuple[Path, ...] = ()
    missing: tuple[str, ...] = ()  # one line each: what was looked for and not found
    notes: tuple[str, ...] = ()  # e.g. a file format other than the profile says

    @property
    def complete(self) -> bool:
        return not self.missing


def placeholders(template: str) -> set[str]:
    """The `{name}` fields of a template (`{{` is a literal brace); ValueError when malformed."""
    return {name for _text, name, _spec, _conv in string.Formatter().parse(template) if name is not None}


def expand_pattern(template: str, values: Mapping[str, str]) -> str:
    """The pattern with each placeholder replaced by its glob-escaped value (a DN or record id
    holding ``*`` or ``[`` must match itself, not act as a wildcard)."""
    return template.format_map({k: globlib.escape(v) for k, v in values.items()})


def after(entries: Iterable[FileEntry], since: float) -> list[FileEntry]:
    """Entries modified at or after `since`, newest first (ties: by path, for determinism)."""
    return sorted((e for e in entries if e.mtime >= since), key=lambda e: (-e.mtime, str(e.path)))


def select_per_stream(candidates: Mapping[str, Sequence[FileEntry]], since: float) -> dict[str, FileEntry]:
    """Mono layout by pattern: for each DN the newest of its candidates written after `since`."""
    chosen: dict[str, FileEntry] = {}
    for dn, entries in candidates.items():
        fresh = after(entries, since)
        if fresh:
            chosen[dn] = fresh[0]
    return chosen


ContentProbe = Callable[[Path], Sequence[int]]
"""The time-code alphabets heard in a mono file, most segments first (empty: none decoded)."""


def select_newest_mono(entries: Iterable[FileEntry], streams: Sequence[StreamKey], since: float,
                       content: ContentProbe | None = None) -> dict[str, FileEntry]:
    """`locate = "newest"`, mono: the len(streams) newest files written after `since`.

    A file whose name contains exactly one stream's DN is that stream's. A file whose name says
    nothing goes to the stream whose time code it holds (`content`), so a recorder that writes
    one file for two streams is judged on the stream really in it, not on a guess; files that
    decode to nothing go to the remaining streams in the order they were first written (oldest =
    first stream: a recorder creates a stream's file when its session starts).
    """
    fresh = after(entries, since)[:len(streams)]
    chosen: dict[str, FileEntry] = {}
    unnamed: list[FileEntry] = []
    for entry in fresh:
        owners = [s.dn for s in streams if s.dn and s.dn in entry.path.name and s.dn not in chosen]
        if len(owners) == 1:
            chosen[owners[0]] = entry
        else:
            unnamed.append(entry)
    undecided: list[FileEntry] = []
    for entry in sorted(unnamed, key=lambda e: (e.mtime, str(e.path))):
        heard = list(content(entry.path)) if content is not None else []
        owner = next((s.dn for alphabet in heard for s in streams
                      if s.timecode == alphabet and s.dn not in chosen), None)
        if owner is not None:
            chosen[owner] = entry
        else:
            undecided.append(entry)
    rest = [s.dn for s in streams if s.dn not in chosen]
    for dn, entry in zip(rest, undecided, strict=False):
        chosen[dn] = entry
    return chosen


def timecode_streams_in(path: Path) -> list[int]:
    """`ContentProbe` for WAV files: the alphabets decoded in channel 0, most segments first."""
    import soundfile  # local: locating by pattern needs no audio stack

    from harness.media.timecode import SAMPLE_RATE, decode_timecode

    try:
        audio, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError):
        return []
    if rate != SAMPLE_RATE or not len(audio):
        return []
    track = decode_timecode(audio[:, 0], SAMPLE_RATE)
    counts: dict[int, int] = {}
    for segment in track.segments:
        counts[segment.stream] = counts.get(segment.stream, 0) + 1
    return sorted(counts, key=lambda stream: -counts[stream])


def files_from_metadata(doc: Any, base: Path) -> tuple[dict[str, Path], Path | None, tuple[str, ...]] | str:
    """The `"files"` list of a metadata document -> (mono by DN, multichannel, channel DNs).

    Each entry: ``{"path": ..., "dn": ..., "channel": N}``; relative paths are relative to the
    metadata file's directory; an entry with a channel belongs to the multi-channel file.
    Returns a one-line problem instead when the document does not say that.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        return 'no "files" list'
    mono: dict[str, Path] = {}
    multichannel: Path | None = None
    by_channel: dict[int, str] = {}
    for item in doc["files"]:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or "dn" not in item:
            return f'a "files" entry lacks "path" or "dn": {json.dumps(item)[:80]}'
        path = base / item["path"]
        channel = item.get("channel")
        if channel is None:
            mono[str(item["dn"])] = path
        elif isinstance(channel, int) and not isinstance(channel, bool) and channel >= 0:
            if multichannel is not None and multichannel != path:
                return f"channels are spread over two files ({multichannel.name}, {path.name})"
            multichannel = path
            by_channel[channel] = str(item["dn"])
        else:
            return f'"channel" must be a channel number, not {channel!r}'
    dns = tuple(by_channel.get(i, "") for i in range(max(by_channel) + 1)) if by_channel else ()
    return mono, multichannel, dns


def wav_format(path: Path) -> str | None:
    """pcm16 / mulaw / alaw from the WAV `fmt ` chunk, "tag N" for others, None if unreadable."""
    try:
        with path.open("rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = struct.unpack("<4sI", chunk)
                if cid == b"fmt ":
                    fmt = f.read(min(size, 16))
                    tag, bits = struct.unpack("<H", fmt[:2])[0], struct.unpack("<H", fmt[14:16])[0]
                    if tag == 1 and bits != 16:
                        return f"pcm{bits}"
                    return _FORMAT_TAGS.get(tag, f"tag {tag}")
                f.seek(size + (size & 1), os.SEEK_CUR)
    except (OSError, struct.error):
        return None


def glob_entries(root: Path, pattern: str) -> list[FileEntry]:
    """The files under `root` matching `pattern` (the only listing of the directory)."""
    out = []
    for path in root.glob(pattern):
        try:
            st = path.stat()
        except OSError:
            continue  # removed while we looked: a recorder renaming its temporary file
        if path.is_file():
            out.append(FileEntry(path, st.st_mtime, st.st_size))
    return out


@dataclass(frozen=True, slots=True)
class RecordingLocator:
    """A profile's `[recordings]` rules applied to one resolved recordings directory."""

    spec: RecordingsSpec
    root: Path

    def locate(self, keys: CallKeys, since: float) -> Located:
        spec = self.spec
        if spec.layout == "reference":
            return self._reference(keys)
        if spec.locate == "metadata":
            return self._by_metadata(keys, since)
        mono: dict[str, Path] = {}
        stereo: Path | None = None
        missing: list[str] = []
        if spec.layout == "stereo":
            if spec.locate == "pattern":
                assert spec.pattern is not None
                wanted = expand_pattern(spec.pattern, keys.values())
                fresh = after(glob_entries(self.root, wanted), since)
            else:
                wanted = spec.glob
                fresh = after(glob_entries(self.root, spec.glob), since)
            if fresh:
                stereo = fresh[0].path
            else:
                missing.append(f"no file matching {wanted} under {self.root} written after the call started")
        else:
            if spec.locate == "pattern":
                assert spec.pattern is not None
                pattern = spec.pattern
                candidates = {s.dn: glob_entries(self.root, expand_pattern(pattern, keys.values(s)))
                              for s in keys.streams}
                chosen = select_per_stream(candidates, since)
            else:
                chosen = select_newest_mono(glob_entries(self.root, spec.glob), keys.streams, since,
                                            content=timecode_streams_in)
            mono = {dn: e.path for dn, e in chosen.items()}
            for s in keys.streams:
                if s.dn not in mono:
                    shown = expand_pattern(spec.pattern, keys.values(s)) if spec.locate == "pattern" and spec.pattern \
                        else spec.glob
                    missing.append(f"no file for DN {s.dn} matching {shown} under {self.root} written after the "
                                   "call started")
        channel_dns: tuple[str, ...] = ()
        if stereo is not None:
            channel_dns, problem = self._channel_dns(keys, since)
            if problem:
                missing.append(problem)
        files = RecordingFiles(mono, stereo, channel_dns, None)
        return self._result(files, missing)

    def _channel_dns(self, keys: CallKeys, since: float) -> tuple[tuple[str, ...], str | None]:
        """Stereo: the DN in each channel, from the profile's side order or from the metadata."""
        if self.spec.channels != ("metadata",):
            return tuple(keys.dn_of_side(side) or f"({side} DN unknown)" for side in self.spec.channels), None
        located = self._by_metadata(keys, since)
        if isinstance(located.target, RecordingFiles) and located.target.channel_dns:
            return located.target.channel_dns, None
        return (), located.missing[0] if located.missing else "the metadata names no channels"

    def _by_metadata(self, keys: CallKeys, since: float) -> Located:
        assert self.spec.metadata is not None
        wanted = expand_pattern(self.spec.metadata, keys.values())
        fresh = after(glob_entries(self.root, wanted), since)
        if not fresh:
            return self._result(RecordingFiles(), [f"no metadata file matching {wanted} under {self.root} "
                                                   "written after the call started"])
        path = fresh[0].path
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            return self._result(RecordingFiles(), [f"metadata {path} unreadable: {error}"])
        parsed = files_from_metadata(doc, path.parent)
        if isinstance(parsed, str):
            return self._result(RecordingFiles(), [f"metadata {path}: {parsed}"])
        mono, multichannel, dns = parsed
        if multichannel is not None and self.spec.channels and self.spec.channels != ("metadata",):
            dns = tuple(keys.dn_of_side(side) or f"({side} DN unknown)" for side in self.spec.channels)
        missing = [f"metadata {path} lists no file {p.name}" for p in [*mono.values(), multichannel]
                   if p is not None and not p.is_file()]
        if self.spec.layout == "mono-per-stream":
            missing += [f"metadata {path} lists no file for DN {s.dn}" for s in keys.streams if s.dn not in mono]
        elif multichannel is None:
            missing.append(f"metadata {path} lists no multi-channel file")
        return self._result(RecordingFiles(mono, multichannel, dns, None), missing, extra=(path,))

    def _reference(self, keys: CallKeys) -> Located:
        directory = self.root / keys.calluuid / keys.record_id
        metadata = directory / "recording.json"
        missing = []
        if not metadata.is_file() or b'"complete": true' not in metadata.read_bytes():
            missing.append(f"{metadata} missing or not marked complete")
        found = tuple(sorted(directory.glob("*.wav"))) if directory.is_dir() else ()
        return Located(directory, directory, (*found, *([metadata] if metadata.is_file() else [])),
                       tuple(missing))

    def _result(self, files: RecordingFiles, missing: list[str], extra: tuple[Path, ...] = ()) -> Located:
        found = [*files.mono.values(), *([files.multichannel] if files.multichannel else [])]
        notes = []
        for path in found:
            fmt = wav_format(path) if path.is_file() else None
            if fmt is not None and fmt != self.spec.format:
                notes.append(f"{path.name} is {fmt}, the profile says format = {self.spec.format!r}")
        directory = found[0].parent if found else self.root
        return Located(files, directory, (*found, *extra), tuple(missing), tuple(notes))


def snapshot(located: Located) -> tuple[tuple[str, int, float], ...]:
    """Size and mtime of every located file: two equal snapshots a moment apart = files settled."""
    out = []
    for path in located.found:
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((str(path), st.st_size, st.st_mtime))
    return tuple(out)


__all__ = [
    "CALL_PLACEHOLDERS", "FORMATS", "LAYOUTS", "LOCATES", "REFERENCE_LAYOUT", "SIDES", "CallKeys", "FileEntry", "Located",
    "RecordingLocator", "RecordingsSpec", "StreamKey", "after", "expand_pattern", "files_from_metadata",
    "glob_entries", "placeholders", "select_newest_mono", "select_per_stream", "snapshot", "wav_format",
]
