"""Safe paths for recordings: every network-supplied name component is sanitised (CWE-22).

Every path component that comes from the network (CallUUID, record id, DN) goes through
`safe_component`, and every directory is resolved and checked to lie inside the resolved
root (defence in depth against path traversal): whatever a peer puts in ``record=``,
``calluuid=``, ``dn=`` or Call-ID, nothing is written outside the root.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from reference_recorder.names import safe_component

# What `safe_component` yields: its alphabet, never "", "." or ".." (nor hidden names).
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")

__all__ = [
    "RecordingStorageError", "UnsafePathError", "fsync_dir", "recording_dir", "safe_component", "versioned_dir",
    "verify_inside",
]


class RecordingStorageError(Exception):
    """Base class of the store's errors."""


class UnsafePathError(RecordingStorageError, ValueError):
    """A computed path would leave the recordings root (should be impossible: defence in depth)."""


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
    return versioned_dir(root, (safe_component(calluuid), safe_component(record_id)), version=version)


def versioned_dir(root: str | os.PathLike[str], names: tuple[str, str], *, version: int = 1) -> Path:
    """``<root>/<names[0]>/<names[1]>[--v<version>]`` for names already made safe with
    `safe_component` (the recorder core decides them), verified to be inside root."""
    if version < 1:
        raise ValueError("version starts at 1")
    call_name, record_name = names
    if not all(_SAFE_NAME.fullmatch(name) for name in names):
        raise UnsafePathError(f"unsanitised recording directory names {names!r}")
    root_r = Path(root).resolve()
    path = root_r / call_name / (record_name + ("" if version == 1 else f"--v{version}"))
    verify_inside(root_r, path)
    return path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
