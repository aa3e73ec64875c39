"""From findings to a Then-step verdict, and the per-scenario evidence in the report.

A Then step names the requirement ids it judges; the findings for those ids decide it: any MUST
finding fails the step with the ids in the message, SHOULD findings are attached as warnings,
INFO as observations (docs/architecture.md §4 Finding contract, §5 Gherkin is the spec). The findings come from the check functions (harness.checks and
harness.validators, `harness.checks.registry` says which judges what); nothing here builds one.

A failed Then step does not stop the scenario: the later Then steps still judge their
requirements (a first failure must not hide the real defect two steps on), and the scenario
fails once at its end with every failed id (`ScenarioVerdicts`, driven by the hooks in
harness/bdd/conftest.py). Given and When steps fail at once: without their set-up the later
steps have nothing to judge.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.capture.model import PayloadKind
from harness.checks._finding import CheckResult, violation
from harness.conformance.evidence import Evidence
from harness.conformance.run import ScenarioRun
from harness.protocol.sdp import STATIC_PAYLOAD_TYPES
from harness.report.attach import (
    add_label,
    attach_findings,
    attach_html,
    attach_json,
    attach_pcap,
    attach_svg,
    attach_text,
)
from harness.report.audio import playable_recordings_html
from harness.report.compliance import REQUIREMENT_LABEL, Judgement, Unjudged, judgement_label
from harness.report.ladder import (
    LadderMessage,
    Participant,
    format_address,
    ladder_from_sip,
    render_ladder,
    rtp_summary_message,
)
from harness.report.recording_picture import (
    ChannelView,
    captions_by_file,
    recording_views,
    render_recording_svg,
)
from harness.report.tables import rtp_table_html
from harness.spec.catalogue import load_catalogue
from harness.spec.findings import Finding, Severity
from harness.validators.recording import ExpectedStream

__all__ = ["RequirementViolation", "ScenarioVerdicts", "attach_evidence", "judge", "judge_result",
           "record_judgements", "scenario_verdicts", "violation"]

_log = logging.getLogger(__name__)


class RequirementViolation(AssertionError):
    """A MUST requirement failed; the message starts with the requirement ids."""


def _violation_error(failures: Sequence[Finding]) -> RequirementViolation:
    ids = sorted({f.requirement_id for f in failures})
    lines = "\n".join(f"  {f}" for f in failures[:20])
    more = f"\n  ... {len(failures) - 20} more" if len(failures) > 20 else ""
    return RequirementViolation(f"{', '.join(ids)} failed:\n{lines}{more}")


@dataclass(slots=True)
class ScenarioVerdicts:
    """One scenario's deferred Then-step failures (see the module docstring)."""

    deferring: bool = False  # True while a Then step runs
    failures: list[Finding] = field(default_factory=list)
    step_failure: RequirementViolation | None = None  # the running Then step's, for its report entry

    def start_step(self, keyword: str) -> None:
        self.deferring = keyword == "then"
        self.step_failure = None

    def take_step_failure(self) -> RequirementViolation | None:
        failure, self.step_failure = self.step_failure, None
        return failure

    def final_error(self) -> RequirementViolation | None:
        return _violation_error(self.failures) if self.failures else None


_current: ScenarioVerdicts | None = None


def scenario_verdicts(reset: bool = False) -> ScenarioVerdicts:
    """The running scenario's collector (`reset`: a new scenario starts)."""
    global _current
    if reset or _current is None:
        _current = ScenarioVerdicts()
    return _current


def judge(findings: Iterable[Finding], requirement_ids: Sequence[str], step: str, *,
          not_exercised: Collection[str] = (), not_applicable: Collection[str] = ()) -> list[Finding]:
    """Judge `requirement_ids` on `findings`: every finding for those ids counts (none is dropped);
    a MUST one fails the step. `not_exercised`: ids the evidence could not exercise (no pass
    without evidence); `not_applicable`: ids this recorder cannot be judged on here. Returns the
    relevant findings."""
    catalogue = load_catalogue()
    unknown = [r for r in (*requirement_ids, *not_exercised, *not_applicable) if r not in catalogue]
    if unknown:
        raise ValueError(f"step {step!r} names unknown requirement ids {unknown}")
    stray = [r for r in (*not_exercised, *not_applicable) if r not in requirement_ids]
    if stray:
        raise ValueError(f"step {step!r}: {stray} are not among the ids it judges")
    relevant = [f for f in findings if f.requirement_id in requirement_ids]
    record_judgements(relevant, requirement_ids, not_exercised=not_exercised, not_applicable=not_applicable)
    if relevant:
        attach_findings(relevant, name=f"findings: {step}")
    failures = [f for f in relevant if f.severity is Severity.MUST]
    if failures:
        error = _violation_error(failures)
        verdicts = scenario_verdicts()
        if not verdicts.deferring:
            raise error
        verdicts.failures.extend(failures)
        verdicts.step_failure = error
    return relevant


def judge_result(result: CheckResult, requirement_ids: Sequence[str], step: str) -> list[Finding]:
    """`judge` on a check's result: its findings and the ids it had no evidence for."""
    return judge(result.findings, requirement_ids, step, not_exercised=result.not_exercised,
                 not_applicable=result.not_applicable)


