"""Then steps on the recording sessions as the capture shows them: SIP dialogs, SDP answers, RTP
(seed steps 5-7 and 10) and the delivery of what Media Server sent to the recorder's port (step 6)."""

from __future__ import annotations

import pytest
from pytest_bdd import parsers, then

from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge, violation
from harness.spec.findings import Finding
from harness.bdd.helpers import sessions_of_call, targets_of_call
from harness.bdd.stepdefs import step_fixtures


@then(parsers.parse("the recorder received {count:d} recording sessions for the call"))
def _session_count(run: ScenarioRun, count: int) -> None:
    sessions = sessions_of_call(run)
    answered = [d for d in sessions if d.final_status is not None and 200 <= d.final_status < 300]
    findings = list(run.evidence().sip.findings)
    if count == 0:
        # No recording expected: the scenario is about a decision not to record (the DN option
        # absent, a rule that does not select the call, a disable_* override).
        requirement = {"ARE-02-RULE-START": "ARE-02-RULE-NO-MATCH"}.get(run.initiation_requirement,
                                                                       run.initiation_requirement)
        if requirement.startswith("ARE-06-"):
            requirement = "ARE-01-DN-ALWAYS-RECORD"
        ids = [requirement]
    else:
        # Only the mode this scenario exercises is judged, with the path that started it.
        requirement = "ARE-06-SINGLE-SESSION" if count == 1 else run.initiation_requirement
        ids = sorted({"ARE-06-SINGLE-SESSION" if count == 1 else "ARE-06-TWO-INVITES-PER-CALL",
                      run.initiation_requirement})
    if len(answered) != count:
        findings.append(violation(
            requirement, f"the recorder established {len(answered)} recording session(s) for the call "
            f"({len(sessions)} INVITE(s) seen in the capture)", observed=str(len(answered)), expected=str(count)))
    judge(findings, ids, "recording sessions per call")


@then("SIP Server asked Media Server to replicate 2 streams, one per party")
def _two_streams(run: ScenarioRun) -> None:
    findings: list[Finding] = []
    assert run.call is not None
    if run.job is None or {s.dn for s in run.job.streams} != {run.call.customer_dn, run.call.agent_dn}:
        findings.append(violation("ARE-05-MEDIA-CONTROL-PER-PARTY", "replication job does not cover both parties",
                                  observed=str(run.job and [s.dn for s in run.job.streams]),
                                  expected=f"{run.call.customer_dn} and {run.call.agent_dn}"))
    on_wire = set()
    for target in targets_of_call(run):
        on_wire |= {target.dn} | ({target.other_dn} if target.other_dn else set())
    if on_wire != {run.call.customer_dn, run.call.agent_dn}:
        findings.append(violation("ARE-05-MEDIA-CONTROL-PER-PARTY",
                                  "the recording sessions on the wire do not carry one stream per party",
                                  observed=",".join(sorted(on_wire)) or "none",
                                  expected=f"{run.call.customer_dn},{run.call.agent_dn}"))
    judge(findings, ["ARE-05-MEDIA-CONTROL-PER-PARTY"], "one replication per party")


@then("every recording INVITE Request-URI carries record, calluuid, dn and recordDN of the call")
def _ruri(run: ScenarioRun) -> None:
    findings = list(run.evidence().sip.findings)
    assert run.job is not None
    for target in targets_of_call(run):
        if target.record_id != run.job.record_id or target.record_dn != run.job.record_dn:
            findings.append(violation("ARE-06-RURI-PARAMS", "Request-URI context differs from the recording job",
                                      observed=f"record={target.record_id};recordDN={target.record_dn}",
                                      expected=f"record={run.job.record_id};recordDN={run.job.record_dn}"))
    if not sessions_of_call(run):
        findings.append(violation("ARE-06-RURI-PARAMS", "no recording INVITE for the call in the capture"))
    judge(findings, ["ARE-06-RURI-PARAMS"], "recording Request-URI")


@then("every recording INVITE was answered 200 OK with a To tag and acknowledged")
def _dialogs_established(run: ScenarioRun) -> None:
    findings = list(run.evidence().sip.findings)
    # The SIP validator judges the dialogs that were answered 2xx; a refused or unanswered
    # recording INVITE is the failure this step exists for.
    sessions = sessions_of_call(run)
    findings += [violation("SIP-DIALOG-ESTABLISHED", f"recording INVITE {d.call_id} answered "
                           f"{d.final_status or 'nothing'}", observed=str(d.final_status or "no answer"),
                           expected="2xx")
                 for d in sessions if d.final_status is None or not 200 <= d.final_status < 300]
    if not sessions:
        findings.append(violation("SIP-DIALOG-ESTABLISHED", "no recording INVITE for the call in the capture"))
    judge(findings, ["SIP-DIALOG-ESTABLISHED", "SIP-RESP-CODES", "SIP-MESSAGE-WELLFORMED"], "dialogs established")


