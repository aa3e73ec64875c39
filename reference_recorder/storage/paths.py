"""Safe paths for recordings: every network-supplied name component is sanitised (CWE-22).

Every path component that comes from the network (CallUUID, record id, DN) goes through
`safe_component`, and every directory is resolved and checked to lie inside the resolved
root (defence in depth against path traversal): whatever a peer puts in ``record=``,
``calluuid=``, ``dn=`` or Call-ID, nothing is written outside the root.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Final

__all__ = ["RecordingStorageError", "UnsafePathError", "fsync_dir", "recording_dir", "safe_component", "verify_inside"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_DASH_RUN = re.compile(r"-{2,}")
_HASH_LEN: Final = 16  # 64 bits of SHA-256: collisions are not a practical concern
_MIN_MAX_LEN: Final = _HASH_LEN + 8
# Device names Windows refuses as file names (with any extension): recordings are often
# copied to Windows shares, where "NUL.wav" or "con" would silently break.
_WINDOWS_RESERVED: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)


class RecordingStorageError(Exception):
    """Base class of the store's errors."""


class UnsafePathError(RecordingStorageError, ValueError):
    """A computed path would leave the recordings root (should be impossible: defence in depth)."""


def _is_clean(value: str, max_len: int) -> bool:
    return (
        0 < len(value) <= max_len
        and _UNSAFE.search(value) is None
        # ".", ".." and hidden names; a leading "-" reads as an option to shell tools.
        and value[0] not in ".-"
        # Windows strips trailing dots: "a." and "a" would be the same directory there.
        and not value.endswith(".")
        # "--" is reserved for the hash and version suffixes, which keeps the mapping
        # injective: an unchanged value can never look like a hashed or versioned one.
        and "--" not in value
        and value.split(".", 1)[0].upper() not in _WINDOWS_RESERVED
    )


def safe_component(value: str, *, max_len: int = 64) -> str:
    """Map any string to one safe path component of ``[A-Za-z0-9._-]``, at most `max_len` long.

    Values that are already safe are returned unchanged. Any other value (empty, ".", "..",
    leading "." or "-", "/", "\\\\", NUL, non-ASCII, too long, ...) becomes a readable
    sanitised prefix + ``--`` + 16 hex digits of SHA-256 of the original, so two different
    raw values never share a directory: unchanged results never contain ``--``, changed
    ones always end with ``--<hash>``.
    """
    if not isinstance(value, str):
        raise TypeError(f"path component must be str, got {type(value).__name__}")
    if max_len < _MIN_MAX_LEN:
        raise ValueError(f"max_len must be at least {_MIN_MAX_LEN}")
    if _is_clean(value, max_len):
        return value
    # surrogatepass: os.fsdecode()d junk may hold lone surrogates; still hash it stably.
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LEN]
    base = _DASH_RUN.sub("-", _UNSAFE.sub("_", value)).lstrip(".-")
    base = base[: max_len - _HASH_LEN - 2].rstrip(".-")
    return f"{base or '_'}--{digest}"


def verify_inside(root: Path, path: Path) -> Path:
    """Resolve `path` (following symlinks) and insist it is strictly inside `root`."""
    resolved = path.resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise UnsafePathError(f"refusing path {path!s}: resolves to {resolved!s}, outside {root!s}")
    return resolved


def recording_dir(root: str | os.PathLike[str], calluuid: str, record_id: str, *, version: int = 1) -> Path:
    """``<root>/<safe calluuid>/<safe record_id>[--v<version>]``, verified to be inside root.

    Version 1 has no suffix; a later recording with the same identifiers (see
    `RecordingStore.open_recording`) gets ``--v2``, ``--v3``, ...
    """
    if version < 1:
        raise ValueError("version starts at 1")
    root_r = Path(root).resolve()
    name = safe_component(record_id) + ("" if version == 1 else f"--v{version}")
    path = root_r / safe_component(calluuid) / name
    verify_inside(root_r, path)
    return path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
