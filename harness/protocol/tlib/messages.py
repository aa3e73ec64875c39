"""T-Lib emulation message model (docs/architecture.md §2; docs/genesys-flow.md §3 "T-Library control plane").

Genesys' T-Lib wire format is proprietary, so `arec` speaks a documented *emulation* of it
(docs/tlib-emulation.md): JSON lines whose message and attribute names mirror the public
Platform SDK names (`RequestPrivateService`, `ThisDN`, `ConnID`, `Extensions`, `EventACK`, ...).
This module holds the messages as immutable, slotted dataclasses validated when built, plus the
values the protocol needs (error codes, the configurable private message id map, the
`Extensions` keys of the recording requests). It knows nothing about bytes: `codec.py` maps
these classes to JSON lines through the wire metadata of each field.

Python attribute names are snake_case; the wire name of each attribute is in the field metadata
(`ThisDN` <-> `this_dn`). Every message carries `ReferenceID` (DOMAIN §3 and the Genesys
EventError page: "ReferenceID | Mandatory"): a request's id is >= 1, the events answering it echo
it, unsolicited events carry 0.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from harness.protocol.errors import LocalProtocolError

__all__ = [
    "EMPTY",
    "MAX_REFERENCE_ID",
    "PRIVATE_SERVICE_RECORD_VALUES",
    "ROUTE_CALL_RECORD_VALUES",
    "AttributeValueError",
    "ErrorCode",
    "Event",
    "EventACK",
    "EventAttachedDataChanged",
    "EventError",
    "EventEstablished",
    "EventPartyChanged",
    "EventPartyInfo",
    "EventPrivateInfo",
    "EventRegistered",
    "EventReleased",
    "EventRinging",
    "EventRouteRequest",
    "EventUnregistered",
    "KVList",
    "KVValue",
    "Kind",
    "Message",
    "PrivateMsgMap",
    "RecordOp",
    "RecordState",
    "Request",
    "RequestAttachUserData",
    "RequestDeleteUserData",
    "RequestPrivateService",
    "RequestQueryCall",
    "RequestRegisterAddress",
    "RequestRouteCall",
    "RequestUnregisterAddress",
    "RequestUpdateUserData",
    "EVENT_TYPES",
    "MESSAGE_TYPES",
    "REQUEST_TYPES",
    "attributes_of",
]

# ReferenceID is a 32-bit signed int in T-Lib clients; keep ids in the positive range so any
# client language can hold them.
MAX_REFERENCE_ID: Final = 2**31 - 1


class ErrorCode(enum.IntEnum):
    """`ErrorCode` values of `EventError`.

    The *names* follow T-Lib's `TERR_*` style (the Genesys EventError page names e.g.
    `TERR_UNSUP_OPER`, `TERR_INVALID_ATTR`); the *numbers* are defined by this emulation and are
    NOT Genesys' values (those are not public). 1xx: the message could not be accepted as
    written; 2xx: it was understood but cannot be performed.
    """

    TERR_MALFORMED = 100  # not UTF-8, not JSON, not a JSON object, duplicate key
    TERR_MSG_TOO_LONG = 101  # line longer than the limit: the connection is closed after it
    TERR_UNKNOWN_MESSAGE = 102  # "message" names no known message type
    TERR_NO_ATTR = 103  # a mandatory attribute is missing
    TERR_INVALID_ATTR = 104  # an attribute has the wrong JSON type or an invalid value
    TERR_UNEXPECTED_MESSAGE = 105  # an event sent to the T-Server (only requests go that way)
    TERR_UNKNOWN_ATTR = 106  # a request carries an attribute this message does not define
    TERR_UNSUP_OPER = 200  # well-formed but not supported (e.g. unknown PrivateMsgID)
    TERR_DN_NOT_REGISTERED = 201  # ThisDN is not registered by the requesting client
    TERR_INVALID_CONNID = 202  # ConnID names no call known to the T-Server
    TERR_INVALID_STATE = 203  # e.g. stop/pause of a recording that is not running
    TERR_UNKNOWN_DN = 204  # the DN is not configured on the T-Server
    TERR_NO_SUCH_KEY = 205  # RequestDeleteUserData for a key the call's UserData lacks


class AttributeValueError(LocalProtocolError):
    """A message was built with an invalid attribute.

    Raised by the constructors (so our own code cannot build a bad message); the decoder turns
    it into an `EventError` with `code` for the peer that sent it.
    """

    def __init__(self, attribute: str, message: str, code: ErrorCode = ErrorCode.TERR_INVALID_ATTR) -> None:
        super().__init__(message)
        self.attribute = attribute
        self.code = code


# --- KVList: UserData and Extensions -------------------------------------------------------

KVValue = str | int


def _check_kv_value(key: object, value: object) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"key {key!r} is not a non-empty string")
    # bool is an int subclass in Python but is not a T-Lib KV type (string / integer).
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"value of {key!r} must be a string or an integer, not {type(value).__name__}")


class KVList(Mapping[str, KVValue]):
    """An immutable, hashable key/value list (T-Lib `TKVList`), as used by UserData and Extensions.

    Values are strings or integers; keys are unique (a real T-Server's TKVList may repeat a
    key, this emulation does not - docs/tlib-emulation.md §4). Insertion order is kept, so the
    wire form is deterministic.
    """

    __slots__ = ("_items", "_index")

    def __init__(self, items: Mapping[str, KVValue] | Iterable[tuple[str, KVValue]] = ()) -> None:
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        index: dict[str, KVValue] = {}
        for key, value in pairs:
            _check_kv_value(key, value)
            if key in index:
                raise ValueError(f"duplicate key {key!r}")
            index[key] = value
        self._items: tuple[tuple[str, KVValue], ...] = tuple(index.items())
        self._index = index

    def __getitem__(self, key: str) -> KVValue:
        return self._index[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KVList):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self._index) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"KVList({dict(self._items)!r})"

    def merged(self, other: Mapping[str, KVValue]) -> KVList:
        """A copy with `other`'s pairs added, replacing the value of keys already present."""
        data = dict(self._index)
        data.update(other)
        return KVList(data)

    def without(self, key: str) -> KVList:
        return KVList((k, v) for k, v in self._items if k != key)

    def to_dict(self) -> dict[str, KVValue]:
        return dict(self._items)


