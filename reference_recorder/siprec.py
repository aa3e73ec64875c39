"""The reference recorder as a SIPREC Recording Server (SRS), sans-IO (RFC 7866, RFC 7865).

`RecorderCore` hands a new INVITE here when it is a recording session (RFC 7866 §6.2: both
`Require: siprec` and `+sip.src` in the Contact); this module decides what the core needs:
the recording's identity, the SDP offer, one stream per labelled m-line, and the metadata
model it keeps (the participant <-> stream mapping written to ``recording.json``).

- Identity: a recording session has no Genesys Request-URI. The CallUUID is the
  `X-Genesys-CallUUID` header when the SRC passes the Genesys call on (SBCs in front of SIP
  Server do, as arec's SRC emulation), else the first communication session's RFC 7989
  Session-ID (`<sipSessionID>`), else the `Session-ID` header, else the RS Call-ID; the record id is
  the RS Call-ID (one recording session = one recording).
- Streams are named by their `a=label` (RFC 4574; the metadata `<stream><label>`
  refers to it), so each labelled stream gets today's file layout with the label as its DN.
- Metadata may be absent from the INVITE and arrive later in a re-INVITE (RFC 7866 §9);
  `partial` documents update the model (RFC 7865 (datamode)). Unknown namespaces are ignored
  (RFC 7865: extensions) but listed, as evidence they were seen.
- The answer's Contact carries `+sip.srs` (RFC 7866 §6.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.genesys import RecordingTarget
from harness.protocol.sdp import SessionDescription, parse_sdp
from harness.protocol.sip.message import SipRequest
from harness.protocol.siprec.metadata import RecordingMetadata, apply_update, parse_metadata
from harness.protocol.siprec.session import (
    METADATA_REQUEST_TYPE,
    OPTION_TAG,
    SRC_FEATURE_TAG,
    SRS_FEATURE_TAG,
    has_feature_tag,
    is_recording_session,
    split_body,
)

__all__ = ["SiprecSession", "contact_with_srs_tag", "open_recording_session", "refuse_half_siprec", "reoffer",
           "snapshot_request"]


@dataclass(slots=True)
class SiprecSession:
    """What the SRS keeps of one recording session."""

    call_id: str
    labels: dict[int, str]  # m-line index -> a=label
    metadata: RecordingMetadata | None = None
    metadata_type: str | None = None
    updates: int = 0  # metadata documents applied after the first
    extensions: list[str] = field(default_factory=list)
    # RFC 7866 §9.2: our request for a metadata snapshot (sent when none came), and the status
    # the SRC answered it with (None: not answered).
    snapshot_requested: bool = False
    snapshot_answer: int | None = None

    def dn_for(self, m_index: int) -> str:
        """The stream's name in the file layout: its label (RFC 4574), else its m-line number."""
        return self.labels.get(m_index, f"m{m_index}")

    def apply(self, document: bytes) -> None:
        """Apply one metadata document (complete replaces, partial merges)."""
        update = parse_metadata(document)
        if self.metadata is not None:
            self.updates += 1
        self.metadata = apply_update(self.metadata, update)
        self.extensions.extend(e for e in update.extensions if e not in self.extensions)

    def to_json(self, stream_keys: dict[int, str]) -> dict[str, object]:
        """The `siprec` section of recording.json: who is in which stream (by label and key)."""
        participants: list[dict[str, object]] = []
        meta = self.metadata
        if meta is not None:
            by_id = {s.stream_id: s.label for s in meta.streams}
            for p in meta.participants:
                sends = [by_id.get(sid) for a in meta.associations if a.participant_id == p.participant_id
                         and a.active for sid in a.send]
                receives = [by_id.get(sid) for a in meta.associations if a.participant_id == p.participant_id
                            and a.active for sid in a.recv]
                participants.append({"participant_id": p.participant_id, "aors": list(p.aors),
                                     "names": list(p.names), "sends": sends, "receives": receives})
        return {
            "recording_session": self.call_id,
            "metadata_type": self.metadata_type,
            "metadata_received": meta is not None,
            "metadata_updates": self.updates,
            "ignored_extensions": list(self.extensions),
            "snapshot_requested": self.snapshot_requested,
            "snapshot_answer": self.snapshot_answer,
            "streams": [{"label": label, "stream": stream_keys.get(index), "m_index": index}
                        for index, label in sorted(self.labels.items())],
            "participants": participants,
            "metadata": None if meta is None else meta.to_json(),
        }


