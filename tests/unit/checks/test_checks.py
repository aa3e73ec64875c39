"""Every check function: a bad input gives the right finding (right requirement id, what it is
about), a good input none."""

from __future__ import annotations

from harness.checks import edge_cases, initiation, media_control, tlib
from harness.checks import recording as recording_checks
from harness.checks._finding import CheckResult, violation
from harness.media.timecode import SEGMENT_SAMPLES
from harness.protocol.genesys import RecordingTarget
from harness.spec.findings import Finding, Severity
from harness.validators import sip as sip_checks
from harness.validators.delivery import streams_compared
from harness.validators.recording import ExpectedStream, recording_not_found, timecode_absent
from harness.validators.replication import PartyReplica, ReplicaPair, replicas_match_parties
from harness.validators.rtp import SentStream, streams_received
from harness.validators.sip import SipDialogSummary


def _ids(findings: list[Finding]) -> list[str]:
    return [f.requirement_id for f in findings]


def test_violation_takes_the_catalogue_severity_and_what_it_is_about() -> None:
    f = violation("SIP-CAPACITY-503", "x", call_id="c1", calluuid="u1", stream="7001")
    assert (f.severity, f.call_id, f.calluuid, f.stream) == (Severity.SHOULD, "c1", "u1", "7001")
    result = CheckResult.of([f]) + CheckResult(not_exercised=frozenset({"SIP-OPTIONS-200"}))
    assert result.findings == [f] and result.not_exercised == {"SIP-OPTIONS-200"}


# -- initiation (steps 1-4) ----------------------------------------------------------------------

def test_recording_decision() -> None:
    assert initiation.recording_decision("7001", "7001") == []
    assert initiation.recording_decision(None, None) == []
    assert _ids(initiation.recording_decision(None, "7001")) == ["ARE-01-DN-ALWAYS-RECORD"]
    assert initiation.recording_decision("5551234", "7001")[0].observed == "5551234"
    assert _ids(initiation.recording_decision("7001", None, trigger="dn")) == ["ARE-01-DN-ALWAYS-RECORD"]


def test_initiation_paths_judge_their_own_requirement() -> None:
    assert initiation.no_recording_requirement("ARE-02-RULE-START") == "ARE-02-RULE-NO-MATCH"
    assert initiation.no_recording_requirement("ARE-06-TWO-INVITES-PER-CALL") == "ARE-01-DN-ALWAYS-RECORD"
    assert _ids(initiation.unexpected_sessions("ARE-04-ROUTE-DISABLE", 2, 2)) == ["ARE-04-ROUTE-DISABLE"]
    assert initiation.unexpected_sessions("ARE-04-ROUTE-DISABLE", 0, 0) == []
    assert _ids(initiation.initiated_sessions("ARE-03-THIRD-PARTY-START", 0, 0, 2)) == ["ARE-03-THIRD-PARTY-START"]
    assert initiation.initiated_sessions("ARE-03-THIRD-PARTY-START", 2, 2, 2) == []
    # The DN option's session count is the SIP validator's (harness.validators.sip).
    assert initiation.initiated_sessions("ARE-06-TWO-INVITES-PER-CALL", 0, 0, 2) == []


def test_initiating_dn() -> None:
    assert initiation.initiating_dn("ARE-03-THIRD-PARTY-START", [("7001", "7100"), ("5551234", "7100")], "7100") == []
    bad = initiation.initiating_dn("ARE-03-THIRD-PARTY-START", [("7001", "7001")], "7100")
    assert _ids(bad) == ["ARE-03-THIRD-PARTY-START"] and bad[0].stream == "7001"
    assert _ids(initiation.initiating_dn("ARE-04-ROUTE-RECORD", [], "7001")) == ["ARE-04-ROUTE-RECORD"]


def test_recorder_rule_start_and_no_match() -> None:
    ack = initiation.RecorderStart("7001", "EventACK")
    assert initiation.recorder_rule_started([ack], "7001") == []
    assert _ids(initiation.recorder_rule_started([], "7001")) == ["ARE-02-RULE-START"]
    assert _ids(initiation.recorder_rule_started([initiation.RecorderStart("7001", "EventError")], "7001")) \
        == ["ARE-02-RULE-START"]
    assert initiation.recorder_rule_started([initiation.RecorderStart("7002", "EventACK")], "7001")[0].observed \
        == "7002"
    assert initiation.recorder_rule_no_match([]) == []
    assert _ids(initiation.recorder_rule_no_match([ack])) == ["ARE-02-RULE-NO-MATCH"]


