"""One recording (one CallUUID + record id): its streams, WAV files and ``recording.json``.

Layout (see `reference_recorder.storage`)::

    <root>/<calluuid>/<record_id>/
        stream-1-<dn>.wav     mono PCM16, one per stream, sample 0 = the recording's t0
        stream-2-<dn>.wav
        call-stereo.wav       channel 0 = first stream added, channel 1 = second
        recording.json        identifiers, DNs, channel map, per-stream stats, pauses

Checkpointing (crash safety): at most every ``checkpoint_interval`` of caller time the WAV
headers are patched to cover everything received so far -- including the audio still held
back by the jitter window, written as a provisional tail that the next drain overwrites in
place -- and ``recording.json`` is rewritten atomically. So a SIGKILL loses at most the audio
received since the last checkpoint: one checkpoint interval.

Pause handling: a paused interval is written as silence even when audio keeps arriving
(GIR pads paused periods with silence; the PCI DSS expectation "no audio sent while paused
may be found in the recording").

Thread model: the event loop queues packets (`queue_audio`, lock-free) and calls the other
methods under `lock`; the storage worker of the adapter runs `tick` (drain, write, fsync)
under the same lock. Sans-clock: times are passed in as ``now`` (epoch seconds).
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from reference_recorder.storage.metadata import (
    SCHEMA_VERSION,
    TLIB_SECTIONS,
    json_copy,
    rel,
    tlib_entry,
    write_json_atomic,
)
from reference_recorder.storage.paths import safe_component, verify_inside
from reference_recorder.storage.wav import RollingWav
from reference_recorder.timeline import Placement, StreamTimeline, seconds_to_samples
from reference_recorder.wavfile import MAX_RIFF_DATA_BYTES

__all__ = ["STEREO_NAME", "CallRecording"]

STEREO_NAME: Final = "call-stereo.wav"


# recording.json keys `set_section` may not replace.
_RESERVED_SECTIONS = frozenset({
    "schema_version", "calluuid", "record_id", "version", "dn", "record_dn", "call_ids", "t0", "sample_rate",
    "start", "stop", "pauses", "stereo_files", "channels", "streams", "attached_data", "tlib",
    "samples_checkpointed", "updated_at", "complete"})

def _locked(method: Callable[P, R]) -> Callable[P, R]:
    """Run `method` under the recording's lock, after placing the packets queued so far."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        assert isinstance(self, CallRecording)
        with self.lock:
            self._place_queued()
            result: R = method(*args, **kwargs)
            return result

    return wrapper
