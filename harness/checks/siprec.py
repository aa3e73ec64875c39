"""SIPREC checks (RFC 7866 Session Recording Protocol, RFC 7865 metadata): pure functions.

Three sides, as the recording session shows them:
- the recording client's offers (arec's SRC emulation live; a real SBC in `arec validate`):
  option and feature tags (RFC 7866 §6.1.1), one labelled stream per m-line (RFC 4574, the
  label the metadata's `<stream><label>` names), metadata that is RFC 7865 XML and associates
  every label with a participant;
- the SRS's answers: a recording session accepted with `+sip.srs` in the Contact (RFC 7866 §6.2),
  also without initial metadata (RFC 7866 §9: it may come later) and with vendor extensions
  it does not know (RFC 7865); 420 + Unsupported for an extension it lacks (RFC 3261
  §8.2.2.3); an INVITE that is not a recording session not treated as one (RFC 7866 §6.2).
  Direction and m-line count/order of the SDP answer are the generic SDP checks
  (`harness.checks.sdp_answers`, `harness.validators.sip`), run on the SDP part;
- the recording: the participant <-> stream map the SRS kept equals the metadata the SRC sent,
  updates applied (SRS-METADATA-KEPT), and each participant's audio is in the stream the
  metadata says, proven by the audio time-code (SRS-PARTICIPANT-AUDIO).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from harness.checks._finding import violation
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sdp import Direction, parse_sdp
from harness.protocol.sip.message import SipRequest, SipResponse
from harness.protocol.siprec.metadata import NAMESPACE, RecordingMetadata, apply_update, parse_metadata
from harness.protocol.siprec.session import (
    METADATA_REQUEST_TYPE,
    OPTION_TAG,
    SRC_FEATURE_TAG,
    SRS_FEATURE_TAG,
    has_feature_tag,
    is_recording_session,
    split_body,
)
from harness.spec.findings import Evidence, Finding

__all__ = [
    "EMITTED_REQUIREMENTS",
    "OfferVerdict",
    "check_rs_answer",
    "check_rs_offer",
    "extension_refused",
    "looks_like_siprec",
    "metadata_kept",
    "not_a_recording_session",
    "participant_audio",
    "new_stream_accepted",
    "recording_session_seen",
    "snapshot_requested",
]

EMITTED_REQUIREMENTS = (
    "SRS-OFFER-SIPREC", "SRS-OFFER-LABELS", "SRS-METADATA-WELLFORMED", "SRS-METADATA-LABELS-ASSOCIATED",
    "SRS-RS-ACCEPTED", "SRS-FEATURE-TAG", "SRS-NO-INITIAL-METADATA", "SRS-EXTENSIONS-IGNORED",
    "SRS-NOT-RS", "SRS-REQUIRE-420", "SRS-METADATA-KEPT", "SRS-PARTICIPANT-AUDIO", "SRS-SNAPSHOT-REQUEST",
    "SRS-NEW-STREAM-ACCEPTED",
)


def looks_like_siprec(request: SipRequest) -> bool:
    """A request meant as a recording session: either SIPREC marker, or a metadata body part."""
    if OPTION_TAG in {t.lower() for t in request.require} or has_feature_tag(request, SRC_FEATURE_TAG):
        return True
    try:
        return split_body(request.content_type_full, request.body).metadata is not None
    except RemoteProtocolError:
        return False


@dataclass(frozen=True, slots=True)
class OfferVerdict:
    """What one offer showed: its findings, and the metadata model after it (for the next)."""

    findings: list[Finding]
    metadata: RecordingMetadata | None
    had_metadata: bool
    extensions: tuple[str, ...]


def check_rs_offer(request: SipRequest, previous: RecordingMetadata | None = None, *,
                   evidence: Evidence | None = None, reinvite: bool = False) -> OfferVerdict:
    """The SRC's side of one INVITE / re-INVITE of a recording session.

    RFC 7866 §6.1.1: `Require: siprec` and `+sip.src` on the INVITE that starts the session.
    RFC 4574 / RFC 7865: every m-line carries an `a=label`, unique in the SDP, sendonly (or
    inactive while paused, RFC 7866 §7.1.1.2), so the metadata can name each stream. RFC 7865:
    the metadata is XML in `urn:ietf:params:xml:ns:recording:1`, and (the model after any
    partial update) associates each label's stream with a sending participant."""
    call_id = request.call_id
    what = "re-INVITE" if reinvite else "INVITE"
    findings: list[Finding] = []

    def add(rid: str, message: str, observed: str, expected: str) -> None:
        findings.append(violation(rid, f"{what} {call_id}: {message}", observed, expected, evidence=evidence,
                                  call_id=call_id))

    if not reinvite:
        missing = [t for t, ok in ((f"Require: {OPTION_TAG}", OPTION_TAG in {t.lower() for t in request.require}),
                                   (f"Contact ;{SRC_FEATURE_TAG}", has_feature_tag(request, SRC_FEATURE_TAG)))
                   if not ok]
        if missing:
            add("SRS-OFFER-SIPREC", f"recording session without {' and '.join(missing)}", "missing: " +
                ", ".join(missing), f"Require: {OPTION_TAG} and Contact with {SRC_FEATURE_TAG}")
    try:
        body = split_body(request.content_type_full, request.body)
    except RemoteProtocolError as error:
        add("SRS-METADATA-WELLFORMED", f"multipart body unusable: {error}", str(error), "multipart/mixed (RFC 2046)")
        return OfferVerdict(findings, previous, False, ())
    labels: list[str] = []
    if body.sdp is not None:
        try:
            sdp = parse_sdp(body.sdp)
        except RemoteProtocolError as error:
            add("SRS-OFFER-LABELS", f"SDP part does not parse: {error}", str(error), "an SDP offer")
            sdp = None
        for index, m in enumerate(sdp.media if sdp is not None else ()):
            if m.port == 0:
                continue
            if m.label is None:
                add("SRS-OFFER-LABELS", f"m-line {index} has no a=label", "no a=label", "a=label:<token>")
            elif m.label in labels:
                add("SRS-OFFER-LABELS", f"label {m.label} on two m-lines", f"a=label:{m.label} twice",
                    "unique labels")
            else:
                labels.append(m.label)
            direction = m.direction(sdp)
            if direction not in (Direction.SENDONLY, Direction.INACTIVE):
                add("SRS-OFFER-LABELS", f"m-line {index} offered {direction}", str(direction), "sendonly (inactive when "
                    "paused)")
    elif not reinvite:
        add("SRS-OFFER-LABELS", "no SDP offer", "no application/sdp part", "an SDP offer")
    model = previous
    extensions: tuple[str, ...] = ()
    if body.metadata is not None:
        try:
            update = parse_metadata(body.metadata)
        except RemoteProtocolError as error:
            add("SRS-METADATA-WELLFORMED", str(error), str(error)[:80], f"<recording xmlns=\"{NAMESPACE}\">")
            return OfferVerdict(findings, previous, True, ())
        extensions = update.extensions
        model = apply_update(previous, update)
    if model is not None:
        for label in labels:
            stream = model.stream_by_label(label)
            if stream is None:
                add("SRS-METADATA-LABELS-ASSOCIATED", f"label {label} has no metadata <stream>", "no <stream>",
                    f"<stream><label>{label}</label></stream>")
            elif not model.senders(stream.stream_id) and not any(stream.stream_id in a.recv
                                                                  for a in model.associations if a.active):
                add("SRS-METADATA-LABELS-ASSOCIATED", f"stream of label {label} is associated with no participant",
                    "no participantstreamassoc", "<send> or <recv> of a participant")
    return OfferVerdict(findings, model, body.metadata is not None, extensions)


