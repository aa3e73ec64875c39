"""The reference recorder's recording store: crash-safe WAV files + ``recording.json``.

Layout::

    <root>/<calluuid>/<record_id>/
        stream-1-<dn>.wav     mono PCM16, one per stream, sample 0 = the recording's t0
        stream-2-<dn>.wav
        call-stereo.wav       channel 0 = first stream added, channel 1 = second
        recording.json        identifiers, DNs, channel map, per-stream stats, pauses

One concern per module: `paths` (sanitised, contained names), `wav` (WAV files that roll
over at the RIFF limit), `metadata` (the JSON document and its atomic write), `recording`
(one recording: streams, drain, checkpoints), `store` (all recordings, T-Lib notes).
"""

from reference_recorder.storage.metadata import JSON_NAME, SCHEMA_VERSION, TLIB_SECTIONS
from reference_recorder.storage.paths import (
    RecordingStorageError,
    UnsafePathError,
    recording_dir,
    safe_component,
)
from reference_recorder.storage.recording import STEREO_NAME, CallRecording
from reference_recorder.storage.store import RecordingStore
from reference_recorder.storage_work import (
    RecordingRef,
    StorageAddStream,
    StorageClose,
    StorageEndStream,
    StorageOpen,
    StoragePause,
    StorageResume,
    StorageTick,
    StorageWork,
)

__all__ = [
    "JSON_NAME",
    "SCHEMA_VERSION",
    "STEREO_NAME",
    "TLIB_SECTIONS",
    "CallRecording",
    "RecordingRef",
    "RecordingStorageError",
    "RecordingStore",
    "StorageAddStream",
    "StorageClose",
    "StorageEndStream",
    "StorageOpen",
    "StoragePause",
    "StorageResume",
    "StorageTick",
    "StorageWork",
    "UnsafePathError",
    "recording_dir",
    "safe_component",
]