EMPTY: Final = KVList()


# --- Recording control values ---------------------------------------------------------------

# DOMAIN §3.2: "`record` - `source` records the ThisDN side of the connection, `destination`
# records the other DN on the connection; default `source`".
PRIVATE_SERVICE_RECORD_VALUES: Final = frozenset({"source", "destination"})
# DOMAIN §3.4: TRouteCall `record` key: source / destination / disable_source / disable_destination.
ROUTE_CALL_RECORD_VALUES: Final = frozenset({"source", "destination", "disable_source", "disable_destination"})


class RecordOp(enum.Enum):
    """The run-time recording operations requested through TRequestPrivateService (DOMAIN §3.3)."""

    START = "start"
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"


class RecordState(enum.Enum):
    """Recording state reported in `EventPrivateInfo` (`Extensions.record_state`)."""

    STARTED = "started"
    PAUSED = "paused"
    RESUMED = "resumed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class PrivateMsgMap:
    """The `PrivateMsgID` numbers of the recording operations.

    Only the symbol `GSIP_RECORD_START` is public; the numbers 3013-3016 are commonly quoted but
    UNCONFIRMED (DOMAIN §3.3), hence configurable.
    """

    start: int = 3013  # GSIP_RECORD_START
    stop: int = 3014  # GSIP_RECORD_STOP
    pause: int = 3015  # GSIP_RECORD_PAUSE
    resume: int = 3016  # GSIP_RECORD_RESUME

    def __post_init__(self) -> None:
        ids = (self.start, self.stop, self.pause, self.resume)
        for value in ids:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise LocalProtocolError(f"private message id {value!r} is not a non-negative integer")
        if len(set(ids)) != 4:
            raise LocalProtocolError(f"private message ids must be distinct, got {ids}")

    def msg_id(self, op: RecordOp) -> int:
        return {
            RecordOp.START: self.start,
            RecordOp.STOP: self.stop,
            RecordOp.PAUSE: self.pause,
            RecordOp.RESUME: self.resume,
        }[op]

    def operation(self, msg_id: int) -> RecordOp | None:
        """The operation a `PrivateMsgID` requests, or None if the map does not know it."""
        for op in RecordOp:
            if self.msg_id(op) == msg_id:
                return op
        return None