def record_judgements(relevant: Sequence[Finding], requirement_ids: Sequence[str], *,
                      not_exercised: Collection[str] = (), not_applicable: Collection[str] = ()) -> None:
    """One `arec.requirement` label per judged id on the scenario's result: the compliance
    matrix (harness.report.compliance) is built from these.

    A requirement counts as *passed* only from a step that passed as a whole and only with
    evidence: when a MUST of the step failed, the step's other ids without a finding of their own
    were not verified (e.g. "audio complete" next to "no recording file"), so they get no label
    here rather than a pass they did not earn; an id the evidence could not exercise is labelled
    "not exercised", one that does not apply to this recorder "not applicable"."""
    step_failed = any(f.severity is Severity.MUST for f in relevant)
    for requirement_id in dict.fromkeys(requirement_ids):
        own = [f.severity for f in relevant if f.requirement_id == requirement_id]
        if requirement_id in not_applicable and not own:
            add_label(REQUIREMENT_LABEL, judgement_label(requirement_id, Unjudged.NOT_APPLICABLE))
            continue
        if requirement_id in not_exercised and not own:
            add_label(REQUIREMENT_LABEL, judgement_label(requirement_id, Unjudged.NOT_EXERCISED))
            continue
        if step_failed and not own:
            continue
        add_label(REQUIREMENT_LABEL, judgement_label(requirement_id, Judgement.of(own)))


def attach_evidence(run: ScenarioRun) -> None:
    """Everything a reader needs to re-check the verdicts: capture, ladder, RTP, SIPp, files.

    Called after a failed step and again after the scenario: attached once."""
    if run.evidence_attached:
        return
    run.evidence_attached = True
    evidence = run.evidence()
    attach_text("capture method", f"{evidence.capture_method}\n{evidence.read_error or ''}".strip())
    # What the capture lost (tcpdump's counters, SIP put back from SIPp's logs) and the other
    # processes' traffic it held but the scenario did not judge.
    attach_text("capture completeness", evidence.capture_loss_summary())
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
                        text = path.read_text(errors="replace")
                        if path == leg.process.traces.stat_file:
                            text = sipp_stat_summary(text)
                        attach_text(f"SIPp {leg.name}: {path.name}", text[-_MAX_TRACE_CHARS:])
    if run.options_result is not None:
        attach_text("SIPp OPTIONS ping", run.options_result.summary())
    if evidence.recording_dir is not None and evidence.recording_dir.is_dir():
        _attach_recording(evidence.recording_dir, _expected_streams(run))


# The tail of a SIPp trace (the end of a call is where a failure shows); a 2-s call's message
# log is ~4 KB, so only runaway logs are cut.
_MAX_TRACE_CHARS = 50_000


def sipp_stat_summary(csv_text: str) -> str:
    """SIPp's -trace_stat CSV (a header and one row of ~90 counters per period) as the last
    period's non-zero counters, one `name: value` a line: what a reader looks for, at a tenth
    of the bytes. Not a CSV with a header and a row: returned as it is."""
    lines = [line for line in csv_text.splitlines() if line.strip()]
    if len(lines) < 2:
        return csv_text
    names, values = lines[0].rstrip(";").split(";"), lines[-1].rstrip(";").split(";")
    if len(names) != len(values):
        return csv_text
    kept = [f"{name}: {value}" for name, value in zip(names, values, strict=True)
            if value.strip() not in ("", "0", "00:00:00", "00:00:00:000000")]
    return f"last of {len(lines) - 1} periods, non-zero counters:\n" + "\n".join(kept) + "\n"


def _expected_streams(run: ScenarioRun) -> list[ExpectedStream]:
    # No active recording (the call never got that far): the picture shows what was decoded only.
    if run.active is None:
        return []
    try:
        return run.expected_streams()
    except Exception:  # evidence must never turn a verdict into an error
        _log.warning("no stream expectations for the recording picture", exc_info=True)
        return []


def _attach_recording(directory: Path, expected: list[ExpectedStream]) -> None:
    metadata = directory / "recording.json"
    if metadata.exists():
        try:
            attach_json("recording.json", json.loads(metadata.read_text()))
        except ValueError:
            attach_text("recording.json (not JSON)", metadata.read_text(errors="replace"))
    wavs = sorted(directory.glob("*.wav"))
    views: list[ChannelView] = []
    try:
        views = recording_views(directory, expected)
        if views:
            attach_svg("recording picture (time-code per channel)",
                       render_recording_svg(views, title=f"Recording {directory.parent.name}/{directory.name}"))
    except Exception:  # a picture must never turn a verdict into an error
        _log.warning("could not draw the recording of %s", directory, exc_info=True)
    # The WAVs go in once, as the players' µ-law rendering (harness.report.audio): attaching the
    # PCM originals as well tripled the report's audio bytes (issue 15: report at most 10 MB).
    if wavs:
        attach_html("recording (playable)", playable_recordings_html(wavs, captions_by_file(views)))


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
                    local = run.recorder.local_address
                    ports = [f"{local}:{s.local_port}" for s in leg.streams]
                    participants.append(Participant(f"{local}:{leg.process.local_port}",
                                                    f"Media Server leg {leg.name}", aliases=tuple(ports)))
    return render_ladder(rows, participants, title=f"SIP ladder - CallUUID {run.call.calluuid if run.call else '-'}")
