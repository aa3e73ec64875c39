"""JSON-lines codec of the T-Lib emulation (docs/tlib-emulation.md §2-§3; docs/architecture.md §2).

Framing: one JSON object per line, UTF-8, terminated by LF (a CR before the LF is tolerated,
blank lines are ignored). The object's `"message"` member names the message type; the other
members are the Platform SDK attribute names declared in `messages.py`.

Errors: a line the peer got wrong raises `TlibProtocolError` (a `RemoteProtocolError`) carrying
the `EventError` to send back - echoing the line's `ReferenceID` when it could be read - and
whether the connection must be closed. Only an over-long line is fatal: once a line exceeds the
limit we cannot find where the next message starts without buffering without bound, so the
peer is told (`TERR_MSG_TOO_LONG`) and the connection closes. Every other error costs the peer
that one line; the decoder goes on with the next.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Final, NoReturn

from harness.protocol.errors import LocalProtocolError, RemoteProtocolError
from harness.protocol.tlib.messages import (
    EVENT_TYPES,
    MAX_REFERENCE_ID,
    MESSAGE_TYPES,
    REQUEST_TYPES,
    AttributeValueError,
    ErrorCode,
    EventError,
    Kind,
    KVList,
    Message,
    attributes_of,
)

__all__ = [
    "MAX_LINE_LENGTH",
    "Direction",
    "TlibDecoder",
    "TlibProtocolError",
    "decode_line",
    "encode",
    "from_dict",
    "to_dict",
]

# 64 KiB per message: far above any real request (a UserData of a few hundred pairs), small
# enough that one connection cannot make the server buffer without bound.
MAX_LINE_LENGTH: Final = 64 * 1024
MESSAGE_FIELD: Final = "message"


class Direction(enum.Enum):
    """Which messages a decoder accepts: a T-Server reads requests, a client reads events."""

    REQUESTS = "requests"
    EVENTS = "events"


class TlibProtocolError(RemoteProtocolError):
    """The peer sent a line we cannot accept.

    `event` is the `EventError` to send back; `fatal` says the connection must be closed after
    sending it; `decoded` holds the messages decoded from the same `feed()` call before the bad
    line (they are valid and must still be processed, in order, before the error).
    """

    def __init__(self, event: EventError, *, fatal: bool = False) -> None:
        super().__init__(event.error_message)
        self.event = event
        self.fatal = fatal
        self.decoded: tuple[Message, ...] = ()


def _fail(code: ErrorCode, text: str, reference_id: int = 0, *, fatal: bool = False) -> NoReturn:
    raise TlibProtocolError(EventError(reference_id=reference_id, error_code=int(code), error_message=text), fatal=fatal)


# --- encoding -------------------------------------------------------------------------------


def _wire_value(kind: Kind, value: Any) -> Any:
    if kind is Kind.KV:
        return value.to_dict()
    if kind is Kind.STRLIST:
        return list(value)
    return value


def to_dict(message: Message) -> dict[str, Any]:
    """The JSON object of a message: `"message"` first, then attributes in declaration order.

    Absent optional attributes (None, empty KVList, empty list) are omitted: on the wire,
    absent means empty.
    """
    out: dict[str, Any] = {MESSAGE_FIELD: message.MESSAGE}
    for spec in attributes_of(type(message)):
        value = getattr(message, spec.name)
        if not spec.required and (value is None or (spec.kind in (Kind.KV, Kind.STRLIST) and not value)):
            continue
        out[spec.wire] = _wire_value(spec.kind, value)
    return out


def encode(message: Message, *, max_line_length: int = MAX_LINE_LENGTH) -> bytes:
    """One line: compact JSON, UTF-8 (non-ASCII kept as is), LF-terminated.

    JSON escapes control characters inside strings, so the only LF is the terminator. A message
    longer than the peer's limit would be rejected there, so building one is our bug.
    """
    if not isinstance(message, Message):
        raise LocalProtocolError(f"not a T-Lib message: {message!r}")
    line = json.dumps(to_dict(message), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(line) > max_line_length:
        raise LocalProtocolError(f"{message.MESSAGE} encodes to {len(line)} bytes, over the {max_line_length} limit")
    return line + b"\n"


# --- decoding -------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 8259 §4: "The names within an object SHOULD be unique" - a duplicate ReferenceID or
    # ConnID would be ambiguous, so it is rejected instead of letting the last one win silently.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"duplicate member {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> NoReturn:
    # NaN / Infinity are not JSON (RFC 8259 §6), although Python's json accepts them by default.
    raise ValueError(f"{name} is not valid JSON")


def _reference_id_of(obj: dict[str, Any]) -> int:
    """The line's ReferenceID if it is usable, else 0 (the EventError then cannot be correlated)."""
    value = obj.get("ReferenceID")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_REFERENCE_ID:
        return value
    return 0


def _attribute_from_json(name: str, wire: str, kind: Kind, value: Any, ref: int) -> Any:
    # bool is an int subclass in Python, but JSON true/false is not a JSON number.
    if kind is Kind.STR and isinstance(value, str):
        return value
    if kind is Kind.INT and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is Kind.KV and isinstance(value, dict):
        try:
            return KVList(value)
        except ValueError as exc:
            _fail(ErrorCode.TERR_INVALID_ATTR, f"{name}: {wire}: {exc}", ref)
    if kind is Kind.STRLIST and isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            _fail(ErrorCode.TERR_INVALID_ATTR, f"{name}: {wire} must be an array of strings", ref)
        return tuple(value)
    _fail(ErrorCode.TERR_INVALID_ATTR, f"{name}: {wire} must be a JSON {kind.value}", ref)


