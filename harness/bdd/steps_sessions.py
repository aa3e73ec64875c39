"""Then steps on the recording sessions as the capture shows them: SIP dialogs, SDP answers, RTP
(seed steps 5-7 and 10) and the delivery of what Media Server sent to the recorder's port (step 6)."""

from __future__ import annotations

import pytest
from pytest_bdd import parsers, then

from harness.bdd.helpers import sessions_of_call, targets_of_call
from harness.bdd.stepdefs import step_fixtures
from harness.checks import initiation, media_control
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge
from harness.validators import sip as sip_checks
from harness.validators.rtp import SentStream, streams_received


@then(parsers.parse("the recorder received {count:d} recording sessions for the call"))
def _session_count(run: ScenarioRun, count: int) -> None:
    sessions = sessions_of_call(run)
    answered = sum(1 for d in sessions if d.final_status is not None and 200 <= d.final_status < 300)
    findings = list(run.evidence().sip.findings)
    path, calluuid = run.initiation_requirement, _calluuid(run)
    if count == 0:
        # No recording expected: the scenario is about a decision not to record (the DN option
        # absent, a rule that does not select the call, a disable_* override).
        ids = [initiation.no_recording_requirement(path)]
        findings += initiation.unexpected_sessions(path, answered, len(sessions), calluuid=calluuid)
    else:
        # Only the mode this scenario exercises is judged, with the path that started it.
        ids = sorted({"ARE-06-SINGLE-SESSION" if count == 1 else "ARE-06-TWO-INVITES-PER-CALL", path})
        findings += sip_checks.call_has_sessions(sessions, count, calluuid=calluuid)
        findings += initiation.initiated_sessions(path, answered, len(sessions), count, calluuid=calluuid)
    judge(findings, ids, "recording sessions per call")


def _calluuid(run: ScenarioRun) -> str | None:
    return run.call.calluuid if run.call is not None else None


@then("SIP Server asked Media Server to replicate 2 streams, one per party")
def _two_streams(run: ScenarioRun) -> None:
    assert run.call is not None
    on_wire: set[str] = set()
    for target in targets_of_call(run):
        on_wire |= {target.dn} | ({target.other_dn} if target.other_dn else set())
    judge(media_control.one_stream_per_party((run.call.customer_dn, run.call.agent_dn),
                                             [s.dn for s in run.job.streams] if run.job else None, on_wire,
                                             calluuid=run.call.calluuid),
          ["ARE-05-MEDIA-CONTROL-PER-PARTY"], "one replication per party")


@then("every recording INVITE Request-URI carries record, calluuid, dn and recordDN of the call")
def _ruri(run: ScenarioRun) -> None:
    assert run.job is not None
    findings = [*run.evidence().sip.findings,
                *sip_checks.ruri_matches_job(sessions_of_call(run), run.job.record_id, run.job.record_dn,
                                             calluuid=_calluuid(run))]
    judge(findings, ["ARE-06-RURI-PARAMS"], "recording Request-URI")


@then("every recording INVITE was answered 200 OK with a To tag and acknowledged")
def _dialogs_established(run: ScenarioRun) -> None:
    # The SIP validator judges the dialogs that were answered 2xx; a refused or unanswered
    # recording INVITE is the failure this step exists for.
    findings = [*run.evidence().sip.findings,
                *sip_checks.sessions_established(sessions_of_call(run), calluuid=_calluuid(run))]
    judge(findings, ["SIP-DIALOG-ESTABLISHED", "SIP-RESP-CODES", "SIP-MESSAGE-WELLFORMED"], "dialogs established")


@then("every SDP answer is recvonly on each audio m-line, in the offer's m-line order, with the offered codec")
def _sdp_answers(run: ScenarioRun) -> None:
    sessions = sessions_of_call(run)
    findings = [*run.evidence().sip.findings,
                *sip_checks.sessions_answered_with_sdp(sessions, calluuid=_calluuid(run))]
    # The video rule has evidence only when a video m-line was offered (and answered).
    video = any(m.kind == "video" for d in sessions for m in d.media)
    judge(findings,
          ["SDP-ANSWER-RECVONLY", "SDP-MLINE-ORDER", "SDP-CODEC-ACCEPTED", "SDP-VIDEO-REFUSED-PORT0"], "SDP answers",
          not_exercised=[] if video else ["SDP-VIDEO-REFUSED-PORT0"])


