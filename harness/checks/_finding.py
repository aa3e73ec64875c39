"""Building findings in the checks layer: the catalogue gives the severity, the caller what the
finding is about (CallUUID, SIP Call-ID, stream) so nothing downstream parses message text."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from harness.spec.catalogue import requirement
from harness.spec.findings import Evidence, Finding

__all__ = ["CheckResult", "ranges", "violation"]


def violation(requirement_id: str, message: str, observed: str | None = None, expected: str | None = None, *,
              evidence: Evidence | None = None, calluuid: str | None = None, call_id: str | None = None,
              stream: str | None = None) -> Finding:
    """A finding for `requirement_id` with the catalogue's severity (unknown ids raise)."""
    return Finding(requirement_id, requirement(requirement_id).severity, message,
                   evidence if evidence is not None else Evidence(), observed=observed, expected=expected,
                   calluuid=calluuid, call_id=call_id, stream=stream)


def ranges(values: Sequence[int]) -> str:
    """[1,2,3,7] -> '1-3,7', so a finding's message stays one line."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a check found, and which of its requirements the evidence could not exercise.

    A requirement with no evidence to look at (no OPTIONS answered busy, no metadata file in a
    layout without one) is *not exercised* or *not applicable*, never passed: the caller hands
    these sets to `judge()` with the findings."""

    findings: list[Finding] = field(default_factory=list)
    not_exercised: frozenset[str] = frozenset()
    not_applicable: frozenset[str] = frozenset()

    def __add__(self, other: CheckResult) -> CheckResult:
        return CheckResult([*self.findings, *other.findings], self.not_exercised | other.not_exercised,
                           self.not_applicable | other.not_applicable)

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> CheckResult:
        return cls(list(findings))