def from_dict(obj: Any, direction: Direction, *, strict: bool | None = None) -> Message:
    """Build a message from a decoded JSON value; `TlibProtocolError` if the peer got it wrong.

    `strict` rejects attributes the message does not define (the T-Server does this for
    requests, so a vendor's typo such as `ConnId` is reported instead of ignored); a client
    should decode events with `strict=False` so that attributes added later do not break it.
    The default (None) is strict for requests, lenient for events.
    """
    if strict is None:
        strict = direction is Direction.REQUESTS
    if not isinstance(obj, dict):
        _fail(ErrorCode.TERR_MALFORMED, f"a message is a JSON object, got a JSON {type(obj).__name__}")
    ref = _reference_id_of(obj)
    name = obj.get(MESSAGE_FIELD)
    if name is None:
        _fail(ErrorCode.TERR_NO_ATTR, f'the "{MESSAGE_FIELD}" member is missing', ref)
    if not isinstance(name, str):
        _fail(ErrorCode.TERR_INVALID_ATTR, f'the "{MESSAGE_FIELD}" member must be a string', ref)
    accepted: dict[str, type[Message]]
    accepted = dict(REQUEST_TYPES) if direction is Direction.REQUESTS else dict(EVENT_TYPES)
    cls = accepted.get(name)
    if cls is None:
        if name in MESSAGE_TYPES:
            what = "an event" if direction is Direction.REQUESTS else "a request"
            _fail(ErrorCode.TERR_UNEXPECTED_MESSAGE, f"{name} is {what}: it is not sent in this direction", ref)
        _fail(ErrorCode.TERR_UNKNOWN_MESSAGE, f"unknown message {name[:80]!r}", ref)
    specs = attributes_of(cls)
    if strict:
        known = {s.wire for s in specs} | {MESSAGE_FIELD}
        unknown = sorted(k for k in obj if k not in known)
        if unknown:
            _fail(ErrorCode.TERR_UNKNOWN_ATTR, f"{name}: unknown attribute {unknown[0][:80]!r}", ref)
    kwargs: dict[str, Any] = {}
    for spec in specs:
        if spec.wire not in obj:
            if spec.required:
                _fail(ErrorCode.TERR_NO_ATTR, f"{name}: attribute {spec.wire} is missing", ref)
            continue
        kwargs[spec.name] = _attribute_from_json(name, spec.wire, spec.kind, obj[spec.wire], ref)
    try:
        return cls(**kwargs)
    except AttributeValueError as exc:
        _fail(exc.code, str(exc), ref)


def decode_line(line: bytes, direction: Direction, *, strict: bool | None = None) -> Message:
    """Decode one line (without its LF)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(ErrorCode.TERR_MALFORMED, f"line is not UTF-8 (byte {exc.start})")
    try:
        obj = json.loads(text, object_pairs_hook=_object_pairs, parse_constant=_reject_constant)
    except _DuplicateKey as exc:
        _fail(ErrorCode.TERR_MALFORMED, f"invalid JSON: {exc}")
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and int-too-long; RecursionError deep nesting.
        _fail(ErrorCode.TERR_MALFORMED, f"invalid JSON: {str(exc)[:120]}")
    return from_dict(obj, direction, strict=strict)


class TlibDecoder:
    """Incremental decoder: bytes in (any chunking), messages out.

    `feed()` returns the messages completed by `data`. On a bad line it raises
    `TlibProtocolError` (with the messages decoded before it in `.decoded`); the bytes after
    the bad line stay buffered, so the caller answers the error and calls `feed(b"")` to go on.
    After a fatal error the decoder is closed and `feed()` raises `LocalProtocolError`.
    """

    def __init__(
        self, direction: Direction, *, max_line_length: int = MAX_LINE_LENGTH, strict: bool | None = None
    ) -> None:
        if max_line_length < 1:
            raise LocalProtocolError("max_line_length must be positive")
        self.direction = direction
        self.max_line_length = max_line_length
        self.strict = direction is Direction.REQUESTS if strict is None else strict
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer already known to hold no LF
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete line (a peer that disconnects here left a request half sent)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        if self._closed:
            raise LocalProtocolError("decoder closed after a fatal error")
        self._buffer += data
        out: list[Message] = []
        while True:
            nl = self._buffer.find(b"\n", self._scanned)
            if nl < 0:
                self._scanned = len(self._buffer)
                if self._scanned > self.max_line_length:
                    self._fatal_too_long(out)
                return out
            line = bytes(self._buffer[:nl])
            del self._buffer[: nl + 1]
            self._scanned = 0
            if len(line) > self.max_line_length:
                self._fatal_too_long(out)
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line.strip():
                continue  # blank lines (keep-alives) carry nothing
            try:
                out.append(decode_line(line, self.direction, strict=self.strict))
            except TlibProtocolError as exc:
                exc.decoded = tuple(out)
                raise

    def _fatal_too_long(self, decoded: list[Message]) -> NoReturn:
        self._closed = True
        self._buffer.clear()
        self._scanned = 0
        err = TlibProtocolError(
            EventError(
                reference_id=0,
                error_code=int(ErrorCode.TERR_MSG_TOO_LONG),
                error_message=f"line longer than {self.max_line_length} bytes; closing the connection",
            ),
            fatal=True,
        )
        err.decoded = tuple(decoded)
        raise err