P = ParamSpec("P")
R = TypeVar("R")
_DRAIN_CHUNK: Final = 8000 * 30  # bound memory when a long stretch is drained at once
_TLIB_MAX_ENTRIES: Final = 1000  # per section: a runaway T-Server must not grow files forever


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
    mono: RollingWav
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
        lock: threading.RLock | None = None,
        queue: deque[tuple[str, int, npt.NDArray[np.int16], float, int | None]] | None = None,
    ) -> None:
        # Held by every method that reads or changes the recording's state, so the adapter's
        # storage worker can `tick` while the event loop handles SIP (see module docstring).
        self.lock = lock if lock is not None else threading.RLock()
        # Packets queued by the event loop (`queue_audio`), placed at the next locked call:
        # deque append/popleft are atomic, so the RTP hot path never waits for a checkpoint.
        # The core's RecordingRef lends its own queue, so packets can be queued before the
        # storage thread has opened the recording.
        self._queued: deque[tuple[str, int, npt.NDArray[np.int16], float, int | None]] = (
            queue if queue is not None else deque())
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
        self._stereo: RollingWav | None = None
        self._drained = 0  # samples written to every file so far
        self._last_checkpoint = t0
        self._paused_since: float | None = None
        self._pauses: list[list[float | None]] = []
        self._record_dn: str | None = None
        self._dn: str | None = None
        self._attached: dict[str, Any] = {}
        self._sections: dict[str, Any] = {}  # extra top-level sections (`siprec`)
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

    @_locked
    def set_identity(self, *, dn: str | None = None, record_dn: str | None = None) -> None:
        """Recording-level DNs from the recording URI; ``None`` leaves a value unchanged.

        `dn` is the recorded party's DN, `record_dn` the DN on whose behalf it is recorded.
        """
        if dn is not None:
            self._dn = dn
        if record_dn is not None:
            self._record_dn = record_dn

    @_locked
    def set_attached_data(self, data: Mapping[str, Any]) -> None:
        """Replace the attached (user) data fetched over T-Lib; must be JSON-serialisable."""
        self._attached = json_copy(data, "attached data")

    @_locked
    def set_section(self, section: str, data: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
        """Set an extra top-level section of recording.json (the SIPREC participant map; the
        failover `gaps`, a list)."""
        if section in _RESERVED_SECTIONS:
            raise ValueError(f"{section} is a built-in recording.json key")
        self._sections[section] = (json_copy(data, section) if isinstance(data, Mapping)
                                   else [json_copy(entry, section) for entry in data])

    @_locked
    def add_tlib_entry(self, section: str, entry: Mapping[str, Any]) -> None:
        """Append to the ``tlib`` log; ``entry["t"]`` (if any) is absolute, like every ``now``."""
        if section not in self._tlib:
            raise ValueError(f"unknown T-Lib log section {section!r} (known: {', '.join(TLIB_SECTIONS)})")
        entries = self._tlib[section]
        if len(entries) < _TLIB_MAX_ENTRIES:
            entries.append(json_copy(entry, "T-Lib log entry"))

    @_locked
    def write_now(self, now: float) -> None:
        """Rewrite ``recording.json`` at once (atomically), e.g. after a T-Lib annotation.

        Also after `close`: attached data may change after the recording completed but
        before the call ends (contract of the T-Lib client).
        """
        self._write_json(now)

    @_locked
    def set_stats(self, key: str, stats: Mapping[str, Any]) -> None:
        """Replace a stream's RTP statistics (stored as given; JSON-serialisable, no NaN)."""
        self._stream(key).rtp_stats = json_copy(stats, "stream stats")

    def _stream(self, key: str) -> _Stream:
        try:
            return self._streams[key]
        except KeyError:
            raise KeyError(f"unknown stream {key!r}") from None

    def _file_path(self, name: str) -> Path:
        path = self.directory / name
        verify_inside(self.directory, path)
        return path

    # -- streams ---------------------------------------------------------------------------
    @_locked
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
        mono = RollingWav(self.directory, stem, 1, self.sample_rate, self._fsync, self._max_wav)
        timeline = StreamTimeline(self.t0, sample_rate=self.sample_rate, start_sample=self._drained)
        self._write_silence(mono, self._drained, 1)
        added_at = self.t0 if now is None else now
        stream = _Stream(
            key, number, dn, other_dn, call_id, codec, clock_rate, channel, timeline, mono, added_at
        )
        self._streams[key] = stream
        if self._stereo is None:
            self._file_path(STEREO_NAME)
            self._stereo = RollingWav(
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
    def _write_silence(wav: RollingWav, frames: int, channels: int) -> None:
        done = 0
        while done < frames:
            n = min(_DRAIN_CHUNK, frames - done)
            wav.write(np.zeros((n,) if channels == 1 else (n, channels), dtype=np.int16))
            done += n

    def queue_audio(self, key: str, rtp_timestamp: int, pcm: npt.NDArray[np.int16], arrival_time: float,
                    ssrc: int | None = None) -> None:
        """`add_audio` later (at the next tick or other locked call); never blocks."""
        self._queued.append((key, rtp_timestamp, pcm, arrival_time, ssrc))

    def _place_queued(self) -> None:
        while self._queued:
            key, ts, pcm, arrival, ssrc = self._queued.popleft()
            if key in self._streams:
                self._add_audio(key, ts, pcm, arrival, ssrc=ssrc)

    @_locked
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
        return self._add_audio(key, rtp_timestamp, pcm, arrival_time, ssrc=ssrc)

    def _add_audio(self, key: str, rtp_timestamp: int, pcm: npt.NDArray[np.int16], arrival_time: float,
                   *, ssrc: int | None = None) -> Placement:
        stream = self._stream(key)
        if stream.ended_at is not None or self._closed:
            # Stray packets after BYE are not recorded (the session is over).
            stream.after_end += 1
            return Placement.DISCARDED
        return stream.timeline.add(rtp_timestamp, pcm, arrival_time, ssrc=ssrc)

    @_locked
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

    @_locked
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

    @_locked
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

    @_locked
    def tick(self, now: float, next_tick_in: float = 0.0) -> bool:
        """Write out audio up to ``now - jitter_window``; checkpoint if due. True if it did.

        A checkpoint is due when waiting for the next tick (`next_tick_in` from now) would
        leave more than ``checkpoint_interval`` between two checkpoints: that interval is
        then the most received audio a crash can lose.
        """
        if self._closed:
            return False
        self._drain_to(seconds_to_samples(now - self.jitter_window - self.t0, self.sample_rate))
        if now + next_tick_in - self._last_checkpoint >= self.checkpoint_interval - 1e-9:
            self._checkpoint(now)
            return True
        return False

    @property
    def checkpointed_samples(self) -> int:
        """Samples per file a reader is guaranteed to find (as of the last checkpoint)."""
        return self._checkpointed

    def _checkpoint(self, now: float) -> None:
        # Audio already received but still inside the jitter window goes into the files as a
        # provisional tail (the next drain overwrites it in place): a crash then loses only
        # what arrives after this checkpoint, not the jitter window on top of it.
        target = max([self._drained, *(s.timeline.placed_end for s in self._streams.values())])
        target = min(target, max(self._drained, seconds_to_samples(now - self.t0, self.sample_rate)))
        n = target - self._drained
        stereo = np.zeros((n, 2), dtype=np.int16)
        for s in self._streams.values():
            tail = s.timeline.peek(target)
            if s.channel is not None:
                stereo[:, s.channel] = tail
            keep = n if s.end_sample is None else max(0, min(n, s.end_sample - self._drained))
            s.mono.checkpoint(tail[:keep])
        if self._stereo is not None:
            self._stereo.checkpoint(stereo)
        self._checkpointed = target  # the WAV headers now cover this much
        self._write_json(now)
        self._last_checkpoint = now

    @_locked
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
    @_locked
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
                    "added_at": rel(s.added_at, t0),
                    "first_packet": rel(st.first_arrival, t0),
                    "last_packet": rel(st.last_arrival, t0),
                    "packets_written": st.packets_placed,
                    "duplicates": st.duplicates,
                    "dropped_late": st.dropped_late,
                    "after_end": s.after_end,
                    "re_anchors": st.re_anchors,
                    "realigned_earlier": st.realigned_earlier,
                    "silenced_samples": st.silenced_samples,
                    "samples_written": s.mono.frames,
                    "pauses": [{"start": rel(a, t0), "end": rel(b, t0)} for a, b in s.pauses],
                    "ended_at": rel(s.ended_at, t0),
                    "end_reason": s.end_reason,
                    "rtp_stats": s.rtp_stats,
                }
            )
        call_ids = list(dict.fromkeys(s.call_id for s in self._streams.values() if s.call_id is not None))
        document: dict[str, Any] = {
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
            "stop": rel(self._stopped_at, t0),
            "pauses": [{"start": rel(a, t0), "end": rel(b, t0)} for a, b in self._pauses],
            "stereo_files": [] if self._stereo is None else list(self._stereo.files),
            "channels": [
                {"index": s.channel, "stream": s.key, "dn": s.dn}
                for s in self._streams.values()
                if s.channel is not None
            ],
            "streams": streams,
            "attached_data": self._attached,
            "tlib": {
                section: [tlib_entry(entry, t0) for entry in entries] for section, entries in self._tlib.items()
            },
            "samples_checkpointed": self._checkpointed,
            "updated_at": rel(now, t0),
            "complete": self._closed,
        }
        document.update(self._sections)
        return document

    def _write_json(self, now: float) -> None:
        write_json_atomic(self.directory, self.to_json(now), fsync=self._fsync)
