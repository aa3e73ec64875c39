"""What a SIPp run left behind, read back: exit code meaning, ``-trace_stat`` CSV, error log.

SIPp's exit code is EVIDENCE for the report, never the verdict: validators judge the capture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# SIPp exit codes (SIPp reference "Exit codes"; 0, 1, 97, 254 and 255 seen in practice).
EXIT_CODES: dict[int, str] = {
    0: "all calls succeeded",
    1: "at least one call failed (see the error log)",
    97: "SIPp stopped on an internal command or global timeout; calls may have been processed",
    99: "normal exit without any call processed",
    253: "RTP validation failure",
    254: "fatal error binding a socket: local port in use?",
    255: "fatal error (bad scenario/options) or hard timeout; see stderr",
}

def explain_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"killed by signal {-code}"
    return EXIT_CODES.get(code, f"unknown SIPp exit code {code}")


def parse_stat_csv(text: str) -> dict[str, str]:
    """Last row of SIPp's ``-trace_stat`` CSV (';'-separated, header first) as name -> value."""
    rows = [line for line in text.splitlines() if line.strip()]
    if len(rows) < 2:
        return {}
    header = rows[0].split(";")
    values = rows[-1].split(";")
    return {name: value for name, value in zip(header, values, strict=False) if name}


# SIPp's error log is "The following events occurred:" then entries that are NOT newline
# separated, each starting with "YYYY-MM-DD<TAB>HH:MM:SS.ffffff<TAB>epoch: ".
_ERR_ENTRY = re.compile(r"\d{4}-\d{2}-\d{2}\t\d{2}:\d{2}:\d{2}\.\d+\t\d+\.\d+: ")
# Entries that are not failures: the epoll warning SIPp prints when a descriptor is a plain
# file (stdout to /dev/null), and the idle-wait timeout that only loops in the leg scenarios.
_BENIGN = (
    re.compile(r"Failed to delete FD from epoll"),
    re.compile(r"receive timeout on message .*, jumping to label"),
)


def parse_error_log(text: str) -> list[str]:
    """All entries of SIPp's ``-trace_err`` file, stripped."""
    starts = [m.start() for m in _ERR_ENTRY.finditer(text)]
    entries = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        entries.append(text[start:end].strip())
    return entries


def significant_errors(entries: list[str]) -> list[str]:
    return [e for e in entries if not any(p.search(e) for p in _BENIGN)]


def _stat_int(stats: dict[str, str], name: str) -> int:
    try:
        return int(stats.get(name, "0") or 0)
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class SippResult:
    """What one SIPp run left behind: evidence, not a verdict."""

    exit_code: int | None
    stats: dict[str, str]
    errors: list[str]
    message_log: Path
    error_log: Path
    stat_file: Path
    command: list[str]
    stderr: str = ""
    terminated: bool = False  # we had to stop it

    @property
    def explanation(self) -> str:
        return explain_exit(self.exit_code)

    @property
    def successful_calls(self) -> int:
        return _stat_int(self.stats, "SuccessfulCall(C)")

    @property
    def failed_calls(self) -> int:
        return _stat_int(self.stats, "FailedCall(C)")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.successful_calls == 1 and self.failed_calls == 0

    def summary(self) -> str:
        first = f"; first error: {self.errors[0][:200]}" if self.errors else ""
        return (f"SIPp exit {self.exit_code} ({self.explanation}); successful={self.successful_calls} "
                f"failed={self.failed_calls}{first}")


