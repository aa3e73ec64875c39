"""What `arec validate` found: findings grouped per call, the reports behind them, the read error."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.exitcodes import EXIT_MUST_FAILED, EXIT_OK, EXIT_SETUP
from harness.spec.findings import Finding, Severity
from harness.validators.delivery import DeliveryReport
from harness.validators.replication import ReplicationReport
from harness.validators.rtp import RtpReport
from harness.validators.sip import SipReport

__all__ = ["EMITTED_REQUIREMENTS", "NO_CALL", "CallFindings", "ValidationResult"]

# Finding ids the offline pipeline emits itself, besides those of the validators it runs.
EMITTED_REQUIREMENTS = ("REC-TIMECODE-ABSENT", "REC-FILES-PRESENT")

NO_CALL = "(no call)"  # findings no SIP dialog or negotiated stream can be tied to


@dataclass(frozen=True, slots=True)
class CallFindings:
    """The findings of one call (calluuid, "Call-ID <id>" or NO_CALL), by requirement id."""

    call: str
    by_requirement: dict[str, list[Finding]]


@dataclass(frozen=True, slots=True)
class ValidationResult:
    capture: str
    calls: list[CallFindings]
    rtp: RtpReport
    sip: SipReport
    exercised: list[str]  # requirement ids some check ran on, catalogue order
    read_error: str | None = None  # one line: file + byte offset
    recordings_checked: list[str] = field(default_factory=list)
    replication: ReplicationReport = field(default_factory=lambda: ReplicationReport([], []))
    delivery: DeliveryReport | None = None  # with a sender-side capture (`--sent`)

    @property
    def findings(self) -> list[Finding]:
        return [f for call in self.calls for fs in call.by_requirement.values() for f in fs]

    @property
    def failed(self) -> list[str]:
        """Requirement ids with a MUST finding, catalogue order."""
        ids = {f.requirement_id for f in self.findings if f.severity is Severity.MUST}
        return [r for r in self.exercised if r in ids]

    @property
    def exit_code(self) -> int:
        if self.read_error is not None:
            return EXIT_SETUP
        return EXIT_MUST_FAILED if self.failed else EXIT_OK
