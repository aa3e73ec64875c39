"""T-Lib annotations land in recording.json (real files in tmp_path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from reference_recorder.storage import CallRecording, RecordingStore

T0 = 1_700_000_000.0
UUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"


def doc(rec: CallRecording) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((rec.directory / "recording.json").read_text())
    return data


def store(tmp_path: Path) -> RecordingStore:
    return RecordingStore(tmp_path / "rec", fsync=False, jitter_window=0.0)


def test_notes_made_before_the_recording_opens_are_applied_when_it_opens(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.annotate_attached_data(UUID, {"Segment": "gold"}, T0 - 1)
    s.annotate_tlib(UUID, "requests", {"t": T0 - 0.5, "op": "start", "conn_id": "C1", "answer": "EventACK"}, T0)
    opened: list[str] = []
    s.on_open = lambda rec, _now: opened.append(rec.calluuid)
    rec = s.open_recording(UUID, "rec-1", T0)
    assert opened == [UUID]
    d = doc(rec)
    assert d["attached_data"] == {"Segment": "gold"}
    assert d["tlib"]["requests"] == [{"t": -0.5, "op": "start", "conn_id": "C1", "answer": "EventACK"}]
    assert d["tlib"]["errors"] == [] and d["tlib"]["events"] == []
    # a second session of the same call joins the open recording: no second on_open
    s.open_recording(UUID, "rec-1", T0 + 0.1)
    assert opened == [UUID]


def test_updates_while_open_and_after_complete_until_the_call_ends(tmp_path: Path) -> None:
    s = store(tmp_path)
    rec = s.open_recording(UUID, "rec-1", T0)
    s.annotate_attached_data(UUID, {"A": 1}, T0 + 1)
    assert doc(rec)["attached_data"] == {"A": 1}  # written at once, not at the next checkpoint
    s.annotate_attached_data(UUID, {"A": 2, "B": "x"}, T0 + 2)
    assert doc(rec)["attached_data"] == {"A": 2, "B": "x"}
    rec.close(T0 + 3)
    s.annotate_attached_data(UUID, {"A": 3}, T0 + 4)  # after completion, before the call ends
    s.annotate_tlib(UUID, "errors", {"t": T0 + 4, "op": "pause", "code": 203}, T0 + 4)
    d = doc(rec)
    assert d["complete"] is True and d["attached_data"] == {"A": 3}
    assert d["tlib"]["errors"] == [{"t": 4.0, "op": "pause", "code": 203}]
    s.call_ended(UUID)
    s.annotate_attached_data(UUID, {"A": 4}, T0 + 5)  # too late: the call is over
    assert doc(rec)["attached_data"] == {"A": 3}
    assert not (rec.directory / ".recording.json.tmp").exists()  # atomic rewrite left no temp file


def test_pause_from_tlib_goes_into_every_stream_and_silences_audio(tmp_path: Path) -> None:
    s = store(tmp_path)
    rec = s.open_recording(UUID, "rec-1", T0)
    rec.add_stream("a", dn="1001", codec="PCMU", now=T0)
    rec.add_stream("b", dn="7001", codec="PCMU", now=T0)
    tone = np.full(160, 1000, dtype=np.int16)
    for i in range(100):  # 2 s of audio on both streams, paused from 0.5 s to 1.0 s
        for key in ("a", "b"):
            rec.add_audio(key, i * 160, tone, T0 + i * 0.02)
        if i == 25:
            s.annotate_pause(UUID, T0 + 0.5)
            s.annotate_tlib(UUID, "events", {"t": T0 + 0.5, "event": "EventPrivateInfo", "state": "paused"}, T0 + 0.5)
        if i == 50:
            s.annotate_resume(UUID, T0 + 1.0)
    rec.close(T0 + 2.0)
    d = doc(rec)
    assert [st["pauses"] for st in d["streams"]] == [[{"start": 0.5, "end": 1.0}]] * 2
    assert d["pauses"] == [{"start": 0.5, "end": 1.0}]
    assert d["tlib"]["events"] == [{"t": 0.5, "event": "EventPrivateInfo", "state": "paused"}]
    pcm = np.frombuffer((rec.directory / "stream-1-1001.wav").read_bytes()[44:], dtype="<i2")
    assert len(pcm) == 16000  # wall-clock length kept: no samples dropped
    assert not pcm[4000:8000].any()  # 0.5 s .. 1.0 s silent
    assert (pcm[8000:16000] == 1000).all() and (pcm[1000:4000] == 1000).all()


def test_a_recording_opening_during_a_tlib_pause_starts_paused(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.annotate_pause(UUID, T0 - 1)
    rec = s.open_recording(UUID, "rec-1", T0)
    rec.add_stream("a", dn="1001", codec="PCMU", now=T0)
    s.annotate_resume(UUID, T0 + 1)
    rec.close(T0 + 2)
    assert doc(rec)["streams"][0]["pauses"] == [{"start": 0.0, "end": 1.0}]


def test_sip_only_recordings_carry_an_empty_tlib_log(tmp_path: Path) -> None:
    rec = store(tmp_path).open_recording(UUID, "rec-1", T0)
    assert doc(rec)["tlib"] == {"requests": [], "errors": [], "events": []}
    assert doc(rec)["attached_data"] == {}
