"""SDP (RFC 4566) parse/build and RFC 3264 offer/answer for a recording server.

Model: `SessionDescription` / `MediaDescription` are frozen values (sequences are tuples).
`parse_sdp` accepts CRLF or bare-LF lines (RFC 4566 §5: "a session description MAY use LF ...
parsers SHOULD be tolerant") and raises `RemoteProtocolError(status=400)` for malformed input;
`to_bytes()` always emits CRLF lines in the RFC 4566 §5 order:

    v= o= s= i=? u=? e=* p=* c=? b=* (t= r=*)+ z=? k=? a=* (m= i=? c=* b=* k=? a=*)*

Session-level line order is checked loosely on input (v= first, r= after a t=, o=/s=/t=
present, nothing but media-level lines after the first m=) because real stacks differ; output
order is always the RFC one.

`answer_offer` implements the answerer side of RFC 3264 §6 / §6.1 / §8 for a recorder: it never
sends media, so every accepted stream is answered recvonly or inactive.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from harness.protocol.errors import RemoteProtocolError

__all__ = [
    "STATIC_PAYLOAD_TYPES",
    "Bandwidth",
    "Connection",
    "Direction",
    "MediaDescription",
    "NoAcceptableMedia",
    "Origin",
    "RtpMap",
    "SessionDescription",
    "StreamPlan",
    "Timing",
    "answer_direction",
    "OfferedCodec",
    "OfferedMedia",
    "answer_offer",
    "build_offer",
    "parse_sdp",
]


class Direction(enum.StrEnum):
    """RFC 4566 §6 / RFC 3264 §5.1 media direction attributes."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"


_DIRECTIONS: Final = frozenset(d.value for d in Direction)

# RFC 3264 §6.1, for an answerer that only ever *receives*:
# - "If a stream is offered as sendonly, the corresponding stream MUST be marked as recvonly or
#   inactive in the answer."  -> recvonly (we record it)
# - sendrecv may be answered with any direction; a recorder never sends -> recvonly
# - "If a media stream is listed as recvonly in the offer, the answer MUST be marked as sendonly
#   or inactive" -> inactive (we have nothing to send)
# - "If an offered media stream is listed as inactive, it MUST be marked as inactive in the answer."
_RECORDER_ANSWER: Final[dict[Direction, Direction]] = {
    Direction.SENDONLY: Direction.RECVONLY,
    Direction.SENDRECV: Direction.RECVONLY,
    Direction.RECVONLY: Direction.INACTIVE,
    Direction.INACTIVE: Direction.INACTIVE,
}


def answer_direction(offered: Direction) -> Direction:
    """Direction a recorder answers for an offered direction (transition table above)."""
    return _RECORDER_ANSWER[offered]


@dataclass(frozen=True, slots=True)
class RtpMap:
    """`a=rtpmap:<pt> <encoding>/<clock>[/<channels>]` (RFC 4566 §6)."""

    encoding: str
    clock_rate: int
    channels: int = 1


# RFC 3551 §6 Table 4 (audio) and Table 5 (video): payload types usable without a=rtpmap.
# G722 is 8000 on the RTP clock although it samples at 16 kHz (RFC 3551 §4.5.2).
STATIC_PAYLOAD_TYPES: Final[dict[int, RtpMap]] = {
    0: RtpMap("PCMU", 8000),
    3: RtpMap("GSM", 8000),
    4: RtpMap("G723", 8000),
    5: RtpMap("DVI4", 8000),
    6: RtpMap("DVI4", 16000),
    7: RtpMap("LPC", 8000),
    8: RtpMap("PCMA", 8000),
    9: RtpMap("G722", 8000),
    10: RtpMap("L16", 44100, 2),
    11: RtpMap("L16", 44100),
    12: RtpMap("QCELP", 8000),
    13: RtpMap("CN", 8000),
    14: RtpMap("MPA", 90000),
    15: RtpMap("G728", 8000),
    16: RtpMap("DVI4", 11025),
    17: RtpMap("DVI4", 22050),
    18: RtpMap("G729", 8000),
    25: RtpMap("CelB", 90000),
    26: RtpMap("JPEG", 90000),
    28: RtpMap("nv", 90000),
    31: RtpMap("H261", 90000),
    32: RtpMap("MPV", 90000),
    33: RtpMap("MP2T", 90000),
    34: RtpMap("H263", 90000),
}

