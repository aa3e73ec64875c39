"""The recording, playable inside the report, at a size a single-file report can carry.

Allure previews no audio type (its viewer knows video/* only), so the audio goes into an HTML
attachment as ``<audio controls src="data:audio/ogg;base64,...">``: it plays from a single
offline file, with no server.

Size: the single-file report base64-encodes every attachment, and the data URI inside the HTML
attachment is base64 already, so each byte of audio costs 16/9 bytes of report. Measured on the
53-scenario run: 16-bit PCM players plus the WAVs attached again made 36 MB; 8-bit µ-law
players of the stereo file alone still 12 MB (issue 15 asks for at most 10 MB). Hence:

- **One compressed rendering for listening: Ogg Opus** (RFC 7845 encapsulation of RFC 6716
  Opus) at about 23 kbit/s for a stereo 8 kHz file, 1/5 of µ-law; Chromium and Firefox play it
  in an ``<audio>`` element. It is for people to listen to (who speaks where, where the pause
  is); the validators judge the recorder's own files, and the recording picture shows each
  channel's time-code as decoded from them.
- **The multi-channel files only, when the recording has any**: a stereo call file carries
  the call's streams side by side (one channel per DN), so playing the per-stream mono files
  too would embed the same audio twice. A recording of mono files only plays every file.
  Every file is still listed with its own format, duration and size.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import soundfile

__all__ = ["LISTENING_MIME", "MAX_EMBED_BYTES", "files_to_play", "listening_bytes", "playable_recordings_html"]

MAX_EMBED_BYTES: Final = 2_000_000
LISTENING_MIME: Final = "audio/ogg"
# libsndfile maps 0..1 onto Opus bit rates from high to low: 0.98 gives ~23 kbit/s for 8 kHz
# stereo (~12 kbit/s a channel, Opus' narrowband speech range, RFC 6716 §2.1.1).
_OPUS_COMPRESSION_LEVEL: Final = 0.98
_OPUS_RATES: Final = frozenset({8000, 12000, 16000, 24000, 48000})


@dataclass(frozen=True, slots=True)
class _Format:
    channels: int
    description: str


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _describe(path: Path) -> _Format:
    info = soundfile.info(str(path))
    return _Format(info.channels,
                   f"{info.samplerate} Hz, {info.channels} ch, {info.subtype_info}, {info.duration:.2f} s")


def listening_bytes(path: Path) -> tuple[bytes, str, str]:
    """The file as Ogg Opus at its own rate and channel count, its MIME type, and a one-line
    description of the file's own format (what the recorder wrote). Opus takes 8, 12, 16, 24
    and 48 kHz only (RFC 6716 §2): a file at another rate plays as 8-bit µ-law WAV instead."""
    description = _describe(path).description
    data, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    buffer = io.BytesIO()
    if rate in _OPUS_RATES:
        soundfile.write(buffer, data, rate, format="OGG", subtype="OPUS", compression_level=_OPUS_COMPRESSION_LEVEL)
        return buffer.getvalue(), LISTENING_MIME, description
    soundfile.write(buffer, data, rate, format="WAV", subtype="ULAW")
    return buffer.getvalue(), "audio/wav", description


def files_to_play(wavs: Sequence[Path]) -> list[Path]:
    """The files embedded as players: the multi-channel ones when there are any (they carry the
    per-stream audio already), otherwise every file. Unreadable files count as mono here; the
    listing says why they do not play."""
    channels: dict[Path, int] = {}
    for wav in wavs:
        try:
            channels[wav] = _describe(wav).channels
        except (OSError, RuntimeError, soundfile.LibsndfileError):
            channels[wav] = 0
    multi = [wav for wav in wavs if channels[wav] > 1]
    return multi or [wav for wav in wavs if channels[wav] > 0] or list(wavs)


def _player(wav: Path, max_bytes: int) -> tuple[str, str]:
    try:
        data, mime, description = listening_bytes(wav)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as error:
        return f'<span class="why">not playable: {_esc(str(error))}</span>', "unreadable"
    if len(data) > max_bytes:
        return (f'<span class="why">{len(data) / 1e6:.1f} MB: too large to embed (limit '
                f"{max_bytes / 1e6:.0f} MB); the file stays in the recording directory</span>", description)
    encoded = base64.b64encode(data).decode("ascii")
    rendering = "Ogg Opus" if mime == LISTENING_MIME else "8-bit µ-law WAV"
    return (f'<audio controls preload="metadata" src="data:{mime};base64,{encoded}"></audio>',
            f"{description}; plays as {rendering}")


def playable_recordings_html(wavs: Sequence[Path], captions: Mapping[str, str] | None = None,
                             max_bytes: int = MAX_EMBED_BYTES) -> str:
    """One row per file: name, caption (which DN is where), its format, and a player (Ogg Opus
    rendering), the file that plays its audio, or the reason why it does not play."""
    played = files_to_play(wavs)
    played_names = ", ".join(w.name for w in played)
    rows = []
    for wav in wavs:
        caption = (captions or {}).get(wav.name, "")
        size = wav.stat().st_size if wav.exists() else 0
        if wav in played:
            player, description = _player(wav, max_bytes)
        else:
            try:
                description = _describe(wav).description
            except (OSError, RuntimeError, soundfile.LibsndfileError) as error:
                player, description = f'<span class="why">not playable: {_esc(str(error))}</span>', "unreadable"
            else:
                player = f'<span class="fmt">heard in {_esc(played_names)} (its channels carry each stream)</span>'
        rows.append(f"<tr><td><b>{_esc(wav.name)}</b> {_esc(caption)}"
                    f'<div class="fmt">{_esc(description)}, {size} bytes</div></td><td>{player}</td></tr>')
    body = "".join(rows) or '<tr><td colspan="2">no WAV file in the recording</td></tr>'
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>"
            # Compact rows: opened from file:// the report cannot measure an HTML attachment's
            # height and gives it a 150 px frame (it scrolls): three files fit without scrolling.
            "body{font:12px sans-serif;margin:2px}table{border-collapse:collapse}"
            "td{padding:2px 6px;border-bottom:1px solid #ddd;vertical-align:middle;height:42px}"
            ".fmt{color:#666;font-size:10px}.why{color:#a15c00}audio{display:block;width:330px;height:36px}"
            f"</style></head><body><table>{body}</table></body></html>\n")