@then("every SDP answer is recvonly on each audio m-line, in the offer's m-line order, with the offered codec")
def _sdp_answers(run: ScenarioRun) -> None:
    findings = list(run.evidence().sip.findings)
    findings += [violation("SDP-ANSWER-RECVONLY", f"recording session {d.call_id} has no SDP answer "
                           f"(final status {d.final_status or 'none'})", observed="no answer", expected="recvonly answer")
                 for d in sessions_of_call(run) if not d.media]
    if not sessions_of_call(run):
        findings.append(violation("SDP-ANSWER-RECVONLY", "no recording session for the call in the capture"))
    judge(findings,
          ["SDP-ANSWER-RECVONLY", "SDP-MLINE-ORDER", "SDP-CODEC-ACCEPTED", "SDP-VIDEO-REFUSED-PORT0"], "SDP answers")


@then("each stream's RTP reached the port the recorder answered, with no loss")
def _rtp_received(run: ScenarioRun) -> None:
    evidence = run.evidence()
    findings = list(evidence.rtp.findings)
    if run.active is None:
        findings.append(violation("RTP-STREAM-RECEIVED", "no recording was set up, so no RTP reached the recorder"))
    for stream in run.active.streams if run.active is not None else ():
        if stream.destination is None:
            findings.append(violation("RTP-STREAM-RECEIVED", f"{stream.job.side.value} stream: no RTP could be sent "
                                      "(the recorder gave no media address for it)", observed="no destination",
                                      expected="RTP at the answered port"))
            continue
        sent = stream.packets_sent
        rows = [r for r in evidence.rtp.streams if r.key[1] == stream.destination and r.key[0][1] == stream.local_port]
        received = sum(r.summary.packets for r in rows)
        if received != sent:
            findings.append(violation("RTP-STREAM-RECEIVED", f"{stream.job.side.value} stream: {sent} packets sent, "
                                      f"{received} seen arriving at the recorder's port {stream.destination}",
                                      observed=str(received), expected=str(sent)))
    judge(findings, ["RTP-STREAM-RECEIVED", "RTP-SEQ-CONTINUITY", "RTP-PT-MATCHES-SDP", "RTP-NO-MEDIA-ON-RECVONLY"],
          "RTP received")


@then("the recorder answered the OPTIONS ping")
def _options_ok(run: ScenarioRun) -> None:
    # The validator applies RFC 3261 §11.2 (200, or 503/486 with Retry-After at capacity).
    sip = run.evidence().sip
    ids = ["SIP-OPTIONS-200", "SIP-OPTIONS-BUSY-RETRY-AFTER"]
    findings = [f for f in sip.findings if f.requirement_id in ids]
    if sip.options == 0:
        findings.append(violation("SIP-OPTIONS-200", "no OPTIONS ping to the recorder in the capture",
                                  observed="no OPTIONS", expected="OPTIONS answered"))
    judge(findings, ids, "OPTIONS answered")


@then("every BYE was answered 200 OK")
def _bye_ok(run: ScenarioRun) -> None:
    findings = list(run.evidence().sip.findings)
    if not any(d.byes for d in sessions_of_call(run)):
        findings.append(violation("ARE-10-BYE-ENDS-STREAM", "no recording session of the call was established, so "
                                  "no BYE ended one", observed="no BYE in a dialog", expected="BYE answered 200"))
    for dialog in sessions_of_call(run):
        if dialog.byes and dialog.bye_status != 200:
            findings.append(violation("ARE-10-BYE-ENDS-STREAM", f"BYE on {dialog.call_id} answered "
                                      f"{dialog.bye_status}", observed=str(dialog.bye_status), expected="200"))
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
    from harness.validators.delivery import compare_delivery

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
    if len(report.streams) < len(run.active.streams):
        findings.append(violation("REP-SENT-RECEIVED", f"{len(run.active.streams)} stream(s) sent, "
                                  f"{len(report.streams)} judged against the recorder's port",
                                  observed=str(len(report.streams)), expected=str(len(run.active.streams))))
    judge(findings, _DELIVERY_IDS, "delivery to the recorder's port")


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())