# --- Field metadata -------------------------------------------------------------------------


class Kind(enum.Enum):
    """JSON type of an attribute on the wire."""

    STR = "string"
    INT = "integer"
    KV = "object"  # KVList: JSON object of string -> string | integer
    STRLIST = "array"  # JSON array of strings


def _attr(wire: str, kind: Kind, *, required: bool = True, nonempty: bool = True) -> dict[str, Any]:
    return {"wire": wire, "kind": kind, "required": required, "nonempty": nonempty}


def _ref(*, default: int | None = None) -> Any:
    meta = _attr("ReferenceID", Kind.INT, required=default is None)
    if default is None:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def _str(wire: str, *, optional: bool = False, nonempty: bool = True) -> Any:
    meta = _attr(wire, Kind.STR, required=not optional, nonempty=nonempty)
    if optional:
        return field(default=None, metadata=meta)
    return field(metadata=meta)


def _int(wire: str) -> Any:
    return field(metadata=_attr(wire, Kind.INT))


def _kv(wire: str) -> Any:
    # Optional on the wire: absent means empty (and the encoder omits an empty list).
    return field(default=EMPTY, metadata=_attr(wire, Kind.KV, required=False))


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    name: str  # Python attribute
    wire: str  # wire attribute (Platform SDK name)
    kind: Kind
    required: bool
    nonempty: bool


def attributes_of(cls: type[Message]) -> tuple[AttributeSpec, ...]:
    """The wire attributes of a message class, in declaration order (the encoder's order)."""
    cached = _SPECS.get(cls)
    if cached is None:
        cached = tuple(
            AttributeSpec(f.name, f.metadata["wire"], f.metadata["kind"], f.metadata["required"], f.metadata["nonempty"])
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        )
        _SPECS[cls] = cached
    return cached


_SPECS: dict[type[Message], tuple[AttributeSpec, ...]] = {}


def _validate_fields(msg: Message) -> None:
    """Type and emptiness checks driven by the field metadata, shared by every message."""
    for spec in attributes_of(type(msg)):
        value = getattr(msg, spec.name)
        if value is None:
            if spec.required:
                raise AttributeValueError(spec.wire, f"{msg.MESSAGE}: {spec.wire} is mandatory", ErrorCode.TERR_NO_ATTR)
            continue
        if spec.kind is Kind.STR:
            if not isinstance(value, str):
                raise AttributeValueError(spec.wire, f"{msg.MESSAGE}: {spec.wire} must be a string")
            if spec.nonempty and not value:
                raise AttributeValueError(spec.wire, f"{msg.MESSAGE}: {spec.wire} must not be empty")
        elif spec.kind is Kind.INT:
            if isinstance(value, bool) or not isinstance(value, int):
                raise AttributeValueError(spec.wire, f"{msg.MESSAGE}: {spec.wire} must be an integer")
            if value < 0 or value > MAX_REFERENCE_ID:
                raise AttributeValueError(spec.wire, f"{msg.MESSAGE}: {spec.wire} out of range 0..{MAX_REFERENCE_ID}")
        elif spec.kind is Kind.KV:
            if not isinstance(value, KVList):
                raise AttributeValueError(spec.wire, f"{msg.MESSAGE}: {spec.wire} must be a KVList")
        elif spec.kind is Kind.STRLIST and (
            not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value)
        ):
            raise AttributeValueError(spec.wire, f"{msg.MESSAGE}: {spec.wire} must be a tuple of non-empty strings")