def test_start_refused_and_recorded_once() -> None:
    assert initiation.start_refused([initiation.RecorderStart("7001", "EventError")], True) == []
    assert _ids(initiation.start_refused([initiation.RecorderStart("7001", "EventACK")], True)) \
        == ["ARE-02-START-REFUSED"]
    assert _ids(initiation.start_refused([initiation.RecorderStart("7001", "EventError")], False)) \
        == ["ARE-02-START-REFUSED"]
    assert initiation.recorded_once(["dn"]) == []
    assert _ids(initiation.recorded_once(["dn", "recorder"])) == ["ARE-02-START-REFUSED"]


def test_one_stream_per_party() -> None:
    assert media_control.one_stream_per_party(["1", "2"], ["1", "2"], {"1", "2"}) == []
    assert _ids(media_control.one_stream_per_party(["1", "2"], None, {"1", "2"})) == ["ARE-05-MEDIA-CONTROL-PER-PARTY"]
    assert _ids(media_control.one_stream_per_party(["1", "2"], ["1", "2"], {"1"})) == ["ARE-05-MEDIA-CONTROL-PER-PARTY"]


# -- edge cases (step 6) -------------------------------------------------------------------------

def test_no_common_codec_follows_rfc_3264_section_6() -> None:
    """Before: a 200 rejecting the stream (m=audio 0) failed the MUST SIP-NO-CODEC-488. After:
    RFC 3264 §6 allows it, it is the SHOULD warning; accepting the stream is the MUST failure."""
    assert edge_cases.no_common_codec(488, [], "X/8000") == []
    rejected = edge_cases.no_common_codec(200, [0], "X/8000", call_id="c")
    assert _ids(rejected) == ["SIP-NO-CODEC-488-PREFERRED"] and rejected[0].severity is Severity.SHOULD
    accepted = edge_cases.no_common_codec(200, [40000], "X/8000", call_id="c")
    assert _ids(accepted) == ["SIP-NO-CODEC-488"] and accepted[0].severity is Severity.MUST
    assert accepted[0].call_id == "c"
    assert _ids(edge_cases.no_common_codec(None, [], "X/8000")) == ["SIP-NO-CODEC-488"]
    assert _ids(edge_cases.no_common_codec(415, [], "X/8000")) == ["SIP-NO-CODEC-488-PREFERRED"]


def test_cancel_before_answer() -> None:
    assert edge_cases.cancel_before_answer(True, 200, 487) == []
    assert _ids(edge_cases.cancel_before_answer(False, None, 200)) == ["SIP-CANCEL-487"]
    assert _ids(edge_cases.cancel_before_answer(True, 200, 200)) == ["SIP-CANCEL-487"]


def test_malformed_request() -> None:
    assert edge_cases.malformed_request(400, 200, 200, 200) == []
    assert _ids(edge_cases.malformed_request(200, 200, 200, 200)) == ["SIP-MALFORMED-400"]
    assert _ids(edge_cases.malformed_request(None, 200, 200, 200)) == ["SIP-MALFORMED-ANSWERED-400"]
    assert _ids(edge_cases.malformed_request(400, None, 200, 200)) == ["SIP-MALFORMED-400"]
    assert edge_cases.malformed_request(400, 200, 486, None) == []  # a refused INVITE has no BYE


def test_beyond_capacity() -> None:
    assert edge_cases.beyond_capacity({"a": 200, "b": 200, "c": 503}, 2) == []
    silent = edge_cases.beyond_capacity({"a": 200, "b": 200, "c": None}, 2)
    assert _ids(silent) == ["SIP-CAPACITY-503"] and silent[0].call_id == "c" and "dropped silently" in silent[0].message
    assert _ids(edge_cases.beyond_capacity({"a": 200, "b": 200, "c": 200}, 2)) == ["SIP-CAPACITY-503"]
    assert _ids(edge_cases.beyond_capacity({"a": 200, "b": 486, "c": 503}, 2)) == ["SIP-CAPACITY-503"] * 2


# -- T-Lib (steps 8, 9) --------------------------------------------------------------------------

