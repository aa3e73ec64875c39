"""CallRecording: per-stream mono WAVs, stereo WAV alignment, pauses, recording.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from reference_recorder.storage import CallRecording, RecordingStore
from reference_recorder.timeline import Placement
from reference_recorder.wavfile import read_wav

T0 = 1_700_000_000.0
PT = 160


def run_stream(
    rec: CallRecording, key: str, value: int, start: float, seconds: float, ts0: int = 5000
) -> None:
    for i in range(round(seconds / 0.02)):
        rec.add_audio(key, (ts0 + PT * i) % 2**32, np.full(PT, value, np.int16), T0 + start + 0.02 * i)


def first_nonzero(a: np.ndarray) -> int:
    return int(np.flatnonzero(a)[0])


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    return RecordingStore(tmp_path / "rec", fsync=False)


def test_two_streams_300ms_apart_are_2400_samples_apart(store: RecordingStore) -> None:
    rec = store.open_recording("CU-1", "R-1", T0, dn="7001", record_dn="7001")
    rec.add_stream("A", dn="7001", codec="PCMU", call_id="c1@x", now=T0)
    rec.add_stream("B", dn="7002", codec="PCMU", call_id="c2@x", now=T0)
    # Interleave the two streams' packets in arrival order, ticking like the recorder does.
    for i in range(100):
        t = 0.1 + 0.01 * i
        if i % 2 == 0:
            rec.add_audio("A", 111 + PT * (i // 2), np.full(PT, 1000, np.int16), T0 + t)
        elif t >= 0.4:
            j = round((t - 0.41) / 0.02)
            rec.add_audio(
                "B", (2**32 - 800 + PT * j) % 2**32, np.full(PT, -1000, np.int16), T0 + 0.4 + 0.02 * j
            )
        rec.tick(T0 + t)
    rec.close(T0 + 1.2)

    rate, ch, stereo = read_wav(rec.directory / "call-stereo.wav")
    assert (rate, ch) == (8000, 2)
    a0, b0 = first_nonzero(stereo[:, 0]), first_nonzero(stereo[:, 1])
    assert a0 == 800 and b0 == 3200 and b0 - a0 == 2400
    assert np.all(stereo[stereo[:, 0] != 0, 0] == 1000)  # channel 0 = first stream
    assert np.all(stereo[stereo[:, 1] != 0, 1] == -1000)
    _, _, mono_a = read_wav(rec.directory / "stream-1-7001.wav")
    _, _, mono_b = read_wav(rec.directory / "stream-2-7002.wav")
    assert first_nonzero(mono_a) == 800 and first_nonzero(mono_b) == 3200  # shared origin t0
    np.testing.assert_array_equal(mono_a, stereo[: len(mono_a), 0])
    np.testing.assert_array_equal(mono_b, stereo[: len(mono_b), 1])
    assert len(stereo) == round(1.2 * 8000)

    doc = json.loads((rec.directory / "recording.json").read_text())
    assert doc["complete"] is True and doc["schema_version"] == 1
    assert doc["calluuid"] == "CU-1" and doc["record_id"] == "R-1"
    assert doc["dn"] == "7001" and doc["record_dn"] == "7001"
    assert doc["call_ids"] == ["c1@x", "c2@x"]
    assert doc["channels"] == [
        {"index": 0, "stream": "A", "dn": "7001"},
        {"index": 1, "stream": "B", "dn": "7002"},
    ]
    assert doc["t0"] == T0 and doc["stop"] == pytest.approx(1.2)
    sa, sb = doc["streams"]
    assert sa["files"] == ["stream-1-7001.wav"] and sa["codec"] == "PCMU"
    assert sa["first_packet"] == pytest.approx(0.1) and sb["first_packet"] == pytest.approx(0.4)
    assert sa["packets_written"] == 50 and sb["packets_written"] == 35
    assert sa["end_reason"] == "recording closed"
    assert doc["stereo_files"] == ["call-stereo.wav"]


def test_recording_json_valid_and_incomplete_while_open(store: RecordingStore) -> None:
    rec = store.open_recording("CU", "R", T0)
    doc = json.loads((rec.directory / "recording.json").read_text())
    assert doc["complete"] is False and doc["streams"] == [] and doc["stop"] is None
    rec.add_stream("A", dn="1", codec="PCMA", now=T0)
    rec.set_attached_data({"CustomerId": "42", "nested": {"k": [1, 2]}})
    rec.set_stats("A", {"lost": 0, "max_delta": 20.1, "jitter": 0.3})
    run_stream(rec, "A", 5, 0.0, 0.5)
    assert rec.tick(T0 + 0.5) is False  # under 1 s since t0: no checkpoint yet
    assert rec.tick(T0 + 1.0) is True
    assert rec.tick(T0 + 1.5) is False  # at most once per checkpoint_interval
    doc = json.loads((rec.directory / "recording.json").read_text())
    assert doc["complete"] is False
    assert doc["attached_data"] == {"CustomerId": "42", "nested": {"k": [1, 2]}}
    assert doc["streams"][0]["rtp_stats"]["max_delta"] == 20.1
    assert doc["samples_checkpointed"] == rec.checkpointed_samples == round((1.0 - 0.06) * 8000)
    # The WAVs are readable mid-call and hold what was checkpointed.
    _, _, mono = read_wav(rec.directory / "stream-1-1.wav")
    assert len(mono) == rec.checkpointed_samples
    assert np.count_nonzero(mono) == 25 * PT
    with pytest.raises(ValueError, match="JSON"):
        rec.set_stats("A", {"jitter": math.nan})
    with pytest.raises(ValueError, match="JSON"):
        rec.set_attached_data({"x": object()})
    with pytest.raises(KeyError):
        rec.set_stats("nope", {})


def test_recording_level_pause_silences_audio_that_still_arrives(store: RecordingStore) -> None:
    rec = store.open_recording("CU", "R", T0)
    rec.add_stream("A", dn="1", codec="PCMU", now=T0)
    rec.add_stream("B", dn="2", codec="PCMU", now=T0)
    for i in range(100):  # 2 s, silence/RTP keeps flowing while paused (DOMAIN §4.6 case 2)
        t = 0.02 * i
        rec.add_audio("A", PT * i, np.full(PT, 7, np.int16), T0 + t)
        rec.add_audio("B", 9 + PT * i, np.full(PT, 9, np.int16), T0 + t)
        if i == 25:
            rec.pause(None, T0 + t)
        if i == 75:
            rec.resume(None, T0 + t)
        rec.tick(T0 + t)
    rec.close(T0 + 2.0)
    _, _, stereo = read_wav(rec.directory / "call-stereo.wav")
    assert np.all(stereo[4000:12000] == 0)  # 0.5 s .. 1.5 s
    assert np.all(stereo[:4000] != 0) and np.all(stereo[12000:16000] != 0)
    for n, dn in ((1, "1"), (2, "2")):
        _, _, mono = read_wav(rec.directory / f"stream-{n}-{dn}.wav")
        assert np.all(mono[4000:12000] == 0) and np.count_nonzero(mono) == 8000
    doc = json.loads((rec.directory / "recording.json").read_text())
    assert doc["pauses"] == [{"start": 0.5, "end": 1.5}]
    for s in doc["streams"]:
        assert s["pauses"] == [{"start": 0.5, "end": 1.5}]
        assert s["silenced_samples"] == 8000


def test_single_stream_pause_and_stream_joining_paused_recording(store: RecordingStore) -> None:
    rec = store.open_recording("CU", "R", T0)
    rec.add_stream("A", dn="1", codec="PCMU", now=T0)
    run_stream(rec, "A", 3, 0.0, 1.0)
    rec.pause("A", T0 + 0.2)
    rec.pause("A", T0 + 0.3)  # idempotent
    rec.resume("A", T0 + 0.4)
    rec.pause(None, T0 + 0.6)
    rec.add_stream("B", dn="2", codec="PCMU", now=T0 + 0.7)
    run_stream(rec, "B", 4, 0.7, 0.3)
    rec.resume(None, T0 + 0.9)
    rec.close(T0 + 1.0)
    _, _, stereo = read_wav(rec.directory / "call-stereo.wav")
    a, b = stereo[:, 0], stereo[:, 1]
    assert np.all(a[1600:3200] == 0) and np.all(a[4800:7200] == 0)
    assert np.all(a[:1600] == 3) and np.all(a[3200:4800] == 3) and np.all(a[7200:8000] == 3)
    assert np.all(b[:7200] == 0) and np.all(b[7200:8000] == 4)
    doc = json.loads((rec.directory / "recording.json").read_text())
    assert doc["streams"][0]["pauses"] == [{"start": 0.2, "end": 0.4}, {"start": 0.6, "end": 0.9}]
    assert doc["streams"][1]["pauses"] == [{"start": 0.7, "end": 0.9}]


def test_late_stream_gets_leading_silence_and_ended_stream_stops(store: RecordingStore) -> None:
    rec = store.open_recording("CU", "R", T0)
    rec.add_stream("A", dn="1", codec="PCMU", now=T0)
    run_stream(rec, "A", 1, 0.0, 2.0)
    rec.tick(T0 + 1.5)
    rec.add_stream("B", dn="2", codec="PCMU", now=T0 + 1.5)  # drain point is already 1.44 s
    run_stream(rec, "B", 2, 1.5, 0.5)
    rec.end_stream("A", T0 + 2.0, reason="bye")
    assert rec.add_audio("A", 0, np.full(PT, 1, np.int16), T0 + 2.01) is Placement.DISCARDED
    rec.tick(T0 + 3.0)
    rec.close(T0 + 3.0)
    _, _, a = read_wav(rec.directory / "stream-1-1.wav")
    _, _, b = read_wav(rec.directory / "stream-2-2.wav")
    _, _, stereo = read_wav(rec.directory / "call-stereo.wav")
    assert len(a) == 16000  # ends at its BYE
    assert len(b) == len(stereo) == 24000  # ends at close
    assert first_nonzero(b) == 12000 and np.count_nonzero(b) == 4000
    doc = json.loads((rec.directory / "recording.json").read_text())
    assert doc["streams"][0]["after_end"] == 1 and doc["streams"][0]["end_reason"] == "bye"
    assert doc["streams"][0]["ended_at"] == 2.0


def test_third_stream_has_mono_only_and_errors(store: RecordingStore) -> None:
    rec = store.open_recording("CU", "R", T0)
    for k in "ABC":
        rec.add_stream(k, dn=k, codec="PCMU", now=T0)
    with pytest.raises(ValueError):
        rec.add_stream("A", dn="x", codec="PCMU")
    with pytest.raises(ValueError, match="clock rate"):
        rec.add_stream("D", dn="x", codec="G722", clock_rate=16000)
    rec.close(T0 + 0.5)
    rec.close(T0 + 0.6)  # idempotent
    doc = json.loads((rec.directory / "recording.json").read_text())
    assert [c["stream"] for c in doc["channels"]] == ["A", "B"]
    assert doc["streams"][2]["channel"] is None and doc["stop"] == 0.5
    assert (rec.directory / "stream-3-C.wav").exists()
    with pytest.raises(ValueError, match="closed"):
        rec.add_stream("E", dn="x", codec="PCMU")


def test_wav_roll_over_at_size_limit(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path, fsync=False, max_wav_data_bytes=2 * 3000)
    rec = store.open_recording("CU", "R", T0)
    rec.add_stream("A", dn="1", codec="PCMU", now=T0)
    run_stream(rec, "A", 5, 0.0, 1.0)
    rec.close(T0 + 1.0)
    doc = json.loads((rec.directory / "recording.json").read_text())
    files = doc["streams"][0]["files"]
    assert files == ["stream-1-1.wav", "stream-1-1--part2.wav", "stream-1-1--part3.wav"]
    parts = [read_wav(rec.directory / f)[2] for f in files]
    assert [len(p) for p in parts] == [3000, 3000, 2000]
    assert np.all(np.concatenate(parts) == 5)
    stereo_parts = [read_wav(rec.directory / f)[2] for f in doc["stereo_files"]]
    assert sum(len(p) for p in stereo_parts) == 8000 and len(stereo_parts) == 6


def test_checkpoint_covers_audio_still_inside_the_jitter_window(tmp_path: Path) -> None:
    """A crash right after a checkpoint loses nothing received before it (README "Reliability"):
    the jitter window is written as a provisional tail that the next drain overwrites in place."""
    store = RecordingStore(tmp_path, jitter_window=0.5, checkpoint_interval=1.0, fsync=False)
    t0 = 1000.0
    rec = store.open_recording("CKPT", "r1", t0)
    rec.add_stream("A", dn="7001", codec="PCMU", now=t0)
    for i in range(100):  # 2 s of 20 ms packets, value 1000
        rec.add_audio("A", 160 * i, np.full(160, 1000, np.int16), t0 + 0.02 * i)
    assert rec.tick(t0 + 2.0)  # checkpoint due (2 s since t0)
    _, _, mono = read_wav(rec.directory / "stream-1-7001.wav")
    # Before: only up to now - jitter window (1.5 s) was in the file after the checkpoint.
    assert len(mono) == rec.checkpointed_samples == 16000
    assert np.all(mono == 1000)
    for i in range(100, 150):  # one more second, then the drain overwrites the provisional tail
        rec.add_audio("A", 160 * i, np.full(160, -7, np.int16), t0 + 0.02 * i)
    rec.close(t0 + 3.0)
    _, _, final = read_wav(rec.directory / "stream-1-7001.wav")
    assert len(final) == 24000 and np.all(final[:16000] == 1000) and np.all(final[16000:] == -7)


def test_checkpoints_are_never_more_than_one_interval_apart(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path, jitter_window=0.5, checkpoint_interval=1.0, fsync=False)
    t0 = 1000.0
    rec = store.open_recording("CKPT", "r1", t0)
    rec.add_stream("A", dn="7001", codec="PCMU", now=t0)
    times = [t0 + 0.2 * k + 0.07 for k in range(1, 30)]  # ticks every 0.2 s, a little late
    done = [now for now in times if rec.tick(now, next_tick_in=0.2)]
    gaps = [b - a for a, b in zip([t0, *done], done, strict=False)]
    assert done and max(gaps) <= 1.0 + 1e-9, gaps
