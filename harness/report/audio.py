"""The recording, playable inside the report, at a size a single-file report can carry.

Allure previews no audio type (its viewer knows video/* only), so the audio goes into an HTML
attachment as ``<audio controls src="data:audio/wav;base64,...">``: it plays from a single
offline file, with no server.

Size: the single-file report base64-encodes every attachment, and the data URI inside the HTML
attachment is base64 already, so each byte of audio costs 16/9 bytes of report. Two rules keep
a 53-scenario report small enough to open (issue 15: at most 10 MB):

- **One rendering per file, 8-bit µ-law WAV** (ITU-T G.711, WAVE_FORMAT_MULAW), half of 16-bit
  PCM. Chromium and Firefox play µ-law WAV. For audio that reached the recorder as PCMU it is
  lossless: G.711 decoding then re-encoding gives back the same octets (ITU-T G.711 §4). The
  recorder's original files are not attached a second time: the validators read those, the
  report is for people to listen to.
- **The multi-channel files only, when the recording has any**: a stereo call file carries
  the call's streams side by side (one channel per DN), so playing the per-stream mono files
  too would embed the same audio twice. A recording of mono files only plays every file.
  Every file is still listed with its format, duration and size.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import soundfile

__all__ = ["LISTENING_SUBTYPE", "MAX_EMBED_BYTES", "files_to_play", "playable_recordings_html", "playable_wav_bytes"]

MAX_EMBED_BYTES: Final = 2_000_000
LISTENING_SUBTYPE: Final = "ULAW"


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


def playable_wav_bytes(path: Path) -> tuple[bytes, str]:
    """The file as an 8-bit µ-law WAV at its own rate and channel count, and a one-line
    description of the file's own format (what the recorder wrote)."""
    info = soundfile.info(str(path))
    description = _describe(path).description
    if info.format == "WAV" and info.subtype == LISTENING_SUBTYPE:
        return path.read_bytes(), description
    data, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    buffer = io.BytesIO()
    soundfile.write(buffer, data, rate, format="WAV", subtype=LISTENING_SUBTYPE)
    return buffer.getvalue(), description + " (played as 8-bit µ-law)"


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
        data, description = playable_wav_bytes(wav)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as error:
        return f'<span class="why">not playable: {_esc(str(error))}</span>', "unreadable"
    if len(data) > max_bytes:
        return (f'<span class="why">{len(data) / 1e6:.1f} MB: too large to embed (limit '
                f"{max_bytes / 1e6:.0f} MB); the file stays in the recording directory</span>", description)
    encoded = base64.b64encode(data).decode("ascii")
    return f'<audio controls preload="metadata" src="data:audio/wav;base64,{encoded}"></audio>', description


def playable_recordings_html(wavs: Sequence[Path], captions: Mapping[str, str] | None = None,
                             max_bytes: int = MAX_EMBED_BYTES) -> str:
    """One row per file: name, caption (which DN is where), format, and a player, the file that
    plays its audio, or the reason why it does not play."""
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
