"""Session timers (RFC 4028) on the recording dialogs, judged on the recorder's answers.

A Media Server may keep its recording dialogs alive with session timers: Session-Expires in the
INVITE, refreshed by re-INVITE or UPDATE (§7.4). A recorder that uses them must refuse an
interval below its minimum with 422 and a Min-SE of at least 90 s (§4: the minimum "MUST NOT be
less than 90 seconds"; §9: "reject the request with a 422 ... MUST contain a Min-SE header"),
never grant less than 90 s, and answer every refresh 2xx with the Session-Expires in force (§9
applies to each session refresh request); otherwise the Media Server ends the recording at
expiry (§10). A recorder that does not use session timers (no Session-Expires in its 2xx) is
allowed by RFC 4028 (the refresher side then keeps the session alive): the 422 rule is then not
applicable, while the refreshes must still be answered 2xx (an UPDATE may get 405 / 501 when
the recorder's Allow does not list it).

Evidence, from the capture (harness/protocol/sip/session_timer.py parses the headers): the
final response to an INVITE asking for too small an interval, and the final responses to the
refresh requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.checks._finding import CheckResult, violation
from harness.protocol.sip.session_timer import MIN_SE_FLOOR

__all__ = ["Refresh", "refreshes_answered", "session_expiry", "too_small_interval"]


def too_small_interval(requested: int, status: int | None, min_se: int | None, granted: int | None, *,
                       call_id: str | None = None) -> CheckResult:
    """SIP-SESSION-TIMER-422: the answer to an INVITE whose Session-Expires (`requested`) is
    below 90 s. `min_se`: the Min-SE of a 422; `granted`: the Session-Expires of a 2xx."""
    rid = "SIP-SESSION-TIMER-422"
    if status is None:
        return CheckResult([violation(rid, f"no final response to an INVITE with Session-Expires {requested}",
                                      "no final response", f"422 with Min-SE >= {MIN_SE_FLOOR}", call_id=call_id)])
    if status == 422:
        if min_se is None or min_se < MIN_SE_FLOOR or min_se <= requested:
            return CheckResult([violation(
                rid, f"422 to Session-Expires {requested} with Min-SE {min_se if min_se is not None else 'missing'}: "
                f"it must name the recorder's minimum, at least {MIN_SE_FLOOR} s (RFC 4028 §4, §9)",
                f"Min-SE {min_se}", f"Min-SE >= {MIN_SE_FLOOR}", call_id=call_id)])
        return CheckResult()
    if 200 <= status < 300:
        if granted is None:
            return CheckResult(not_applicable=frozenset({rid}))  # no session timer on this dialog
        if granted < MIN_SE_FLOOR:
            return CheckResult([violation(
                rid, f"the recorder accepted a session interval of {granted} s (asked: {requested}); below "
                f"{MIN_SE_FLOOR} s it must answer 422 with Min-SE (RFC 4028 §4, §9)", f"{status}, Session-Expires "
                f"{granted}", f"422 with Min-SE >= {MIN_SE_FLOOR}", call_id=call_id)])
        return CheckResult()
    return CheckResult([violation(rid, f"{status} to an INVITE with Session-Expires {requested}", str(status),
                                  f"422 with Min-SE >= {MIN_SE_FLOOR}", call_id=call_id)])


@dataclass(frozen=True, slots=True)
class Refresh:
    """One session refresh request and the recorder's final response to it."""

    method: str  # "INVITE" (re-INVITE) or "UPDATE"
    status: int | None
    session_expires: int | None  # in the 2xx


def refreshes_answered(initial_session_expires: int | None, refreshes: Sequence[Refresh], *, allows_update: bool,
                       call_id: str | None = None) -> CheckResult:
    """SIP-SESSION-TIMER-REFRESH: each refresh answered 2xx, with Session-Expires when the
    recorder's 2xx to the INVITE carried one. No refresh sent: not exercised."""
    rid = "SIP-SESSION-TIMER-REFRESH"
    if not refreshes:
        return CheckResult(not_exercised=frozenset({rid}))
    findings = []
    for refresh in refreshes:
        what = "re-INVITE" if refresh.method == "INVITE" else refresh.method
        if refresh.method == "UPDATE" and refresh.status in (405, 501) and not allows_update:
            continue  # RFC 3311 is optional: the Media Server refreshes by re-INVITE instead (§7.4)
        if refresh.status is None or not 200 <= refresh.status < 300:
            findings.append(violation(rid, f"session refresh by {what} answered {refresh.status or 'nothing'}",
                                      str(refresh.status), "2xx", call_id=call_id))
        elif initial_session_expires is not None and refresh.session_expires is None:
            findings.append(violation(
                rid, f"session refresh by {what} answered {refresh.status} without Session-Expires, although the "
                f"session runs with a {initial_session_expires} s timer (RFC 4028 §9)", "no Session-Expires",
                "Session-Expires", call_id=call_id))
    return CheckResult(findings)


def session_expiry(granted: int | None, answered_at: float, ended_at: float | None, recorder_bye_at: float | None,
                   *, call_id: str | None = None) -> CheckResult:
    """SIP-SESSION-TIMER-EXPIRY: with a `granted` interval (refresher=uac) and no refresh after
    the 2xx at `answered_at`, the recorder ends the session by the expiry with a BYE of its own
    (`recorder_bye_at`), RFC 4028 §10: "it SHOULD send a BYE to terminate the session, slightly
    before the session expiration". Ending only its recording (`ended_at`, from its metadata)
    leaves the dialog open on the Media Server: a finding, which says so. All on the capture's
    wall clock. No session timer: not applicable."""
    rid = "SIP-SESSION-TIMER-EXPIRY"
    if granted is None:
        return CheckResult(not_applicable=frozenset({rid}))
    expiry = answered_at + granted
    if recorder_bye_at is not None and recorder_bye_at <= expiry:
        return CheckResult()
    if recorder_bye_at is not None:
        seen = f"BYE {recorder_bye_at - answered_at:.1f} s after the 2xx"
    elif ended_at is not None:
        seen = f"recording ended {ended_at - answered_at:.1f} s after the 2xx, no BYE"
    else:
        seen = "never (no BYE, no end in metadata)"
    return CheckResult([violation(
        rid, f"the refreshes stopped, the {granted} s session interval ran out, and the recorder ended the session: "
        f"{seen} (RFC 4028 §10: BYE slightly before expiry)", seen, f"BYE by {granted} s after the 2xx",
        call_id=call_id)])