def test_tlib_checks() -> None:
    assert tlib.dn_registered("7001", True, 5) == []
    assert _ids(tlib.dn_registered("7001", False, 5)) == ["ARE-08-REGISTER-DNS"]
    assert tlib.attached_data_kept({"k": "v"}, "k", "v", updated=False) == []
    assert _ids(tlib.attached_data_kept({}, "k", "v", updated=False)) == ["ARE-08-ATTACHED-DATA"]
    assert _ids(tlib.attached_data_kept({"k": "old"}, "k", "v", updated=True)) == ["ARE-08-ATTACHED-DATA-UPDATED"]
    assert tlib.recorder_controlled("pause", True, "PCI", "on", 5, []) == []
    assert _ids(tlib.recorder_controlled("pause", False, "PCI", "on", 5, [])) == ["ARE-09-PAUSE-BY-RECORDER"]
    assert tlib.control_error("EventError 1234", 1234, 1234) == []
    assert _ids(tlib.control_error("EventACK", None, 1234)) == ["ARE-09-CONTROL-ERRORS"]


# -- recording, run-time control and the end of the call (steps 9, 10) ---------------------------

def test_pause_resume_timeline_reads_the_completeness_findings_by_their_fields() -> None:
    gap = Finding("REC-AUDIO-COMPLETE", Severity.MUST, "duration off", stream="7001")
    other = Finding("REC-PAUSE-NO-AUDIO", Severity.MUST, "REC-AUDIO-COMPLETE in the text only", stream="7001")
    derived = recording_checks.pause_resume_timeline([gap, other, gap], "rtp-stops")
    assert _ids(derived) == ["ARE-09-PAUSE-RESUME"] and derived[0].stream == "7001"
    assert recording_checks.pause_resume_timeline([other], "rtp-stops") == []


def test_stop_start_and_bye_before_rtp() -> None:
    assert recording_checks.stop_start(["r1", "r1-R1"]) == []
    assert _ids(recording_checks.stop_start(["r1"])) == ["ARE-09-STOP-START"]
    assert recording_checks.bye_before_rtp(2) == []
    assert _ids(recording_checks.bye_before_rtp(0)) == ["ARE-10-BYE-BEFORE-RTP"]


def test_paused_segment_tolerance_of_one_packet_at_each_pause_edge() -> None:
    """Before: a segment overlapping the pause by one packet counted as recorded while paused
    (REC-PAUSE-NO-AUDIO for a recorder that only concatenates packets). After: one 20 ms packet
    of tolerance at each edge; a segment inside the pause still counts."""
    pause = (3 * SEGMENT_SAMPLES - 160, 6 * SEGMENT_SAMPLES + 160)  # one packet into segments 2 and 6
    exp = ExpectedStream(0, "7001", 0, 9, paused_segments=frozenset({2, 3, 4, 5, 6}), pauses=(pause,))
    assert exp.forbidden_segments == {3, 4, 5}
    wider = ExpectedStream(0, "7001", 0, 9, paused_segments=frozenset({2, 3}),
                           pauses=((3 * SEGMENT_SAMPLES - 161, 4 * SEGMENT_SAMPLES),))
    assert wider.forbidden_segments == {2, 3}
    assert ExpectedStream(0, "7001", 0, 9, paused_segments=frozenset({2})).forbidden_segments == {2}


def test_recording_helpers_say_what_they_are_about() -> None:
    missing = recording_not_found("no files of recording r2", calluuid="u")
    assert (missing.requirement_id, missing.calluuid) == ("REC-FILES-PRESENT", "u")
    absent = timecode_absent(("127.0.0.1", 4000), "7001", "not compared")
    assert (absent.requirement_id, absent.severity, absent.stream) == ("REC-TIMECODE-ABSENT", Severity.INFO, "7001")


# -- the scenario-fact checks next to the validators ---------------------------------------------

def _dialog(call_id: str, final: int | None, *, byes: int = 0, bye_status: int | None = None,
            target: RecordingTarget | None = None) -> SipDialogSummary:
    return SipDialogSummary(call_id, final_status=final, byes=byes, bye_status=bye_status, target=target)


