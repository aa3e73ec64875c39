"""Helpers the step modules share (plain functions: no step and no fixture is defined here)."""

from __future__ import annotations

import pytest

from harness.conformance.run import ScenarioRun
from harness.protocol.genesys import RecordingTarget
from harness.protocol.tlib import Event, EventACK
from harness.spec.findings import Finding
from harness.validators.sip import SipDialogSummary


def not_applicable_unless(condition: bool, why: str) -> None:
    """A scenario the recorder cannot take part in is reported not applicable, never passed."""
    if not condition:
        pytest.skip(f"not applicable: {why}")


def sessions_of_call(run: ScenarioRun) -> list[SipDialogSummary]:
    """The recording sessions of this scenario's call in the capture (matched by calluuid)."""
    assert run.call is not None
    return [d for d in run.evidence().sip.dialogs.values()
            if d.target is not None and d.target.calluuid == run.call.calluuid]


def targets_of_call(run: ScenarioRun) -> list[RecordingTarget]:
    return [d.target for d in sessions_of_call(run) if d.target is not None]


def recording_findings(run: ScenarioRun) -> list[Finding]:
    evidence = run.evidence()
    if evidence.recording_dir is None:
        pytest.skip("not applicable: the recorder's recordings are not visible to the harness")
    return evidence.recording_findings


def expect_ack(answer: Event, what: str) -> None:
    # The emulated SIP Server refusing its own scenario is a harness problem, not a verdict.
    assert isinstance(answer, EventACK), f"SIP Server emulation refused {what}: {answer}"
