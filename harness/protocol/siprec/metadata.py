"""RFC 7865 recording metadata (`application/rs-metadata+xml`): model, parse, build, updates.

The model keeps what an SRS needs to say who is in which recorded stream: the communication
sessions (with their RFC 7989 Session-IDs), the participants (with their AORs), the streams
(with the SDP `a=label` that ties each to an m-line, RFC 7866 §8.1.1 / RFC 4574) and the
participant <-> stream associations (`<send>` / `<recv>` stream ids, RFC 7865). Times are
kept as the xs:dateTime text the SRC wrote.

RFC 7865: elements from other namespaces may extend `group`, `session`, `participant` and
`stream`; a consumer that does not know them ignores them. The parser records their qualified
names in `extensions` (evidence that some were present) and otherwise skips them, wherever they
appear. A document in the wrong namespace, or not XML at all, is a `MetadataError`.

`datamode` (RFC 7865 (datamode), RFC 7866 §9): `complete` replaces what the SRS knew, `partial`
carries only what changed; `apply_update` merges a partial document by element id, and a
`<disassociate-time>` in a participantstreamassoc ends that association (a participant who left
on transfer).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final, TypeVar

from harness.protocol.errors import RemoteProtocolError

__all__ = [
    "NAMESPACE",
    "Association",
    "CommunicationSession",
    "MetadataError",
    "Participant",
    "RecordingMetadata",
    "Stream",
    "apply_update",
    "build_metadata",
    "parse_metadata",
]

NAMESPACE: Final = "urn:ietf:params:xml:ns:recording:1"
_NS: Final = "{" + NAMESPACE + "}"
_DATAMODES: Final = frozenset({"complete", "partial"})
# Entity declarations are the one XML feature an attacker needs for expansion bombs; RFC 7865's
# schema has no DTD, so a document with one is refused rather than expanded.
_DTD: Final = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class MetadataError(RemoteProtocolError):
    """Metadata that cannot be used: 400 (the SRS cannot record it faithfully)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 400, "Bad Request")


@dataclass(frozen=True, slots=True)
class CommunicationSession:
    session_id: str
    sip_session_ids: tuple[str, ...] = ()
    start_time: str | None = None
    stop_time: str | None = None


@dataclass(frozen=True, slots=True)
class Participant:
    participant_id: str
    aors: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Stream:
    stream_id: str
    session_id: str | None
    label: str | None


@dataclass(frozen=True, slots=True)
class Association:
    """participantstreamassoc: the streams a participant sends and receives (RFC 7865)."""

    participant_id: str
    send: tuple[str, ...] = ()
    recv: tuple[str, ...] = ()
    associate_time: str | None = None
    disassociate_time: str | None = None

    @property
    def active(self) -> bool:
        return self.disassociate_time is None


@dataclass(frozen=True, slots=True)
class RecordingMetadata:
    datamode: str = "complete"
    sessions: tuple[CommunicationSession, ...] = ()
    participants: tuple[Participant, ...] = ()
    streams: tuple[Stream, ...] = ()
    associations: tuple[Association, ...] = ()
    # Qualified names ("{ns}local") of foreign-namespace elements that were skipped.
    extensions: tuple[str, ...] = field(default=(), compare=False)

    def participant(self, participant_id: str) -> Participant | None:
        return next((p for p in self.participants if p.participant_id == participant_id), None)

    def stream_by_label(self, label: str) -> Stream | None:
        return next((s for s in self.streams if s.label == label), None)

    def senders(self, stream_id: str) -> tuple[str, ...]:
        """Participant ids currently associated as senders of `stream_id`."""
        return tuple(a.participant_id for a in self.associations if a.active and stream_id in a.send)

    def label_senders(self) -> dict[str, tuple[str, ...]]:
        """SDP label -> the participants whose audio it carries: the mapping an SRS keeps."""
        return {s.label: self.senders(s.stream_id) for s in self.streams if s.label is not None}

    def to_json(self) -> dict[str, object]:
        """Plain data for a recording.json (`siprec.metadata`)."""
        return {
            "datamode": self.datamode,
            "sessions": [{"session_id": s.session_id, "sip_session_ids": list(s.sip_session_ids),
                          "start_time": s.start_time, "stop_time": s.stop_time} for s in self.sessions],
            "participants": [{"participant_id": p.participant_id, "aors": list(p.aors), "names": list(p.names)}
                             for p in self.participants],
            "streams": [{"stream_id": s.stream_id, "session_id": s.session_id, "label": s.label}
                        for s in self.streams],
            "associations": [{"participant_id": a.participant_id, "send": list(a.send), "recv": list(a.recv),
                              "associate_time": a.associate_time, "disassociate_time": a.disassociate_time}
                             for a in self.associations],
        }


