"""The reference recorder's T-Lib configuration file, written by the scenario (seed steps 2, 8, 9).

The recorder re-reads its `--tlib-config` TOML file whenever its mtime or size changes, so a
scenario gives it DNs to register, recording rules and the attached-data pause trigger after it
started. Format (the contract between the harness and the reference recorder):

    register = ["7001"]
    [[rules]]  name, dns (fnmatch patterns), share (0..1), windows, record (source|destination)
    [pause]    key, pause_value, resume_value
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PauseTrigger", "RecorderTlibConfig", "RecordingRule"]


@dataclass(frozen=True, slots=True)
class RecordingRule:
    name: str
    dns: tuple[str, ...]
    share: float = 1.0
    record: str = "source"
    windows: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PauseTrigger:
    """The attached-data key whose value makes the recorder pause / resume its recording."""

    key: str = "PCI"
    pause_value: str = "on"
    resume_value: str = "off"


@dataclass(slots=True)
class RecorderTlibConfig:
    register: list[str] = field(default_factory=list)
    rules: list[RecordingRule] = field(default_factory=list)
    pause: PauseTrigger | None = None

    def render(self) -> str:
        # TOML basic strings accept JSON's escapes for what we write (RFC 8259 strings of
        # printable text), so json.dumps quotes values safely.
        lines = [f"register = [{', '.join(json.dumps(dn) for dn in self.register)}]"]
        for rule in self.rules:
            lines += ["", "[[rules]]", f"name = {json.dumps(rule.name)}",
                      f"dns = [{', '.join(json.dumps(p) for p in rule.dns)}]",
                      f"share = {float(rule.share)!r}", f"record = {json.dumps(rule.record)}"]
            if rule.windows:
                lines.append(f"windows = [{', '.join(json.dumps(w) for w in rule.windows)}]")
        if self.pause is not None:
            lines += ["", "[pause]", f"key = {json.dumps(self.pause.key)}",
                      f"pause_value = {json.dumps(self.pause.pause_value)}",
                      f"resume_value = {json.dumps(self.pause.resume_value)}"]
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> None:
        """Replace the file atomically: the recorder polls it and must never read half a file."""
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.render(), encoding="utf-8")
        os.replace(tmp, path)
