"""All recordings under one root directory, and the T-Lib notes of each call (by CallUUID)."""

from __future__ import annotations

import os
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from reference_recorder.storage.metadata import TLIB_SECTIONS, json_copy
from reference_recorder.storage.paths import (
    RecordingStorageError,
    fsync_dir,
    recording_dir,
    verify_inside,
    versioned_dir,
)
from reference_recorder.storage.recording import CallRecording
from reference_recorder.storage_work import (
    QueuedAudio,
    RecordingRef,
    StorageAddStream,
    StorageAnnotate,
    StorageClose,
    StorageOpen,
    StoragePause,
    StorageResume,
    StorageTick,
    StorageWork,
)
from reference_recorder.wavfile import MAX_RIFF_DATA_BYTES

__all__ = ["RecordingStore", "StorageClose", "StorageTick", "StorageWork"]  # work types: storage_work



_TLIB_MAX_ENTRIES: Final = 1000  # per section: a runaway T-Server must not grow files forever
_MAX_NOTED_CALLS: Final = 10_000  # calls whose T-Lib notes are kept while no recording is open


@dataclass(slots=True)
class _CallNotes:
    """What T-Lib said about one call (by CallUUID), kept until the call ends so a recording
    that opens later still gets it (the start request precedes the recording session)."""

    attached_data: dict[str, Any] | None = None
    tlib: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    paused_since: float | None = None



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
        self._by_ref: dict[int, CallRecording] = {}  # RecordingRef.id -> its open recording
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
        names: tuple[str, str] | None = None,
        queue: deque[QueuedAudio] | None = None,
    ) -> CallRecording:
        """The open recording for these identifiers, or a new one (t0 = `now`).

        `dn` / `record_dn` (from the recording URI) are stored when given and not yet known.
        `names` are the directory components when the caller already sanitised them (the
        recorder core does); `queue` is the packet queue the recording drains.
        """
        ident = (calluuid, record_id)
        current = self._current.get(ident)
        if current is not None and not current.closed and not new_version:
            current.set_identity(dn=dn, record_dn=record_dn)
            return current
        def directory(version: int) -> Path:
            if names is not None:
                return versioned_dir(self.root, names, version=version)
            return recording_dir(self.root, calluuid, record_id, version=version)

        call_dir = directory(1).parent
        call_dir.mkdir(exist_ok=True)
        for version in range(1, 100_000):
            path = directory(version)
            try:
                path.mkdir()  # exclusive: an existing directory (or symlink) is never reused
            except FileExistsError:
                continue
            break
        else:  # pragma: no cover - 100k versions of one recording
            raise RecordingStorageError(f"no free directory version for {calluuid!r}/{record_id!r}")
        # Re-check after creation (a symlink swapped in between would show up here).
        verify_inside(self.root, path)
        if self._fsync:
            fsync_dir(call_dir)
        rec = CallRecording(path, calluuid, record_id, now, version=version, queue=queue, **self._options)
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
        # list() first: the storage thread may add a recording while the event loop annotates.
        return [rec for (uuid, _), rec in list(self._current.items()) if uuid == calluuid]

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
        notes.attached_data = json_copy(data, "attached data")
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
        copied = json_copy(entry, "T-Lib log entry")
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

    def tick(self, now: float, next_tick_in: float = 0.0) -> None:
        """`CallRecording.tick` on every open recording."""
        for rec in self.open_recordings:
            rec.tick(now, next_tick_in)

    def run(self, work: StorageWork) -> None:
        """Carry out what the recorder core asked for, in the order it asked.

        The adapter calls this from its storage worker thread; every recording method takes
        the recording's lock, so the event loop keeps serving SIP and RTP meanwhile. Raises
        (OSError, RecordingStorageError, ValueError, KeyError) when the work cannot be done,
        e.g. the disk is full or the recording's directory could not be created: the adapter
        reports that to the core, which answers the INVITE waiting for it.
        """
        if isinstance(work, StorageTick):
            for ref, key, stats in work.stats:
                rec = self._by_ref.get(ref.id)
                if rec is not None and key in rec.stream_keys:
                    rec.set_stats(key, stats)
            self.tick(work.now, work.next_tick_in)
        elif isinstance(work, StorageOpen):
            ref = work.recording
            self._by_ref[ref.id] = self.open_recording(
                ref.calluuid, ref.record_id, work.now, dn=work.dn, record_dn=work.record_dn,
                new_version=True, names=ref.names, queue=ref.audio)
        elif isinstance(work, StorageClose):
            rec = self._by_ref.pop(work.recording.id, None)
            if rec is not None:
                rec.close(work.now)
        elif isinstance(work, StorageAnnotate):
            annotated = self._by_ref.get(work.recording.id)
            if annotated is not None:
                annotated.set_section(work.section, work.data)
                annotated.write_now(work.now)
        elif isinstance(work, StorageAddStream):
            self._recording(work.recording).add_stream(
                work.key, dn=work.dn, codec=work.codec, clock_rate=work.clock_rate, call_id=work.call_id,
                now=work.now)
        else:
            # Pause, resume, end of a stream: nothing to do for a stream whose files were never
            # created (its INVITE was answered 500, and the core ended its session).
            rec = self._by_ref.get(work.recording.id)
            if rec is None or work.key not in rec.stream_keys:
                return
            if isinstance(work, StoragePause):
                rec.pause(work.key, work.now)
            elif isinstance(work, StorageResume):
                rec.resume(work.key, work.now)
            else:
                rec.set_stats(work.key, work.stats)
                rec.end_stream(work.key, work.ended_at, reason=work.reason)

    def _recording(self, ref: RecordingRef) -> CallRecording:
        rec = self._by_ref.get(ref.id)
        if rec is None:
            # Its StorageOpen failed (or never ran): the core answers the INVITE with an error.
            raise RecordingStorageError(f"recording {ref.calluuid!r}/{ref.record_id!r} is not open")
        return rec

    def close_all(self, now: float) -> None:
        """Close every open recording (shutdown)."""
        for rec in self.open_recordings:
            rec.close(now)
        self._open = []
        self._by_ref.clear()
