"""The recorder's WAV files, playable inside the report.

Allure previews no audio type (its viewer knows video/* only), so the files go into an HTML
attachment as ``<audio controls src="data:audio/wav;base64,...">``: it plays from a single
offline file, with no server. A data URI grows the report by 4/3 of the file (and the single-file
report base64-encodes attachments again), so only files up to `MAX_EMBED_BYTES` are embedded;
larger ones are listed with their size and stay downloadable as plain WAV attachments.
Browsers play PCM WAV everywhere but not always µ-law / A-law WAV: those are converted to
16-bit PCM for listening (the original file is still attached as recorded).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import soundfile

__all__ = ["MAX_EMBED_BYTES", "playable_recordings_html", "playable_wav_bytes"]

MAX_EMBED_BYTES: Final = 2_000_000


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def playable_wav_bytes(path: Path) -> tuple[bytes, str]:
    """The file's bytes as a browser plays them, and a one-line description of the format."""
    info = soundfile.info(str(path))
    description = f"{info.samplerate} Hz, {info.channels} ch, {info.subtype_info}, {info.duration:.2f} s"
    if info.format == "WAV" and info.subtype == "PCM_16":
        return path.read_bytes(), description
    data, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    buffer = io.BytesIO()
    soundfile.write(buffer, data, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue(), description + " (converted to 16-bit PCM for listening)"


def playable_recordings_html(wavs: Sequence[Path], captions: Mapping[str, str] | None = None,
                             max_bytes: int = MAX_EMBED_BYTES) -> str:
    """One row per file: name, caption (which DN is where), format, and a player or the reason why not."""
    rows = []
    for wav in wavs:
        caption = (captions or {}).get(wav.name, "")
        size = wav.stat().st_size if wav.exists() else 0
        try:
            data, description = playable_wav_bytes(wav)
        except (OSError, RuntimeError, soundfile.LibsndfileError) as error:
            player, description = f'<span class="why">not playable: {_esc(str(error))}</span>', "unreadable"
        else:
            if len(data) > max_bytes:
                player = (f'<span class="why">{len(data) / 1e6:.1f} MB: too large to embed (limit '
                          f"{max_bytes / 1e6:.0f} MB); download the {_esc(wav.name)} attachment</span>")
            else:
                encoded = base64.b64encode(data).decode("ascii")
                player = f'<audio controls preload="metadata" src="data:audio/wav;base64,{encoded}"></audio>'
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
