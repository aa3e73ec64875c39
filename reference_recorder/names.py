"""Sanitised file-name components for recordings (CWE-22), pure computation: no disk access.

The recorder core decides a recording's directory names with `safe_component` (it never touches
the disk); the store (`reference_recorder.storage.paths`) then creates and verifies the paths.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

__all__ = ["safe_component"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_DASH_RUN = re.compile(r"-{2,}")
_HASH_LEN: Final = 16  # 64 bits of SHA-256: collisions are not a practical concern
_MIN_MAX_LEN: Final = _HASH_LEN + 8
# Device names Windows refuses as file names (with any extension): recordings are often
# copied to Windows shares, where "NUL.wav" or "con" would silently break.
_WINDOWS_RESERVED: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)


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
