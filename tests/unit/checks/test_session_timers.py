"""harness.checks.session_timers: bad answers fail with the right id, good ones pass, a recorder
without session timers is not applicable to the 422 rule, no refresh is not exercised."""

from __future__ import annotations

from harness.checks.session_timers import Refresh, refreshes_answered, too_small_interval


def test_422_with_a_min_se_of_at_least_90_passes() -> None:
    assert too_small_interval(30, 422, 90, None).findings == []


def test_422_without_or_with_too_small_a_min_se_fails() -> None:
    for min_se in (None, 60, 30):
        (finding,) = too_small_interval(30, 422, min_se, None, call_id="c").findings
        assert finding.requirement_id == "SIP-SESSION-TIMER-422" and finding.call_id == "c"


def test_granting_30_seconds_fails_and_not_using_timers_is_not_applicable() -> None:
    (finding,) = too_small_interval(30, 200, None, 30).findings
    assert finding.requirement_id == "SIP-SESSION-TIMER-422" and "30 s" in finding.message
    assert too_small_interval(30, 200, None, 90).findings == []
    result = too_small_interval(30, 200, None, None)
    assert result.findings == [] and result.not_applicable == {"SIP-SESSION-TIMER-422"}


def test_no_answer_or_another_refusal_fails() -> None:
    assert [f.requirement_id for f in too_small_interval(30, None, None, None).findings] == ["SIP-SESSION-TIMER-422"]
    assert [f.requirement_id for f in too_small_interval(30, 488, None, None).findings] == ["SIP-SESSION-TIMER-422"]


def test_refreshes_answered_with_session_expires_pass() -> None:
    refreshes = [Refresh("INVITE", 200, 120), Refresh("UPDATE", 200, 120)]
    assert refreshes_answered(120, refreshes, allows_update=True).findings == []


def test_a_refresh_without_session_expires_or_refused_fails() -> None:
    findings = refreshes_answered(120, [Refresh("INVITE", 200, None), Refresh("UPDATE", 481, None)],
                                  allows_update=True, call_id="c").findings
    assert [f.requirement_id for f in findings] == ["SIP-SESSION-TIMER-REFRESH"] * 2
    assert "without Session-Expires" in findings[0].message and "481" in findings[1].message


def test_update_refused_405_is_excused_only_when_not_allowed_and_no_timer_needs_no_session_expires() -> None:
    assert refreshes_answered(None, [Refresh("INVITE", 200, None), Refresh("UPDATE", 405, None)],
                              allows_update=False).findings == []
    assert len(refreshes_answered(None, [Refresh("UPDATE", 405, None)], allows_update=True).findings) == 1
    assert refreshes_answered(120, [], allows_update=True).not_exercised == {"SIP-SESSION-TIMER-REFRESH"}


def test_session_expiry() -> None:
    from harness.checks.session_timers import session_expiry

    assert session_expiry(90, 100.0, 160.0, 160.0).findings == []  # BYE 60 s after the 2xx (§10)
    assert session_expiry(90, 100.0, None, 170.0).findings == []  # a BYE of its own before expiry
    # Only the recording ended, no BYE: the Media Server's dialog stays open (RFC 4028 §10 SHOULD).
    (no_bye,) = session_expiry(90, 100.0, 160.0, None, call_id="c").findings
    assert "no BYE" in no_bye.message and no_bye.requirement_id == "SIP-SESSION-TIMER-EXPIRY"
    assert len(session_expiry(90, 100.0, None, 195.0).findings) == 1  # BYE after the expiry
    (finding,) = session_expiry(90, 100.0, 200.0, None, call_id="c").findings
    assert finding.requirement_id == "SIP-SESSION-TIMER-EXPIRY" and "100.0 s after" in finding.message
    assert [f.requirement_id for f in session_expiry(90, 100.0, None, None).findings] == ["SIP-SESSION-TIMER-EXPIRY"]
    assert session_expiry(None, 100.0, None, None).not_applicable == {"SIP-SESSION-TIMER-EXPIRY"}
