"""What a compliance report must say about the run itself: tool versions, the recorder, what was exercised.

Shown in the Allure report (environment.properties → "Metadata") and stored in compliance.json,
so a customer can tell which arec, which SIPp, which recorder build and which codecs / pause
profiles a verdict covers.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import re
import subprocess
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

__all__ = ["arec_version", "exercised", "properties_text", "recorder_description", "sipp_version"]

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
_CODEC: Final = re.compile(r"negotiated with ([A-Za-z0-9/_-]+)")
_PAUSE_PROFILE: Final = re.compile(r"pause profile is ([a-z-]+)")
_SIPP_VERSION: Final = re.compile(r"SIPp v?(\S+)")


def arec_version() -> str:
    try:
        return importlib.metadata.version("arec")
    except importlib.metadata.PackageNotFoundError:
        pyproject = REPO_ROOT / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("version", "unknown"))


def sipp_version(binary: str = "sipp") -> str:
    """`sipp -v` prints a banner ("SIPp v3.6.1-SCTP-PCAP-RTPSTREAM.") and exits 99."""
    try:
        proc = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    match = _SIPP_VERSION.search(proc.stdout + proc.stderr)
    return match.group(1).rstrip(".") if match else "unknown"


def recorder_description(recorder: str | None, profile: str | None) -> dict[str, str]:
    """Name and origin of the recorder under test (profile TOML `name`, docs/architecture.md §4)."""
    if profile:
        name = Path(profile).stem
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
            name = str(tomllib.loads(Path(profile).read_text(encoding="utf-8")).get("name", name))
        return {"recorder": name, "recorder profile": str(Path(profile).resolve())}
    if recorder:
        return {"recorder": f"already running at {recorder}"}
    return {"recorder": "reference recorder (built in, one per scenario)"}


def _walk_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for step in steps:
        found.append(step)
        found.extend(_walk_steps(step.get("steps", [])))
    return found


def exercised(results_dir: Path) -> dict[str, str]:
    """Codecs, pause profiles and capture methods the scenarios used (read from the results)."""
    codecs: set[str] = set()
    profiles: set[str] = set()
    captures: set[str] = set()
    for path in results_dir.glob("*-result.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        for step in _walk_steps(data.get("steps", [])):
            name = str(step.get("name", ""))
            codecs.update(_CODEC.findall(name))
            profiles.update(_PAUSE_PROFILE.findall(name))
        for attachment in data.get("attachments", []):
            if attachment.get("name") == "capture method":
                source = results_dir / str(attachment.get("source"))
                if source.is_file():
                    first = source.read_text(encoding="utf-8", errors="replace").strip().splitlines()[:1]
                    captures.update(line.strip() for line in first if line.strip())
    return {"codecs": ", ".join(sorted(codecs)) or "-",
            "pause profiles": ", ".join(sorted(profiles)) or "-",
            "capture method": ", ".join(sorted(captures)) or "-"}


def base_metadata(recorder: str | None, profile: str | None, now: datetime) -> dict[str, str]:
    return {"arec version": arec_version(), **recorder_description(recorder, profile),
            "SIPp version": sipp_version(), "date": now.isoformat(timespec="seconds")}


def _escape_property(text: str, key: bool) -> str:
    # java.util.Properties: backslash, and in keys ' ', ':' and '='; no newlines anywhere.
    text = text.replace("\\", "\\\\").replace("\n", " ")
    if key:
        for ch in (" ", ":", "="):
            text = text.replace(ch, "\\" + ch)
    return text


def properties_text(metadata: Mapping[str, str]) -> str:
    """environment.properties for Allure (its "Metadata" block on the report's first page)."""
    return "".join(f"{_escape_property(k, True)}={_escape_property(v, False)}\n" for k, v in metadata.items())