def test_sip_session_checks() -> None:
    assert _ids(sip_checks.call_has_sessions([], 2)) == ["ARE-06-TWO-INVITES-PER-CALL"]
    assert _ids(sip_checks.call_has_sessions([], 1)) == ["ARE-06-SINGLE-SESSION"]
    assert sip_checks.call_has_sessions([_dialog("a", 200)], 2) == []
    assert sip_checks.sessions_established([_dialog("a", 200)]) == []
    refused = sip_checks.sessions_established([_dialog("a", 486)])
    assert _ids(refused) == ["SIP-DIALOG-ESTABLISHED"] and refused[0].call_id == "a"
    assert _ids(sip_checks.sessions_established([])) == ["SIP-DIALOG-ESTABLISHED"]
    assert _ids(sip_checks.sessions_answered_with_sdp([_dialog("a", 200)])) == ["SDP-ANSWER-RECVONLY"]
    assert _ids(sip_checks.options_seen(0)) == ["SIP-OPTIONS-200"] and sip_checks.options_seen(1) == []
    assert sip_checks.options_busy([503]) and not sip_checks.options_busy([200])
    assert sip_checks.video_offer_accepted(_dialog("v", 200), "v") == []
    assert _ids(sip_checks.video_offer_accepted(_dialog("v", 488), "v")) == ["SDP-VIDEO-REFUSED-PORT0"]


def test_ruri_matches_job() -> None:
    target = RecordingTarget(record_id="r1", calluuid="u", dn="7001", record_dn="7001")
    assert sip_checks.ruri_matches_job([_dialog("a", 200, target=target)], "r1", "7001") == []
    assert _ids(sip_checks.ruri_matches_job([_dialog("a", 200, target=target)], "r2", "7001")) == ["ARE-06-RURI-PARAMS"]
    assert _ids(sip_checks.ruri_matches_job([], "r1", "7001")) == ["ARE-06-RURI-PARAMS"]


def test_bye_ends_its_own_stream() -> None:
    assert sip_checks.byes_answered([_dialog("a", 200, byes=1, bye_status=200)]) == []
    assert _ids(sip_checks.byes_answered([_dialog("a", 200)])) == ["ARE-10-BYE-ENDS-STREAM"]
    assert _ids(sip_checks.byes_answered([_dialog("a", 200, byes=1, bye_status=481)])) == ["ARE-10-BYE-ENDS-STREAM"]
    assert sip_checks.stream_ended_at_bye("5551234", 2.1, 2.0) == []
    early = sip_checks.stream_ended_at_bye("7001", 2.0, 4.0, other_bye_at=2.0)
    assert _ids(early) == ["ARE-10-BYE-ENDS-STREAM"] and "other stream's BYE" in early[0].message
    assert _ids(sip_checks.stream_ended_at_bye("7001", None, 4.0)) == ["ARE-10-BYE-ENDS-STREAM"]
    gap = Finding("REC-AUDIO-COMPLETE", Severity.MUST, "missing 10-19", stream="7001")
    assert _ids(sip_checks.stream_continued_after_other_bye("7001", [gap])) == ["ARE-10-BYE-ENDS-STREAM"]
    assert sip_checks.stream_continued_after_other_bye("7001", []) == []


def test_rtp_delivery_and_replication_checks() -> None:
    ep = ("127.0.0.1", 4000)
    assert streams_received([SentStream("customer", ep, 100, 100)]) == []
    short = streams_received([SentStream("customer", ep, 100, 90)])
    assert _ids(short) == ["RTP-STREAM-RECEIVED"] and short[0].stream == "customer"
    assert _ids(streams_received([SentStream("agent", None, 0, 0)])) == ["RTP-STREAM-RECEIVED"]
    assert _ids(streams_received(None)) == ["RTP-STREAM-RECEIVED"]
    assert streams_compared(2, 2) == [] and _ids(streams_compared(2, 1)) == ["REP-SENT-RECEIVED"]
    a, b, rec = ("127.0.0.1", 1), ("127.0.0.1", 2), ("127.0.0.1", 9)
    pair = ReplicaPair((a, b, 1), (("127.0.0.1", 5), rec, 2), 10, 0, 0, 0.1, 0.2, 0.3, 7, 1.0)
    good = PartyReplica("customer", (("127.0.0.1", 5), rec), (a, b))
    assert replicas_match_parties([good], [pair]) == []
    crossed = PartyReplica("customer", (("127.0.0.1", 5), rec), (b, a))
    assert _ids(replicas_match_parties([crossed], [pair])) == ["REP-PAYLOAD-FIDELITY"]
    assert _ids(replicas_match_parties([good], [])) == ["REP-PAYLOAD-FIDELITY"]