def _check_record_extensions(msg: Message, extensions: KVList, allowed: frozenset[str], keys: tuple[str, ...]) -> None:
    record = extensions.get("record")
    if record is not None and record not in allowed:
        raise AttributeValueError(
            "Extensions", f"{msg.MESSAGE}: Extensions.record must be one of {sorted(allowed)}, got {record!r}"
        )
    # DOMAIN §3.2: the extension keys carry string values (`id` becomes the record= value of the
    # recording session, `dest` a SIP URI).
    for key in keys:
        value = extensions.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise AttributeValueError("Extensions", f"{msg.MESSAGE}: Extensions.{key} must be a non-empty string")


# --- Messages -------------------------------------------------------------------------------


class Message:
    """Base of every T-Lib emulation message; `MESSAGE` is the wire value of `"message"`."""

    __slots__ = ()
    MESSAGE: ClassVar[str]
    reference_id: int

    def __post_init__(self) -> None:
        _validate_fields(self)
        self._validate()

    def _validate(self) -> None:
        """Message-specific checks beyond the field types."""


class Request(Message):
    """A message a client sends to the T-Server. Every request names the DN it acts for."""

    __slots__ = ()
    this_dn: str

    def _validate(self) -> None:
        # Correlation rule (docs §5): 0 is reserved for unsolicited events, so a request's
        # ReferenceID must be >= 1 or its answer could not be told from an unsolicited event.
        if self.reference_id < 1:
            raise AttributeValueError("ReferenceID", f"{self.MESSAGE}: ReferenceID must be >= 1")

    def ack(self, extensions: KVList = EMPTY) -> EventACK:
        """The positive answer to this request, echoing its ReferenceID."""
        return EventACK(
            reference_id=self.reference_id,
            this_dn=self.this_dn,
            conn_id=getattr(self, "conn_id", None),
            extensions=extensions,
        )

    def error(self, code: ErrorCode | int, message: str) -> EventError:
        """The negative answer to this request, echoing its ReferenceID."""
        return EventError(
            reference_id=self.reference_id,
            error_code=int(code),
            error_message=message,
            this_dn=self.this_dn,
            conn_id=getattr(self, "conn_id", None),
        )


