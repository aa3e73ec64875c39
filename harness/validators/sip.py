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
  (SDP-ANSWER-RECVONLY, §6.1), inactive for an inactive one (SDP-ANSWER-INACTIVE), video refused with port 0 by an audio-only recorder
  (SDP-VIDEO-REFUSED-PORT0), answered codecs among the offered (SDP-CODEC-ACCEPTED, §6.1);
* BYE answered 2xx (ARE-10-BYE-ENDS-STREAM);
* a re-INVITE (in-dialog: To tag) gets a final response (SIP-REINVITE-ANSWERED, RFC 3261 §14.1:
  timer B ends an unanswered one), its 2xx answer is judged for direction like the first one
  (`harness.checks.sdp_answers`), and keeps the origin line of the recorder's previous SDP with
  sess-version + 1 (SDP-ORIGIN-KEPT, RFC 3264 §8);
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
  (ARE-06-TWO-INVITES-PER-CALL / ARE-06-SINGLE-SESSION);
* a SIPREC recording session (RFC 7866: Require: siprec, +sip.src, multipart/mixed with the SDP
  and RFC 7865 metadata) is recognised instead of an ARE one: its SDP is the body's SDP part,
  its offers and the SRS's answers go to `harness.checks.siprec` (SRS-*), and its call is the
  X-Genesys-CallUUID the SRC passed on (else the metadata's Session-ID, else the Call-ID).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from harness.capture.model import Datagram, Endpoint, NegotiatedStream, PayloadKind, Transport
from harness.checks.sdp_answers import EMITTED_REQUIREMENTS as SDP_ANSWER_REQUIREMENTS
from harness.checks.sdp_answers import (
    AnswerContext,
    check_answer_direction,
    check_origin_kept,
    sessions_answered_with_sdp,
)
from harness.checks.siprec import EMITTED_REQUIREMENTS as SIPREC_REQUIREMENTS
from harness.checks.siprec import (
    check_rs_answer,
    check_rs_offer,
    looks_like_siprec,
    not_a_recording_session,
)
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.genesys import RecordingTarget, parse_recording_uri
from harness.protocol.sdp import SessionDescription, parse_sdp
from harness.protocol.sip.headers import Via
from harness.protocol.sip.message import (
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    parse_message,
)
from harness.protocol.siprec.metadata import RecordingMetadata
from harness.protocol.siprec.session import is_recording_session, split_body
from harness.spec.catalogue import requirement
from harness.spec.findings import Evidence, Finding

__all__ = ["EMITTED_REQUIREMENTS", "ExpectedMode", "SipDialogSummary", "SipEvent", "SipReport", "byes_answered",
           "call_has_sessions", "options_answer_statuses", "options_busy", "options_seen", "ruri_matches_job",
           "sessions_answered_with_sdp", "sessions_established", "sip_events", "stream_continued_after_other_bye",
           "stream_ended_at_bye", "validate_sip", "video_offer_accepted"]

EMITTED_REQUIREMENTS = (
    "SIP-MESSAGE-WELLFORMED", "SIP-RESP-CODES", "SIP-DIALOG-ESTABLISHED", "SDP-MLINE-ORDER",
    "SDP-VIDEO-REFUSED-PORT0", "SDP-CODEC-ACCEPTED", "ARE-10-BYE-ENDS-STREAM",
    "ARE-06-RURI-PARAMS", "ARE-06-TWO-INVITES-PER-CALL", "ARE-06-SINGLE-SESSION", "SIP-OPTIONS-200",
    "SIP-OPTIONS-BUSY-RETRY-AFTER", "SIP-REINVITE-ANSWERED", *SDP_ANSWER_REQUIREMENTS, *SIPREC_REQUIREMENTS,
)

# RFC 3261 §17.1.2.2 Timer F (64*T1, T1 = 500 ms): the OPTIONS client transaction gives up;
# §17.1.1.2 Timer B (also 64*T1) for an INVITE (re-INVITE) client transaction.
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
    reinvites: int = 0  # in-dialog INVITEs seen (pause / resume)
    first_bye: SipEvent | None = None
    # The recorder's last SDP in the dialog (RFC 3264 §8 compares the next one with it).
    last_answer: SessionDescription | None = None
    last_answer_body: bytes = b""
    # Directions offered in the re-INVITEs answered 2xx whose answer was judged (what
    # `arec validate` may count as exercised: SDP-ANSWER-INACTIVE needs an inactive or recvonly offer).
    reoffered_directions: set[str] = field(default_factory=set)
    # SIPREC (RFC 7866): a recording session, the SRC's metadata model so far, whether the
    # INVITE carried metadata and which foreign extension elements it had.
    siprec: bool = False
    siprec_metadata: RecordingMetadata | None = None
    siprec_initial_metadata: bool = False
    siprec_extensions: tuple[str, ...] = ()
    siprec_half: bool = False  # meant as SIPREC, but lacking Require: siprec or +sip.src (RFC 7866 §6.2)


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
    reinvites: set[tuple[str | None, int, str]] = set()  # in-dialog INVITEs
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
                if looks_like_siprec(msg):
                    dialog.target = _siprec_offer(dialog, event, msg, findings)
                else:
                    dialog.target = _check_ruri(event, msg, findings)
            elif msg.method == "INVITE" and msg.to.tag is not None:
                dialog.reinvites += 1
                reinvites.add(key)
                if dialog.siprec:
                    verdict = check_rs_offer(msg, dialog.siprec_metadata, evidence=_evidence(event), reinvite=True)
                    findings += verdict.findings
                    dialog.siprec_metadata = verdict.metadata
            elif msg.method == "BYE":
                dialog.byes += 1
                dialog.first_bye = dialog.first_bye or event
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
            if isinstance(request.message, SipRequest) and looks_like_siprec(request.message):
                findings += _siprec_answer(dialog, request.message, event, msg)
            if 200 <= msg.status < 300:
                _check_answer(dialog, request, event, findings, audio_only)
        elif key in reinvites:
            if 200 <= msg.status < 300:
                _check_reanswer(dialog, request, event, findings)
                if dialog.siprec and isinstance(request.message, SipRequest):
                    findings += check_rs_answer(request.message, msg, had_metadata=True, evidence=_evidence(event))
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
        elif key in reinvites:
            req_id = "SIP-REINVITE-ANSWERED"
        what = "re-INVITE" if key in reinvites else req_msg.method
        findings.append(replace(_finding(req_id, f"{what} on {req_msg.call_id} got no final response",
                                         request.index, request.timestamp, _start_line(req_msg),
                                         observed="no final response", expected="final response"),
                                call_id=req_msg.call_id))
    for key in reinvites & finals.keys():
        _check_reinvite_in_time(requests[key], finals[key], dialogs, findings)
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


def _evidence(event: SipEvent) -> Evidence:
    return Evidence(event.index, event.timestamp, _start_line(event.message))


def _siprec_target(msg: SipRequest, meta: RecordingMetadata | None) -> RecordingTarget:
    """The call a SIPREC recording session records, as the SRC names it (no Genesys URI)."""
    calluuid = (msg.headers.get("X-Genesys-CallUUID") or "").strip()
    if not calluuid and meta is not None:
        calluuid = next((sid.split(";", 1)[0] for s in meta.sessions for sid in s.sip_session_ids), "")
    try:
        sdp = split_body(msg.content_type_full, msg.body).sdp
        labels = [m.label for m in parse_sdp(sdp).media if m.label] if sdp else []
    except RemoteProtocolError:
        labels = []  # judged by harness.checks.siprec
    return RecordingTarget(msg.call_id, calluuid or msg.call_id, labels[0] if labels else "?", None,
                           labels[1] if len(labels) > 1 else None)


def _siprec_offer(dialog: SipDialogSummary, event: SipEvent, msg: SipRequest,
                  findings: list[Finding]) -> RecordingTarget | None:
    """A SIPREC INVITE (or one that tries to be): the SRC's side, judged by harness.checks.siprec."""
    dialog.siprec = is_recording_session(msg)
    dialog.siprec_half = not dialog.siprec
    verdict = check_rs_offer(msg, evidence=_evidence(event))
    findings += verdict.findings
    dialog.siprec_metadata, dialog.siprec_initial_metadata = verdict.metadata, verdict.had_metadata
    dialog.siprec_extensions = verdict.extensions
    return _siprec_target(msg, verdict.metadata)


def _siprec_answer(dialog: SipDialogSummary, invite: SipRequest, ok: SipEvent, msg: SipResponse) -> list[Finding]:
    if not dialog.siprec:
        return not_a_recording_session(invite, msg, evidence=_evidence(ok))
    return check_rs_answer(invite, msg, had_metadata=dialog.siprec_initial_metadata,
                           extensions=dialog.siprec_extensions, evidence=_evidence(ok))


def _sdp(event: SipEvent, findings: list[Finding]) -> SessionDescription | None:
    body = event.message.body
    if body and event.message.content_type == "multipart/mixed":
        # SIPREC (RFC 7866 §9.1): the offer is the body's application/sdp part.
        try:
            body = split_body(event.message.content_type_full, body).sdp or b""
        except RemoteProtocolError:
            return None  # judged by harness.checks.siprec (SRS-METADATA-WELLFORMED)
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
    context = AnswerContext(dialog.call_id, Evidence(ok.index, ok.timestamp, _start_line(ok.message)))
    dialog.last_answer, dialog.last_answer_body = answer, ok.message.body or b""
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
            findings += check_answer_direction(o_dir, a_dir, i, context)
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


def _check_reinvite_in_time(request: SipEvent, final: SipEvent, dialogs: dict[str, SipDialogSummary],
                            findings: list[Finding]) -> None:
    """SIP-REINVITE-ANSWERED for a re-INVITE that did get a final response: the response must
    answer the re-INVITE, not be forced by the dialog's end. A final response sent only after
    the Media Server gave up and sent BYE (the 487 of RFC 3261 §15.1.2) or after timer B
    (§17.1.1.2, 64*T1 = 32 s) left the pause / resume unanswered while it mattered."""
    msg = final.message
    assert isinstance(msg, SipResponse)
    dialog = dialogs.get(msg.call_id)
    bye = dialog.first_bye if dialog is not None else None
    late = final.timestamp - request.timestamp
    why = None
    if bye is not None and request.index < bye.index < final.index:
        why = f"only after the dialog's BYE ({msg.status} {msg.reason})"
    elif late > OPTIONS_TIMEOUT_S:
        why = f"{msg.status} after {late:.1f} s (timer B had fired)"
    if why is not None:
        findings.append(replace(_finding("SIP-REINVITE-ANSWERED", f"re-INVITE on {msg.call_id} answered {why}",
                                         final.index, final.timestamp, _start_line(msg), observed=why,
                                         expected="a final response before BYE / timer B"),
                                call_id=msg.call_id))


def _check_reanswer(dialog: SipDialogSummary, reinvite: SipEvent, ok: SipEvent, findings: list[Finding]) -> None:
    """The 2xx to a re-INVITE: each accepted m-line's direction (RFC 3264 §6.1) and the origin
    line against the recorder's previous SDP in the dialog (§8)."""
    offer, answer = _sdp(reinvite, findings), _sdp(ok, findings)
    if offer is None or answer is None:
        return
    context = AnswerContext(dialog.call_id, Evidence(ok.index, ok.timestamp, _start_line(ok.message)), reinvite=True)
    for i, (om, am) in enumerate(zip(offer.media, answer.media, strict=False)):
        if am.port != 0:
            dialog.reoffered_directions.add(om.direction(offer).value)
            findings += check_answer_direction(om.direction(offer), am.direction(answer), i, context)
            # RFC 3264 §8: a re-INVITE may change the codecs (a transfer, a codec change): the
            # RTP before and after it carries formats of either answer, so the m-line's stream
            # accepts the formats of every answer of the dialog (RTP-PT-MATCHES-SDP).
            for k, stream in enumerate(dialog.media):
                if stream.media_index == i and not set(am.payload_types) <= stream.payload_types:
                    dialog.media[k] = replace(stream, payload_types=stream.payload_types | set(am.payload_types))
    body = ok.message.body or b""
    if dialog.last_answer is not None:
        findings += check_origin_kept(dialog.last_answer, dialog.last_answer_body, answer, body, context)
    dialog.last_answer, dialog.last_answer_body = answer, body


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
            # Two at least: a party joining the call later (a supervisor's conference, GIR-Flows;
            # features/11_midcall_changes.feature) adds a session of its own.
            if len(dns) < 2:
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


# -- checks that need the scenario's own facts (what it expected), judged here with the capture --
# The capture shows what happened; these say what was missing from it. They judge the same
# requirements as the validator above, so they live next to it (harness.checks.registry).


def _session_finding(req_id: str, message: str, *, call_id: str | None = None, calluuid: str | None = None,
                     observed: str | None = None, expected: str | None = None, stream: str | None = None) -> Finding:
    return Finding(req_id, requirement(req_id).severity, message, Evidence(), observed, expected,
                   calluuid=calluuid, call_id=call_id, stream=stream)


def call_has_sessions(sessions: Sequence[SipDialogSummary], expected: int, *, calluuid: str | None = None) -> list[Finding]:
    """GVP-MSRec: the call's recording sessions reach the recorder (one per party, or one with
    two audio m-lines). The leg count of the sessions that *are* in the capture is judged by
    `validate_sip`; this is the case it cannot see: none at all."""
    if sessions or expected == 0:
        return []
    req_id = "ARE-06-SINGLE-SESSION" if expected == 1 else "ARE-06-TWO-INVITES-PER-CALL"
    return [_session_finding(req_id, "no recording INVITE for the call in the capture", calluuid=calluuid,
                             observed="0 sessions", expected=f"{expected} session(s)")]


def sessions_established(sessions: Sequence[SipDialogSummary], *, calluuid: str | None = None) -> list[Finding]:
    """RFC 3261 §13.3.1.4: a recording INVITE is answered 2xx (the validator judges To tag and ACK
    of the answered ones); a refused or unanswered one is the failure."""
    if not sessions:
        return [_session_finding("SIP-DIALOG-ESTABLISHED", "no recording INVITE for the call in the capture",
                                 calluuid=calluuid)]
    return [_session_finding("SIP-DIALOG-ESTABLISHED", f"recording INVITE {d.call_id} answered "
                             f"{d.final_status or 'nothing'}", call_id=d.call_id, calluuid=calluuid,
                             observed=str(d.final_status or "no answer"), expected="2xx")
            for d in sessions if d.final_status is None or not 200 <= d.final_status < 300]


def ruri_matches_job(sessions: Sequence[SipDialogSummary], record_id: str, record_dn: str, *,
                     calluuid: str | None = None) -> list[Finding]:
    """GVP-MSRec: the recording Request-URI carries the job's record id and recordDN."""
    if not sessions:
        return [_session_finding("ARE-06-RURI-PARAMS", "no recording INVITE for the call in the capture",
                                 calluuid=calluuid)]
    return [_session_finding("ARE-06-RURI-PARAMS", "Request-URI context differs from the recording job",
                             call_id=d.call_id, calluuid=calluuid, stream=d.target.dn,
                             observed=f"record={d.target.record_id};recordDN={d.target.record_dn}",
                             expected=f"record={record_id};recordDN={record_dn}")
            for d in sessions if d.target is not None
            and (d.target.record_id != record_id or d.target.record_dn != record_dn)]


def options_answer_statuses(datagrams: Iterable[Datagram], recorder: Endpoint | None = None) -> list[int]:
    """The final statuses the recorder gave to out-of-dialog OPTIONS (evidence of whether it was
    ever busy when pinged: SIP-OPTIONS-BUSY-RETRY-AFTER is exercised only then)."""
    return [e.message.status for e in sip_events(datagrams, [])
            if isinstance(e.message, SipResponse) and e.message.cseq.method == "OPTIONS" and e.message.status >= 200
            and (recorder is None or _involves(e, recorder))]


def options_busy(statuses: Iterable[int]) -> bool:
    """RFC 3261 §11.2: a busy UAS answers OPTIONS like an INVITE (503 at capacity, 486 busy)."""
    return any(s in _BUSY_STATUSES for s in statuses)


def options_seen(options: int) -> list[Finding]:
    """The scenario pinged the recorder: the OPTIONS must be in the capture to be judged."""
    if options:
        return []
    return [_session_finding("SIP-OPTIONS-200", "no OPTIONS ping to the recorder in the capture",
                             observed="no OPTIONS", expected="OPTIONS answered")]


def video_offer_accepted(dialog: SipDialogSummary | None, call_id: str) -> list[Finding]:
    """RFC 3264 §6: an audio+video offer to an audio-only recorder is accepted (200) with the video
    m-line refused by port 0; refusing the whole INVITE loses the audio recording."""
    status = dialog.final_status if dialog is not None else None
    if status == 200:
        return []
    return [_session_finding("SDP-VIDEO-REFUSED-PORT0", "the audio+video offer was not accepted (the audio m-line "
                             "must be, video refused with port 0)", call_id=call_id, observed=str(status),
                             expected="200 OK")]


def byes_answered(sessions: Sequence[SipDialogSummary], *, calluuid: str | None = None) -> list[Finding]:
    """Genesys ARE step 10: each stream's session is ended by its BYE, answered 200 (RFC 3261
    §15.1.2). No BYE in any session of the call: the step was not reached."""
    if not any(d.byes for d in sessions):
        return [_session_finding("ARE-10-BYE-ENDS-STREAM", "no recording session of the call was established, so "
                                 "no BYE ended one", calluuid=calluuid, observed="no BYE in a dialog",
                                 expected="BYE answered 200")]
    return [_session_finding("ARE-10-BYE-ENDS-STREAM", f"BYE on {d.call_id} answered {d.bye_status}",
                             call_id=d.call_id, calluuid=calluuid, observed=str(d.bye_status), expected="200")
            for d in sessions if d.byes and d.bye_status != 200]


def stream_ended_at_bye(dn: str, ended_at: float | None, bye_at: float, *, tolerance_s: float = 0.5,
                        other_bye_at: float | None = None, calluuid: str | None = None) -> list[Finding]:
    """Genesys ARE step 10: a BYE ends *its* stream's session; "the other stream continues until
    its own BYE". Evidence: the recording's end time of the stream (reference layout
    recording.json `ended_at`, seconds after t0) against its own BYE (and the other stream's)."""
    if ended_at is not None and abs(ended_at - bye_at) <= tolerance_s:
        return []
    early = ended_at is not None and other_bye_at is not None and abs(ended_at - other_bye_at) <= tolerance_s \
        and bye_at - other_bye_at > tolerance_s
    message = (f"the stream of DN {dn} was ended by the other stream's BYE, not its own" if early
               else f"the stream of DN {dn} did not end at its BYE")
    return [_session_finding("ARE-10-BYE-ENDS-STREAM", message, calluuid=calluuid, stream=dn,
                             observed=f"ended_at={ended_at}", expected=f"~{bye_at:.2f} s after t0")]


def stream_continued_after_other_bye(dn: str, incomplete: Sequence[Finding], *,
                                     calluuid: str | None = None) -> list[Finding]:
    """The same rule where the layout gives no end times: the stream that went on after the other
    stream's BYE must be recorded completely up to its own BYE. `incomplete`: the recording
    validator's REC-AUDIO-COMPLETE findings on this stream (segments missing, too short)."""
    if not incomplete:
        return []
    return [_session_finding("ARE-10-BYE-ENDS-STREAM", f"the stream of DN {dn} was not recorded up to its own BYE "
                             f"after the other stream's session ended: {incomplete[0].message}",
                             calluuid=calluuid, stream=dn, observed=incomplete[0].observed,
                             expected="recorded until its own BYE")]
