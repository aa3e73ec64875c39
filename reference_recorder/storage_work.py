"""The disk work the sans-IO recorder core asks for, as plain data (issue 15: the core does no I/O).

The core decides (which recording a session joins, its directory names, what to write when);
the adapter hands each item, in the order the core produced them, to
`reference_recorder.storage.RecordingStore.run` on its storage thread and reports the outcome
of the items the core waits for (`RecorderCore.storage_done`). Nothing here touches the disk.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "QueuedAudio",
    "RecordingRef",
    "StorageAddStream",
    "StorageAnnotate",
    "StorageClose",
    "StorageEndStream",
    "StorageOpen",
    "StoragePause",
    "StorageResume",
    "StorageTick",
    "StorageWork",
]

# (stream key, RTP timestamp, decoded samples, arrival time, SSRC): queued by the event loop,
# placed by the storage thread (deque append / popleft are atomic, so neither waits for the
# other). The SSRC tells the timeline a new source started (RFC 3550 §8.2: new counters).
QueuedAudio = tuple[str, int, npt.NDArray[np.int16], float, int | None]


@dataclass(eq=False, slots=True)
class RecordingRef:
    """The core's handle on one recording (one CallUUID + record id, one directory version).

    `names` are the directory components, already sanitised by the core (`names.safe_component`);
    the store picks the version suffix when it creates the directory. `audio` is the packet
    queue the store's `CallRecording` drains, so RTP can be queued before the storage thread
    has even opened the files. Compared by identity: two refs are two recordings.
    """

    id: int
    calluuid: str
    record_id: str
    names: tuple[str, str]
    audio: deque[QueuedAudio] = field(default_factory=deque)
    stream_keys: list[str] = field(default_factory=list)
    closing: bool = False  # StorageClose handed out: never joined again
    opened_at: float = 0.0  # the StorageOpen's `now`: the recording's t0
    # GVP-HA: outages between a stream of a DN and the next session's stream of that DN (a
    # Media Server failover), as written to recording.json's `gaps` (times from t0).
    gaps: list[dict[str, Any]] = field(default_factory=list)
    # Per DN: when the audio of its latest stream ended (wall clock) and that stream's Call-ID.
    audio_end: dict[str, tuple[float, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StorageOpen:
    """Create the recording's directory, WAV-less, and its first ``recording.json``."""

    recording: RecordingRef
    now: float
    dn: str | None
    record_dn: str | None


@dataclass(frozen=True, slots=True)
class StorageAddStream:
    """Create one stream's mono WAV (and the stereo file with the first stream)."""

    recording: RecordingRef
    key: str
    dn: str
    codec: str
    clock_rate: int
    call_id: str
    now: float


@dataclass(frozen=True, slots=True)
class StoragePause:
    recording: RecordingRef
    key: str
    now: float


@dataclass(frozen=True, slots=True)
class StorageResume:
    recording: RecordingRef
    key: str
    now: float


@dataclass(frozen=True, slots=True)
class StorageEndStream:
    """The stream's session ended: store its final statistics and end time."""

    recording: RecordingRef
    key: str
    stats: dict[str, Any]
    ended_at: float
    reason: str


@dataclass(frozen=True, slots=True)
class StorageTick:
    """Store these stream statistics, write out the audio that is due and checkpoint if due."""

    now: float
    next_tick_in: float
    stats: tuple[tuple[RecordingRef, str, dict[str, Any]], ...] = ()


@dataclass(frozen=True, slots=True)
class StorageClose:
    """The recording's last session ended: write out what is left, finalise the files."""

    recording: RecordingRef
    now: float


@dataclass(frozen=True, slots=True)
class StorageAnnotate:
    """Set one extra section of ``recording.json`` (the SIPREC participant map) and rewrite it."""

    recording: RecordingRef
    section: str
    data: dict[str, Any] | list[dict[str, Any]]
    now: float


StorageWork = (StorageOpen | StorageAddStream | StoragePause | StorageResume | StorageEndStream
               | StorageTick | StorageClose | StorageAnnotate)
