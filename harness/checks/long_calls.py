"""Long calls: the recording kept across a counter wrap (RFC 3550); where an SSRC changed.

A recorder that compares sequence numbers or timestamps as plain integers, or keys a stream by
its first SSRC, records the first part of a long call and loses (or misplaces) the rest. The
evidence is what the Media Server emulation really sent (where each stream's counters wrapped
and its SSRC changed: `Crossing`, read from the sent packets with the wrap arithmetic of
`harness.protocol.rtp.seqnum`) and the recording validator's findings for that stream (the
audio time code decoded: every segment present, in order, on wall-clock time). A stream that
crossed a wrap / an SSRC change and is not recorded completely fails the requirement; a
scenario whose RTP crossed none leaves it not exercised, never passed.

* RTP-WRAP-RECORDED: RFC 3550 §5.1 "the sequence number ... wraps around", the timestamp is a
  32-bit clock (it wraps too); Appendix A.1 extends both with a cycle count.
* An SSRC change (RFC 3550 §8.2) is located here too (`CrossingKind.SSRC_CHANGE`), but its
  verdict, RTP-SSRC-CHANGE-RECORDED, has one place for every scenario that changes SSRC:
  harness.checks.impaired_media.impaired_recording (segment by segment, on wall-clock time).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from harness.checks._finding import CheckResult, violation
from harness.spec.findings import Finding

__all__ = ["Crossing", "CrossingKind", "wraps_recorded"]


def _incomplete(finding: Finding) -> bool:
    """A recording validator finding saying a stream's audio is not all where it belongs."""
    rid = finding.requirement_id
    return rid == "REC-AUDIO-COMPLETE" or rid == "REC-FILES-PRESENT" or rid == "REC-STREAM-CHANNEL"


class CrossingKind(enum.StrEnum):
    SEQ_WRAP = "sequence-number wrap (65535 -> 0)"
    TS_WRAP = "timestamp wrap (2^32-1 -> 0)"
    SSRC_CHANGE = "SSRC change"


@dataclass(frozen=True, slots=True)
class Crossing:
    """Where one stream's RTP, as sent, crossed a wrap or changed SSRC."""

    dn: str
    kind: CrossingKind
    packet: int  # index of the first packet after it, among the stream's packets sent
    offset_s: float  # that packet's send time after the stream's first packet

    def describe(self) -> str:
        return f"{self.kind.value} at packet {self.packet} ({self.offset_s:.2f} s)"


def _recorded_across(requirement_id: str, what: str, crossings: Sequence[Crossing],
                     recording_findings: Sequence[Finding], calluuid: str | None) -> CheckResult:
    if not crossings:
        return CheckResult(not_exercised=frozenset({requirement_id}))
    findings: list[Finding] = []
    by_dn: dict[str, list[Crossing]] = {}
    for crossing in crossings:
        by_dn.setdefault(crossing.dn, []).append(crossing)
    for dn, own in by_dn.items():
        gap = next((f for f in recording_findings if _incomplete(f) and f.stream in (dn, None)),
                   None)
        if gap is None:
            continue
        where = ", ".join(c.describe() for c in own)
        findings.append(violation(
            requirement_id, f"DN {dn}: the stream crossed {where}, and its recording is not complete {what}: "
            f"{gap.message}", observed=gap.observed, expected=gap.expected, evidence=gap.evidence,
            calluuid=calluuid, stream=dn))
    return CheckResult(findings)


def wraps_recorded(crossings: Sequence[Crossing], recording_findings: Sequence[Finding], *,
                   calluuid: str | None = None) -> CheckResult:
    """RTP-WRAP-RECORDED: each stream whose sequence number or timestamp wrapped is recorded
    completely (the time code of the whole stream, in order, on wall-clock time)."""
    wraps = [c for c in crossings if c.kind in (CrossingKind.SEQ_WRAP, CrossingKind.TS_WRAP)]
    return _recorded_across("RTP-WRAP-RECORDED", "across the wrap", wraps, recording_findings, calluuid)

