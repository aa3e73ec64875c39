"""``recording.json``: the JSON helpers and its crash-safe (atomic) write.

The document is rewritten through a temporary file + fsync + ``os.replace`` (POSIX rename is
atomic), so a reader -- or a SIGKILL -- always sees the old or the new document, never a mix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from reference_recorder.storage.paths import fsync_dir, verify_inside

__all__ = ["JSON_NAME", "SCHEMA_VERSION", "TLIB_SECTIONS", "json_copy", "rel", "tlib_entry", "write_json_atomic"]

SCHEMA_VERSION: Final = 1
JSON_NAME: Final = "recording.json"
_JSON_TMP: Final = ".recording.json.tmp"
# The T-Lib log of a recording (reference_recorder.tlib_agent): request/answer pairs, refused
# requests, recording-state events. Entries carry "t" (absolute in memory, relative to t0 in
# the JSON: the start request precedes the recording, so its "t" is negative).
TLIB_SECTIONS: Final = ("requests", "errors", "events")


def json_copy(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Deep copy through JSON so later mutation by the caller cannot change what we store."""
    try:
        # allow_nan=False: NaN/Infinity are not JSON (RFC 8259 §6) and break strict readers.
        copied: dict[str, Any] = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable: {exc}") from None
    return copied


def rel(t: float | None, t0: float) -> float | None:
    return None if t is None else round(t - t0, 6)


def tlib_entry(entry: dict[str, Any], t0: float) -> dict[str, Any]:
    t = entry.get("t")
    if isinstance(t, int | float) and not isinstance(t, bool):
        return {**entry, "t": rel(float(t), t0)}
    return dict(entry)


def write_json_atomic(directory: Path, document: Mapping[str, Any], *, fsync: bool) -> None:
    """Write `document` as ``directory/recording.json``: temporary file, fsync, rename."""
    data = json.dumps(document, indent=2, allow_nan=False).encode("utf-8") + b"\n"
    tmp = directory / _JSON_TMP
    verify_inside(directory, tmp)
    # O_NOFOLLOW: never write through a symlink someone planted in the directory.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    # rename(2) is atomic: readers see the old or the new document, never a mix.
    final = directory / JSON_NAME
    verify_inside(directory, final)
    os.replace(tmp, final)
    if fsync:
        fsync_dir(directory)
