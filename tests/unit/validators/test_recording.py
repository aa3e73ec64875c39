from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from harness.media.timecode import SEGMENT_SAMPLES, timecode_samples
from harness.validators.recording import ExpectedStream, RecordingFiles, validate_recording

FIRST, LAST = 2, 9  # segments sent
EXPECTED = [ExpectedStream(0, "7001", FIRST, LAST), ExpectedStream(1, "7002", FIRST, LAST)]


def _signal(stream: int, first: int = FIRST, last: int = LAST, silence: frozenset[int] = frozenset()) -> np.ndarray:
    audio = timecode_samples(stream, first * SEGMENT_SAMPLES, (last - first + 1) * SEGMENT_SAMPLES).copy()
    for seg in silence:
        start = (seg - first) * SEGMENT_SAMPLES
        audio[start:start + SEGMENT_SAMPLES] = 0
    return audio


def _write_dir(root: Path, a: np.ndarray, b: np.ndarray, subtype: str = "PCM_16",
               metadata: dict[str, object] | None = None, stereo_order: tuple[int, int] = (0, 1)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    soundfile.write(root / "stream-0-7001.wav", a, 8000, subtype=subtype)
    soundfile.write(root / "stream-1-7002.wav", b, 8000, subtype=subtype)
    pair = (a, b)
    soundfile.write(root / "call-stereo.wav", np.stack([pair[stereo_order[0]], pair[stereo_order[1]]], axis=1),
                    8000, subtype=subtype)
    meta = metadata if metadata is not None else {
        "calluuid": "4BOKLLA3VH66JF112M1CC9VHKS14F0KP", "record_id": "REC7001", "complete": True,
        "channels": [{"index": 0, "stream": 0, "dn": "7001"}, {"index": 1, "stream": 1, "dn": "7002"}],
    }
    (root / "recording.json").write_text(json.dumps(meta))
    return root


def _ids(findings) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted({f.requirement_id for f in findings})


@pytest.mark.parametrize("subtype", ["PCM_16", "ULAW", "ALAW"])
def test_good_recording_has_no_finding(tmp_path: Path, subtype: str) -> None:
    root = _write_dir(tmp_path / "rec", _signal(0), _signal(1), subtype)
    assert validate_recording(root, EXPECTED) == []


def test_swapped_channels_in_stereo_file(tmp_path: Path) -> None:
    root = _write_dir(tmp_path / "rec", _signal(0), _signal(1), stereo_order=(1, 0))
    findings = validate_recording(root, EXPECTED)
    assert _ids(findings) == ["REC-STREAM-CHANNEL"]
    assert all(f.evidence.file and f.evidence.file.endswith("call-stereo.wav") for f in findings)


def test_swapped_mono_files(tmp_path: Path) -> None:
    root = _write_dir(tmp_path / "rec", _signal(1), _signal(0))
    assert "REC-STREAM-CHANNEL" in _ids(validate_recording(root, EXPECTED))


def test_missing_duplicated_reordered_segments(tmp_path: Path) -> None:
    a = _signal(0)
    seg = SEGMENT_SAMPLES
    reordered = np.concatenate([a[:seg], a[2 * seg:3 * seg], a[seg:2 * seg], a[3 * seg:]])
    files = RecordingFiles(mono={"7001": _mono(tmp_path / "r.wav", reordered)})
    findings = validate_recording(files, EXPECTED[:1])
    assert _ids(findings) == ["REC-AUDIO-COMPLETE"] and "out of order" in findings[0].message

    missing = np.concatenate([a[:seg], np.zeros(seg, np.int16), a[2 * seg:]])
    files = RecordingFiles(mono={"7001": _mono(tmp_path / "m.wav", missing)})
    findings = validate_recording(files, EXPECTED[:1])
    assert _ids(findings) == ["REC-AUDIO-COMPLETE"] and "missing 3" in findings[0].message

    dup = np.concatenate([a[:2 * seg], a[seg:]])
    files = RecordingFiles(mono={"7001": _mono(tmp_path / "d.wav", dup)})
    messages = " ".join(f.message for f in validate_recording(files, EXPECTED[:1]))
    assert "duplicated 3" in messages and "duration" in messages


def test_truncated_recording_duration(tmp_path: Path) -> None:
    short = _signal(0)[: -SEGMENT_SAMPLES - 400]
    files = RecordingFiles(mono={"7001": _mono(tmp_path / "s.wav", short)})
    findings = validate_recording(files, EXPECTED[:1])
    assert _ids(findings) == ["REC-AUDIO-COMPLETE"]
    assert any("duration" in f.message for f in findings)


def test_paused_audio_present_and_absent(tmp_path: Path) -> None:
    expected = [ExpectedStream(0, "7001", FIRST, LAST, paused_segments=frozenset({5, 6}))]
    leaked = RecordingFiles(mono={"7001": _mono(tmp_path / "p.wav", _signal(0))})
    findings = validate_recording(leaked, expected)
    assert _ids(findings) == ["REC-PAUSE-NO-AUDIO"] and findings[0].observed == "5 6"
    assert findings[0].evidence.file_offset == 44 + (5 - FIRST) * SEGMENT_SAMPLES * 2
    silenced = RecordingFiles(mono={"7001": _mono(tmp_path / "q.wav", _signal(0, silence=frozenset({5, 6})))})
    assert validate_recording(silenced, expected) == []


def test_silence_only(tmp_path: Path) -> None:
    files = RecordingFiles(mono={"7001": _mono(tmp_path / "z.wav", np.zeros(8 * SEGMENT_SAMPLES, np.int16))})
    findings = validate_recording(files, EXPECTED[:1])
    assert _ids(findings) == ["REC-AUDIO-COMPLETE"] and "silence only" in findings[0].message


def test_wrong_sample_rate(tmp_path: Path) -> None:
    path = tmp_path / "w.wav"
    soundfile.write(path, _signal(0), 16000, subtype="PCM_16")
    findings = validate_recording(RecordingFiles(mono={"7001": path}), EXPECTED[:1])
    assert _ids(findings) == ["REC-AUDIO-COMPLETE"] and findings[0].observed and "16000" in findings[0].observed


def test_truncated_and_garbage_wav_are_findings(tmp_path: Path) -> None:
    good = _mono(tmp_path / "t.wav", _signal(0))
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:-3000])
    findings = validate_recording(RecordingFiles(mono={"7001": cut}), EXPECTED[:1])
    assert "ARE-10-FILES-FINALISED" in _ids(findings)
    trunc = next(f for f in findings if f.requirement_id == "ARE-10-FILES-FINALISED")
    assert trunc.evidence.file_offset == len(good.read_bytes()) - 3000
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav at all")
    assert _ids(validate_recording(RecordingFiles(mono={"7001": junk}), EXPECTED[:1])) == ["ARE-10-FILES-FINALISED"]