class Event(Message):
    """A message the T-Server sends to a client."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRegisterAddress(Request):
    """TRegisterAddress: ask for the events of a DN (DOMAIN §3.6)."""

    MESSAGE: ClassVar[str] = "RequestRegisterAddress"
    reference_id: int = _ref()
    this_dn: str = _str("ThisDN")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestUnregisterAddress(Request):
    MESSAGE: ClassVar[str] = "RequestUnregisterAddress"
    reference_id: int = _ref()
    this_dn: str = _str("ThisDN")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPrivateService(Request):
    """TRequestPrivateService, e.g. GSIP_RECORD_START (DOMAIN §3.2 attribute table)."""

    MESSAGE: ClassVar[str] = "RequestPrivateService"
    reference_id: int = _ref()
    private_msg_id: int = _int("PrivateMsgID")
    this_dn: str = _str("ThisDN")
    conn_id: str = _str("ConnID")
    extensions: KVList = _kv("Extensions")

    def _validate(self) -> None:
        Request._validate(self)
        _check_record_extensions(self, self.extensions, PRIVATE_SERVICE_RECORD_VALUES, ("id", "dest", "dest2"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRouteCall(Request):
    """TRouteCall from a routing point; `Extensions.record` may force or disable recording (DOMAIN §3.4)."""

    MESSAGE: ClassVar[str] = "RequestRouteCall"
    reference_id: int = _ref()
    this_dn: str = _str("ThisDN")
    conn_id: str = _str("ConnID")
    other_dn: str = _str("OtherDN")
    user_data: KVList = _kv("UserData")
    extensions: KVList = _kv("Extensions")

    def _validate(self) -> None:
        Request._validate(self)
        _check_record_extensions(self, self.extensions, ROUTE_CALL_RECORD_VALUES, ("id", "dest"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestAttachUserData(Request):
    """TAttachUserData: add pairs to the call's UserData."""

    MESSAGE: ClassVar[str] = "RequestAttachUserData"
    reference_id: int = _ref()
    this_dn: str = _str("ThisDN")
    conn_id: str = _str("ConnID")
    user_data: KVList = _kv("UserData")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestUpdateUserData(Request):
    """TUpdateUserData: replace the values of present keys, add the others."""

    MESSAGE: ClassVar[str] = "RequestUpdateUserData"
    reference_id: int = _ref()
    this_dn: str = _str("ThisDN")
    conn_id: str = _str("ConnID")
    user_data: KVList = _kv("UserData")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestDeleteUserData(Request):
    """TDeleteUserData: remove one key from the call's UserData."""

    MESSAGE: ClassVar[str] = "RequestDeleteUserData"
    reference_id: int = _ref()
    this_dn: str = _str("ThisDN")
    conn_id: str = _str("ConnID")
    key: str = _str("Key")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestQueryCall(Request):
    """TQueryCall: read a call's CallUUID, parties and UserData (answered by EventPartyInfo)."""

    MESSAGE: ClassVar[str] = "RequestQueryCall"
    reference_id: int = _ref()
    this_dn: str = _str("ThisDN")
    conn_id: str = _str("ConnID")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRegistered(Event):
    MESSAGE: ClassVar[str] = "EventRegistered"
    reference_id: int = _ref()
    this_dn: str = _str("ThisDN")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventUnregistered(Event):
    MESSAGE: ClassVar[str] = "EventUnregistered"
    reference_id: int = _ref()
    this_dn: str = _str("ThisDN")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventACK(Event):
    """Positive answer to a request that has no dedicated answer event (DOMAIN §3.2)."""

    MESSAGE: ClassVar[str] = "EventACK"
    reference_id: int = _ref()
    this_dn: str | None = _str("ThisDN", optional=True)
    conn_id: str | None = _str("ConnID", optional=True)
    extensions: KVList = _kv("Extensions")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventError(Event):
    """Negative answer (Genesys EventError: ErrorCode mandatory, ErrorMessage optional)."""

    MESSAGE: ClassVar[str] = "EventError"
    reference_id: int = _ref()
    error_code: int = _int("ErrorCode")
    error_message: str = field(default="", metadata=_attr("ErrorMessage", Kind.STR, required=False, nonempty=False))
    this_dn: str | None = _str("ThisDN", optional=True)
    conn_id: str | None = _str("ConnID", optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEvent(Event):
    """Attributes every call-progress event carries (ThisDN's view of the call)."""

    reference_id: int = _ref(default=0)
    this_dn: str = _str("ThisDN")
    other_dn: str | None = _str("OtherDN", optional=True)
    conn_id: str = _str("ConnID")
    call_uuid: str = _str("CallUUID")
    user_data: KVList = _kv("UserData")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRinging(CallEvent):
    MESSAGE: ClassVar[str] = "EventRinging"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventEstablished(CallEvent):
    MESSAGE: ClassVar[str] = "EventEstablished"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventReleased(CallEvent):
    MESSAGE: ClassVar[str] = "EventReleased"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventPartyChanged(CallEvent):
    """The party ThisDN talks to changed (a transfer completed), as the Platform SDK names it:
    OtherDN is the new party, ThirdPartyDN the one that transferred, PreviousConnID the ConnID
    the call had before when it changed (a consultation merged into the call)."""

    MESSAGE: ClassVar[str] = "EventPartyChanged"
    third_party_dn: str | None = _str("ThirdPartyDN", optional=True)
    previous_conn_id: str | None = _str("PreviousConnID", optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRouteRequest(CallEvent):
    """A call arrived at a routing point: the routing strategy may answer with RequestRouteCall."""

    MESSAGE: ClassVar[str] = "EventRouteRequest"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventAttachedDataChanged(Event):
    """The call's UserData changed; carries the complete new UserData (DOMAIN §3.6)."""

    MESSAGE: ClassVar[str] = "EventAttachedDataChanged"
    reference_id: int = _ref(default=0)
    this_dn: str = _str("ThisDN")
    conn_id: str = _str("ConnID")
    call_uuid: str = _str("CallUUID")
    user_data: KVList = _kv("UserData")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventPartyInfo(Event):
    """Answer to RequestQueryCall: the call's identity, parties and UserData."""

    MESSAGE: ClassVar[str] = "EventPartyInfo"
    reference_id: int = _ref()
    this_dn: str = _str("ThisDN")
    conn_id: str = _str("ConnID")
    call_uuid: str = _str("CallUUID")
    parties: tuple[str, ...] = field(default=(), metadata=_attr("Parties", Kind.STRLIST, required=False))
    user_data: KVList = _kv("UserData")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventPrivateInfo(Event):
    """A T-Server private event; here: a recording state change (DOMAIN §3.2, §3.6 UNCONFIRMED).

    `PrivateEventID` is the `PrivateMsgID` of the operation that produced the state (from the
    configured `PrivateMsgMap`); `Extensions.record_state` is started / paused / resumed /
    stopped and `Extensions.id` the record id.
    """

    MESSAGE: ClassVar[str] = "EventPrivateInfo"
    reference_id: int = _ref(default=0)
    private_event_id: int = _int("PrivateEventID")
    this_dn: str = _str("ThisDN")
    conn_id: str | None = _str("ConnID", optional=True)
    call_uuid: str | None = _str("CallUUID", optional=True)
    extensions: KVList = _kv("Extensions")

    def _validate(self) -> None:
        state = self.extensions.get("record_state")
        if state is not None and state not in {s.value for s in RecordState}:
            raise AttributeValueError("Extensions", f"EventPrivateInfo: unknown Extensions.record_state {state!r}")

    @classmethod
    def recording(
        cls,
        state: RecordState,
        record_id: str,
        *,
        this_dn: str,
        conn_id: str,
        call_uuid: str,
        private_msgs: PrivateMsgMap = PrivateMsgMap(),  # noqa: B008 - immutable value
        reference_id: int = 0,
    ) -> EventPrivateInfo:
        op = {
            RecordState.STARTED: RecordOp.START,
            RecordState.STOPPED: RecordOp.STOP,
            RecordState.PAUSED: RecordOp.PAUSE,
            RecordState.RESUMED: RecordOp.RESUME,
        }[state]
        return cls(
            reference_id=reference_id,
            private_event_id=private_msgs.msg_id(op),
            this_dn=this_dn,
            conn_id=conn_id,
            call_uuid=call_uuid,
            extensions=KVList({"record_state": state.value, "id": record_id}),
        )

    @property
    def record_state(self) -> RecordState | None:
        value = self.extensions.get("record_state")
        return RecordState(value) if isinstance(value, str) else None

    @property
    def record_id(self) -> str | None:
        value = self.extensions.get("id")
        return value if isinstance(value, str) else None


REQUEST_TYPES: Final[dict[str, type[Request]]] = {
    cls.MESSAGE: cls
    for cls in (
        RequestRegisterAddress,
        RequestUnregisterAddress,
        RequestPrivateService,
        RequestRouteCall,
        RequestAttachUserData,
        RequestUpdateUserData,
        RequestDeleteUserData,
        RequestQueryCall,
    )
}
EVENT_TYPES: Final[dict[str, type[Event]]] = {
    cls.MESSAGE: cls
    for cls in (
        EventRegistered,
        EventUnregistered,
        EventACK,
        EventError,
        EventRinging,
        EventEstablished,
        EventReleased,
        EventRouteRequest,
        EventAttachedDataChanged,
        EventPartyChanged,
        EventPartyInfo,
        EventPrivateInfo,
    )
}
MESSAGE_TYPES: Final[dict[str, type[Message]]] = {**REQUEST_TYPES, **EVENT_TYPES}
