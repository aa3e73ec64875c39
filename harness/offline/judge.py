"""The judging of a capture read offline: plain evidence in, a `ValidationResult` out.

`judge` is the one place `arec validate` turns evidence (the SIP, RTP, replication and
delivery reports of a capture, and the recordings directory) into grouped findings and the
list of requirements exercised. Checks that need only that evidence belong here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.offline.calls import CallResolver, check_legs_per_call, group_by_call
from harness.offline.recordings import validate_profile_recordings, validate_recordings
from harness.offline.result import ValidationResult
from harness.spec.catalogue import load_catalogue
from harness.spec.findings import Finding
from harness.validators.delivery import DeliveryReport
from harness.validators.replication import ReplicationReport
from harness.validators.rtp import RtpReport
from harness.validators.sip import ExpectedMode, SipDialogSummary, SipReport

if TYPE_CHECKING:
    from harness.recorders.locate import RecordingsSpec

__all__ = ["OfflineEvidence", "exercised_requirements", "judge"]


@dataclass(frozen=True, slots=True)
class OfflineEvidence:
    """Everything `judge` needs, gathered by the capture pass (`harness.offline.scan`)."""

    capture: Path
    sip: SipReport
    rtp: RtpReport
    replication: ReplicationReport
    sip_seen: bool  # some SIP was in the capture (the message checks ran)
    read_error: str | None = None  # one line: file + byte offset of the unreadable record
    recordings: Path | None = None  # the recorder's recordings root (`--recordings`)
    layout: RecordingsSpec | None = None  # a recorder profile's file layout (`--recorder-profile`)
    delivery: DeliveryReport | None = None  # sender-side comparison (`--sent`)


def judge(evidence: OfflineEvidence) -> ValidationResult:
    """Findings per call and requirements exercised, from the capture's evidence.

    Recordings are judged only when the capture was read whole (a recording is compared with
    what the capture says was sent: a capture cut short would blame the recorder for audio the
    capture lost)."""
    sip, rtp, rep = evidence.sip, evidence.rtp, evidence.replication
    leg_findings, modes = check_legs_per_call(sip)
    resolver = CallResolver(sip)
    tagged = [resolver.tag(f) for f in [*sip.findings, *leg_findings, *rtp.findings, *rep.findings]]
    checked: list[str] = []
    recordings_judged = evidence.recordings is not None and evidence.read_error is None
    if recordings_judged:
        assert evidence.recordings is not None
        if evidence.layout is not None and evidence.layout.layout != "reference":
            rec_findings, checked = validate_profile_recordings(evidence.capture, evidence.recordings,
                                                                evidence.layout, sip, resolver)
        else:
            rec_findings, checked = validate_recordings(evidence.capture, evidence.recordings, sip, resolver)
        tagged.extend(rec_findings)
    exercised = exercised_requirements(sip, rtp, modes, evidence.sip_seen, recordings_judged,
                                       [f for _, f in tagged], rep)
    if evidence.delivery is not None:
        from harness.validators.delivery import EMITTED_REQUIREMENTS as delivery_ids

        tagged.extend(resolver.tag(f) for f in evidence.delivery.findings)
        exercised += [r for r in delivery_ids if r not in exercised]
    return ValidationResult(str(evidence.capture), group_by_call(tagged), rtp, sip, exercised, evidence.read_error,
                            checked, rep, evidence.delivery)


def exercised_requirements(sip: SipReport, rtp: RtpReport, modes: set[ExpectedMode], sip_seen: bool,
                           recordings: bool, findings: Sequence[Finding], replication: ReplicationReport) -> list[str]:
    """Requirement ids at least one check ran on (a JUnit testcase each), catalogue order."""
    ids: set[str] = {f.requirement_id for f in findings}
    dialogs = sip.dialogs.values()
    if sip_seen:
        ids |= {"SIP-MESSAGE-WELLFORMED", "SIP-RESP-CODES"}
    if any(d.invite is not None for d in dialogs):
        ids.add("SIP-DIALOG-ESTABLISHED")
    if any(d.invite is not None and not (d.siprec or d.siprec_half) for d in dialogs):
        ids.add("ARE-06-RURI-PARAMS")  # a SIPREC session has no Genesys recording URI
    ids |= siprec_exercised(dialogs)
    if sip.negotiated:
        ids |= {"SDP-MLINE-ORDER", "SDP-ANSWER-RECVONLY", "SDP-CODEC-ACCEPTED",
                "RTP-STREAM-RECEIVED", "RTP-PT-MATCHES-SDP", "RTP-NO-MEDIA-ON-RECVONLY"}
        if any(m.kind == "video" for m in sip.negotiated):
            ids.add("SDP-VIDEO-REFUSED-PORT0")
    if sip.options:
        ids.add("SIP-OPTIONS-200")
    if any(d.byes for d in dialogs):
        ids.add("ARE-10-BYE-ENDS-STREAM")
    if any(d.reinvites for d in dialogs):
        ids.add("SIP-REINVITE-ANSWERED")
    if any(d.reoffered_directions for d in dialogs):
        ids.add("SDP-ORIGIN-KEPT")  # a 2xx re-answer was compared with the dialog's previous SDP
    if any(d.reoffered_directions & {"inactive", "recvonly"} for d in dialogs):
        ids.add("SDP-ANSWER-INACTIVE")
    if ExpectedMode.TWO_SESSIONS in modes:
        ids.add("ARE-06-TWO-INVITES-PER-CALL")
    if ExpectedMode.SINGLE_SESSION in modes:
        ids.add("ARE-06-SINGLE-SESSION")
    if rtp.streams:
        ids.add("RTP-SEQ-CONTINUITY")  # RTP-SSRC-CHANGE (INFO) is listed when it is observed
    if replication.pairs:
        ids.add("REP-PAYLOAD-FIDELITY")  # originals and replicas were both there to compare
    if recordings:
        from harness.validators.recording import EMITTED_REQUIREMENTS as recording_ids

        ids |= set(recording_ids)
        if any(d.siprec and d.siprec_metadata is not None for d in dialogs):
            ids |= {"SRS-METADATA-KEPT", "SRS-PARTICIPANT-AUDIO"}  # harness.offline.recordings
    catalogue = list(load_catalogue())
    return [r for r in catalogue if r in ids] + sorted(ids - set(catalogue))


def siprec_exercised(dialogs: Iterable[SipDialogSummary]) -> set[str]:
    """The SIPREC requirements a capture's recording sessions exercised (RFC 7866, RFC 7865)."""
    ids: set[str] = set()
    for d in dialogs:
        if d.siprec_half:
            ids |= {"SRS-OFFER-SIPREC", "SRS-NOT-RS"}
        if not d.siprec:
            continue
        ids |= {"SRS-OFFER-SIPREC", "SRS-OFFER-LABELS", "SRS-METADATA-WELLFORMED"}
        if d.siprec_metadata is not None:
            ids.add("SRS-METADATA-LABELS-ASSOCIATED")
        if d.final_status is not None:
            ids.add("SRS-RS-ACCEPTED" if d.siprec_initial_metadata else "SRS-NO-INITIAL-METADATA")
            if d.siprec_extensions:
                ids.add("SRS-EXTENSIONS-IGNORED")
            if 200 <= d.final_status < 300:
                ids.add("SRS-FEATURE-TAG")
    return ids
