"""The high-availability checks: bad evidence gives the right finding, good evidence none."""

from __future__ import annotations

from harness.checks.high_availability import (
    CrashedStream,
    DeadDialog,
    FailoverSession,
    FailoverStreamAudio,
    crash_recording_readable,
    dead_dialogs_ended,
    failover_recording_complete,
    failover_sessions_accepted,
    pool_members_in_rotation,
)
from harness.protocol.sip.resource_manager import MemberDown, MemberUp, SessionRouted

A = ("127.0.0.1", 6001)
B = ("127.0.0.1", 6002)


def test_a_member_that_left_a_ping_unanswered_is_a_finding() -> None:
    events = [MemberDown(B, 1.0, "OPTIONS unanswered"), MemberUp(B, 2.0)]
    (finding,) = pool_members_in_rotation(events, [A, B], name={B: "B"})
    assert finding.requirement_id == "ARE-HA-POOL-OPTIONS" and "B" in finding.message


def test_members_that_answered_every_ping_and_an_invite_timeout_are_no_finding() -> None:
    # An unanswered INVITE is the pool's try-next path, not an OPTIONS failure.
    events = [SessionRouted("c1", A, 0.5, "1"), MemberDown(A, 3.0, "INVITE unanswered")]
    assert pool_members_in_rotation(events, [A, B]) == []


def test_a_refused_or_unanswered_failover_session_is_a_finding() -> None:
    findings = failover_sessions_accepted([FailoverSession("7001", "c1", 482), FailoverSession("5551", "c2", None),
                                           FailoverSession("5552", "c3", 200)], calluuid="U")
    assert [(f.requirement_id, f.call_id) for f in findings] == [("ARE-HA-FAILOVER-ACCEPTED", "c1"),
                                                                 ("ARE-HA-FAILOVER-ACCEPTED", "c2")]
    assert failover_sessions_accepted([]) != []


def test_accepted_failover_sessions_are_no_finding() -> None:
    assert failover_sessions_accepted([FailoverSession("7001", "c1", 200), FailoverSession("5551", "c2", 200)]) == []


def test_a_dead_dialog_never_or_late_ended_is_a_finding() -> None:
    findings = dead_dialogs_ended([DeadDialog("c1", None), DeadDialog("c2", 9.0), DeadDialog("c3", 3.2)], 6.0)
    assert [(f.requirement_id, f.call_id) for f in findings] == [("ARE-HA-DEAD-DIALOG-ENDED", "c1"),
                                                                 ("ARE-HA-DEAD-DIALOG-ENDED", "c2")]
    assert dead_dialogs_ended([DeadDialog("c1", 3.1)], 6.0) == []


def test_an_unreadable_or_short_crash_recording_is_a_finding() -> None:
    findings = crash_recording_readable([CrashedStream("7001", None, None, 3, "no such file"),
                                         CrashedStream("5551", "stream-1-5551.wav", (0, 1), 3)], calluuid="U")
    assert [(f.requirement_id, f.stream) for f in findings] == [("ARE-HA-CRASH-RECORDING-READABLE", "7001"),
                                                                ("ARE-HA-CRASH-RECORDING-READABLE", "5551")]


def test_a_crash_recording_holding_the_call_up_to_the_bound_is_no_finding() -> None:
    assert crash_recording_readable([CrashedStream("7001", "stream-2-7001.wav", (0, 1, 2, 3), 3)]) == []


def test_a_failover_recording_missing_a_part_or_filling_the_gap_is_a_finding() -> None:
    before, after = (0, 1, 2, 3), (8, 9, 10)
    lost_after = FailoverStreamAudio("7001", frozenset(before), before, after)
    (finding,) = failover_recording_complete([lost_after], calluuid="U")
    assert finding.requirement_id == "ARE-HA-FAILOVER-RECORDING" and "after the failover" in finding.message
    filled = FailoverStreamAudio("7001", frozenset(range(0, 11)), before, after)
    (finding,) = failover_recording_complete([filled])
    assert "outage" in finding.message


def test_a_failover_recording_with_both_parts_and_the_gap_is_no_finding() -> None:
    before, after = (0, 1, 2, 3), (8, 9, 10)
    # The segment each Media Server sent in part at its edge (4, 7) may be decoded: no finding.
    audio = FailoverStreamAudio("7001", frozenset({*before, 4, 7, *after}), before, after)
    assert failover_recording_complete([audio]) == []


def test_failover_gap_as_long_as_the_outage_and_marked_passes() -> None:
    from harness.checks.high_availability import FailoverGap, failover_gap_marked

    good = FailoverGap("7001", 0.62, (1.02, 1.66), ((1.03, 1.65),))
    assert failover_gap_marked([good]) == []
    assert failover_gap_marked([FailoverGap("7001", 0.62, (1.02, 1.66), None)]) == []  # no metadata to read


def test_failover_gap_closed_is_a_finding() -> None:
    from harness.checks.high_availability import FailoverGap, failover_gap_marked

    # The new Media Server's audio placed right after the old: no gap, the outage was 0.62 s.
    (finding,) = failover_gap_marked([FailoverGap("7001", 0.62, (1.02, 1.02), ((1.02, 1.02),))], calluuid="C")
    assert finding.requirement_id == "ARE-HA-FAILOVER-GAP" and "moved earlier" in finding.message
    assert finding.stream == "7001" and finding.calluuid == "C"


def test_failover_gap_not_marked_or_not_located_is_a_finding() -> None:
    from harness.checks.high_availability import FailoverGap, failover_gap_marked

    (unmarked,) = failover_gap_marked([FailoverGap("7001", 0.62, (1.02, 1.66), ())])
    assert "not marked" in unmarked.message
    (elsewhere,) = failover_gap_marked([FailoverGap("7001", 0.62, (1.02, 1.66), ((3.0, 3.64),))])
    assert "not marked" in elsewhere.message
    (lost,) = failover_gap_marked([FailoverGap("7001", 0.62, None, None)])
    assert "could not be located" in lost.message
