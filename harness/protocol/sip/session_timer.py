"""SIP session timers (RFC 4028): the Session-Expires and Min-SE headers, and the UAS's answer.

Sans-IO and pure: the one parser of these headers (the recorder answers with it, the checks
read the capture with it).

RFC 4028 facts used:
* §4: `Session-Expires = ("Session-Expires" / "x") HCOLON delta-seconds *(SEMI se-params)`,
  `se-params = refresher-param / generic-param`, `refresher-param = "refresher" EQUAL ("uas" / "uac")`;
  §5: `Min-SE = "Min-SE" HCOLON delta-seconds *(SEMI generic-param)`.
* §4 / §5: the minimum session interval "MUST NOT be less than 90 seconds".
* §8.1 / §9: a UAS whose minimum is larger than the request's Session-Expires MUST reject it
  with 422 (Session Interval Too Small) carrying a Min-SE header with its minimum.
* §9: when the UAC supports timers (Supported: timer) the UAS chooses the refresher if the
  request did not ("uac" here: the Media Server that offers refreshes), copies the interval into
  the 2xx, and with refresher=uac "MUST place a Require header field into the response with the
  value 'timer'". Each session refresh request (re-INVITE or UPDATE, §7.4) is answered the same
  way. When the UAC does not support timers, a UAS choosing refresher=uas would have to refresh
  itself; the recorder declines instead and answers without Session-Expires (it is not using
  session timers on that dialog).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.message import SipRequest

__all__ = ["MIN_SE_FLOOR", "SessionExpires", "TimerAnswer", "parse_min_se", "parse_session_expires",
           "uas_session_timer"]

MIN_SE_FLOOR: Final = 90  # RFC 4028 §4: "MUST NOT be less than 90 seconds"


@dataclass(frozen=True, slots=True)
class SessionExpires:
    interval: int  # delta-seconds
    refresher: str | None  # "uac" / "uas" / None (not given)

    def render(self) -> str:
        return f"{self.interval};refresher={self.refresher}" if self.refresher else str(self.interval)


def _delta_seconds(text: str, what: str) -> int:
    value = text.strip()
    if not value.isdigit() or len(value) > 10:
        raise RemoteProtocolError(f"{what} is not delta-seconds: {text!r}")
    return int(value)


def parse_session_expires(value: str) -> SessionExpires:
    """The Session-Expires header value (RFC 4028 §4); RemoteProtocolError (400) when malformed."""
    delta, *params = value.split(";")
    refresher = None
    for param in params:
        name, _, val = param.partition("=")
        if name.strip().lower() == "refresher":
            refresher = val.strip().lower()
            if refresher not in ("uac", "uas"):
                raise RemoteProtocolError(f"Session-Expires refresher must be uac or uas, got {val!r}")
    return SessionExpires(_delta_seconds(delta, "Session-Expires"), refresher)


def parse_min_se(value: str) -> int:
    """The Min-SE header value (RFC 4028 §5)."""
    return _delta_seconds(value.split(";", 1)[0], "Min-SE")


@dataclass(frozen=True, slots=True)
class TimerAnswer:
    """The headers the UAS's 2xx carries for the session timer, and the interval in force."""

    granted: SessionExpires | None  # None: no session timer on this dialog
    headers: tuple[tuple[str, str], ...]


def uas_session_timer(request: SipRequest, min_se: int = MIN_SE_FLOOR) -> TimerAnswer:
    """What a UAS answers to an INVITE / re-INVITE / UPDATE about the session timer (RFC 4028 §9).

    Raises RemoteProtocolError 422 with Min-SE when the requested interval is below `min_se`."""
    if min_se < MIN_SE_FLOOR:
        raise ValueError(f"a minimum session interval below {MIN_SE_FLOOR} s is not allowed (RFC 4028 §4)")
    raw = request.headers.get("Session-Expires")
    supported = any(v.strip().lower() == "timer" for v in request.headers.get_all("Supported"))
    if raw is None:
        return TimerAnswer(None, (("Supported", "timer"),))
    requested = parse_session_expires(raw)
    if requested.interval < min_se:
        raise RemoteProtocolError(f"Session-Expires {requested.interval} below our minimum {min_se}", 422,
                                  "Session Interval Too Small", (("Min-SE", str(min_se)),))
    if not supported:
        return TimerAnswer(None, (("Supported", "timer"),))
    granted = SessionExpires(requested.interval, requested.refresher or "uac")
    headers: list[tuple[str, str]] = [("Session-Expires", granted.render()), ("Supported", "timer")]
    if granted.refresher == "uac":
        headers.append(("Require", "timer"))
    return TimerAnswer(granted, tuple(headers))
