"""The Genesys Active Recording Ecosystem recording-session Request-URI (GVP-MSRec; docs/genesys-flow.md §4.2).

Media Server opens each recording session with an INVITE whose Request-URI carries the call
context the recorder needs, because in ARE mode there is no SIPREC metadata body:

    two sessions:  sip:record=<id>@<recorder>;calluuid=<CallUUID>;dn=DN1;recordDN=DN1
                   sip:record=<id>@<recorder>;calluuid=<CallUUID>;dn=DN2;recordDN=DN1
    one session:   sip:record=<id>@<recorder>;calluuid=<CallUUID>;dn=DN1;otherDN=DN2;recordDN=DN1

`calluuid` correlates the sessions of one call (it survives transfers and sites, unlike the
ConnID), `dn` is the stream's identity, `recordDN` the DN that initiated recording.
URI parameter names are compared case-insensitively (RFC 3261 §19.1.4), so `CallUUID`,
`RECORDDN` are accepted. Built and parsed here, once, for the recorder, the Media Server
emulation and the validators alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.uri import SipUri

RECORD_USER_PREFIX = "record="
# Parameters that are part of the recording context; anything else is kept as "extra".
_CONTEXT_PARAMS = ("calluuid", "dn", "recorddn", "otherdn")


@dataclass(frozen=True, slots=True)
class RecordingTarget:
    """The recording context one ARE recording-session INVITE carries in its Request-URI."""

    record_id: str
    calluuid: str
    dn: str
    record_dn: str | None
    other_dn: str | None = None
    extra: tuple[tuple[str, str | None], ...] = ()

    @property
    def single_session(self) -> bool:
        """One session carrying both parties' streams (GVP-MSRec 'otherDN' form)."""
        return self.other_dn is not None


def parse_recording_uri(uri: SipUri) -> RecordingTarget:
    """Read the recording context; a URI that is not an ARE recording URI is a remote error.

    404: the user part is not `record=<id>` (RFC 3261 §21.4.5, "the user does not exist at the
    domain specified in the Request-URI" — this is not a recording target).
    400: a recording URI without `calluuid` or `dn`: the recorder could not correlate or label
    the stream, and Genesys always sends both (GVP-MSRec).
    """
    user = unquote(uri.user or "")
    if not user.lower().startswith(RECORD_USER_PREFIX):
        raise RemoteProtocolError(f"Request-URI user part {user!r} is not record=<id>", 404, "Not Found")
    record_id = user[len(RECORD_USER_PREFIX):]
    if not record_id:
        raise RemoteProtocolError("empty record id in Request-URI", 400, "Missing record id")
    calluuid = uri.param("calluuid")
    if not calluuid:
        raise RemoteProtocolError("Request-URI has no calluuid parameter", 400, "Missing calluuid")
    dn = uri.param("dn")
    if not dn:
        raise RemoteProtocolError("Request-URI has no dn parameter", 400, "Missing dn")
    extra = tuple((n, v) for n, v in uri.params if n.lower() not in _CONTEXT_PARAMS)
    return RecordingTarget(
        record_id=record_id,
        calluuid=unquote(calluuid),
        dn=unquote(dn),
        record_dn=_unquoted(uri.param("recordDN")),
        other_dn=_unquoted(uri.param("otherDN")),
        extra=extra,
    )


def build_recording_uri(target: RecordingTarget, host: str, port: int | None = None) -> SipUri:
    """The Request-URI Media Server puts on the recording INVITE (docs/genesys-flow.md §4.8)."""
    params: list[tuple[str, str | None]] = [("calluuid", target.calluuid), ("dn", target.dn)]
    if target.other_dn is not None:
        params.append(("otherDN", target.other_dn))
    if target.record_dn is not None:
        params.append(("recordDN", target.record_dn))
    params.extend(target.extra)
    return SipUri(scheme="sip", user=RECORD_USER_PREFIX + target.record_id, password=None,
                  host=host, port=port, params=tuple(params))


def _unquoted(value: str | None) -> str | None:
    return None if value is None else unquote(value)
