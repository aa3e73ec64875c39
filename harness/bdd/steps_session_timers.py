"""Steps on session timers (RFC 4028) of the recording dialogs (features/12_long_calls_and_timers.feature):
the SIPp probes edge_se_small_uac.xml (too small an interval) and edge_se_refresh_uac.xml
(refresh by re-INVITE, then by UPDATE), judged on the capture (harness.checks.session_timers)."""

from __future__ import annotations

import json

from pytest_bdd import then, when

from harness.bdd.stepdefs import step_fixtures
from harness.bdd.steps_edge_cases import _edge_events, _edge_offer, _edge_probe
from harness.checks import session_timers
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge_result
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.message import SipRequest, SipResponse
from harness.protocol.sip.session_timer import parse_min_se, parse_session_expires
from harness.validators.sip import SipEvent

TOO_SMALL_S = 30  # what edge_se_small_uac.xml asks for: below the 90 s floor (RFC 4028 §4)


def _final(events: list[SipEvent], method: str, cseq: int) -> SipResponse | None:
    return next((e.message for e in events if isinstance(e.message, SipResponse) and e.message.status >= 200
                 and e.message.cseq.method == method and e.message.cseq.number == cseq), None)


def _session_expires(response: SipResponse | None) -> int | None:
    value = None if response is None or not 200 <= response.status < 300 else response.headers.get("Session-Expires")
    try:
        return None if value is None else parse_session_expires(value).interval
    except RemoteProtocolError:
        return None  # malformed: as good as absent (SIP-MESSAGE-WELLFORMED judges the syntax)


@when("the Media Server side asks for a session interval below 90 seconds")
def _too_small(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    edge_calls["se-small"] = _edge_probe(run, "se-small", "edge_se_small_uac", _edge_offer(run, [("audio", "0", "PCMU/8000")]))


@then("the recorder answered 422 with a Min-SE of at least 90 seconds, or does not use session timers")
def _answered_422(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    call_id = edge_calls["se-small"]
    final = _final(_edge_events(run, call_id), "INVITE", 1)
    min_se = None
    if final is not None and final.status == 422 and final.headers.get("Min-SE") is not None:
        try:
            min_se = parse_min_se(final.headers.get("Min-SE") or "")
        except RemoteProtocolError:
            min_se = None
    result = session_timers.too_small_interval(TOO_SMALL_S, final.status if final else None, min_se,
                                               _session_expires(final), call_id=call_id)
    judge_result(result, ["SIP-SESSION-TIMER-422"], "422 to too small a session interval")


@when("the Media Server side refreshes its recording session by re-INVITE and then by UPDATE")
def _refresh(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    edge_calls["se-refresh"] = _edge_probe(run, "se-refresh", "edge_se_refresh_uac",
                                           _edge_offer(run, [("audio", "0", "PCMU/8000")]))


@then("the recorder answered each refresh 2xx, with Session-Expires when it uses session timers")
def _refreshed(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    call_id = edge_calls["se-refresh"]
    events = _edge_events(run, call_id)
    initial = _final(events, "INVITE", 1)
    allows = {value.strip().upper() for e in events if isinstance(e.message, SipResponse)
              for value in e.message.headers.get_all("Allow")}
    refreshes = [session_timers.Refresh(method, response.status if response else None, _session_expires(response))
                 for method, cseq in (("INVITE", 2), ("UPDATE", 3))
                 for response in [_final(events, method, cseq)]]
    # Only refreshes that went out count (the probe stops when the INVITE is refused).
    sent = {(e.message.method, e.message.cseq.number) for e in events if not isinstance(e.message, SipResponse)}
    refreshes = [r for r, cseq in zip(refreshes, (2, 3), strict=True) if (r.method, cseq) in sent]
    result = session_timers.refreshes_answered(_session_expires(initial), refreshes, allows_update="UPDATE" in allows,
                                               call_id=call_id)
    judge_result(result, ["SIP-SESSION-TIMER-REFRESH"], "session refreshes answered")


@when("the Media Server side stops refreshing its recording session for longer than its interval")
def _refreshes_stop(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    edge_calls["se-expiry"] = _edge_probe(run, "se-expiry", "edge_se_expiry_uac",
                                          # Inactive: no RTP, and no RTP timeout ends it first.
                                          _edge_offer(run, [("audio", "0", "PCMU/8000")], inactive=True),
                                          timeout=150.0)


def _recording_end(run: ScenarioRun, call_id: str) -> float | None:
    """When the recorder ended the probe's stream, on the wall clock: the reference layout's
    recording.json (t0 + the stream's ended_at); None: no such metadata."""
    root = run.recorder.recordings
    for path in sorted(root.rglob("recording.json")) if root is not None else []:
        doc = json.loads(path.read_text(encoding="utf-8"))
        for stream in doc.get("streams", []):
            if stream.get("call_id") == call_id and stream.get("ended_at") is not None:
                return float(doc["t0"]) + float(stream["ended_at"])
    return None


@then("the recorder ended the recording session by its expiry")
def _ended_by_expiry(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    call_id = edge_calls["se-expiry"]
    events = _edge_events(run, call_id)
    answered = next((e for e in events if isinstance(e.message, SipResponse) and e.message.status == 200
                     and e.message.cseq.method == "INVITE"), None)
    recorder = (run.recorder.host, run.recorder.port)
    recorder_bye = next((e.timestamp for e in events if isinstance(e.message, SipRequest)
                         and e.message.method == "BYE" and e.src == recorder), None)
    granted = _session_expires(answered.message) if answered is not None and isinstance(answered.message,
                                                                                        SipResponse) else None
    result = session_timers.session_expiry(granted, answered.timestamp if answered else 0.0,
                                           _recording_end(run, call_id), recorder_bye, call_id=call_id)
    judge_result(result, ["SIP-SESSION-TIMER-EXPIRY"], "session ended by its expiry")


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())
