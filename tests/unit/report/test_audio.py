"""Playable recordings: the embedded data URI is the WAV a browser can play, big files are not embedded."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import soundfile

from harness.report.audio import playable_recordings_html


def _wav(path: Path, seconds: float, subtype: str = "PCM_16") -> Path:
    samples = (np.sin(np.arange(int(8000 * seconds)) * 0.3) * 8000).astype(np.int16)
    soundfile.write(path, samples, 8000, subtype=subtype)
    return path


def _embedded(html: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'<audio controls[^>]*src="data:audio/wav;base64,([^"]+)"', html)]


def test_pcm_wav_is_embedded_byte_for_byte_with_its_caption(tmp_path: Path) -> None:
    wav = _wav(tmp_path / "stream-1-5551234.wav", 0.5)
    html = playable_recordings_html([wav], {"stream-1-5551234.wav": "DN 5551234"})
    assert _embedded(html) == [wav.read_bytes()]
    assert "DN 5551234" in html and "8000 Hz, 1 ch" in html


def test_mulaw_wav_is_converted_to_pcm_for_listening(tmp_path: Path) -> None:
    wav = _wav(tmp_path / "ulaw.wav", 0.5, subtype="ULAW")
    [data] = _embedded(playable_recordings_html([wav]))
    assert data[:4] == b"RIFF" and data[20:22] == b"\x01\x00"  # WAVE_FORMAT_PCM
    assert "converted to 16-bit PCM" in playable_recordings_html([wav])


def test_files_over_the_limit_are_listed_not_embedded(tmp_path: Path) -> None:
    small, big = _wav(tmp_path / "a.wav", 0.1), _wav(tmp_path / "b.wav", 2.0)
    html = playable_recordings_html([small, big], max_bytes=10_000)
    assert _embedded(html) == [small.read_bytes()]
    assert "too large to embed" in html and "b.wav attachment" in html


def test_unreadable_file_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav")
    html = playable_recordings_html([bad])
    assert "not playable" in html and not _embedded(html)
