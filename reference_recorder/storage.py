"""The reference recorder's recording store: crash-safe WAV files + ``recording.json``.

Layout (docs/architecture.md §4, "Reference recorder output")::

    <root>/<calluuid>/<record_id>/
        stream-1-<dn>.wav     mono PCM16, one per stream, sample 0 = the recording's t0
        stream-2-<dn>.wav
        call-stereo.wav       channel 0 = first stream added, channel 1 = second
        recording.json        identifiers, DNs, channel map, per-stream stats, pauses

Every path component that comes from the network (CallUUID, record id, DN) goes through
`safe_component`, and every directory is resolved and checked to lie inside the resolved
root (defence in depth against path traversal, CWE-22): whatever a peer puts in
``record=``, ``calluuid=``, ``dn=`` or Call-ID, nothing is written outside the root.

Crash safety: WAVs are checkpointed (header sizes patched after the data is flushed, see
`reference_recorder.wavfile`) and ``recording.json`` is rewritten through a temporary
file + fsync + ``os.replace`` (POSIX rename is atomic), at most once per
``checkpoint_interval`` of caller time, so a SIGKILL leaves playable WAVs up to the last
checkpoint and a valid JSON document (``"complete": false`` until `CallRecording.close`).

Pause handling: a paused interval is written as silence even when audio keeps arriving
(GIR pads paused periods with silence, docs/genesys-flow.md §3.3; the PCI DSS expectation "no audio
sent while paused may be found in the recording").

Like the rest of `reference_recorder`, this module is sans-clock: times are passed in as
``now`` (epoch seconds, the same clock as the packets' arrival times).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from reference_recorder.timeline import Placement, StreamTimeline, seconds_to_samples
from reference_recorder.wavfile import MAX_RIFF_DATA_BYTES, WavWriter

__all__ = [
    "JSON_NAME",
    "SCHEMA_VERSION",
    "STEREO_NAME",
    "TLIB_SECTIONS",
    "CallRecording",
    "RecordingStore",
    "RecordingStorageError",
    "UnsafePathError",
    "recording_dir",
    "safe_component",
]

SCHEMA_VERSION: Final = 1
JSON_NAME: Final = "recording.json"
STEREO_NAME: Final = "call-stereo.wav"
_JSON_TMP: Final = ".recording.json.tmp"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_DASH_RUN = re.compile(r"-{2,}")
_HASH_LEN: Final = 16  # 64 bits of SHA-256: collisions are not a practical concern
_MIN_MAX_LEN: Final = _HASH_LEN + 8
# Device names Windows refuses as file names (with any extension): recordings are often
# copied to Windows shares, where "NUL.wav" or "con" would silently break.
_WINDOWS_RESERVED: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)
_DRAIN_CHUNK: Final = 8000 * 30  # bound memory when a long stretch is drained at once
# The T-Lib log of a recording (reference_recorder.tlib_agent): request/answer pairs, refused
# requests, recording-state events. Entries carry "t" (absolute in memory, relative to t0 in
# the JSON: the start request precedes the recording, so its "t" is negative).
TLIB_SECTIONS: Final = ("requests", "errors", "events")
_TLIB_MAX_ENTRIES: Final = 1000  # per section: a runaway T-Server must not grow files forever
_MAX_NOTED_CALLS: Final = 10_000  # calls whose T-Lib notes are kept while no recording is open


class RecordingStorageError(Exception):
    """Base class of the store's errors."""


class UnsafePathError(RecordingStorageError, ValueError):
    """A computed path would leave the recordings root (should be impossible: defence in depth)."""