def refuse_half_siprec(request: SipRequest) -> None:
    """RFC 7866 §6.2: an INVITE that requires siprec without `+sip.src` is not a recording
    session; the reference SRS refuses it (403) rather than record an unidentified call."""
    if OPTION_TAG in {t.lower() for t in request.require} and not has_feature_tag(request, SRC_FEATURE_TAG):
        raise RemoteProtocolError(f"Require: {OPTION_TAG} without {SRC_FEATURE_TAG} in Contact (RFC 7866 §6.2)",
                                  403, "Forbidden")


def _calluuid(request: SipRequest, meta: RecordingMetadata | None) -> str:
    genesys = request.headers.get("X-Genesys-CallUUID")
    if genesys and genesys.strip():
        return genesys.strip()  # an SRC in front of SIP Server passes the Genesys call on
    if meta is not None:
        for session in meta.sessions:
            for sid in session.sip_session_ids:
                local = sid.split(";", 1)[0].strip()
                if local:
                    return local
    header = request.headers.get("Session-ID")
    if header:
        local = header.split(";", 1)[0].strip()
        if local:
            return local
    return request.call_id


def open_recording_session(request: SipRequest, *, strict: bool = True,
                           ) -> tuple[RecordingTarget, SessionDescription, SiprecSession] | None:
    """None when `request` is no recording session; else its target, SDP offer and state.

    Raises RemoteProtocolError: 400 for a body or metadata that cannot be parsed, 488 for a
    recording session without SDP (the SRS never offers: RFC 7866 §6.1.1, the SRC does)."""
    half = not strict and OPTION_TAG in {t.lower() for t in request.require}  # a faulty double's view
    if not is_recording_session(request) and not half:
        return None
    body = split_body(request.content_type_full, request.body)
    if body.sdp is None:
        raise RemoteProtocolError("recording session INVITE without an SDP offer", 488, "Not Acceptable Here")
    offer = parse_sdp(body.sdp)
    labels = {index: m.label for index, m in enumerate(offer.media) if m.label is not None}
    state = SiprecSession(request.call_id, labels, metadata_type=body.metadata_type)
    if body.metadata is not None:
        state.apply(body.metadata)
    audio = [labels.get(i, f"m{i}") for i, m in enumerate(offer.media) if m.media == "audio"]
    target = RecordingTarget(record_id=request.call_id, calluuid=_calluuid(request, state.metadata),
                             dn=audio[0] if audio else "m0", record_dn=None,
                             other_dn=audio[1] if len(audio) > 1 else None)
    return target, offer, state


def reoffer(state: SiprecSession, request: SipRequest) -> SessionDescription:
    """A re-INVITE in a recording session: apply its metadata (if any), return its SDP offer."""
    body = split_body(request.content_type_full, request.body)
    if body.metadata is not None:
        state.apply(body.metadata)
        state.metadata_type = state.metadata_type or body.metadata_type
    if body.sdp is None:
        raise RemoteProtocolError("re-INVITE without an SDP offer", 488, "Not Acceptable Here")
    offer = parse_sdp(body.sdp)
    for index, m in enumerate(offer.media):
        if m.label is not None:
            state.labels.setdefault(index, m.label)
    return offer


def snapshot_request(reason: str = "no metadata received") -> tuple[list[tuple[str, str]], bytes]:
    """(headers, body) of the SRS's metadata snapshot request (RFC 7866 §9.2): a body of type
    application/rs-metadata-request with disposition recording-session (§11.3), its text a
    free-form reason. Sent in an UPDATE (RFC 3311): it needs no SDP offer, unlike a re-INVITE
    without one, which would ask the SRC for a new offer."""
    return [("Content-Type", METADATA_REQUEST_TYPE), ("Content-Disposition", "recording-session")], \
        reason.encode("utf-8")


def contact_with_srs_tag(contact: str) -> str:
    """Our Contact with the SRS feature tag (RFC 7866 §6.2, RFC 3840 §9 syntax)."""
    return f"{contact};{SRS_FEATURE_TAG}"