def test_metadata_and_files(tmp_path: Path) -> None:
    root = _write_dir(tmp_path / "rec", _signal(0), _signal(1),
                      metadata={"calluuid": "X", "channels": [{"index": 0, "stream": 0, "dn": "7001"},
                                                              {"index": 1, "dn": "7002"}], "complete": False})
    findings = validate_recording(root, EXPECTED)
    assert _ids(findings) == ["ARE-10-FILES-FINALISED", "REC-METADATA"]
    assert any("record_id" in f.message for f in findings)

    (root / "recording.json").unlink()
    assert _ids(validate_recording(root, EXPECTED)) == ["REC-METADATA"]
    assert _ids(validate_recording(tmp_path / "nope", EXPECTED)) == ["REC-FILES-PRESENT"]
    assert _ids(validate_recording(RecordingFiles(), EXPECTED)) == ["REC-FILES-PRESENT"]


def _mono(path: Path, audio: np.ndarray, subtype: str = "PCM_16") -> Path:
    soundfile.write(path, audio, 8000, subtype=subtype)
    return path


def test_one_stream_judged_alone_still_sees_the_other_streams_time_code(tmp_path: Path) -> None:
    """A per-stream file mixing both parties, judged for its own stream only (the steps after one
    stream's BYE): before, the other stream's alphabet was not decoded, so the mix passed; with
    `other_streams` it is REC-STREAM-CHANNEL."""
    mixed = np.clip(_signal(0).astype(np.int32) + _signal(1), -32768, 32767).astype(np.int16)
    files = RecordingFiles(mono={"7002": _mono(tmp_path / "7002.wav", mixed)})
    assert "REC-STREAM-CHANNEL" not in _ids(validate_recording(files, EXPECTED[1:], require_metadata=False))
    findings = validate_recording(files, EXPECTED[1:], require_metadata=False, other_streams=[0])
    assert "REC-STREAM-CHANNEL" in _ids(findings)
    assert {f.stream for f in findings if f.requirement_id == "REC-STREAM-CHANNEL"} == {"7002"}
    good = RecordingFiles(mono={"7002": _mono(tmp_path / "good.wav", _signal(1))})
    assert validate_recording(good, EXPECTED[1:], require_metadata=False, other_streams=[0]) == []


def test_metadata_is_expected_from_the_reference_layout_only(tmp_path: Path) -> None:
    from harness.validators.recording import metadata_expected

    assert metadata_expected(tmp_path)
    assert not metadata_expected(RecordingFiles(mono={"7001": tmp_path / "a.wav"}))
    assert metadata_expected(RecordingFiles(metadata=tmp_path / "recording.json"))