# ---------------------------------------------------------------------------------------
# Safe paths
# ---------------------------------------------------------------------------------------
def _is_clean(value: str, max_len: int) -> bool:
    return (
        0 < len(value) <= max_len
        and _UNSAFE.search(value) is None
        # ".", ".." and hidden names; a leading "-" reads as an option to shell tools.
        and value[0] not in ".-"
        # Windows strips trailing dots: "a." and "a" would be the same directory there.
        and not value.endswith(".")
        # "--" is reserved for the hash and version suffixes, which keeps the mapping
        # injective: an unchanged value can never look like a hashed or versioned one.
        and "--" not in value
        and value.split(".", 1)[0].upper() not in _WINDOWS_RESERVED
    )


def safe_component(value: str, *, max_len: int = 64) -> str:
    """Map any string to one safe path component of ``[A-Za-z0-9._-]``, at most `max_len` long.

    Values that are already safe are returned unchanged. Any other value (empty, ".", "..",
    leading "." or "-", "/", "\\\\", NUL, non-ASCII, too long, ...) becomes a readable
    sanitised prefix + ``--`` + 16 hex digits of SHA-256 of the original, so two different
    raw values never share a directory: unchanged results never contain ``--``, changed
    ones always end with ``--<hash>``.
    """
    if not isinstance(value, str):
        raise TypeError(f"path component must be str, got {type(value).__name__}")
    if max_len < _MIN_MAX_LEN:
        raise ValueError(f"max_len must be at least {_MIN_MAX_LEN}")
    if _is_clean(value, max_len):
        return value
    # surrogatepass: os.fsdecode()d junk may hold lone surrogates; still hash it stably.
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LEN]
    base = _DASH_RUN.sub("-", _UNSAFE.sub("_", value)).lstrip(".-")
    base = base[: max_len - _HASH_LEN - 2].rstrip(".-")
    return f"{base or '_'}--{digest}"


def _verify_inside(root: Path, path: Path) -> Path:
    """Resolve `path` (following symlinks) and insist it is strictly inside `root`."""
    resolved = path.resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise UnsafePathError(f"refusing path {path!s}: resolves to {resolved!s}, outside {root!s}")
    return resolved