def check_rs_answer(request: SipRequest, final: SipResponse | None, *, had_metadata: bool,
                    extensions: Sequence[str] = (), evidence: Evidence | None = None) -> list[Finding]:
    """The SRS's final answer to a well-formed recording-session INVITE.

    RFC 7866 §6.2: the SRS answers a recording session with `+sip.srs` in its Contact. It must
    accept one whose metadata is still to come (RFC 7866 §9) and one whose metadata carries
    extension elements it does not know (RFC 7865: ignore them): refusing those is its own
    failure (SRS-NO-INITIAL-METADATA / SRS-EXTENSIONS-IGNORED), any other refusal SRS-RS-ACCEPTED."""
    call_id = request.call_id
    status = None if final is None else final.status
    if status == 420 and any(t.lower() != OPTION_TAG for t in request.require):
        return []  # it also required an extension the SRS may lack: judged by extension_refused
    if final is None or not 200 <= final.status < 300:
        rid = ("SRS-NO-INITIAL-METADATA" if not had_metadata else
               "SRS-EXTENSIONS-IGNORED" if extensions else "SRS-RS-ACCEPTED")
        why = ("without initial metadata" if not had_metadata else
               f"with extension elements {', '.join(sorted(set(extensions))[:3])}" if extensions else "")
        return [violation(rid, f"recording session {call_id} {why} was answered {status or 'nothing'}".replace("  ", " "),
                          str(status or "no final response"), "2xx", evidence=evidence, call_id=call_id)]
    if not has_feature_tag(final, SRS_FEATURE_TAG):
        contact = final.headers.get("Contact") or "no Contact"
        return [violation("SRS-FEATURE-TAG", f"2xx to recording session {call_id} lacks {SRS_FEATURE_TAG} in its "
                          "Contact", contact, f"Contact: <...>;{SRS_FEATURE_TAG}", evidence=evidence,
                          call_id=call_id)]
    return []


