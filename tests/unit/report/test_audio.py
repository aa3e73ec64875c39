"""Playable recordings: each embedded player is an Ogg Opus rendering (µ-law WAV at rates Opus
lacks), the multi-channel file plays for the per-stream files it carries, big files are not
embedded."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import soundfile

from harness.report.audio import files_to_play, playable_recordings_html


def _wav(path: Path, seconds: float, subtype: str = "PCM_16", channels: int = 1) -> Path:
    samples = (np.sin(np.arange(int(8000 * seconds)) * 0.3) * 8000).astype(np.int16)
    soundfile.write(path, np.stack([samples] * channels, axis=1) if channels > 1 else samples, 8000, subtype=subtype)
    return path


def _embedded(html: str, mime: str = "audio/ogg") -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(rf'<audio controls[^>]*src="data:{mime};base64,([^"]+)"', html)]


def test_pcm_wav_is_embedded_as_ogg_opus_with_its_caption(tmp_path: Path) -> None:
    wav = _wav(tmp_path / "stream-1-5551234.wav", 2.0)
    html = playable_recordings_html([wav], {"stream-1-5551234.wav": "DN 5551234"})
    [data] = _embedded(html)
    info = soundfile.info(io.BytesIO(data))
    assert (info.format, info.subtype, info.channels, info.samplerate) == ("OGG", "OPUS", 1, 8000)
    assert abs(info.duration - 2.0) < 0.05
    assert len(data) < wav.stat().st_size / 8  # 16-bit PCM is 128 kbit/s
    assert "DN 5551234" in html and "8000 Hz, 1 ch, Signed 16 bit PCM" in html and "plays as Ogg Opus" in html


def test_the_opus_rendering_sounds_like_the_recording(tmp_path: Path) -> None:
    # Listening only, but it must be the recording's audio: the rendering follows the waveform.
    wav = tmp_path / "tone.wav"
    tone = (np.sin(np.arange(16000) * 2 * np.pi * 440 / 8000) * 10000).astype(np.int16)
    soundfile.write(wav, tone, 8000, subtype="PCM_16")
    [data] = _embedded(playable_recordings_html([wav]))
    played, rate = soundfile.read(io.BytesIO(data), dtype="int16")
    assert rate == 8000 and len(played) == len(tone)
    middle = slice(2000, 14000)
    correlation = np.corrcoef(played[middle].astype(float), tone[middle].astype(float))[0, 1]
    assert correlation > 0.9


def test_a_rate_opus_lacks_plays_as_mulaw_wav(tmp_path: Path) -> None:
    wav = tmp_path / "cd.wav"
    soundfile.write(wav, np.zeros(4410, dtype=np.int16), 44100, subtype="PCM_16")
    html = playable_recordings_html([wav])
    [data] = _embedded(html, "audio/wav")
    assert data[:4] == b"RIFF" and int.from_bytes(data[20:22], "little") == 7  # WAVE_FORMAT_MULAW
    assert "plays as 8-bit µ-law WAV" in html


def test_the_stereo_file_plays_and_the_mono_files_it_carries_are_listed_only(tmp_path: Path) -> None:
    mono = [_wav(tmp_path / "stream-1-5551234.wav", 0.3), _wav(tmp_path / "stream-2-7001.wav", 0.3)]
    stereo = _wav(tmp_path / "call-stereo.wav", 0.3, channels=2)
    wavs = sorted([*mono, stereo])
    assert files_to_play(wavs) == [stereo]
    html = playable_recordings_html(wavs)
    [data] = _embedded(html)
    assert soundfile.info(io.BytesIO(data)).channels == 2
    assert html.count("heard in call-stereo.wav") == 2
    for wav in wavs:
        assert wav.name in html  # every file is listed with its format
    # Mono files only: every one plays.
    assert files_to_play(mono) == mono and len(_embedded(playable_recordings_html(mono))) == 2


def test_files_over_the_limit_are_listed_not_embedded(tmp_path: Path) -> None:
    small, big = _wav(tmp_path / "a.wav", 0.1), _wav(tmp_path / "b.wav", 10.0)
    html = playable_recordings_html([small, big], max_bytes=5_000)
    assert len(_embedded(html)) == 1
    assert "too large to embed" in html


def test_unreadable_file_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav")
    html = playable_recordings_html([bad])
    assert "not playable" in html and not _embedded(html)
    stereo = _wav(tmp_path / "call-stereo.wav", 0.2, channels=2)
    html = playable_recordings_html([bad, stereo])
    assert "not playable" in html and len(_embedded(html)) == 1
