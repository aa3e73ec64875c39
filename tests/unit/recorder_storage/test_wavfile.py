"""WavWriter: valid header at every checkpoint, readable by `wave` and libsndfile."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from reference_recorder.wavfile import HEADER_SIZE, WavSizeLimitError, WavWriter, read_wav


def _ramp(n: int, start: int = 0) -> np.ndarray:
    return ((np.arange(start, start + n) * 37) % 65536 - 32768).astype(np.int16)


def test_header_at_open_is_valid_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    w = WavWriter(path)
    raw = path.read_bytes()
    assert len(raw) == HEADER_SIZE
    assert raw[:4] == b"RIFF" and raw[8:16] == b"WAVEfmt "
    assert struct.unpack("<I", raw[4:8])[0] == 36
    assert struct.unpack("<I", raw[40:44])[0] == 0
    with wave.open(str(path)) as wf:
        assert (wf.getnchannels(), wf.getsampwidth(), wf.getframerate(), wf.getnframes()) == (1, 2, 8000, 0)
    w.close()


def test_checkpoint_makes_frames_visible_to_wave_and_soundfile(tmp_path: Path) -> None:
    path = tmp_path / "mono.wav"
    w = WavWriter(path)
    first = _ramp(1000)
    w.write(first)
    w.checkpoint()
    # Appended but not checkpointed: must not be claimed by the header yet.
    w.write(_ramp(500, 1000))
    assert w.frames_written == 1500 and w.checkpointed_frames == 1000

    rate, channels, data = read_wav(path)
    assert (rate, channels) == (8000, 1)
    np.testing.assert_array_equal(data, first)
    with wave.open(str(path)) as wf:
        assert wf.getnframes() == 1000
        np.testing.assert_array_equal(np.frombuffer(wf.readframes(1000), "<i2"), first)
    sdata, srate = sf.read(path, dtype="int16")
    assert srate == 8000
    np.testing.assert_array_equal(sdata, first)

    w.close()
    _, _, data = read_wav(path)
    np.testing.assert_array_equal(data, np.concatenate([first, _ramp(500, 1000)]))
    raw = path.read_bytes()
    assert struct.unpack("<I", raw[4:8])[0] == 36 + 3000
    assert struct.unpack("<I", raw[40:44])[0] == 3000


def test_stereo_round_trip_interleaved(tmp_path: Path) -> None:
    path = tmp_path / "st.wav"
    frames = np.stack([_ramp(800), -_ramp(800, 5)], axis=1).astype(np.int16)
    with WavWriter(path, channels=2, sample_rate=16000, fsync=True) as w:
        w.write(frames[:300])
        w.checkpoint()
        w.write(frames[300:])
    rate, channels, data = read_wav(path)
    assert (rate, channels) == (16000, 2)
    np.testing.assert_array_equal(data, frames)
    sdata, srate = sf.read(path, dtype="int16", always_2d=True)
    assert srate == 16000
    np.testing.assert_array_equal(sdata, frames)
    # Interleaving on disk: L0 R0 L1 R1 ...
    raw = path.read_bytes()[HEADER_SIZE : HEADER_SIZE + 8]
    assert struct.unpack("<4h", raw) == (frames[0, 0], frames[0, 1], frames[1, 0], frames[1, 1])


def test_refuses_to_grow_past_limit_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "lim.wav"
    w = WavWriter(path, max_data_bytes=2001)  # rounded down to whole frames: 1000 frames
    assert w.remaining_frames == 1000
    w.write(_ramp(999))
    with pytest.raises(WavSizeLimitError, match="roll over"):
        w.write(_ramp(2))
    assert w.frames_written == 999
    w.write(_ramp(1))
    assert w.remaining_frames == 0
    w.close()
    assert read_wav(path)[2].shape == (1000,)


def test_real_riff_limit_constant() -> None:
    from reference_recorder.wavfile import MAX_RIFF_DATA_BYTES

    # RIFF size (36 + data) must fit the unsigned 32-bit field.
    assert 36 + MAX_RIFF_DATA_BYTES == 0xFFFFFFFF


def test_never_overwrites_or_follows_symlink(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_bytes(b"keep")
    (tmp_path / "link.wav").symlink_to(target)
    with pytest.raises(FileExistsError):
        WavWriter(tmp_path / "link.wav")
    with pytest.raises(FileExistsError):
        WavWriter(target)
    assert target.read_bytes() == b"keep"


def test_input_validation(tmp_path: Path) -> None:
    w = WavWriter(tmp_path / "v.wav")
    with pytest.raises(TypeError):
        w.write(np.zeros(10, dtype=np.float32))
    with pytest.raises(ValueError):
        w.write(np.zeros((10, 2), dtype=np.int16))
    w.close()
    w.close()  # idempotent
    with pytest.raises(ValueError, match="after close"):
        w.write(np.zeros(1, dtype=np.int16))
    with pytest.raises(ValueError):
        WavWriter(tmp_path / "c.wav", channels=0)
