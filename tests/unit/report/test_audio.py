"""Playable recordings: each embedded player is an 8-bit µ-law WAV, the multi-channel file plays
for the per-stream files it carries, big files are not embedded."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import soundfile

from harness.protocol.rtp.g711 import ulaw_decode
from harness.report.audio import files_to_play, playable_recordings_html


def _wav(path: Path, seconds: float, subtype: str = "PCM_16", channels: int = 1) -> Path:
    samples = (np.sin(np.arange(int(8000 * seconds)) * 0.3) * 8000).astype(np.int16)
    soundfile.write(path, np.stack([samples] * channels, axis=1) if channels > 1 else samples, 8000, subtype=subtype)
    return path


def _embedded(html: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'<audio controls[^>]*src="data:audio/wav;base64,([^"]+)"', html)]


def _format_tag(wav: bytes) -> int:
    assert wav[:4] == b"RIFF" and wav[12:16] == b"fmt "
    return int.from_bytes(wav[20:22], "little")


WAVE_FORMAT_MULAW = 7


def test_pcm_wav_is_embedded_as_mulaw_with_its_caption(tmp_path: Path) -> None:
    wav = _wav(tmp_path / "stream-1-5551234.wav", 0.5)
    html = playable_recordings_html([wav], {"stream-1-5551234.wav": "DN 5551234"})
    [data] = _embedded(html)
    assert _format_tag(data) == WAVE_FORMAT_MULAW
    assert len(data) < wav.stat().st_size * 0.55  # one byte per sample instead of two
    assert "DN 5551234" in html and "8000 Hz, 1 ch, Signed 16 bit PCM" in html and "played as 8-bit µ-law" in html


def test_pcmu_audio_survives_the_mulaw_rendering_sample_for_sample(tmp_path: Path) -> None:
    # What a recorder writes from PCMU RTP is G.711-decoded audio: µ-law re-encoding loses nothing.
    decoded = ulaw_decode(bytes(range(256)) * 40)
    wav = tmp_path / "pcmu.wav"
    soundfile.write(wav, decoded, 8000, subtype="PCM_16")
    [data] = _embedded(playable_recordings_html([wav]))
    played, rate = soundfile.read(io.BytesIO(data), dtype="int16")
    assert rate == 8000 and np.array_equal(played, decoded)


def test_mulaw_wav_is_embedded_as_recorded(tmp_path: Path) -> None:
    wav = _wav(tmp_path / "ulaw.wav", 0.5, subtype="ULAW")
    assert _embedded(playable_recordings_html([wav])) == [wav.read_bytes()]


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
    small, big = _wav(tmp_path / "a.wav", 0.1), _wav(tmp_path / "b.wav", 2.0)
    html = playable_recordings_html([small, big], max_bytes=10_000)
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