@then("each stream's RTP reached the port the recorder answered, with no loss")
def _rtp_received(run: ScenarioRun) -> None:
    evidence = run.evidence()
    sent: list[SentStream] | None = None
    if run.active is not None:
        sent = []
        for stream in run.active.streams:
            rows = [r for r in evidence.rtp.streams
                    if r.key[1] == stream.destination and r.key[0][1] == stream.local_port]
            sent.append(SentStream(stream.job.side.value, stream.destination, stream.packets_sent,
                                   sum(r.summary.packets for r in rows)))
    findings = [*evidence.rtp.findings, *streams_received(sent, calluuid=_calluuid(run))]
    # A capture rebuilt from the emulators' own logs (no tcpdump) cannot show media the recorder
    # sent itself: the recvonly rule then has no evidence.
    observed = evidence.capture_method == "tcpdump"
    judge(findings, ["RTP-STREAM-RECEIVED", "RTP-SEQ-CONTINUITY", "RTP-PT-MATCHES-SDP", "RTP-NO-MEDIA-ON-RECVONLY"],
          "RTP received", not_exercised=[] if observed else ["RTP-NO-MEDIA-ON-RECVONLY"])


@then("the recorder answered the OPTIONS ping")
def _options_ok(run: ScenarioRun) -> None:
    # The validator applies RFC 3261 §11.2 (200, or 503/486 with Retry-After at capacity); the
    # busy case is exercised only when the recorder was busy when pinged.
    evidence = run.evidence()
    busy = sip_checks.options_busy(sip_checks.options_answer_statuses(
        evidence.datagrams, (run.recorder.host, run.recorder.port)))
    findings = [*evidence.sip.findings, *sip_checks.options_seen(evidence.sip.options)]
    judge(findings, ["SIP-OPTIONS-200", "SIP-OPTIONS-BUSY-RETRY-AFTER"], "OPTIONS answered",
          not_exercised=[] if busy else ["SIP-OPTIONS-BUSY-RETRY-AFTER"])


@then("every BYE was answered 200 OK")
def _bye_ok(run: ScenarioRun) -> None:
    findings = [*run.evidence().sip.findings, *sip_checks.byes_answered(sessions_of_call(run), calluuid=_calluuid(run))]
    judge(findings, ["ARE-10-BYE-ENDS-STREAM"], "BYE answered")


# -- delivery: what Media Server sent vs what reached the recorder's port (step 6) ---------------

_DELIVERY_IDS = ["REP-SENT-RECEIVED", "REP-SENT-UNALTERED", "REP-SENT-NO-EXTRA", "REP-SENT-NO-DUPLICATE",
                 "REP-SENT-IN-ORDER", "REP-SENT-DELAY"]


def _delivery_table_html(rows: list[dict[str, object]]) -> str:
    import html

    if not rows:
        return "<p>no sent stream was addressed to the recorder</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape('-' if v is None else f'{v:.3f}' if isinstance(v, float) else str(v))}</td>"
                                    for v in row.values()) + "</tr>" for row in rows)
    return f"<table border='1' cellspacing='0'><tr>{head}</tr>{body}</table>"


@then("what Media Server sent reached the recorder's port unchanged")
def _delivered_unchanged(run: ScenarioRun) -> None:
    from harness.conformance.capture_loss import excuse_capture_loss
    from harness.report.attach import attach_html, attach_json, attach_pcap
    from harness.validate_cli import delivery_rows
    from harness.validators.delivery import compare_delivery, streams_compared

    evidence = run.evidence()
    # The synthetic capture is rebuilt from the sender's own log: comparing it with itself
    # would prove nothing, the recorder's side of the wire is not observed.
    if evidence.capture_method != "tcpdump":
        pytest.skip(f"not applicable: the received side is not observed ({evidence.capture_method})")
    if evidence.sent_pcap is None:
        pytest.skip("not applicable: the Media Server emulation sent no RTP")
    recorder_ports = [s.answer_endpoint for s in evidence.sip.negotiated if s.answer_endpoint is not None]
    report = compare_delivery(evidence.sent_pcap, evidence.pcap, recorder_ports)
    rows = delivery_rows(report)
    attach_json("delivery (sent -> recorder's port)", rows)
    attach_html("delivery (sent -> recorder's port)", _delivery_table_html(rows))
    attach_pcap(evidence.sent_pcap, "sent.pcap")
    # Packets the capture itself dropped are not the recorder's (harness.conformance.capture_loss).
    findings = excuse_capture_loss(report.findings, "REP-SENT-RECEIVED", sum(r.missing for r in report.streams),
                                   evidence.capture_dropped)
    assert run.active is not None
    findings = [*findings, *streams_compared(len(run.active.streams), len(report.streams))]
    judge(findings, _DELIVERY_IDS, "delivery to the recorder's port")


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())
