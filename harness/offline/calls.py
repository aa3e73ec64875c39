"""Calls: which call each finding is about, and the leg-count check in the mode each call shows.

SIP dialogs are grouped by the `calluuid` of their recording Request-URI (GVP-MSRec; a capture
without one, not an ARE capture, groups by Call-ID). A finding names its call through its own
`calluuid` / `call_id` fields (filled by the validator that made it), never through its text.
The leg-count check runs in the mode a call shows: single-session when an INVITE carries
`otherDN`, two-session when two or more INVITEs share the calluuid, not judged for a lone
INVITE without `otherDN`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from harness.offline.result import NO_CALL, CallFindings
from harness.spec.catalogue import load_catalogue
from harness.spec.findings import Finding
from harness.validators import sip as sip_validator
from harness.validators.sip import ExpectedMode, SipDialogSummary, SipReport

__all__ = ["CallResolver", "calluuid_of", "check_legs_per_call", "group_by_call"]


def calluuid_of(dialog: SipDialogSummary) -> str | None:
    return dialog.target.calluuid if dialog.target is not None else None


def check_legs_per_call(report: SipReport) -> tuple[list[Finding], set[ExpectedMode]]:
    """ARE-06 leg count, in the mode each call shows (see the module docstring)."""
    calls: dict[str, dict[str, SipDialogSummary]] = {}
    for call_id, dialog in report.dialogs.items():
        uuid = calluuid_of(dialog)
        if dialog.siprec or dialog.siprec_half:
            continue  # one SIPREC recording session per call: judged by the SRS-* checks, not ARE-06
        if uuid is not None and dialog.invite is not None:
            calls.setdefault(uuid, {})[call_id] = dialog
    findings: list[Finding] = []
    modes: set[ExpectedMode] = set()
    for legs in calls.values():
        if any(d.target is not None and d.target.other_dn is not None for d in legs.values()):
            mode = ExpectedMode.SINGLE_SESSION
        elif len(legs) >= 2:
            mode = ExpectedMode.TWO_SESSIONS
        else:
            continue
        modes.add(mode)
        # The SIP validator's own leg check, on this call's dialogs only (one mode per call).
        sip_validator._check_legs(legs, mode, findings)
    return findings, modes


class CallResolver:
    """The call a finding belongs to, from its `calluuid` / `call_id` fields."""

    def __init__(self, sip: SipReport) -> None:
        self._dialogs = sip.dialogs

    def call_key(self, call_id: str | None) -> str:
        """The call of a SIP Call-ID: its dialog's calluuid, else "Call-ID <id>"."""
        if call_id is None:
            return NO_CALL
        dialog = self._dialogs.get(call_id)
        uuid = calluuid_of(dialog) if dialog is not None else None
        return uuid if uuid is not None else f"Call-ID {call_id}"

    def resolve(self, finding: Finding) -> str:
        if finding.calluuid is not None:
            return finding.calluuid
        return self.call_key(finding.call_id)

    def tag(self, finding: Finding) -> tuple[str, Finding]:
        """(call, finding), the finding's `calluuid` filled from its Call-ID's dialog."""
        call = self.resolve(finding)
        if finding.calluuid is None and finding.call_id is not None:
            dialog = self._dialogs.get(finding.call_id)
            uuid = calluuid_of(dialog) if dialog is not None else None
            if uuid is not None:
                finding = replace(finding, calluuid=uuid)
        return call, finding


def group_by_call(findings: Sequence[tuple[str, Finding]]) -> list[CallFindings]:
    """(call, finding) pairs → one `CallFindings` per call (NO_CALL last), requirements in
    catalogue order."""
    order = {rid: i for i, rid in enumerate(load_catalogue())}
    calls: dict[str, dict[str, list[Finding]]] = {}
    for call, finding in findings:
        calls.setdefault(call, {}).setdefault(finding.requirement_id, []).append(finding)
    out = []
    for call in sorted(calls, key=lambda c: (c == NO_CALL, c)):
        by_req = calls[call]
        ordered = dict(sorted(by_req.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
        out.append(CallFindings(call, ordered))
    return out