def recording_dir(root: str | os.PathLike[str], calluuid: str, record_id: str, *, version: int = 1) -> Path:
    """``<root>/<safe calluuid>/<safe record_id>[--v<version>]``, verified to be inside root.

    Version 1 has no suffix; a later recording with the same identifiers (see
    `RecordingStore.open_recording`) gets ``--v2``, ``--v3``, ...
    """
    if version < 1:
        raise ValueError("version starts at 1")
    root_r = Path(root).resolve()
    name = safe_component(record_id) + ("" if version == 1 else f"--v{version}")
    path = root_r / safe_component(calluuid) / name
    _verify_inside(root_r, path)
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _json_copy(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Deep copy through JSON so later mutation by the caller cannot change what we store."""
    try:
        # allow_nan=False: NaN/Infinity are not JSON (RFC 8259 §6) and break strict readers.
        copied: dict[str, Any] = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable: {exc}") from None
    return copied


def _rel(t: float | None, t0: float) -> float | None:
    return None if t is None else round(t - t0, 6)


def _tlib_entry(entry: dict[str, Any], t0: float) -> dict[str, Any]:
    t = entry.get("t")
    if isinstance(t, int | float) and not isinstance(t, bool):
        return {**entry, "t": _rel(float(t), t0)}
    return dict(entry)


@dataclass(slots=True)
class _CallNotes:
    """What T-Lib said about one call (by CallUUID), kept until the call ends so a recording
    that opens later still gets it (the start request precedes the recording session)."""

    attached_data: dict[str, Any] | None = None
    tlib: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    paused_since: float | None = None


# ---------------------------------------------------------------------------------------
# WAV with roll-over at the RIFF limit
# ---------------------------------------------------------------------------------------
class _RollingWav:
    """A WAV file that continues in ``<stem>--part<k>.wav`` when the RIFF limit is reached."""

    def __init__(
        self, directory: Path, stem: str, channels: int, sample_rate: int, fsync: bool, max_data_bytes: int
    ) -> None:
        self._dir = directory
        self._stem = stem
        self._channels = channels
        self._rate = sample_rate
        self._fsync = fsync
        self._max = max_data_bytes
        self.files: list[str] = []
        self.frames = 0
        self._writer = self._open_next()

    def _open_next(self) -> WavWriter:
        k = len(self.files) + 1
        name = f"{self._stem}.wav" if k == 1 else f"{self._stem}--part{k}.wav"
        writer = WavWriter(
            self._dir / name,
            channels=self._channels,
            sample_rate=self._rate,
            fsync=self._fsync,
            max_data_bytes=self._max,
        )
        self.files.append(name)
        return writer

    def write(self, frames: npt.NDArray[np.int16]) -> None:
        while frames.shape[0] > 0:
            room = self._writer.remaining_frames
            if room == 0:
                self._writer.close()
                self._writer = self._open_next()
                continue
            part = frames[:room]
            self._writer.write(part)
            self.frames += part.shape[0]
            frames = frames[room:]

    def checkpoint(self) -> None:
        self._writer.checkpoint()

    def close(self) -> None:
        self._writer.close()

    @property
    def closed(self) -> bool:
        return self._writer.closed


# ---------------------------------------------------------------------------------------
# One recording
# ---------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Stream:
    key: str
    number: int
    dn: str
    other_dn: str | None
    call_id: str | None
    codec: str
    clock_rate: int
    channel: int | None
    timeline: StreamTimeline
    mono: _RollingWav
    added_at: float
    ended_at: float | None = None
    end_reason: str | None = None
    end_sample: int | None = None
    after_end: int = 0
    rtp_stats: dict[str, Any] = field(default_factory=dict)
    pauses: list[list[float | None]] = field(default_factory=list)  # [start, end|None], absolute


class CallRecording:
    """One recording (one CallUUID + record id): its streams, WAV files and ``recording.json``.

    Created by `RecordingStore.open_recording`; ``t0`` is the ``now`` given there and is
    sample 0 of every file. Streams are keyed by a caller-chosen string (e.g. Call-ID +
    m-line index): in two-session mode each session's m-line is a stream, in one-session
    mode each of the session's two m-lines is. The first two streams added are the stereo
    channels 0 and 1; further streams get a mono file only (``"channel": null``).

    The owner calls `tick` often (every packetisation interval or so): it drains all
    timelines to ``now - jitter_window`` and checkpoints at most once per
    ``checkpoint_interval``.
    """

    def __init__(
        self,
        directory: Path,
        calluuid: str,
        record_id: str,
        t0: float,
        *,
        version: int = 1,
        sample_rate: int = 8000,
        jitter_window: float = 0.06,
        checkpoint_interval: float = 1.0,
        fsync: bool = True,
        max_wav_data_bytes: int = MAX_RIFF_DATA_BYTES,
    ) -> None:
        self.directory = directory.resolve()
        self.calluuid = calluuid
        self.record_id = record_id
        self.version = version
        self.t0 = t0
        self.sample_rate = sample_rate
        self.jitter_window = jitter_window
        self.checkpoint_interval = checkpoint_interval
        self._fsync = fsync
        self._max_wav = max_wav_data_bytes
        self._streams: dict[str, _Stream] = {}
        self._stereo: _RollingWav | None = None
        self._drained = 0  # samples written to every file so far
        self._last_checkpoint = t0
        self._paused_since: float | None = None
        self._pauses: list[list[float | None]] = []
        self._record_dn: str | None = None
        self._dn: str | None = None
        self._attached: dict[str, Any] = {}
        self._tlib: dict[str, list[dict[str, Any]]] = {section: [] for section in TLIB_SECTIONS}
        self._stopped_at: float | None = None
        self._closed = False
        self._checkpointed = 0
        self._write_json(t0)

    # -- metadata --------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def stream_keys(self) -> list[str]:
        return list(self._streams)

    def set_identity(self, *, dn: str | None = None, record_dn: str | None = None) -> None:
        """Recording-level DNs from the recording URI; ``None`` leaves a value unchanged.

        `dn` is the recorded party's DN, `record_dn` the DN on whose behalf it is recorded.
        """
        if dn is not None:
            self._dn = dn
        if record_dn is not None:
            self._record_dn = record_dn

    def set_attached_data(self, data: Mapping[str, Any]) -> None:
        """Replace the attached (user) data fetched over T-Lib; must be JSON-serialisable."""
        self._attached = _json_copy(data, "attached data")

    def add_tlib_entry(self, section: str, entry: Mapping[str, Any]) -> None:
        """Append to the ``tlib`` log; ``entry["t"]`` (if any) is absolute, like every ``now``."""
        if section not in self._tlib:
            raise ValueError(f"unknown T-Lib log section {section!r} (known: {', '.join(TLIB_SECTIONS)})")
        entries = self._tlib[section]
        if len(entries) < _TLIB_MAX_ENTRIES:
            entries.append(_json_copy(entry, "T-Lib log entry"))

    def write_now(self, now: float) -> None:
        """Rewrite ``recording.json`` at once (atomically), e.g. after a T-Lib annotation.

        Also after `close`: attached data may change after the recording completed but
        before the call ends (contract of the T-Lib client).
        """
        self._write_json(now)

    def set_stats(self, key: str, stats: Mapping[str, Any]) -> None:
        """Replace a stream's RTP statistics (stored as given; JSON-serialisable, no NaN)."""
        self._stream(key).rtp_stats = _json_copy(stats, "stream stats")

    def _stream(self, key: str) -> _Stream:
        try:
            return self._streams[key]
        except KeyError:
            raise KeyError(f"unknown stream {key!r}") from None

    def _file_path(self, name: str) -> Path:
        path = self.directory / name
        _verify_inside(self.directory, path)
        return path

    # -- streams ---------------------------------------------------------------------------
    def add_stream(
        self,
        key: str,
        dn: str,
        codec: str,
        clock_rate: int = 8000,
        *,
        now: float | None = None,
        other_dn: str | None = None,
        call_id: str | None = None,
    ) -> None:
        """Add a stream; its mono file starts with silence from t0 to the current drain point."""
        if self._closed:
            raise ValueError("recording is closed")
        if key in self._streams:
            raise ValueError(f"stream {key!r} already exists")
        if clock_rate != self.sample_rate:
            # The timeline places packets by RTP timestamp distance in samples.
            raise ValueError(f"stream clock rate {clock_rate} != recording sample rate {self.sample_rate}")
        number = len(self._streams) + 1
        channel = number - 1 if number <= 2 else None
        stem = f"stream-{number}-{safe_component(dn, max_len=48)}"
        self._file_path(stem + ".wav")
        mono = _RollingWav(self.directory, stem, 1, self.sample_rate, self._fsync, self._max_wav)
        timeline = StreamTimeline(self.t0, sample_rate=self.sample_rate, start_sample=self._drained)
        self._write_silence(mono, self._drained, 1)
        added_at = self.t0 if now is None else now
        stream = _Stream(
            key, number, dn, other_dn, call_id, codec, clock_rate, channel, timeline, mono, added_at
        )
        self._streams[key] = stream
        if self._stereo is None:
            self._file_path(STEREO_NAME)
            self._stereo = _RollingWav(
                self.directory,
                STEREO_NAME.removesuffix(".wav"),
                2,
                self.sample_rate,
                self._fsync,
                self._max_wav,
            )
            self._write_silence(self._stereo, self._drained, 2)
        if self._paused_since is not None:
            # A stream joining a paused recording is paused too.
            start = max(self._paused_since, added_at)
            timeline.mark_paused(start)
            stream.pauses.append([start, None])

    @staticmethod
    def _write_silence(wav: _RollingWav, frames: int, channels: int) -> None:
        done = 0
        while done < frames:
            n = min(_DRAIN_CHUNK, frames - done)
            wav.write(np.zeros((n,) if channels == 1 else (n, channels), dtype=np.int16))
            done += n

    def add_audio(
        self,
        key: str,
        rtp_timestamp: int,
        pcm: npt.NDArray[np.int16],
        arrival_time: float,
        *,
        ssrc: int | None = None,
    ) -> Placement:
        """Place one packet's decoded int16 samples (see `StreamTimeline.add`)."""
        stream = self._stream(key)
        if stream.ended_at is not None or self._closed:
            # Stray packets after BYE are not recorded (the session is over).
            stream.after_end += 1
            return Placement.DISCARDED
        return stream.timeline.add(rtp_timestamp, pcm, arrival_time, ssrc=ssrc)

    def pause(self, key: str | None, now: float) -> None:
        """Start forcing silence at `now` on one stream, or on all (``None``); idempotent."""
        if key is None:
            if self._paused_since is None:
                self._paused_since = now
                self._pauses.append([now, None])
            streams = list(self._streams.values())
        else:
            streams = [self._stream(key)]
        for s in streams:
            if s.ended_at is None and not s.timeline.paused:
                s.timeline.mark_paused(now)
                s.pauses.append([now, None])

    def resume(self, key: str | None, now: float) -> None:
        """Stop forcing silence at `now` on one stream, or on all (``None``); idempotent."""
        if key is None:
            if self._paused_since is not None:
                self._pauses[-1][1] = now
                self._paused_since = None
            streams = list(self._streams.values())
        else:
            streams = [self._stream(key)]
        for s in streams:
            self._resume_stream(s, now)

    @staticmethod
    def _resume_stream(s: _Stream, now: float) -> None:
        if s.timeline.paused:
            s.timeline.end_pause(now)
            for interval in s.pauses:
                if interval[1] is None:
                    interval[1] = now

    def end_stream(self, key: str, now: float, reason: str = "bye") -> None:
        """The stream's session ended (BYE, ...): its mono file ends at `now` (or its last audio)."""
        s = self._stream(key)
        if s.ended_at is not None:
            return
        self._resume_stream(s, now)
        s.ended_at = now
        s.end_reason = reason
        s.end_sample = max(s.timeline.placed_end, s.timeline.sample_at(now), self._drained)

    # -- output ----------------------------------------------------------------------------
    def _drain_to(self, target: int) -> None:
        while target > self._drained:
            step_end = min(target, self._drained + _DRAIN_CHUNK)
            n = step_end - self._drained
            stereo = np.zeros((n, 2), dtype=np.int16)
            for s in self._streams.values():
                audio = s.timeline.drain(step_end)
                if s.channel is not None:
                    stereo[:, s.channel] = audio
                if s.mono.closed:
                    continue
                keep = n if s.end_sample is None else max(0, min(n, s.end_sample - self._drained))
                if keep:
                    s.mono.write(audio[:keep])
                if s.end_sample is not None and step_end >= s.end_sample:
                    s.mono.close()  # finalised: header exact, nothing more to write
            if self._stereo is not None:
                self._stereo.write(stereo)
            self._drained = step_end

    def tick(self, now: float) -> bool:
        """Write out audio up to ``now - jitter_window``; checkpoint if due. True if it did."""
        if self._closed:
            return False
        self._drain_to(seconds_to_samples(now - self.jitter_window - self.t0, self.sample_rate))
        if now - self._last_checkpoint >= self.checkpoint_interval:
            self._checkpoint(now)
            return True
        return False

    @property
    def checkpointed_samples(self) -> int:
        """Samples per file a reader is guaranteed to find (as of the last checkpoint)."""
        return self._checkpointed

    def _checkpoint(self, now: float) -> None:
        for s in self._streams.values():
            s.mono.checkpoint()
        if self._stereo is not None:
            self._stereo.checkpoint()
        self._checkpointed = self._drained  # the WAV headers now cover this much
        self._write_json(now)
        self._last_checkpoint = now

    def close(self, now: float, reason: str = "recording closed") -> None:
        """End all streams, write out every placed sample, finalise files; idempotent."""
        if self._closed:
            return
        for key, s in self._streams.items():
            if s.ended_at is None:
                self.end_stream(key, now, reason)
        if self._paused_since is not None:
            self._pauses[-1][1] = now
            self._paused_since = None
        target = max(
            [seconds_to_samples(now - self.t0, self.sample_rate), self._drained]
            + [s.end_sample or 0 for s in self._streams.values()]
        )
        self._drain_to(target)
        for s in self._streams.values():
            s.mono.close()
        if self._stereo is not None:
            self._stereo.close()
        self._closed = True
        self._stopped_at = now
        self._checkpointed = self._drained
        self._write_json(now)

    # -- recording.json --------------------------------------------------------------------
    def to_json(self, now: float) -> dict[str, Any]:
        """The ``recording.json`` document as it would be written at `now`."""
        t0 = self.t0
        streams = []
        for s in self._streams.values():
            st = s.timeline.stats
            streams.append(
                {
                    "key": s.key,
                    "number": s.number,
                    "channel": s.channel,
                    "dn": s.dn,
                    "other_dn": s.other_dn,
                    "call_id": s.call_id,
                    "codec": s.codec,
                    "clock_rate": s.clock_rate,
                    "files": list(s.mono.files),
                    "added_at": _rel(s.added_at, t0),
                    "first_packet": _rel(st.first_arrival, t0),
                    "last_packet": _rel(st.last_arrival, t0),
                    "packets_written": st.packets_placed,
                    "duplicates": st.duplicates,
                    "dropped_late": st.dropped_late,
                    "after_end": s.after_end,
                    "re_anchors": st.re_anchors,
                    "silenced_samples": st.silenced_samples,
                    "samples_written": s.mono.frames,
                    "pauses": [{"start": _rel(a, t0), "end": _rel(b, t0)} for a, b in s.pauses],
                    "ended_at": _rel(s.ended_at, t0),
                    "end_reason": s.end_reason,
                    "rtp_stats": s.rtp_stats,
                }
            )
        call_ids = list(dict.fromkeys(s.call_id for s in self._streams.values() if s.call_id is not None))
        return {
            "schema_version": SCHEMA_VERSION,
            "calluuid": self.calluuid,
            "record_id": self.record_id,
            "version": self.version,
            "dn": self._dn,
            "record_dn": self._record_dn,
            "call_ids": call_ids,
            "t0": t0,
            "sample_rate": self.sample_rate,
            "start": 0.0,
            "stop": _rel(self._stopped_at, t0),
            "pauses": [{"start": _rel(a, t0), "end": _rel(b, t0)} for a, b in self._pauses],
            "stereo_files": [] if self._stereo is None else list(self._stereo.files),
            "channels": [
                {"index": s.channel, "stream": s.key, "dn": s.dn}
                for s in self._streams.values()
                if s.channel is not None
            ],
            "streams": streams,
            "attached_data": self._attached,
            "tlib": {
                section: [_tlib_entry(entry, t0) for entry in entries] for section, entries in self._tlib.items()
            },
            "samples_checkpointed": self._checkpointed,
            "updated_at": _rel(now, t0),
            "complete": self._closed,
        }

    def _write_json(self, now: float) -> None:
        data = json.dumps(self.to_json(now), indent=2, allow_nan=False).encode("utf-8") + b"\n"
        tmp = self._file_path(_JSON_TMP)
        # O_NOFOLLOW: never write through a symlink someone planted in the directory.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self._fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        # rename(2) is atomic: readers see the old or the new document, never a mix.
        os.replace(tmp, self._file_path(JSON_NAME))
        if self._fsync:
            _fsync_dir(self.directory)


# ---------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------
class RecordingStore:
    """All recordings under one root directory.

    `open_recording` is idempotent per ``(calluuid, record_id)`` while that recording is
    open: the second recording session of a call (two-session mode) gets the same
    `CallRecording` and adds its own streams. A *new* directory version is created when:

    * the previous recording with those identifiers was closed (e.g. the call's sessions
      ended and a repeated INVITE arrives after a Media Server failover), or
    * a directory for them already exists on disk (left by an earlier process, e.g. after
      a crash and restart), or
    * the caller asks for it with ``new_version=True`` while the old one is still open.

    Versions are ``<record_id>``, ``<record_id>--v2``, ``<record_id>--v3``, ... (see
    `recording_dir`); existing recording files are never reopened, appended to or
    overwritten. The JSON carries ``"version"``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        sample_rate: int = 8000,
        jitter_window: float = 0.06,
        checkpoint_interval: float = 1.0,
        fsync: bool = True,
        max_wav_data_bytes: int = MAX_RIFF_DATA_BYTES,
    ) -> None:
        Path(root).mkdir(parents=True, exist_ok=True)
        self.root = Path(root).resolve()
        self._options: dict[str, Any] = {
            "sample_rate": sample_rate,
            "jitter_window": jitter_window,
            "checkpoint_interval": checkpoint_interval,
            "fsync": fsync,
            "max_wav_data_bytes": max_wav_data_bytes,
        }
        self._fsync = fsync
        self._current: dict[tuple[str, str], CallRecording] = {}
        self._open: list[CallRecording] = []
        self._notes: OrderedDict[str, _CallNotes] = OrderedDict()
        self._ended: OrderedDict[str, None] = OrderedDict()
        # Called with each *new* recording (not when a second session joins an open one), e.g.
        # so the T-Lib client can query the call's data (seed step 8).
        self.on_open: Callable[[CallRecording, float], None] | None = None

    def open_recording(
        self,
        calluuid: str,
        record_id: str,
        now: float,
        *,
        dn: str | None = None,
        record_dn: str | None = None,
        new_version: bool = False,
    ) -> CallRecording:
        """The open recording for these identifiers, or a new one (t0 = `now`).

        `dn` / `record_dn` (from the recording URI) are stored when given and not yet known.
        """
        ident = (calluuid, record_id)
        current = self._current.get(ident)
        if current is not None and not current.closed and not new_version:
            current.set_identity(dn=dn, record_dn=record_dn)
            return current
        call_dir = recording_dir(self.root, calluuid, record_id).parent
        call_dir.mkdir(exist_ok=True)
        for version in range(1, 100_000):
            path = recording_dir(self.root, calluuid, record_id, version=version)
            try:
                path.mkdir()  # exclusive: an existing directory (or symlink) is never reused
            except FileExistsError:
                continue
            break
        else:  # pragma: no cover - 100k versions of one recording
            raise RecordingStorageError(f"no free directory version for {calluuid!r}/{record_id!r}")
        # Re-check after creation (a symlink swapped in between would show up here).
        _verify_inside(self.root, path)
        if self._fsync:
            _fsync_dir(call_dir)
        rec = CallRecording(path, calluuid, record_id, now, version=version, **self._options)
        rec.set_identity(dn=dn, record_dn=record_dn)
        self._current[ident] = rec
        self._open = [r for r in self._open if not r.closed] + [rec]
        notes = self._notes.get(calluuid)
        if notes is not None:
            self._apply_notes(rec, notes, now)
        if self.on_open is not None:
            self.on_open(rec, now)
        return rec

    # -- T-Lib annotations (by CallUUID) ------------------------------------------------------
    def _recordings_of(self, calluuid: str) -> list[CallRecording]:
        return [rec for (uuid, _), rec in self._current.items() if uuid == calluuid]

    def _notes_for(self, calluuid: str) -> _CallNotes | None:
        """The call's notes (None once the call ended: its recordings are final)."""
        if calluuid in self._ended:
            return None
        notes = self._notes.get(calluuid)
        if notes is None:
            notes = self._notes[calluuid] = _CallNotes()
            while len(self._notes) > _MAX_NOTED_CALLS:
                self._notes.popitem(last=False)  # calls whose release we never heard of
        return notes

    @staticmethod
    def _apply_notes(rec: CallRecording, notes: _CallNotes, now: float) -> None:
        if notes.attached_data is not None:
            rec.set_attached_data(notes.attached_data)
        for section, entry in notes.tlib:
            rec.add_tlib_entry(section, entry)
        if notes.paused_since is not None:
            rec.pause(None, max(notes.paused_since, rec.t0))
        rec.write_now(now)

    def annotate_attached_data(self, calluuid: str, data: Mapping[str, Any], now: float) -> None:
        """The call's T-Lib UserData changed: every recording of the call shows it, including
        ones already complete (until the call ends)."""
        notes = self._notes_for(calluuid)
        if notes is None:
            return
        notes.attached_data = _json_copy(data, "attached data")
        for rec in self._recordings_of(calluuid):
            rec.set_attached_data(notes.attached_data)
            rec.write_now(now)

    def annotate_tlib(self, calluuid: str, section: str, entry: Mapping[str, Any], now: float) -> None:
        """Append a T-Lib log entry to the call's recordings (and to later ones of the call)."""
        notes = self._notes_for(calluuid)
        if notes is None:
            return
        if section not in TLIB_SECTIONS:
            raise ValueError(f"unknown T-Lib log section {section!r}")
        copied = _json_copy(entry, "T-Lib log entry")
        if len(notes.tlib) < _TLIB_MAX_ENTRIES * len(TLIB_SECTIONS):
            notes.tlib.append((section, copied))
        for rec in self._recordings_of(calluuid):
            rec.add_tlib_entry(section, copied)
            rec.write_now(now)

    def annotate_pause(self, calluuid: str, now: float) -> None:
        """SIP Server reported the call's recording paused: silence and a ``pauses`` entry on
        every stream of its open recordings, whatever the media did."""
        notes = self._notes_for(calluuid)
        if notes is None:
            return
        if notes.paused_since is None:
            notes.paused_since = now
        for rec in self._recordings_of(calluuid):
            if not rec.closed:
                rec.pause(None, now)
                rec.write_now(now)

    def annotate_resume(self, calluuid: str, now: float) -> None:
        notes = self._notes_for(calluuid)
        if notes is None:
            return
        notes.paused_since = None
        for rec in self._recordings_of(calluuid):
            if not rec.closed:
                rec.resume(None, now)
                rec.write_now(now)

    def call_ended(self, calluuid: str) -> None:
        """The call was released: forget its notes; later annotations are ignored."""
        self._notes.pop(calluuid, None)
        self._ended[calluuid] = None
        while len(self._ended) > _MAX_NOTED_CALLS:
            self._ended.popitem(last=False)

    def get(self, calluuid: str, record_id: str) -> CallRecording | None:
        """The current (latest) recording for these identifiers, open or closed."""
        return self._current.get((calluuid, record_id))

    @property
    def open_recordings(self) -> list[CallRecording]:
        return [r for r in self._open if not r.closed]

    def has_open(self) -> bool:
        """True while some recording still needs `tick`."""
        return any(not r.closed for r in self._open)

    def tick(self, now: float) -> None:
        """`CallRecording.tick` on every open recording."""
        for rec in self.open_recordings:
            rec.tick(now)

    def close_all(self, now: float) -> None:
        """Close every open recording (shutdown)."""
        for rec in self.open_recordings:
            rec.close(now)
        self._open = []
