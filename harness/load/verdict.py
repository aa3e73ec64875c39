"""The verdict on one recorded call under load, and how it is reached (pure).

A call's recording is judged by the suite's own checks (`validate_recording`: REC-FILES-PRESENT,
REC-STREAM-CHANNEL, REC-AUDIO-COMPLETE, ...). Under load a failed check has two possible
causes, and a capacity figure is only worth something if it tells them apart:

* the recorder lost audio: the generator sent every packet on time and the file is short;
* the generator was late: packets left the sender later than the recorder's jitter window
  (or the kernel refused them, ENOBUFS), so the recorder never had a fair chance. Such a call
  is `generator-late`, never counted against the recorder.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CallOutcome", "CallVerdict", "PacingStats", "classify", "pacing_stats"]

# Requirement ids that mean "the recording is not there at all".
_MISSING_IDS = frozenset({"REC-FILES-PRESENT"})


class CallOutcome(enum.StrEnum):
    COMPLETE = "complete"  # every check passed
    INCOMPLETE = "incomplete"  # files there, audio short / mixed up: the recorder's fault
    MISSING = "missing"  # no recording files for a stream
    GENERATOR_LATE = "generator-late"  # a check failed but the generator was late or dropped
    REFUSED = "refused"  # an INVITE was answered 503 (at capacity): no recording expected
    SETUP_FAILED = "setup-failed"  # an INVITE failed otherwise or timed out


@dataclass(frozen=True, slots=True)
class PacingStats:
    """What the generator measured of its own sending for one call (both streams)."""

    packets: int = 0
    late_p99_ms: float = 0.0
    late_max_ms: float = 0.0
    send_errors: int = 0  # sendto() raised (ENOBUFS...): the kernel dropped the packet


def pacing_stats(lateness_s: Sequence[float], send_errors: int) -> PacingStats:
    """p99 / max of per-packet deadline error (seconds in, milliseconds out)."""
    if not lateness_s:
        return PacingStats(0, 0.0, 0.0, send_errors)
    ordered = sorted(max(0.0, x) for x in lateness_s)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return PacingStats(len(ordered), round(p99 * 1000, 3), round(ordered[-1] * 1000, 3), send_errors)


@dataclass(frozen=True, slots=True)
class CallVerdict:
    """One call's result as it travels from a worker to the master (a JSON-able dict)."""

    calluuid: str
    started_at: float  # wall-clock seconds (time.time()) when the first INVITE went out
    ended_at: float
    outcome: CallOutcome
    worker: str = ""
    invite_latency_ms: tuple[float, ...] = ()  # INVITE -> 2xx of each session that got one
    invite_status: tuple[int | None, ...] = ()  # final status per session (None: timed out)
    retry_after: int | None = None  # from a 503
    pacing: PacingStats = field(default_factory=PacingStats)
    requirement_ids: tuple[str, ...] = ()  # the failed checks
    reasons: tuple[str, ...] = ()  # one line each, for the report

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallVerdict:
        return cls(
            calluuid=str(data["calluuid"]), started_at=float(data["started_at"]), ended_at=float(data["ended_at"]),
            outcome=CallOutcome(data["outcome"]), worker=str(data.get("worker", "")),
            invite_latency_ms=tuple(float(x) for x in data.get("invite_latency_ms", ())),
            invite_status=tuple(None if x is None else int(x) for x in data.get("invite_status", ())),
            retry_after=None if data.get("retry_after") is None else int(data["retry_after"]),
            pacing=PacingStats(**data.get("pacing", {})),
            requirement_ids=tuple(str(x) for x in data.get("requirement_ids", ())),
            reasons=tuple(str(x) for x in data.get("reasons", ())),
        )


def classify(*, invite_status: Sequence[int | None], failed_requirements: Iterable[str],
             pacing: PacingStats, jitter_window_ms: float) -> CallOutcome:
    """The outcome of one call from its signalling, its recording's findings and its pacing."""
    if any(s == 503 for s in invite_status):
        return CallOutcome.REFUSED
    if any(s is None or not 200 <= s < 300 for s in invite_status):
        return CallOutcome.SETUP_FAILED
    failed = set(failed_requirements)
    if not failed:
        return CallOutcome.COMPLETE
    # RFC 3550 §6.4.1 jitter aside, a recorder may only be blamed for audio it was given in time:
    # a packet later than its jitter window may be dropped as late, and a packet the kernel
    # refused was never sent at all.
    if pacing.send_errors > 0 or pacing.late_max_ms > jitter_window_ms:
        return CallOutcome.GENERATOR_LATE
    if failed & _MISSING_IDS:
        return CallOutcome.MISSING
    return CallOutcome.INCOMPLETE
