"""What makes a request a SIPREC recording session, and where its SDP and metadata are.

RFC 7866 §6.1.1: the SRC must put the `+sip.src` feature tag in its Contact URI and the
`siprec` option tag in the Require header of the INVITE that starts a recording session; §6.2: an SRS treats an INVITE as a recording session only when both are
present, and answers with '+sip.srs' in its Contact. RFC 7866 §9.1: the body is
multipart/mixed with the SDP and the metadata (`application/rs-metadata+xml`, disposition
`recording-session`); metadata may also come later (a re-INVITE or UPDATE), and an SRS may
ask for a snapshot with `application/rs-metadata-request` (§9.2).

Media type spellings: RFC 7866 registers `application/rs-metadata+xml`; SBCs (AudioCodes, and
the Accept headers of the RFC's own examples) also write `application/rs-metadata`, so both
are metadata here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.message import SipMessage
from harness.protocol.siprec.multipart import BodyPart, parse_multipart

__all__ = [
    "METADATA_REQUEST_TYPE",
    "METADATA_TYPES",
    "OPTION_TAG",
    "SRC_FEATURE_TAG",
    "SRS_FEATURE_TAG",
    "SiprecBody",
    "has_feature_tag",
    "is_recording_session",
    "split_body",
]

OPTION_TAG: Final = "siprec"
SRC_FEATURE_TAG: Final = "+sip.src"
SRS_FEATURE_TAG: Final = "+sip.srs"
METADATA_TYPES: Final = frozenset({"application/rs-metadata+xml", "application/rs-metadata"})
METADATA_REQUEST_TYPE: Final = "application/rs-metadata-request"


@dataclass(frozen=True, slots=True)
class SiprecBody:
    """The parts of a recording-session body that matter; each may be absent."""

    sdp: bytes | None = None
    metadata: bytes | None = None
    metadata_type: str | None = None  # the spelling the SRC used
    metadata_request: bool = False
    parts: tuple[BodyPart, ...] = ()  # all of them, in order (m-line/metadata order evidence)
    multipart: bool = False


def has_feature_tag(message: SipMessage, tag: str) -> bool:
    """True when a Contact of `message` carries the feature tag parameter `tag` (RFC 3840 §9)."""
    try:
        contacts = message.contacts
    except RemoteProtocolError:
        return False
    return any(c.param(tag) is not None for c in contacts)


def is_recording_session(message: SipMessage) -> bool:
    """RFC 7866 §6.2: both `Require: siprec` and `+sip.src` in the Contact."""
    return OPTION_TAG in {t.lower() for t in message.require} and has_feature_tag(message, SRC_FEATURE_TAG)


def split_body(content_type: str | None, body: bytes) -> SiprecBody:
    """Locate SDP and metadata by Content-Type (RFC 5621 §3: by type, not by position).

    A bare `application/sdp` body is a recording session without metadata (RFC 7866 §9: it
    may follow). Raises `MultipartError` (400) for an unusable multipart body."""
    if not body or content_type is None:
        return SiprecBody()
    base = content_type.split(";", 1)[0].strip(" \t").lower()
    if base == "application/sdp":
        return SiprecBody(sdp=body)
    if base in METADATA_TYPES:
        return SiprecBody(metadata=body, metadata_type=base)
    if base == METADATA_REQUEST_TYPE:
        return SiprecBody(metadata_request=True)
    if base != "multipart/mixed":
        return SiprecBody()
    parts = parse_multipart(body, content_type)
    sdp = next((p.body for p in parts if p.content_type == "application/sdp"), None)
    meta = next((p for p in parts if p.content_type in METADATA_TYPES), None)
    request = any(p.content_type == METADATA_REQUEST_TYPE for p in parts)
    return SiprecBody(sdp, None if meta is None else meta.body, None if meta is None else meta.content_type,
                      request, parts, True)