def recording_session_seen(sessions: int, *, calluuid: str | None = None) -> list[Finding]:
    """The call's SIPREC recording session reached the SRS at all (the validator judges those
    in the capture; this is the case it cannot see: none)."""
    if sessions:
        return []
    return [violation("SRS-RS-ACCEPTED", "no SIPREC recording session for the call in the capture",
                      "0 recording sessions", "1 recording session", calluuid=calluuid)]


def not_a_recording_session(request: SipRequest, final: SipResponse | None, *,
                            evidence: Evidence | None = None) -> list[Finding]:
    """RFC 7866 §6.2: an INVITE lacking `+sip.src` or `Require: siprec` is not a recording
    session. Answering it as one (2xx with `+sip.srs`) records an unidentified call."""
    if is_recording_session(request) or final is None or not 200 <= final.status < 300:
        return []
    if not has_feature_tag(final, SRS_FEATURE_TAG):
        return []
    return [violation("SRS-NOT-RS", f"INVITE {request.call_id} without both SIPREC markers was accepted as a "
                      "recording session", f"{final.status} with {SRS_FEATURE_TAG}",
                      "refused, or a plain session without +sip.srs", evidence=evidence, call_id=request.call_id)]


def extension_refused(unknown_tag: str, final: SipResponse | None, *, call_id: str | None = None,
                      evidence: Evidence | None = None) -> list[Finding]:
    """RFC 3261 §8.2.2.3: Require with an option tag the UAS does not understand -> 420 with an
    Unsupported header listing it."""
    status = None if final is None else final.status
    listed = [] if final is None else [t.strip().lower() for v in final.headers.get_all("Unsupported")
                                       for t in v.split(",")]
    if status == 420 and unknown_tag.lower() in listed:
        return []
    return [violation("SRS-REQUIRE-420", f"Require: {unknown_tag} answered {status or 'nothing'}"
                      + ("" if status != 420 else " without it in Unsupported"),
                      f"{status or 'none'}; Unsupported: {', '.join(listed) or '-'}",
                      f"420 with Unsupported: {unknown_tag}", evidence=evidence, call_id=call_id)]


def metadata_kept(expected: Mapping[str, frozenset[str]], kept: Mapping[str, frozenset[str]] | None, *,
                  calluuid: str | None = None, where: str | None = None) -> list[Finding]:
    """The SRS keeps who is in which stream: label -> the AORs of its sending participants, after
    every update the SRC sent (RFC 7865 participantstreamassoc; RFC 7866 §9: the metadata is
    what makes a recording usable). `kept` None: the recording has no such mapping at all."""
    evidence = Evidence(file=where) if where else None
    if kept is None:
        return [violation("SRS-METADATA-KEPT", "the recording keeps no participant <-> stream mapping",
                          "no mapping", _render(expected), evidence=evidence, calluuid=calluuid)]
    wrong = {label for label in set(expected) | set(kept) if expected.get(label, frozenset()) != kept.get(label, frozenset())}
    if not wrong:
        return []
    return [violation("SRS-METADATA-KEPT", f"the recording maps stream {label} to other participants than the "
                      "metadata", _render({label: kept.get(label, frozenset())}),
                      _render({label: expected.get(label, frozenset())}), evidence=evidence, calluuid=calluuid,
                      stream=label) for label in sorted(wrong)]