_RTP_PROTOS: Final = frozenset(
    {"RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF", "UDP/TLS/RTP/SAVP", "UDP/TLS/RTP/SAVPF"}
)


@dataclass(frozen=True, slots=True)
class Origin:
    """`o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>` (§5.2)."""

    username: str
    session_id: str
    session_version: str
    net_type: str
    addr_type: str
    address: str

    def __str__(self) -> str:
        return " ".join(
            (
                self.username,
                self.session_id,
                self.session_version,
                self.net_type,
                self.addr_type,
                self.address,
            )
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """`c=<nettype> <addrtype> <connection-address>` (§5.7); multicast /ttl/count kept in address."""

    net_type: str
    addr_type: str
    address: str

    def __str__(self) -> str:
        return f"{self.net_type} {self.addr_type} {self.address}"

    @property
    def host(self) -> str:
        """Address without a multicast /ttl[/count] suffix."""
        return self.address.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """`b=<bwtype>:<bandwidth>` (§5.8), bandwidth in kbit/s for CT/AS."""

    bwtype: str
    bandwidth: int

    def __str__(self) -> str:
        return f"{self.bwtype}:{self.bandwidth}"


@dataclass(frozen=True, slots=True)
class Timing:
    """`t=<start-time> <stop-time>` (§5.9) with its `r=` repeat lines (§5.10) kept verbatim."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()


Attribute = tuple[str, str | None]


def _attr_values(attributes: Sequence[Attribute], name: str) -> list[str]:
    return [v for n, v in attributes if n == name and v is not None]


def _attr_direction(attributes: Sequence[Attribute]) -> Direction | None:
    found = None
    for name, value in attributes:
        if value is None and name in _DIRECTIONS:
            found = Direction(name)  # the last one wins if a sender repeats itself
    return found


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """One `m=` section (§5.14) and its media-level lines."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    information: str | None = None
    connections: tuple[Connection, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()

    @property
    def connection(self) -> Connection | None:
        """First media-level c= line (more than one only for layered multicast)."""
        return self.connections[0] if self.connections else None

    @property
    def is_rtp(self) -> bool:
        return self.proto.upper() in _RTP_PROTOS

    @property
    def payload_types(self) -> tuple[int, ...]:
        """The formats as RTP payload type numbers (empty for non-RTP protos)."""
        if not self.is_rtp:
            return ()
        return tuple(int(f) for f in self.formats if f.isdigit())

    @property
    def rtpmap(self) -> dict[int, RtpMap]:
        """PT -> encoding for every listed RTP format: a=rtpmap, else RFC 3551 static table."""
        mapped: dict[int, RtpMap] = {}
        for value in _attr_values(self.attributes, "rtpmap"):
            parsed = _parse_rtpmap(value)
            if parsed is not None:
                mapped.setdefault(parsed[0], parsed[1])
        out: dict[int, RtpMap] = {}
        for pt in self.payload_types:
            if pt in mapped:
                out[pt] = mapped[pt]
            elif pt in STATIC_PAYLOAD_TYPES:
                out[pt] = STATIC_PAYLOAD_TYPES[pt]
        return out

    @property
    def fmtp(self) -> dict[int, str]:
        """PT -> format parameters from `a=fmtp:<pt> <params>`."""
        out: dict[int, str] = {}
        for value in _attr_values(self.attributes, "fmtp"):
            pt, _, params = value.partition(" ")
            if pt.isdigit():
                out.setdefault(int(pt), params.strip())
        return out

    @property
    def ptime(self) -> float | None:
        """`a=ptime` in ms (RFC 4566 §6); may be fractional."""
        return _float_attr(self.attributes, "ptime")

    @property
    def maxptime(self) -> float | None:
        return _float_attr(self.attributes, "maxptime")

    @property
    def label(self) -> str | None:
        """`a=label` (RFC 4574) -- SIPREC ties metadata streams to m-lines with it."""
        values = _attr_values(self.attributes, "label")
        return values[0] if values else None

    @property
    def direction_attribute(self) -> Direction | None:
        """The media-level direction attribute only (None when absent)."""
        return _attr_direction(self.attributes)

    def direction(self, session: SessionDescription | None = None) -> Direction:
        """Effective direction: media level, else session level, else sendrecv (RFC 4566 §6)."""
        media_level = _attr_direction(self.attributes)
        if media_level is not None:
            return media_level
        if session is not None:
            session_level = _attr_direction(session.attributes)
            if session_level is not None:
                return session_level
        return Direction.SENDRECV

    def lines(self) -> list[str]:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        out = [f"m={self.media} {port} {self.proto} {' '.join(self.formats)}"]
        if self.information is not None:
            out.append(f"i={self.information}")
        out += [f"c={c}" for c in self.connections]
        out += [f"b={b}" for b in self.bandwidths]
        if self.key is not None:
            out.append(f"k={self.key}")
        out += [_attr_line(a) for a in self.attributes]
        return out


def _float_attr(attributes: Sequence[Attribute], name: str) -> float | None:
    for value in _attr_values(attributes, name):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _attr_line(attr: Attribute) -> str:
    name, value = attr
    return f"a={name}" if value is None else f"a={name}:{value}"


def _parse_rtpmap(value: str) -> tuple[int, RtpMap] | None:
    pt, _, rest = value.partition(" ")
    parts = rest.strip().split("/")
    if not pt.isdigit() or len(parts) < 2 or not parts[1].isdigit():
        return None
    channels = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
    return int(pt), RtpMap(parts[0], int(parts[1]), channels)


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole SDP body (RFC 4566 §5)."""

    origin: Origin
    session_name: str = "-"
    version: int = 0
    information: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    connection: Connection | None = None
    bandwidths: tuple[Bandwidth, ...] = ()
    timings: tuple[Timing, ...] = (Timing(),)
    zone: str | None = None
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = field(default=())

    @property
    def direction(self) -> Direction | None:
        """Session-level direction attribute, if any."""
        return _attr_direction(self.attributes)

    def media_connection(self, index: int) -> Connection | None:
        """Connection for m-line `index`: media level overrides session level (§5.7)."""
        return self.media[index].connection or self.connection

    def to_bytes(self) -> bytes:
        lines = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        if self.information is not None:
            lines.append(f"i={self.information}")
        if self.uri is not None:
            lines.append(f"u={self.uri}")
        lines += [f"e={e}" for e in self.emails]
        lines += [f"p={p}" for p in self.phones]
        if self.connection is not None:
            lines.append(f"c={self.connection}")
        lines += [f"b={b}" for b in self.bandwidths]
        for t in self.timings:
            lines.append(f"t={t.start} {t.stop}")
            lines += [f"r={r}" for r in t.repeats]
        if self.zone is not None:
            lines.append(f"z={self.zone}")
        if self.key is not None:
            lines.append(f"k={self.key}")
        lines += [_attr_line(a) for a in self.attributes]
        for m in self.media:
            lines += m.lines()
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------

_SESSION_TYPES: Final = frozenset("vosiuepcbtrzkam")
_MEDIA_TYPES: Final = frozenset("icbka")


def _bad(message: str) -> RemoteProtocolError:
    # RFC 3261 §21.4.1: a body the UAS cannot parse -> 400 Bad Request.
    return RemoteProtocolError(f"malformed SDP: {message}", 400, "Bad Request")


def _parse_connection(value: str, lineno: int) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise _bad(f"line {lineno}: c= needs '<nettype> <addrtype> <address>', got {value!r}")
    return Connection(*parts)


def _parse_bandwidth(value: str, lineno: int) -> Bandwidth:
    bwtype, sep, amount = value.partition(":")
    if not sep or not bwtype or not amount.strip().isdigit():
        raise _bad(f"line {lineno}: b= needs '<bwtype>:<bandwidth>', got {value!r}")
    return Bandwidth(bwtype, int(amount.strip()))


def _parse_attribute(value: str, lineno: int) -> Attribute:
    name, sep, attr_value = value.partition(":")
    if not name or " " in name:
        raise _bad(f"line {lineno}: bad attribute name in a={value!r}")
    return (name, attr_value if sep else None)


def _parse_media(value: str, lineno: int) -> MediaDescription:
    # §5.14: m=<media> <port>[/<number of ports>] <proto> <fmt> ...  (at least one fmt)
    parts = value.split()
    if len(parts) < 4:
        raise _bad(f"line {lineno}: m= needs '<media> <port> <proto> <fmt> ...', got {value!r}")
    media, port_text, proto, *formats = parts
    port_str, slash, count_str = port_text.partition("/")
    if not port_str.isdigit() or int(port_str) > 65535:
        raise _bad(f"line {lineno}: bad m= port {port_text!r}")
    port_count: int | None = None
    if slash:
        if not count_str.isdigit() or int(count_str) < 1:
            raise _bad(f"line {lineno}: bad m= port count {port_text!r}")
        port_count = int(count_str)
    if proto.upper() in _RTP_PROTOS:
        # §5.14: for RTP/AVP "the <fmt> sub-fields contain RTP payload type numbers".
        for f in formats:
            if not f.isdigit() or int(f) > 127:
                raise _bad(f"line {lineno}: RTP format {f!r} is not a payload type 0..127")
    return MediaDescription(
        media=media, port=int(port_str), proto=proto, formats=tuple(formats), port_count=port_count
    )


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse an SDP body; raises `RemoteProtocolError` (400) naming the offending line.

    The result is a frozen value, so a body seen again (one pass over a capture reads each SDP
    body three times: the classifier, the RTP format learner and the SIP validator) is parsed
    once (`_parse_sdp_bytes`, a small LRU cache; a refused body is parsed again, and raises again)."""
    if type(data) is bytes:
        return _parse_sdp_bytes(data)
    return _parse_sdp(data)


@functools.lru_cache(maxsize=256)
def _parse_sdp_bytes(data: bytes) -> SessionDescription:
    return _parse_sdp(data)


def _parse_sdp(data: bytes | str) -> SessionDescription:
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _bad(f"not UTF-8 ({exc})") from None
    else:
        text = data
    raw_lines = text.split("\n")
    while raw_lines and raw_lines[-1].strip("\r") == "":
        raw_lines.pop()
    if not raw_lines:
        raise _bad("empty body")

    origin: Origin | None = None
    session_name: str | None = None
    single: dict[str, str] = {}  # i= u= z= k= (at most one each at session level)
    session_conn: Connection | None = None
    emails: list[str] = []
    phones: list[str] = []
    bandwidths: list[Bandwidth] = []
    timings: list[Timing] = []
    attributes: list[Attribute] = []
    media: list[MediaDescription] = []
    cur_conns: list[Connection] = []
    cur_bws: list[Bandwidth] = []
    cur_attrs: list[Attribute] = []

    def close_media() -> None:
        if media:
            media[-1] = replace(
                media[-1],
                connections=tuple(cur_conns),
                bandwidths=tuple(cur_bws),
                attributes=tuple(cur_attrs),
            )
        cur_conns.clear()
        cur_bws.clear()
        cur_attrs.clear()

    for lineno, raw in enumerate(raw_lines, start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        # §5: "<type>=<value>" where <type> is exactly one case-significant character and
        # "No whitespace is allowed on either side of the '=' sign".
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise _bad(f"line {lineno}: not '<type>=<value>': {line!r}")
        kind, value = line[0], line[2:]
        if lineno == 1:
            if kind != "v":
                raise _bad("first line must be v=")
            if value.strip() != "0":
                raise _bad(f"unsupported version v={value}")
            continue
        if kind == "v":
            raise _bad(f"line {lineno}: repeated v=")
        if kind == "m":
            close_media()
            media.append(_parse_media(value, lineno))
            continue
        if media:
            if kind not in _MEDIA_TYPES:
                raise _bad(f"line {lineno}: '{kind}=' not allowed after m=")
            if kind == "i":
                media[-1] = replace(media[-1], information=value)
            elif kind == "c":
                cur_conns.append(_parse_connection(value, lineno))
            elif kind == "b":
                cur_bws.append(_parse_bandwidth(value, lineno))
            elif kind == "k":
                media[-1] = replace(media[-1], key=value)
            else:
                cur_attrs.append(_parse_attribute(value, lineno))
            continue
        if kind not in _SESSION_TYPES:
            # §5: "An SDP parser MUST completely ignore any session description that contains a
            # type letter that it does not understand."
            raise _bad(f"line {lineno}: unknown type '{kind}='")
        if kind == "o":
            parts = value.split()
            if len(parts) != 6:
                raise _bad(f"line {lineno}: o= needs 6 fields, got {len(parts)}")
            if origin is not None:
                raise _bad(f"line {lineno}: repeated o=")
            origin = Origin(*parts)
        elif kind == "s":
            if session_name is not None:
                raise _bad(f"line {lineno}: repeated s=")
            session_name = value
        elif kind in "iuzk":
            if kind in single:
                raise _bad(f"line {lineno}: repeated {kind}=")
            single[kind] = value
        elif kind == "e":
            emails.append(value)
        elif kind == "p":
            phones.append(value)
        elif kind == "c":
            if session_conn is not None:
                raise _bad(f"line {lineno}: repeated session-level c=")
            session_conn = _parse_connection(value, lineno)
        elif kind == "b":
            bandwidths.append(_parse_bandwidth(value, lineno))
        elif kind == "t":
            parts = value.split()
            if len(parts) != 2 or not all(p.isdigit() for p in parts):
                raise _bad(f"line {lineno}: t= needs '<start> <stop>' integers, got {value!r}")
            timings.append(Timing(int(parts[0]), int(parts[1])))
        elif kind == "r":
            if not timings:
                raise _bad(f"line {lineno}: r= before any t=")
            timings[-1] = replace(timings[-1], repeats=(*timings[-1].repeats, value))
        else:  # "a"
            attributes.append(_parse_attribute(value, lineno))
    close_media()

    if origin is None:
        raise _bad("missing o= line")
    if session_name is None:
        raise _bad("missing s= line")
    if not timings:
        raise _bad("missing t= line")
    # §5.7: "A session description MUST contain either at least one "c=" field in each media
    # description or a single "c=" field at the session level."
    for i, m in enumerate(media):
        if session_conn is None and not m.connections:
            raise _bad(f"m-line {i} ({m.media}) has no c= and there is no session-level c=")

    return SessionDescription(
        origin=origin,
        session_name=session_name,
        information=single.get("i"),
        uri=single.get("u"),
        emails=tuple(emails),
        phones=tuple(phones),
        connection=session_conn,
        bandwidths=tuple(bandwidths),
        timings=tuple(timings),
        zone=single.get("z"),
        key=single.get("k"),
        attributes=tuple(attributes),
        media=tuple(media),
    )


# --------------------------------------------------------------------------------------------
# Offer/answer (RFC 3264) for a recorder
# --------------------------------------------------------------------------------------------


class NoAcceptableMedia(RemoteProtocolError):
    """No m-line of the offer can be accepted: answer 488 (RFC 3261 §21.4.26, RFC 3264 §6)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 488, "Not Acceptable Here")


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What the recorder agreed for one offered m-line (same index as in the offer)."""

    index: int
    media: str
    accepted: bool
    port: int  # our receive port; 0 when rejected
    offer_direction: Direction
    direction: Direction  # what we answered
    payload_types: tuple[int, ...] = ()  # chosen PTs in offer order (codec + telephone-event)
    payload_type: int | None = None  # the audio codec PT
    encoding: str | None = None
    clock_rate: int | None = None
    channels: int = 1
    ptime: float | None = None
    label: str | None = None
    telephone_event_pt: int | None = None
    remote_address: str | None = None  # where the offerer sends from / expects RTCP
    remote_port: int = 0
    reason: str | None = None  # why rejected

    @property
    def receiving(self) -> bool:
        """True when media is expected on this stream now (accepted and answered recvonly)."""
        return self.accepted and self.direction is Direction.RECVONLY


#: allocate_port(index, offered_media) -> local RTP port for that m-line.
PortAllocator = Callable[[int, MediaDescription], int]


def _rejected(
    index: int, m: MediaDescription, offered: Direction, reason: str
) -> tuple[MediaDescription, StreamPlan]:
    # RFC 3264 §6: "An offered stream MAY be rejected in the answer by setting the port in the
    # m-line to zero." The m-line still needs a format: echo the offer's formats.
    answer = MediaDescription(media=m.media, port=0, proto=m.proto, formats=m.formats)
    plan = StreamPlan(index, m.media, False, 0, offered, Direction.INACTIVE, reason=reason)
    return answer, plan


def answer_offer(
    offer: SessionDescription,
    *,
    address: str,
    allocate_port: PortAllocator,
    session_id: int,
    session_version: int = 1,
    username: str = "arec",
    supported_encodings: Collection[str] = ("PCMU", "PCMA"),
    accept_media: Collection[str] = ("audio",),
    supported_protos: Collection[str] = ("RTP/AVP", "RTP/AVPF"),
    previous: Sequence[StreamPlan] = (),
) -> tuple[SessionDescription, list[StreamPlan]]:
    """Build a recorder's answer to `offer` (RFC 3264 §6, §6.1, §8).

    * One answer m-line per offered m-line, same order (§6: "The answer MUST contain exactly the
      same number of "m=" lines as the offer").
    * Unsupported media/proto, no supported codec, or offered port 0 -> port 0 (rejected).
    * Accepted: the first offered codec whose encoding is supported (offer's preference), plus
      telephone-event (RFC 4733) at the same clock if offered; listed in the offer's order.
    * Direction per `answer_direction` (a recorder never sends media).
    * Re-offers (§8): pass the previous plans; an m-line accepted before keeps its port and
      `allocate_port(index, media)` is only called for new ones.
    * Raises `NoAcceptableMedia` (488) when nothing can be accepted.
    """
    encodings = {e.upper() for e in supported_encodings}
    medias = {m.lower() for m in accept_media}
    protos = {p.upper() for p in supported_protos}
    prev = {p.index: p for p in previous}
    answer_media: list[MediaDescription] = []
    plans: list[StreamPlan] = []

    for index, m in enumerate(offer.media):
        offered_dir = m.direction(offer)
        conn = offer.media_connection(index)
        if conn is not None and conn.host in ("0.0.0.0", "::"):
            # RFC 3264 §8.4: the old RFC 2543 hold style (c=0.0.0.0) means no media will flow.
            offered_dir = Direction.INACTIVE
        if m.port == 0:
            # §8.2: a stream the offerer disabled "MUST" stay port 0 in the answer.
            a, p = _rejected(index, m, offered_dir, "disabled by offerer (port 0)")
        elif m.media.lower() not in medias:
            a, p = _rejected(index, m, offered_dir, f"media {m.media!r} not accepted")
        elif m.proto.upper() not in protos:
            a, p = _rejected(index, m, offered_dir, f"transport {m.proto!r} not supported")
        else:
            rtpmap = m.rtpmap
            codec_pt = next(
                (pt for pt in m.payload_types if pt in rtpmap and rtpmap[pt].encoding.upper() in encodings),
                None,
            )
            if codec_pt is None:
                a, p = _rejected(index, m, offered_dir, "no supported codec offered")
            else:
                codec = rtpmap[codec_pt]
                te_pt = next(
                    (
                        pt
                        for pt in m.payload_types
                        if pt in rtpmap
                        and rtpmap[pt].encoding.lower() == "telephone-event"
                        and rtpmap[pt].clock_rate == codec.clock_rate
                    ),
                    None,
                )
                chosen = tuple(pt for pt in m.payload_types if pt in (codec_pt, te_pt))
                old = prev.get(index)
                port = old.port if old is not None and old.accepted else allocate_port(index, m)
                answered = answer_direction(offered_dir)
                fmtp = m.fmtp
                attrs: list[Attribute] = []
                if m.label is not None:
                    attrs.append(("label", m.label))
                for pt in chosen:
                    r = rtpmap[pt]
                    suffix = f"/{r.channels}" if r.channels != 1 else ""
                    attrs.append(("rtpmap", f"{pt} {r.encoding}/{r.clock_rate}{suffix}"))
                    if pt in fmtp:
                        attrs.append(("fmtp", f"{pt} {fmtp[pt]}"))
                ptime = m.ptime
                if ptime is not None:
                    attrs.append(("ptime", f"{ptime:g}"))
                attrs.append((answered.value, None))
                a = MediaDescription(
                    media=m.media,
                    port=port,
                    proto=m.proto,
                    formats=tuple(str(pt) for pt in chosen),
                    attributes=tuple(attrs),
                )
                p = StreamPlan(
                    index=index,
                    media=m.media,
                    accepted=True,
                    port=port,
                    offer_direction=offered_dir,
                    direction=answered,
                    payload_types=chosen,
                    payload_type=codec_pt,
                    encoding=codec.encoding,
                    clock_rate=codec.clock_rate,
                    channels=codec.channels,
                    ptime=ptime,
                    label=m.label,
                    telephone_event_pt=te_pt,
                    remote_address=conn.host if conn is not None else None,
                    remote_port=m.port,
                )
        answer_media.append(a)
        plans.append(p)

    if not any(p.accepted for p in plans):
        reasons = "; ".join(f"m[{p.index}] {p.media}: {p.reason}" for p in plans) or "offer has no m-lines"
        raise NoAcceptableMedia(f"no acceptable media stream in offer ({reasons})")

    addr_type = "IP6" if ":" in address else "IP4"
    answer = SessionDescription(
        origin=Origin(username, str(session_id), str(session_version), "IN", addr_type, address),
        session_name="-",
        connection=Connection("IN", addr_type, address),
        # RFC 3264 §6: "The "t=" line in the answer MUST equal that of the offer."
        timings=offer.timings,
        media=tuple(answer_media),
    )
    return answer, plans


# --------------------------------------------------------------------------------------------
# Offerer side (the Media Server emulation, edge-case probes)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfferedCodec:
    """One payload format of an offered m-line: its rtpmap (RFC 4566 §6) and optional fmtp."""

    payload_type: int
    encoding: str
    clock_rate: int = 8000
    channels: int = 1
    fmtp: str | None = None

    @classmethod
    def from_rtpmap(cls, payload_type: int, rtpmap: str) -> OfferedCodec:
        """From an rtpmap value's `<encoding>/<clock rate>[/<channels>]` ("PCMU/8000")."""
        parts = rtpmap.split("/")
        if len(parts) < 2 or not parts[1].isdigit() or (len(parts) > 2 and not parts[2].isdigit()):
            raise ValueError(f"not an rtpmap encoding/clock[/channels]: {rtpmap!r}")
        return cls(payload_type, parts[0], int(parts[1]), int(parts[2]) if len(parts) > 2 else 1)


@dataclass(frozen=True, slots=True)
class OfferedMedia:
    """One offered m-line (RTP/AVP), its formats in preference order."""

    port: int
    codecs: tuple[OfferedCodec, ...]
    media: str = "audio"
    ptime_ms: int | None = None
    label: str | None = None  # RFC 4574 a=label: SIPREC metadata names the stream by it


def build_offer(address: str, media: Sequence[OfferedMedia], *, session_id: int, version: int = 1,
                username: str = "-", direction: Direction = Direction.SENDONLY) -> SessionDescription:
    """An offer with one m-line per `media` (RFC 3264 §5), each with its rtpmap/fmtp lines, the
    ptime and `direction` at media level. RFC 4566 §5.2: `version` must grow with every
    modified offer of the session (re-INVITE), `session_id` stays."""
    if version < 1:
        raise ValueError("o= version starts at 1")
    addr_type = "IP6" if ":" in address else "IP4"
    sections = []
    for m in media:
        attrs: list[Attribute] = []
        for c in m.codecs:
            suffix = f"/{c.channels}" if c.channels != 1 else ""
            attrs.append(("rtpmap", f"{c.payload_type} {c.encoding}/{c.clock_rate}{suffix}"))
            if c.fmtp is not None:
                attrs.append(("fmtp", f"{c.payload_type} {c.fmtp}"))
        if m.ptime_ms is not None:
            attrs.append(("ptime", str(m.ptime_ms)))
        attrs.append((direction.value, None))
        if m.label is not None:
            attrs.append(("label", m.label))
        sections.append(MediaDescription(m.media, m.port, "RTP/AVP", tuple(str(c.payload_type) for c in m.codecs),
                                         attributes=tuple(attrs)))
    return SessionDescription(
        origin=Origin(username, str(session_id), str(version), "IN", addr_type, address),
        connection=Connection("IN", addr_type, address),
        media=tuple(sections),
    )
