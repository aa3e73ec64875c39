"""SIPREC recording evidence: the SRS's participant <-> stream map and what each labelled
stream's file holds, for `harness.checks.siprec.metadata_kept` / `participant_audio`.

Reference layout (docs/architecture.md §4): ``recording.json`` has a ``siprec`` section
(``participants[].aors`` / ``sends`` = labels, ``streams[].label``), and each labelled stream is
an ordinary mono stream whose DN is its label (``stream-<n>-<label>.wav``). A third-party SRS
described by a profile names its own map file (`participant_map`), in the format of
docs/recorder-profiles.md: ``{"streams": [{"label": L, "participants": [AOR, ...], "file": PATH}]}``
(PATH relative to the JSON file; a missing or unreadable map is no mapping).

The time-code (`harness.media.timecode`) proves whose audio a file holds: the SRC emulation
sends stream number *s* for the participant it associates with label *L*.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from harness.checks.siprec import metadata_kept, participant_audio
from harness.protocol.siprec.metadata import RecordingMetadata
from harness.spec.findings import Finding
from harness.validators.recording import timecode_streams

__all__ = ["decoded_identities", "expected_mapping", "judge_participant_map", "judge_siprec_recording",
           "kept_mapping", "label_files", "read_participant_map", "stream_identity"]


def stream_identity(stream: int) -> str:
    return f"time-code stream {stream}"


def expected_mapping(meta: RecordingMetadata) -> dict[str, frozenset[str]]:
    """label -> AORs of the participants the SRC says send in it (after its updates)."""
    out: dict[str, frozenset[str]] = {}
    for label, senders in meta.label_senders().items():
        aors: set[str] = set()
        for pid in senders:
            participant = meta.participant(pid)
            aors.update(participant.aors if participant is not None else (pid,))
        out[label] = frozenset(aors)
    return out


def kept_mapping(document: Mapping[str, object]) -> dict[str, frozenset[str]] | None:
    """The map the reference layout keeps (recording.json `siprec`); None when it keeps none."""
    section = document.get("siprec")
    if not isinstance(section, dict) or not section.get("metadata_received"):
        return None
    out: dict[str, set[str]] = {}
    for stream in section.get("streams", ()):
        if isinstance(stream, dict) and isinstance(stream.get("label"), str):
            out.setdefault(stream["label"], set())
    for participant in section.get("participants", ()):
        if not isinstance(participant, dict):
            continue
        for label in participant.get("sends", ()):
            if isinstance(label, str):
                out.setdefault(label, set()).update(str(a) for a in participant.get("aors", ()))
    return {label: frozenset(aors) for label, aors in out.items()}


def label_files(directory: Path, document: Mapping[str, object]) -> dict[str, Path]:
    """label -> the mono file of that labelled stream (its DN is the label)."""
    out: dict[str, Path] = {}
    for stream in document.get("streams", ()):  # type: ignore[attr-defined]
        if isinstance(stream, dict) and stream.get("files"):
            out[str(stream.get("dn"))] = directory / str(stream["files"][0])
    return out


def decoded_identities(files: Mapping[str, Path]) -> dict[str, list[str]]:
    """label -> the time-code streams found in its file (empty: unreadable or no time-code)."""
    return {label: [stream_identity(s) for s in timecode_streams(path)] for label, path in files.items()}


def judge_siprec_recording(directory: Path, sent: RecordingMetadata, stream_of_aor: Mapping[str, int], *,
                           calluuid: str | None = None) -> list[Finding]:
    """SRS-METADATA-KEPT and SRS-PARTICIPANT-AUDIO for one reference-layout recording directory.

    `sent`: the metadata model the SRC ended the session with; `stream_of_aor`: the time-code
    stream each participant's audio carried. Participant audio is judged per label: the file the
    SRS keeps for a label must hold the audio of the participant the SRC's metadata associates
    with that label. So swapped files fail SRS-PARTICIPANT-AUDIO even when the map is right, and
    a wrong map over the right files fails SRS-METADATA-KEPT only."""
    path = directory / "recording.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        document = {}
    return _judge(kept_mapping(document), label_files(directory, document), sent, stream_of_aor, calluuid, str(path))


def read_participant_map(path: Path) -> tuple[dict[str, frozenset[str]], dict[str, Path]] | None:
    """A profile's participant map file: (label -> AORs, label -> file); None when unusable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        kept: dict[str, frozenset[str]] = {}
        files: dict[str, Path] = {}
        for entry in document["streams"]:
            label = str(entry["label"])
            kept[label] = frozenset(str(a) for a in entry.get("participants", ()))
            if entry.get("file"):
                files[label] = path.parent / str(entry["file"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return kept, files


def _judge(kept: dict[str, frozenset[str]] | None, files: Mapping[str, Path], sent: RecordingMetadata,
           stream_of_aor: Mapping[str, int], calluuid: str | None, where: str) -> list[Finding]:
    truth = expected_mapping(sent)
    findings = metadata_kept(truth, kept, calluuid=calluuid, where=where)
    if kept is None:
        return findings
    expected: dict[str, str] = {}
    for label, aors in truth.items():
        streams = {stream_of_aor[a] for a in aors if a in stream_of_aor}
        if len(streams) == 1:
            expected[label] = stream_identity(streams.pop())
    return findings + participant_audio(expected, decoded_identities(files), calluuid=calluuid)


def judge_participant_map(path: Path, sent: RecordingMetadata, stream_of_aor: Mapping[str, int], *,
                          calluuid: str | None = None) -> list[Finding]:
    """SRS-METADATA-KEPT / SRS-PARTICIPANT-AUDIO for a profile's own map file."""
    read = read_participant_map(path)
    kept, files = (None, {}) if read is None else read
    return _judge(kept, files, sent, stream_of_aor, calluuid, str(path))
