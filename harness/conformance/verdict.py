"""From findings to a Then-step verdict, and the per-scenario evidence in the report.

A Then step names the requirement ids it judges; the findings for those ids decide it:
any MUST finding fails the step with the ids in the message, SHOULD findings are attached as
warnings, INFO as observations (DESIGN.md §4 Finding contract, §5 Gherkin is the spec).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from harness.conformance.run import Evidence, ScenarioRun
from harness.protocol.sdp import STATIC_PAYLOAD_TYPES
from harness.report.attach import (
    attach_findings,
    attach_html,
    attach_json,
    attach_pcap,
    attach_svg,
    attach_text,
    attach_wav,
)
from harness.report.ladder import (
    LadderMessage,
    Participant,
    format_address,
    ladder_from_sip,
    render_ladder,
    rtp_summary_message,
)
from harness.report.tables import rtp_table_html
from harness.spec.catalogue import load_catalogue
from harness.spec.findings import Finding, Severity
from harness.validators.model import PayloadKind


class RequirementViolation(AssertionError):
    """A MUST requirement failed; the message starts with the requirement ids."""


def judge(findings: Iterable[Finding], requirement_ids: Sequence[str], step: str) -> list[Finding]:
    """Fail when a MUST finding for one of `requirement_ids` exists; return the relevant findings."""
    catalogue = load_catalogue()
    unknown = [r for r in requirement_ids if r not in catalogue]
    if unknown:
        raise ValueError(f"step {step!r} names unknown requirement ids {unknown}")
    relevant = [f for f in findings if f.requirement_id in requirement_ids]
    if relevant:
        attach_findings(relevant, name=f"findings: {step}")
    failures = [f for f in relevant if f.severity is Severity.MUST]
    if failures:
        ids = sorted({f.requirement_id for f in failures})
        lines = "\n".join(f"  {f}" for f in failures[:20])
        more = f"\n  ... {len(failures) - 20} more" if len(failures) > 20 else ""
        raise RequirementViolation(f"{', '.join(ids)} failed:\n{lines}{more}")
    return relevant


def violation(requirement_id: str, message: str, observed: str | None = None,
              expected: str | None = None) -> Finding:
    """A finding produced by a step itself (for facts only the scenario knows, e.g. the job)."""
    return Finding(requirement_id, load_catalogue()[requirement_id].severity, message,
                   observed=observed, expected=expected)


def attach_evidence(run: ScenarioRun) -> None:
    """Everything a reader needs to re-check the verdicts: capture, ladder, RTP, SIPp, files."""
    evidence = run.evidence()
    attach_text("capture method", f"{evidence.capture_method}\n{evidence.read_error or ''}".strip())
    attach_pcap(evidence.pcap, "capture.pcap")
    attach_svg("SIP ladder", ladder_svg(run, evidence))
    if evidence.rtp.table:
        attach_html("RTP streams", rtp_table_html(evidence.rtp.table))
    all_findings = [*evidence.sip.findings, *evidence.rtp.findings, *evidence.recording_findings]
    attach_json("findings (all)", [f.to_json() for f in all_findings])
    attach_text("scenario timeline", "\n".join(f"{t:.3f} {text}" for t, text in run.notes) or "-")
    media_server = run.media_server_if_started
    if media_server is not None:
        for active in media_server.recordings:
            for leg in active.legs:
                if leg.result is not None:
                    attach_text(f"SIPp {leg.name}: result", leg.result.summary() + "\n" + " ".join(leg.result.command))
                for path in (leg.process.traces.message_log, leg.process.traces.stat_file,
                             leg.process.traces.error_log):
                    if path.exists() and path.stat().st_size:
                        attach_text(f"SIPp {leg.name}: {path.name}", path.read_text(errors="replace")[-200_000:])
    if run.options_result is not None:
        attach_text("SIPp OPTIONS ping", run.options_result.summary())
    if evidence.recording_dir is not None and evidence.recording_dir.is_dir():
        _attach_recording(evidence.recording_dir)


def _attach_recording(directory: Path) -> None:
    metadata = directory / "recording.json"
    if metadata.exists():
        attach_json("recording.json", json.loads(metadata.read_text()))
    for wav in sorted(directory.glob("*.wav")):
        attach_wav(wav, wav.name)


def _payload_name(pt: int) -> str:
    static = STATIC_PAYLOAD_TYPES.get(pt)
    return static.encoding if static is not None else str(pt)


def ladder_svg(run: ScenarioRun, evidence: Evidence) -> str:
    sip = [(d.timestamp, d.src, d.dst, d.payload) for d in evidence.datagrams if d.kind is PayloadKind.SIP]
    failed_indexes = {f.evidence.packet_index for f in evidence.sip.findings if f.evidence.packet_index}
    index_by_frame = {d.index: i for i, d in enumerate(d for d in evidence.datagrams if d.kind is PayloadKind.SIP)}
    rows: list[LadderMessage] = ladder_from_sip(sip, failed={index_by_frame[i] for i in failed_indexes
                                                            if i in index_by_frame})
    for result in evidence.rtp.streams:
        src, dst, ssrc = result.key
        summary = result.summary
        rows.append(rtp_summary_message(
            summary.first_arrival or 0.0, format_address(src), format_address(dst),
            payload=",".join(_payload_name(pt) for pt in summary.payload_types), packets=summary.packets,
            duration=summary.duration_s, ssrc=ssrc, failed=summary.lost > 0,
        ))
    rows.sort(key=lambda m: m.time)
    recorder = f"{run.recorder.host}:{run.recorder.port}"
    recorder_media = tuple(sorted({format_address(n.answer_endpoint) for n in evidence.sip.negotiated
                                   if n.answer_endpoint is not None and n.answer_endpoint[1]}))
    participants = [Participant(recorder, f"Recorder ({run.recorder.name})", aliases=recorder_media)]
    media_server = run.media_server_if_started
    if media_server is not None:
        for active in media_server.recordings:
            for leg in active.legs:
                if leg.process.local_port:
                    ports = [f"127.0.0.1:{s.local_port}" for s in leg.streams]
                    participants.append(Participant(f"127.0.0.1:{leg.process.local_port}",
                                                    f"Media Server leg {leg.name}", aliases=tuple(ports)))
    return render_ladder(rows, participants, title=f"SIP ladder - CallUUID {run.call.calluuid if run.call else '-'}")