def participant_audio(expected: Mapping[str, str], decoded: Mapping[str, Sequence[str]], *,
                      calluuid: str | None = None) -> list[Finding]:
    """Each participant's audio is in the stream the metadata says (label -> the time-code
    identity that participant's stream carried) and nowhere else; `decoded`: label -> the
    identities the time-code decoder found in the file the SRS keeps for that label."""
    findings: list[Finding] = []
    for label, identity in sorted(expected.items()):
        found = list(decoded.get(label, ()))
        if found == [identity]:
            continue
        findings.append(violation("SRS-PARTICIPANT-AUDIO", f"stream {label} does not hold exactly its participant's "
                                  "audio", ", ".join(found) or "no time-coded audio", identity, calluuid=calluuid,
                                  stream=label))
    return findings


def _is_snapshot_request(request: SipRequest) -> bool:
    """RFC 7866 §9.2: an application/rs-metadata-request body (alone or as a multipart part)
    with disposition recording-session (§11.3)."""
    try:
        body = split_body(request.content_type_full, request.body)
    except RemoteProtocolError:
        return False
    if not body.metadata_request:
        return False
    if not body.multipart:
        disposition = request.headers.get("Content-Disposition") or ""
        return disposition.split(";", 1)[0].strip().lower() == "recording-session"
    return any(p.content_type == METADATA_REQUEST_TYPE and p.disposition == "recording-session" for p in body.parts)


def snapshot_requested(srs_requests: Sequence[SipRequest], *, call_id: str | None = None,
                       calluuid: str | None = None) -> list[Finding]:
    """RFC 7866 §9.2: an SRS that has no metadata (none in the INVITE, none since) SHOULD ask
    the SRC for a full snapshot, by UPDATE or re-INVITE in the recording session.
    `srs_requests`: the requests the SRS sent in that dialog, in order."""
    sent = [r for r in srs_requests if r.method in ("UPDATE", "INVITE")]
    if any(_is_snapshot_request(r) for r in sent):
        return []
    seen = ", ".join(f"{r.method} ({r.content_type or 'no body'})" for r in sent) or "no request"
    return [violation("SRS-SNAPSHOT-REQUEST", "the SRS, left without metadata, did not ask the SRC for a snapshot",
                      seen, f"UPDATE or re-INVITE with {METADATA_REQUEST_TYPE} (disposition recording-session)",
                      call_id=call_id, calluuid=calluuid)]


def new_stream_accepted(request: SipRequest, final: SipResponse | None, *, previous_labels: Collection[str],
                        call_id: str | None = None) -> list[Finding]:
    """RFC 7866 §7.1.1.1 (a re-INVITE may add streams, e.g. a transfer bringing in a participant
    with its own stream) and RFC 3264 §8 / §6.1: a labelled sendonly audio m-line the re-offer
    adds (a label `previous_labels` lacks) is answered with a port, not refused with port 0, so
    the new participant is recorded. No finding when the re-offer adds no stream, or was not
    answered 2xx (other checks judge that)."""
    if final is None or not 200 <= final.status < 300:
        return []
    try:
        offer = parse_sdp(split_body(request.content_type_full, request.body).sdp or b"")
        answer = parse_sdp(final.body)
    except RemoteProtocolError:
        return []
    findings: list[Finding] = []
    for index, m in enumerate(offer.media):
        if m.media != "audio" or m.label is None or m.label in previous_labels \
                or m.direction(offer) is not Direction.SENDONLY:
            continue
        port = answer.media[index].port if index < len(answer.media) else None
        if port:
            continue
        findings.append(violation("SRS-NEW-STREAM-ACCEPTED", f"the new stream {m.label} of the re-offer was refused",
                                  f"m-line {index} answered with port {port}", "a port and recvonly",
                                  call_id=call_id or request.call_id, stream=m.label))
    return findings


def _render(mapping: Mapping[str, frozenset[str]]) -> str:
    return "; ".join(f"{label}={','.join(sorted(aors)) or '-'}" for label, aors in sorted(mapping.items()))