def _text(element: ET.Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _required(element: ET.Element, attribute: str) -> str:
    value = element.get(attribute)
    if value is None or not value.strip():
        raise MetadataError(f"<{element.tag.removeprefix(_NS)}> without its {attribute} attribute")
    return value.strip()


def _foreign(elements: Iterable[ET.Element]) -> list[str]:
    return [e.tag for e in elements if isinstance(e.tag, str) and not e.tag.startswith(_NS)]


def parse_metadata(data: bytes) -> RecordingMetadata:
    """Parse one metadata document (RFC 7865). Raises `MetadataError` (400)."""
    if _DTD.search(data):
        raise MetadataError("metadata with a DTD or entity declaration")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise MetadataError(f"metadata is not well-formed XML: {error}") from None
    if root.tag != f"{_NS}recording":
        raise MetadataError(f"metadata root is {root.tag}, not <recording xmlns=\"{NAMESPACE}\">")
    extensions = _foreign(root.iter())
    datamode = _text(root.find(f"{_NS}datamode")) or "complete"
    if datamode not in _DATAMODES:
        raise MetadataError(f"datamode {datamode!r} is neither complete nor partial")
    sessions = tuple(
        CommunicationSession(_required(e, "session_id"),
                             tuple(t for t in (_text(x) for x in e.findall(f"{_NS}sipSessionID")) if t),
                             _text(e.find(f"{_NS}start-time")), _text(e.find(f"{_NS}stop-time")))
        for e in root.findall(f"{_NS}session"))
    participants = []
    for e in root.findall(f"{_NS}participant"):
        ids = e.findall(f"{_NS}nameID")
        aors = tuple(a for a in (x.get("aor") for x in ids) if a)
        names = tuple(n for n in (_text(x.find(f"{_NS}name")) for x in ids) if n)
        participants.append(Participant(_required(e, "participant_id"), aors, names))
    streams = tuple(Stream(_required(e, "stream_id"), e.get("session_id"), _text(e.find(f"{_NS}label")))
                    for e in root.findall(f"{_NS}stream"))
    associations = tuple(
        Association(_required(e, "participant_id"),
                    tuple(t for t in (_text(x) for x in e.findall(f"{_NS}send")) if t),
                    tuple(t for t in (_text(x) for x in e.findall(f"{_NS}recv")) if t),
                    _text(e.find(f"{_NS}associate-time")), _text(e.find(f"{_NS}disassociate-time")))
        for e in root.findall(f"{_NS}participantstreamassoc"))
    return RecordingMetadata(datamode, sessions, tuple(participants), streams, associations, tuple(extensions))


_T = TypeVar("_T")


def _merge(old: tuple[_T, ...], new: tuple[_T, ...], key: str) -> tuple[_T, ...]:
    merged: dict[str, _T] = {getattr(item, key): item for item in old}
    for item in new:
        merged[getattr(item, key)] = item
    return tuple(merged.values())


def apply_update(base: RecordingMetadata | None, update: RecordingMetadata) -> RecordingMetadata:
    """The SRS's view after `update` (RFC 7865 (datamode)): complete replaces, partial merges by id."""
    if base is None or update.datamode == "complete":
        return replace(update, datamode="complete")
    associations = dict((a.participant_id, a) for a in base.associations)
    for a in update.associations:
        before = associations.get(a.participant_id)
        if before is not None and not a.send and not a.recv and a.disassociate_time is not None:
            a = replace(before, disassociate_time=a.disassociate_time)  # leaving: keep what it had
        associations[a.participant_id] = a
    return RecordingMetadata(
        "complete", _merge(base.sessions, update.sessions, "session_id"),
        _merge(base.participants, update.participants, "participant_id"),
        _merge(base.streams, update.streams, "stream_id"), tuple(associations.values()),
        (*base.extensions, *update.extensions))


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{_NS}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def build_metadata(meta: RecordingMetadata, *,
                   extensions: Mapping[str, Mapping[str, str]] | None = None) -> bytes:
    """The XML document for `meta` (RFC 7865 element order). `extensions` adds vendor
    elements: participant/stream/session id -> {"{namespace}local": text}, inside that element."""
    ET.register_namespace("", NAMESPACE)
    extra = extensions or {}
    root = ET.Element(f"{_NS}recording")
    _sub(root, "datamode", meta.datamode)

    def extend(element: ET.Element, element_id: str) -> None:
        for tag, text in extra.get(element_id, {}).items():
            ET.SubElement(element, tag).text = text

    for s in meta.sessions:
        e = _sub(root, "session", session_id=s.session_id)
        for sid in s.sip_session_ids:
            _sub(e, "sipSessionID", sid)
        if s.start_time is not None:
            _sub(e, "start-time", s.start_time)
        if s.stop_time is not None:
            _sub(e, "stop-time", s.stop_time)
        extend(e, s.session_id)
    for p in meta.participants:
        e = _sub(root, "participant", participant_id=p.participant_id)
        for index, aor in enumerate(p.aors):
            n = _sub(e, "nameID", aor=aor)
            if index < len(p.names):
                _sub(n, "name", p.names[index])
        extend(e, p.participant_id)
    for st in meta.streams:
        attrs = {"stream_id": st.stream_id} | ({"session_id": st.session_id} if st.session_id else {})
        e = _sub(root, "stream", **attrs)
        if st.label is not None:
            _sub(e, "label", st.label)
        extend(e, st.stream_id)
    for a in meta.associations:
        e = _sub(root, "participantstreamassoc", participant_id=a.participant_id)
        if a.associate_time is not None:
            _sub(e, "associate-time", a.associate_time)
        if a.disassociate_time is not None:
            _sub(e, "disassociate-time", a.disassociate_time)
        for sid in a.send:
            _sub(e, "send", sid)
        for sid in a.recv:
            _sub(e, "recv", sid)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + document + b"\n"
