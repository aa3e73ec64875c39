"""The Finding contract shared by every validator (docs/architecture.md §4).

Validators never raise for a non-conformance: they return findings. A parse failure is a
finding too. `Then` steps turn findings into assertions and Allure attachments.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.Enum):
    MUST = "MUST"  # a violation fails the scenario and the quality gate
    SHOULD = "SHOULD"  # a violation is a warning
    INFO = "INFO"  # observed interop facts


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a finding was seen: a packet, a header line, a file offset."""

    packet_index: int | None = None
    timestamp: float | None = None
    header_line: str | None = None
    file: str | None = None
    file_offset: int | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    requirement_id: str
    severity: Severity
    message: str
    evidence: Evidence = field(default_factory=Evidence)
    observed: str | None = None
    expected: str | None = None
    # What the finding is about, so grouping never parses `message`: the call's CallUUID, the
    # recording session's SIP Call-ID, and the stream (its DN when known, else the RTP
    # stream's "src -> dst ssrc=0x..." key).
    calluuid: str | None = None
    call_id: str | None = None
    stream: str | None = None

    def to_json(self) -> dict[str, Any]:
        # Field by field, in declaration order (what `asdict` gives, without its deep copy:
        # every value is a str, a number or None; `arec validate` renders thousands of these).
        e = self.evidence
        return {"requirement_id": self.requirement_id, "severity": self.severity.value,
                "message": self.message,
                "evidence": {"packet_index": e.packet_index, "timestamp": e.timestamp,
                             "header_line": e.header_line, "file": e.file, "file_offset": e.file_offset},
                "observed": self.observed, "expected": self.expected, "calluuid": self.calluuid,
                "call_id": self.call_id, "stream": self.stream}

    def __str__(self) -> str:
        text = f"[{self.requirement_id}] {self.severity.value}: {self.message}"
        if self.observed is not None or self.expected is not None:
            text += f" (observed: {self.observed}; expected: {self.expected})"
        return text
