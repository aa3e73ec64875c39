"""Which check judges which requirement: one place per catalogue requirement.

For each requirement: the module that builds its findings and the function(s) there that judge
it (the first is the main one; the others add what only the scenario's facts show, in the same
module), whether a capture plus recordings is evidence enough (`offline`: `arec validate` can
apply it) and whether the live suite can exercise it at all (`live`).

`tests/unit/checks/test_registry.py` keeps this true: every catalogue id has exactly one entry,
every function exists, and no id is built into findings in any other module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["REGISTRY", "Judge", "judge_of", "offline_requirements"]


@dataclass(frozen=True, slots=True)
class Judge:
    requirement_id: str
    module: str
    functions: tuple[str, ...]
    offline: bool  # judged from a capture (+ recordings) alone: arec validate applies it
    live: bool = True  # the live suite can exercise it (False: only offline validation can)
    why: str = ""  # why it is live only / offline only
    # Judged only by a scenario that runs on demand (tag @soak: minutes long, never in the default
    # run); the matrix then says "on demand" instead of "not exercised" when it did not run.
    on_demand: bool = False

    @property
    def place(self) -> str:
        return f"{self.module}:{self.functions[0]}"

    def resolve(self) -> list[Callable[..., Any]]:
        module = importlib.import_module(self.module)
        return [getattr(module, name) for name in self.functions]


_SIP = "harness.validators.sip"
_RTP = "harness.validators.rtp"
_REC = "harness.validators.recording"
_REP = "harness.validators.replication"
_DEL = "harness.validators.delivery"
_INIT = "harness.checks.initiation"
_EDGE = "harness.checks.edge_cases"
_TLIB = "harness.checks.tlib"
_RUN = "harness.checks.recording"
_MEDIA = "harness.checks.media_control"
_SDP = "harness.checks.sdp_answers"
_HA = "harness.checks.high_availability"
_SIPREC = "harness.checks.siprec"
_MID = "harness.checks.midcall"
_IMP = "harness.checks.impaired_media"
_LONG = "harness.checks.long_calls"
_TX = "harness.checks.transactions"
_ST = "harness.checks.session_timers"

_JOB = "needs the scenario's recording job (SIP Server's decision)"
_TLIB_EVENTS = "needs the T-Lib requests and events the T-Server emulation saw"
_PROBE = "needs to know which probe the scenario sent (SIPp edge case)"
_IMPAIRED = "needs what the impaired Media Server emulation put on the wire (lost, late, duplicated, events)"

_ENTRIES: Final = (
    Judge("ARE-01-DN-ALWAYS-RECORD", _INIT, ("recording_decision", "unexpected_sessions"), False, why=_JOB),
    Judge("ARE-02-RULE-START", _INIT, ("recorder_rule_started", "initiated_sessions", "initiating_dn"), False,
          why=_TLIB_EVENTS),
    Judge("ARE-02-RULE-NO-MATCH", _INIT, ("recorder_rule_no_match", "unexpected_sessions"), False, why=_TLIB_EVENTS),
    Judge("ARE-02-START-REFUSED", _INIT, ("start_refused", "recorded_once"), False, why=_TLIB_EVENTS),
    Judge("ARE-03-THIRD-PARTY-START", _INIT, ("initiated_sessions", "initiating_dn"), False, why=_TLIB_EVENTS),
    Judge("ARE-04-ROUTE-RECORD", _INIT, ("initiated_sessions", "initiating_dn"), False, why=_TLIB_EVENTS),
    Judge("ARE-04-ROUTE-DISABLE", _INIT, ("unexpected_sessions", "initiated_sessions"), False, why=_TLIB_EVENTS),
    Judge("ARE-05-MEDIA-CONTROL-PER-PARTY", _MEDIA, ("one_stream_per_party",), False, why=_JOB),
    Judge("ARE-06-TWO-INVITES-PER-CALL", _SIP, ("validate_sip", "call_has_sessions"), True),
    Judge("ARE-06-SINGLE-SESSION", _SIP, ("validate_sip", "call_has_sessions"), True),
    Judge("ARE-06-RURI-PARAMS", _SIP, ("validate_sip", "ruri_matches_job"), True),
    Judge("SDP-ANSWER-RECVONLY", _SDP, ("check_answer_direction", "sessions_answered_with_sdp"), True),
    Judge("SDP-ANSWER-INACTIVE", _SDP, ("check_answer_direction",), True),
    Judge("SDP-ORIGIN-KEPT", _SDP, ("check_origin_kept",), True),
    Judge("SDP-MLINE-ORDER", _SIP, ("validate_sip",), True),
    Judge("SDP-VIDEO-REFUSED-PORT0", _SIP, ("validate_sip", "video_offer_accepted"), True),
    Judge("SDP-CODEC-ACCEPTED", _SIP, ("validate_sip",), True),
    Judge("SIP-DIALOG-ESTABLISHED", _SIP, ("validate_sip", "sessions_established"), True),
    Judge("SIP-REINVITE-ANSWERED", _SIP, ("validate_sip",), True),
    Judge("SIP-RESP-CODES", _SIP, ("validate_sip",), True),
    Judge("SIP-MESSAGE-WELLFORMED", _SIP, ("validate_sip",), True),
    Judge("SIP-OPTIONS-200", _SIP, ("validate_sip", "options_seen"), True),
    Judge("SIP-OPTIONS-BUSY-RETRY-AFTER", _SIP, ("validate_sip", "options_busy"), True, live=False,
          why="exercised only by an OPTIONS answered while the recorder is at capacity: the live suite "
              "never pings a full recorder, a capture of one does"),
    Judge("SIP-CAPACITY-503", _EDGE, ("beyond_capacity",), False, why=_PROBE),
    Judge("SIP-NO-CODEC-488", _EDGE, ("no_common_codec",), False, why=_PROBE),
    Judge("SIP-NO-CODEC-488-PREFERRED", _EDGE, ("no_common_codec",), False, why=_PROBE),
    Judge("SDP-CODEC-ACCEPT-OR-488", _EDGE, ("codec_accepted_or_488",), False, why=_PROBE),
    Judge("SIP-CANCEL-487", _EDGE, ("cancel_before_answer",), False, why=_PROBE),
    Judge("SIP-MALFORMED-400", _EDGE, ("malformed_request",), False, why=_PROBE),
    Judge("SIP-MALFORMED-ANSWERED-400", _EDGE, ("malformed_request",), False, why=_PROBE),
    Judge("RTP-STREAM-RECEIVED", _RTP, ("RtpAnalyzer", "streams_received"), True),
    Judge("RTP-NO-MEDIA-ON-RECVONLY", _RTP, ("RtpAnalyzer",), True),
    Judge("RTP-SEQ-CONTINUITY", _RTP, ("RtpAnalyzer",), True),
    Judge("RTP-PT-MATCHES-SDP", _RTP, ("RtpAnalyzer",), True),
    Judge("RTP-SSRC-CHANGE", _RTP, ("RtpAnalyzer",), True),
    Judge("REC-FILES-PRESENT", _REC, ("validate_recording", "recording_not_found"), True),
    Judge("REC-STREAM-CHANNEL", _REC, ("validate_recording",), True),
    Judge("REC-AUDIO-COMPLETE", _REC, ("validate_recording",), True),
    Judge("REC-METADATA", _REC, ("validate_recording", "metadata_expected"), True),
    Judge("REC-PAUSE-NO-AUDIO", _REC, ("validate_recording",), False,
          why="needs the pause intervals of the run-time control (T-Lib), which a capture does not carry"),
    Judge("REC-TIMECODE-ABSENT", _REC, ("timecode_absent",), True, live=False,
          why="INFO, about a capture whose RTP carries no arec time-code: the live suite always sends one"),
    Judge("ARE-10-BYE-ENDS-STREAM", _SIP, ("validate_sip", "byes_answered", "stream_ended_at_bye",
                                          "stream_continued_after_other_bye"), True),
    Judge("ARE-10-BYE-BEFORE-RTP", _RUN, ("bye_before_rtp",), False, why="needs to know no RTP was to be sent"),
    Judge("ARE-10-FILES-FINALISED", _REC, ("validate_recording",), True),
    Judge("REP-PAYLOAD-FIDELITY", _REP, ("validate_replication", "replicas_match_parties"), True),
    Judge("REP-SENT-RECEIVED", _DEL, ("compare_delivery", "streams_compared"), True),
    Judge("REP-SENT-UNALTERED", _DEL, ("compare_delivery",), True),
    Judge("REP-SENT-NO-EXTRA", _DEL, ("compare_delivery",), True),
    Judge("REP-SENT-NO-DUPLICATE", _DEL, ("compare_delivery",), True),
    Judge("REP-SENT-IN-ORDER", _DEL, ("compare_delivery",), True),
    Judge("REP-SENT-DELAY", _DEL, ("compare_delivery",), True),
    Judge("ARE-08-REGISTER-DNS", _TLIB, ("dn_registered",), False, why=_TLIB_EVENTS),
    Judge("ARE-08-ATTACHED-DATA", _TLIB, ("attached_data_kept",), False, why="needs the attached data the call carried"),
    Judge("ARE-08-ATTACHED-DATA-UPDATED", _TLIB, ("attached_data_kept",), False,
          why="needs the attached data the call carried"),
    Judge("ARE-09-PAUSE-BY-RECORDER", _TLIB, ("recorder_controlled",), False, why=_TLIB_EVENTS),
    Judge("ARE-09-CONTROL-ERRORS", _TLIB, ("control_error",), False, why=_TLIB_EVENTS),
    Judge("ARE-09-PAUSE-RESUME", _RUN, ("pause_resume_timeline",), False,
          why="needs the pause intervals of the run-time control (T-Lib)"),
    *(Judge(rid, _IMP, ("impaired_recording",), False, why=_IMPAIRED)
      for rid in ("REC-LOSS-SILENCE", "REC-REORDER-RESTORED", "REC-DUPLICATE-ONCE", "RTP-JUMP-RECORDED",
                  "RTP-SSRC-CHANGE-RECORDED", "REC-DTMF-NOT-AUDIO", "REC-CN-NOT-AUDIO")),
    Judge("REC-DTMF-METADATA", _IMP, ("dtmf_in_metadata",), False, why=_IMPAIRED),
    Judge("ARE-09-STOP-START", _RUN, ("stop_start",), False, why="needs the record ids of the control's history"),
    Judge("ARE-HA-POOL-OPTIONS", _HA, ("pool_members_in_rotation",), False,
          why="needs the Resource Manager emulation's view of its pool"),
    Judge("ARE-HA-FAILOVER-ACCEPTED", _HA, ("failover_sessions_accepted",), False,
          why="needs to know which sessions the new Media Server opened after the failure"),
    Judge("ARE-HA-DEAD-DIALOG-ENDED", _HA, ("dead_dialogs_ended",), False,
          why="needs to know which dialogs died with the Media Server, and when"),
    Judge("ARE-HA-FAILOVER-RECORDING", _HA, ("failover_recording_complete",), False,
          why="needs to know what each Media Server sent, before and after the failover"),
    Judge("ARE-HA-FAILOVER-GAP", _HA, ("failover_gap_marked",), False,
          why="needs to know when each Media Server sent, before and after the failover"),
    Judge("ARE-HA-CRASH-RECORDING-READABLE", _HA, ("crash_recording_readable",), False,
          why="needs to know when the recorder was killed and what was sent until then"),
    Judge("SRS-OFFER-SIPREC", _SIPREC, ("check_rs_offer",), True),
    Judge("SRS-OFFER-LABELS", _SIPREC, ("check_rs_offer",), True),
    Judge("SRS-METADATA-WELLFORMED", _SIPREC, ("check_rs_offer",), True),
    Judge("SRS-METADATA-LABELS-ASSOCIATED", _SIPREC, ("check_rs_offer",), True),
    Judge("SRS-RS-ACCEPTED", _SIPREC, ("check_rs_answer", "recording_session_seen"), True),
    Judge("SRS-FEATURE-TAG", _SIPREC, ("check_rs_answer",), True),
    Judge("SRS-NO-INITIAL-METADATA", _SIPREC, ("check_rs_answer",), True),
    Judge("SRS-EXTENSIONS-IGNORED", _SIPREC, ("check_rs_answer",), True),
    Judge("SRS-NOT-RS", _SIPREC, ("not_a_recording_session",), True),
    Judge("SRS-REQUIRE-420", _SIPREC, ("extension_refused",), False, why=_PROBE),
    # Offline: `arec validate --recordings` on the reference layout (harness.offline.recordings);
    # a profile's own participant_map file is read live only.
    Judge("SRS-METADATA-KEPT", _SIPREC, ("metadata_kept",), True),
    Judge("SRS-PARTICIPANT-AUDIO", _SIPREC, ("participant_audio",), True),
    Judge("SRS-NEW-STREAM-ACCEPTED", _SIPREC, ("new_stream_accepted",), False,
          why="live only for now: the SIP validator does not hand a re-offer's previous labels to it yet"),
    Judge("SRS-SNAPSHOT-REQUEST", _SIPREC, ("snapshot_requested",), False,
          why="needs to know the SRS was left without metadata long enough to ask (the scenario withholds it)"),
    Judge("ARE-07-XFER-KEEPS-RECORDING", _MID, ("transfer_kept_recording",), False,
          why="needs the mid-call changes the Media Server emulation made (which stream, when, answered)"),
    Judge("ARE-07-HOLD-WALL-CLOCK", _MID, ("hold_kept_timeline",), False,
          why="needs the hold intervals the Media Server emulation acted out"),
    Judge("ARE-07-CODEC-CHANGE", _MID, ("codec_change_decoded",), False,
          why="needs the mid-call changes the Media Server emulation made"),
    Judge("ARE-10-XFER-STICKY-SIDE", _MID, ("sticky_side_followed",), False,
          why="needs SIP Server's decision that the transfer ends the recording"),
    Judge("ARE-07-CONFERENCE-SUPERVISOR", _MID, ("supervisor_stream_recorded",), False,
          why="needs to know which session is the supervisor's that joined"),
    Judge("ARE-07-CONSULT-SEPARATE", _MID, ("consultation_recorded",), False,
          why="needs SIP Server's decision to record the consultation (record-consult-calls)"),
    Judge("ARE-17-MULTISITE-ONE-INTERACTION", _MID, ("multisite_one_interaction",), False,
          why="needs the call's ConnIDs before and after the transfer and the recorder's T-Lib requests"),
    Judge("RTP-WRAP-RECORDED", _LONG, ("wraps_recorded",), False,
          why="needs where each stream's sent RTP wrapped (the Media Server emulation's packets)"),
    Judge("SIP-INVITE-RETRANS-ONE-SESSION", _TX, ("invite_retransmission",), False, why=_PROBE),
    Judge("SIP-SESSION-TIMER-422", _ST, ("too_small_interval",), False, why=_PROBE),
    Judge("SIP-SESSION-TIMER-REFRESH", _ST, ("refreshes_answered",), False, why=_PROBE),
    Judge("SIP-SESSION-TIMER-EXPIRY", _ST, ("session_expiry",), False, on_demand=True,
          why="needs the probe whose refreshes stop (100 s, on demand: @soak) and the recording's end time"),
)

REGISTRY: Final[Mapping[str, Judge]] = {j.requirement_id: j for j in _ENTRIES}


def judge_of(requirement_id: str) -> Judge:
    try:
        return REGISTRY[requirement_id]
    except KeyError:
        raise KeyError(f"{requirement_id} has no judging place in harness.checks.registry") from None


def offline_requirements() -> list[Judge]:
    """The requirements `arec validate` can judge from a capture plus recordings."""
    return [j for j in _ENTRIES if j.offline]
