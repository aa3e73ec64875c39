"""SIP validator for ARE recording sessions seen in a capture (RFC 3261 §8.2, §12.1, §13.3, §17;
RFC 3264 §6, §6.1; GVP-MSRec Request-URI; Genesys ARE-Flow steps 6 and 10).

Input: classified datagrams (`harness.validators.pcap.read_capture`). SIP over UDP is parsed per
datagram; SIP over TCP is framed per direction with `StreamFramer` (a `stream_gap` starts a new
framer: bytes after a hole cannot be trusted to align with a message boundary).

Checks, per Call-ID (one recording session each):
* every message parses (SIP-MESSAGE-WELLFORMED, with the packet index);
* responses match a request by top Via branch + CSeq; every request other than ACK gets a final
  response (SIP-RESP-CODES — RFC 3261 §17.1.3, §8.2.6);
* the INVITE gets a final response; a 2xx has a To tag and is ACKed (SIP-DIALOG-ESTABLISHED —
  §12.1.1 "the UAS MUST add a tag to the To header field", §13.2.2.4 the UAC MUST ACK each 2xx);
* SDP answer: same m-line count/order (SDP-MLINE-ORDER, RFC 3264 §6 "the answer MUST contain
  exactly the same number of m= lines as the offer"), recvonly/inactive for a sendonly offer
  (SDP-ANSWER-RECVONLY, §6.1), video refused with port 0 by an audio-only recorder
  (SDP-VIDEO-REFUSED-PORT0), answered codecs among the offered (SDP-CODEC-ACCEPTED, §6.1);
* BYE answered 2xx (ARE-10-BYE-ENDS-STREAM);
* an out-of-dialog OPTIONS (no To tag, RFC 3261 §11) to the recorder gets a final response
  before its transaction times out (SIP-OPTIONS-200, MUST: the Resource Manager's liveness
  ping; Timer F = 64*T1 = 32 s, §17.1.2.2). §11.2: "The response code chosen MUST be the same
  that would have been chosen had the request been an INVITE. That is, a 200 (OK) would be
  returned if the UAS is ready to accept a call, a 486 (Busy Here) would be returned if the UAS
  is busy" — so 2xx (ready) and 503/486 (at capacity, SIP-CAPACITY-503) pass; any other status
  tells the Resource Manager the recorder would refuse sessions, and is a MUST finding. A busy
  answer without Retry-After (§20.33, §21.5.4) is a SHOULD finding
  (SIP-OPTIONS-BUSY-RETRY-AFTER): the Resource Manager cannot tell when to ping again;
* the INVITE Request-URI is a Genesys recording URI with record/calluuid/dn/recordDN
  (ARE-06-RURI-PARAMS), and the sessions of one calluuid match the expected mode
  (ARE-06-TWO-INVITES-PER-CALL / ARE-06-SINGLE-SESSION).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.genesys import RecordingTarget, parse_recording_uri
from harness.protocol.sdp import Direction, SessionDescription, parse_sdp
from harness.protocol.sip.headers import Via
from harness.protocol.sip.message import (
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    parse_message,
)
from harness.spec.catalogue import requirement
from harness.spec.findings import Evidence, Finding
from harness.validators.model import Datagram, Endpoint, NegotiatedStream, PayloadKind, Transport

__all__ = ["EMITTED_REQUIREMENTS", "ExpectedMode", "SipDialogSummary", "SipEvent", "SipReport",
           "sip_events", "validate_sip"]

EMITTED_REQUIREMENTS = (
    "SIP-MESSAGE-WELLFORMED", "SIP-RESP-CODES", "SIP-DIALOG-ESTABLISHED", "SDP-MLINE-ORDER",
    "SDP-ANSWER-RECVONLY", "SDP-VIDEO-REFUSED-PORT0", "SDP-CODEC-ACCEPTED", "ARE-10-BYE-ENDS-STREAM",
    "ARE-06-RURI-PARAMS", "ARE-06-TWO-INVITES-PER-CALL", "ARE-06-SINGLE-SESSION", "SIP-OPTIONS-200",
    "SIP-OPTIONS-BUSY-RETRY-AFTER",
)

# RFC 3261 §17.1.2.2 Timer F (64*T1, T1 = 500 ms): the OPTIONS client transaction gives up.
OPTIONS_TIMEOUT_S = 32.0
# §11.2: what an INVITE gets from a busy UAS (503: at capacity, §21.5.4; 486: busy, §21.4.24).
_BUSY_STATUSES = frozenset({486, 503})


class ExpectedMode(enum.Enum):
    TWO_SESSIONS = "two-sessions"  # one INVITE per party stream, sharing calluuid
    SINGLE_SESSION = "single-session"  # one INVITE with dn + otherDN and two audio m-lines
    ANY = "any"  # do not check the leg count


@dataclass(frozen=True, slots=True)
class SipEvent:
    index: int
    timestamp: float
    src: Endpoint
    dst: Endpoint
    message: SipMessage


@dataclass(slots=True)
class SipDialogSummary:
    """What happened on one Call-ID (one recording session)."""

    call_id: str
    invite: SipEvent | None = None
    target: RecordingTarget | None = None
    final_status: int | None = None
    to_tag: str | None = None
    acked: bool = False
    bye_status: int | None = None
    byes: int = 0
    media: list[NegotiatedStream] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SipReport:
    findings: list[Finding]
    dialogs: dict[str, SipDialogSummary]
    options: int = 0  # out-of-dialog OPTIONS requests judged (SIP-OPTIONS-200)

    @property
    def negotiated(self) -> list[NegotiatedStream]:
        return [m for d in self.dialogs.values() for m in d.media]


def _finding(req_id: str, message: str, index: int | None, ts: float | None, line: str | None,
             observed: str | None = None, expected: str | None = None, *, call_id: str | None = None,
             calluuid: str | None = None) -> Finding:
    return Finding(req_id, requirement(req_id).severity, message, Evidence(index, ts, line), observed, expected,
                   calluuid=calluuid, call_id=call_id)


# The Call-ID header of a message that does not parse (RFC 3261 §20.8, compact form "i").
_CALL_ID_HEADER = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")


def _raw_call_id(payload: bytes) -> str | None:
    match = _CALL_ID_HEADER.search(payload)
    return match.group(1).decode("utf-8", "replace") if match else None


def _tag_calls(findings: list[Finding], call_of_packet: dict[int, str],
               dialogs: dict[str, SipDialogSummary]) -> list[Finding]:
    """Fill each finding's Call-ID (from the packet it points at) and CallUUID (from its dialog's
    recording Request-URI, GVP-MSRec), so grouping never reads message text."""
    out = []
    for f in findings:
        call_id = f.call_id
        if call_id is None and f.evidence.packet_index is not None:
            call_id = call_of_packet.get(f.evidence.packet_index)
        calluuid = f.calluuid
        if calluuid is None and call_id is not None:
            dialog = dialogs.get(call_id)
            if dialog is not None and dialog.target is not None:
                calluuid = dialog.target.calluuid
        out.append(f if (call_id, calluuid) == (f.call_id, f.calluuid)
                   else replace(f, call_id=call_id, calluuid=calluuid))
    return out


def _check_options_answer(request: SipEvent, event: SipEvent, msg: SipResponse, findings: list[Finding]) -> None:
    """SIP-OPTIONS-200 / SIP-OPTIONS-BUSY-RETRY-AFTER for the final response to an OPTIONS ping
    (the rule is in the module docstring)."""
    where = (event.index, event.timestamp, _start_line(msg))
    late = event.timestamp - request.timestamp
    if late > OPTIONS_TIMEOUT_S:
        findings.append(_finding("SIP-OPTIONS-200", f"OPTIONS on {msg.call_id} answered {msg.status} after "
                                 f"{late:.1f} s: the ping had timed out (Timer F)", *where,
                                 observed=f"{late:.1f} s", expected=f"<= {OPTIONS_TIMEOUT_S:.0f} s"))
    elif msg.status in _BUSY_STATUSES:
        if msg.headers.get("Retry-After") is None:
            findings.append(_finding("SIP-OPTIONS-BUSY-RETRY-AFTER",
                                     f"OPTIONS on {msg.call_id} answered {msg.status} (at capacity) without "
                                     "Retry-After", *where, observed=f"{msg.status}, no Retry-After",
                                     expected=f"{msg.status} with Retry-After"))
    elif not 200 <= msg.status < 300:
        findings.append(_finding("SIP-OPTIONS-200", f"OPTIONS answered {msg.status} on {msg.call_id}", *where,
                                 observed=str(msg.status), expected="200 (or 503/486 at capacity)"))


def _start_line(message: SipMessage) -> str:
    raw = message.raw or b""
    line = raw.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    if line:
        return line
    if isinstance(message, SipRequest):
        return f"{message.method} {message.uri} SIP/2.0"
    return f"SIP/2.0 {message.status} {message.reason}"


def sip_events(datagrams: Iterable[Datagram], findings: list[Finding]) -> Iterable[SipEvent]:
    """Parse the SIP datagrams; parse failures are appended to `findings` and skipped."""
    framers: dict[tuple[Endpoint, Endpoint], StreamFramer] = {}
    for d in datagrams:
        if d.kind is not PayloadKind.SIP:
            continue
        try:
            if d.transport is Transport.UDP:
                yield SipEvent(d.index, d.timestamp, d.src, d.dst, parse_message(d.payload))
                continue
            key = (d.src, d.dst)
            if d.stream_gap or key not in framers:
                framers[key] = StreamFramer()
            for message in framers[key].feed(d.payload):
                yield SipEvent(d.index, d.timestamp, d.src, d.dst, message)
        except (SipParseError, RemoteProtocolError) as exc:
            framers.pop((d.src, d.dst), None)
            first = d.payload.split(b"\r\n", 1)[0][:120].decode("utf-8", "replace")
            findings.append(_finding("SIP-MESSAGE-WELLFORMED", f"SIP message does not parse: {exc}", d.index,
                                     d.timestamp, first, observed=str(getattr(exc, "status", 400)),
                                     expected="a well-formed SIP message", call_id=_raw_call_id(d.payload)))


def _involves(event: SipEvent, recorder: Endpoint | None) -> bool:
    if recorder is None:
        return True
    return any(ep[0] == recorder[0] and recorder[1] in (0, ep[1]) for ep in (event.src, event.dst))


def _to_recorder(event: SipEvent, recorder: Endpoint | None) -> bool:
    """The request travels to the recorder (any destination when the recorder is not known)."""
    if recorder is None:
        return True
    return event.dst[0] == recorder[0] and recorder[1] in (0, event.dst[1])


def validate_sip(datagrams: Iterable[Datagram], *, recorder: Endpoint | None = None,
                 mode: ExpectedMode = ExpectedMode.ANY, audio_only: bool = True) -> SipReport:
    """Validate every SIP exchange (only those to/from `recorder` when given; port 0 = any port)."""
    findings: list[Finding] = []
    dialogs: dict[str, SipDialogSummary] = {}
    # (branch, cseq number, method) → request event, and its final status once seen.
    requests: dict[tuple[str | None, int, str], SipEvent] = {}
    finals: dict[tuple[str | None, int, str], SipEvent] = {}
    options: set[tuple[str | None, int, str]] = set()  # out-of-dialog OPTIONS to the recorder
    call_of_packet: dict[int, str] = {}
    for event in sip_events(datagrams, findings):
        if not _involves(event, recorder):
            continue
        msg = event.message
        try:
            # Only the top Via's branch is used (RFC 3261 §17.1.3 matching); the parser has
            # already checked that every Via parses (`_check_core_headers`).
            call_id, cseq, via_values = msg.call_id, msg.cseq, msg.headers.get_all("Via")
            branch = Via.parse(via_values[0]).branch if via_values else None
        except (RemoteProtocolError, ValueError) as exc:
            findings.append(_finding("SIP-MESSAGE-WELLFORMED", f"bad mandatory header: {exc}", event.index,
                                     event.timestamp, _start_line(msg), call_id=_raw_call_id(msg.raw or b"")))
            continue
        call_of_packet[event.index] = call_id
        key = (branch, cseq.number, cseq.method)
        dialog = dialogs.setdefault(call_id, SipDialogSummary(call_id))
        if isinstance(msg, SipRequest):
            if msg.method == "ACK":
                if dialog.final_status is not None and 200 <= dialog.final_status < 300 and dialog.invite \
                        and cseq.number == dialog.invite.message.cseq.number:
                    dialog.acked = True
                continue
            if key in requests:
                continue  # retransmission
            requests[key] = event
            if msg.method == "INVITE" and dialog.invite is None and msg.to.tag is None:
                dialog.invite = event
                dialog.target = _check_ruri(event, msg, findings)
            elif msg.method == "BYE":
                dialog.byes += 1
            elif msg.method == "OPTIONS" and msg.to.tag is None and _to_recorder(event, recorder):
                options.add(key)
            continue
        assert isinstance(msg, SipResponse)
        request = requests.get(key)
        if request is None:
            findings.append(_finding("SIP-RESP-CODES", f"response {msg.status} matches no request "
                                     f"(branch {branch}, CSeq {cseq.number} {cseq.method})", event.index,
                                     event.timestamp, _start_line(msg)))
            continue
        if msg.status < 200 or key in finals:
            continue
        finals[key] = event
        if key in options:
            _check_options_answer(request, event, msg, findings)
        if request is dialog.invite:
            dialog.final_status = msg.status
            dialog.to_tag = msg.to.tag
            if 200 <= msg.status < 300:
                _check_answer(dialog, request, event, findings, audio_only)
        elif cseq.method == "BYE":
            dialog.bye_status = msg.status
            if not 200 <= msg.status < 300:
                findings.append(_finding("ARE-10-BYE-ENDS-STREAM", f"BYE answered {msg.status} on {call_id}",
                                         event.index, event.timestamp, _start_line(msg),
                                         observed=str(msg.status), expected="200"))

    for key, request in requests.items():
        if key in finals:
            continue
        req_msg = request.message
        assert isinstance(req_msg, SipRequest)
        req_id = {"INVITE": "SIP-DIALOG-ESTABLISHED", "BYE": "ARE-10-BYE-ENDS-STREAM"}.get(req_msg.method,
                                                                                        "SIP-RESP-CODES")
        if key in options:
            req_id = "SIP-OPTIONS-200"
        findings.append(_finding(req_id, f"{req_msg.method} on {req_msg.call_id} got no final response",
                                 request.index, request.timestamp, _start_line(req_msg),
                                 observed="no final response", expected="final response"))
    for dialog in dialogs.values():
        inv = dialog.invite
        if inv is None or dialog.final_status is None or not 200 <= dialog.final_status < 300:
            continue
        if dialog.to_tag is None:
            findings.append(_finding("SIP-DIALOG-ESTABLISHED", f"2xx to INVITE {dialog.call_id} has no To tag",
                                     inv.index, inv.timestamp, "To:", observed="no tag", expected="To tag"))
        if not dialog.acked:
            findings.append(_finding("SIP-DIALOG-ESTABLISHED", f"2xx to INVITE {dialog.call_id} was never ACKed",
                                     inv.index, inv.timestamp, _start_line(inv.message),
                                     observed="no ACK", expected="ACK"))
    _check_legs(dialogs, mode, findings)
    return SipReport(_tag_calls(findings, call_of_packet, dialogs), dialogs, len(options))


def _check_ruri(event: SipEvent, msg: SipRequest, findings: list[Finding]) -> RecordingTarget | None:
    line = _start_line(msg)
    try:
        target = parse_recording_uri(msg.uri)
    except RemoteProtocolError as exc:
        findings.append(_finding("ARE-06-RURI-PARAMS", f"Request-URI is not a Genesys recording URI: {exc}",
                                 event.index, event.timestamp, line, observed=str(exc),
                                 expected="sip:record=<id>@...;calluuid=...;dn=...;recordDN=..."))
        return None
    if target.record_dn is None:
        findings.append(_finding("ARE-06-RURI-PARAMS", "Request-URI has no recordDN parameter", event.index,
                                 event.timestamp, line, observed="no recordDN", expected="recordDN=<DN>"))
    return target


def _sdp(event: SipEvent, findings: list[Finding]) -> SessionDescription | None:
    body = event.message.body
    if not body:
        return None
    try:
        return parse_sdp(body)
    except (RemoteProtocolError, ValueError) as exc:
        findings.append(_finding("SIP-MESSAGE-WELLFORMED", f"SDP body does not parse: {exc}", event.index,
                                 event.timestamp, _start_line(event.message)))
        return None


def _check_answer(dialog: SipDialogSummary, invite: SipEvent, ok: SipEvent, findings: list[Finding],
                  audio_only: bool) -> None:
    offer, answer = _sdp(invite, findings), _sdp(ok, findings)
    if offer is None or answer is None:
        return  # no offer in the INVITE (late offer) is outside the ARE flow; not judged here
    at = (ok.index, ok.timestamp)
    if [m.media for m in offer.media] != [m.media for m in answer.media]:
        findings.append(_finding(
            "SDP-MLINE-ORDER", f"answer m-lines differ from the offer on {dialog.call_id}", *at,
            f"m={' m='.join(m.media for m in answer.media)}",
            observed=" ".join(m.media for m in answer.media), expected=" ".join(m.media for m in offer.media)))
    for i, (om, am) in enumerate(zip(offer.media, answer.media, strict=False)):
        o_dir, a_dir = om.direction(offer), am.direction(answer)
        conn = answer.media_connection(i)
        if om.media == "video" and audio_only and am.port != 0:
            findings.append(_finding("SDP-VIDEO-REFUSED-PORT0", f"video m-line {i} accepted on {dialog.call_id}",
                                     *at, f"m=video {am.port}", observed=str(am.port), expected="0"))
        if am.port != 0:
            if o_dir is Direction.SENDONLY and a_dir not in (Direction.RECVONLY, Direction.INACTIVE):
                findings.append(_finding("SDP-ANSWER-RECVONLY", f"m-line {i} answered {a_dir} to a sendonly offer",
                                         *at, f"a={a_dir}", observed=str(a_dir), expected="recvonly or inactive"))
            extra = [pt for pt in am.payload_types if pt not in om.payload_types]
            if extra or not am.payload_types:
                findings.append(_finding("SDP-CODEC-ACCEPTED", f"m-line {i} answers formats not offered",
                                         *at, f"m={am.media} {am.port} {am.proto} {' '.join(am.formats)}",
                                         observed=" ".join(am.formats), expected=" ".join(om.formats)))
        elif om.media == "audio" and om.port != 0:
            findings.append(_finding("SDP-CODEC-ACCEPTED", f"audio m-line {i} refused (port 0) on {dialog.call_id}",
                                     *at, "m=audio 0", observed="port 0", expected="accepted audio"))
        rtpmap = am.rtpmap
        audio_clock = next((r.clock_rate for r in rtpmap.values() if r.encoding.lower() != "telephone-event"), 8000)
        o_conn = offer.media_connection(i)
        dialog.media.append(NegotiatedStream(
            call_id=dialog.call_id, media_index=i, kind=om.media,
            offer_endpoint=(o_conn.host, om.port) if o_conn else None,
            answer_endpoint=(conn.host, am.port) if conn else None,
            offer_direction=str(o_dir), answer_direction=str(a_dir),
            payload_types=frozenset(am.payload_types), clock_rate=audio_clock,
            telephone_event_pts=frozenset(pt for pt, r in rtpmap.items() if r.encoding.lower() == "telephone-event"),
            answer_index=ok.index, answer_timestamp=ok.timestamp))


def _check_legs(dialogs: dict[str, SipDialogSummary], mode: ExpectedMode, findings: list[Finding]) -> None:
    if mode is ExpectedMode.ANY:
        return
    calls: dict[str, list[SipDialogSummary]] = {}
    for d in dialogs.values():
        if d.target is not None:
            calls.setdefault(d.target.calluuid, []).append(d)
    for calluuid, legs in calls.items():
        first = min((leg.invite for leg in legs if leg.invite), key=lambda e: e.index)
        answered = [leg for leg in legs if leg.final_status is not None and 200 <= leg.final_status < 300]
        if mode is ExpectedMode.TWO_SESSIONS:
            dns = sorted({leg.target.dn for leg in answered if leg.target})
            if len(dns) != 2:
                findings.append(_finding(
                    "ARE-06-TWO-INVITES-PER-CALL", f"call {calluuid}: {len(dns)} answered recording session(s) "
                    f"with distinct dn, expected 2", first.index, first.timestamp, _start_line(first.message),
                    observed=",".join(dns) or "none", expected="2 sessions (one per party)", calluuid=calluuid))
        else:
            good = [leg for leg in answered if leg.target and leg.target.other_dn is not None
                    and sum(1 for m in leg.media if m.kind == "audio" and m.answer_endpoint
                            and m.answer_endpoint[1] != 0) == 2]
            if len(legs) != 1 or len(good) != 1:
                findings.append(_finding(
                    "ARE-06-SINGLE-SESSION", f"call {calluuid}: {len(legs)} session(s), {len(good)} answered "
                    "with dn+otherDN and two accepted audio m-lines", first.index, first.timestamp,
                    _start_line(first.message), observed=f"{len(legs)} sessions", expected="1 session, 2 audio",
                    calluuid=calluuid))
