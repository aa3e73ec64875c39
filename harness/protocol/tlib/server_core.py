"""T-Server side of the T-Lib emulation, sans-IO (docs/tlib-emulation.md §5-§6; docs/genesys-flow.md §3).

One `TServerCore` serves every client connection of one emulated T-Server. It owns what T-Lib
defines independently of the switch behind it:

* the **DN directory**: which client registered which DN (TRegisterAddress). A DN may be
  registered by several clients; call events for a DN go to every client that registered it;
  a disconnecting client loses its registrations.
* the **request rules**: a request made on behalf of a DN the requesting client has not
  registered is refused (DOMAIN §3.2: ThisDN "must be registered by the requesting client but
  need not be a party on the call"); a request naming an unknown ConnID is refused.
* the **call directory and UserData store** per ConnID, with `EventAttachedDataChanged` to the
  requester (its answer, echoing ReferenceID) and to the clients registered on the call's parties.

What the request *means* for the switch (start recording, route a call) is decided by a pluggable
`TServerHandler` - the SIP Server emulation. Bytes in (`receive_data`), events out
(`data_to_send` / `take_messages`); no sockets, no clock.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NewType, Protocol, TypeVar

from harness.protocol.errors import LocalProtocolError
from harness.protocol.tlib.codec import MAX_LINE_LENGTH, Direction, TlibDecoder, TlibProtocolError, encode
from harness.protocol.tlib.messages import (
    EMPTY,
    CallEvent,
    ErrorCode,
    Event,
    EventACK,
    EventAttachedDataChanged,
    EventError,
    EventEstablished,
    EventPartyChanged,
    EventPartyInfo,
    EventPrivateInfo,
    EventRegistered,
    EventReleased,
    EventRinging,
    EventRouteRequest,
    EventUnregistered,
    KVList,
    KVValue,
    Message,
    Request,
    RequestAttachUserData,
    RequestDeleteUserData,
    RequestPrivateService,
    RequestQueryCall,
    RequestRegisterAddress,
    RequestRouteCall,
    RequestUnregisterAddress,
    RequestUpdateUserData,
)

__all__ = [
    "BaseTServerHandler",
    "CallInfo",
    "ClientId",
    "TServerCore",
    "TServerHandler",
    "UserDataRequest",
]

_E = TypeVar("_E", bound=CallEvent)

ClientId = NewType("ClientId", int)
UserDataRequest = RequestAttachUserData | RequestUpdateUserData | RequestDeleteUserData
_After = Callable[[], None]
CallRequest = RequestPrivateService | RequestRouteCall | UserDataRequest | RequestQueryCall


class TServerHandler(Protocol):
    """What the switch behind the T-Server decides (implemented by the SIP Server emulation).

    The core has already checked that the requester registered `ThisDN` and, for call requests,
    that the ConnID is a known call. Answers must echo the request's ReferenceID
    (`request.ack()` / `request.error(code, text)` do). A handler may call `TServerCore.notify`
    while it runs: those events are queued after the answer, as a T-Server sends EventACK before
    the events the request causes.
    """

    def on_register_address(self, client: ClientId, request: RequestRegisterAddress) -> EventError | None:
        """Veto a registration (e.g. TERR_UNKNOWN_DN for a DN not configured); None accepts."""
        ...

    def on_private_service(
        self, client: ClientId, request: RequestPrivateService
    ) -> EventACK | EventError | EventPrivateInfo:
        """TRequestPrivateService: EventACK, EventPrivateInfo or EventError (DOMAIN §3.2)."""
        ...

    def on_route_call(self, client: ClientId, request: RequestRouteCall) -> EventACK | EventError:
        ...

    def on_attach_user_data(self, client: ClientId, request: UserDataRequest) -> EventError | None:
        """Veto a UserData change; None lets the core apply it and send EventAttachedDataChanged."""
        ...

    def on_query_call(self, client: ClientId, request: RequestQueryCall) -> EventError | None:
        """Veto a query; None lets the core answer EventPartyInfo from its call directory."""
        ...


class BaseTServerHandler:
    """A handler for a T-Server with no switch logic: accepts registrations, UserData changes and
    queries; refuses private services and routing with TERR_UNSUP_OPER. Subclass to add logic."""

    def on_register_address(self, client: ClientId, request: RequestRegisterAddress) -> EventError | None:
        return None

    def on_private_service(
        self, client: ClientId, request: RequestPrivateService
    ) -> EventACK | EventError | EventPrivateInfo:
        return request.error(ErrorCode.TERR_UNSUP_OPER, f"PrivateMsgID {request.private_msg_id} is not supported")

    def on_route_call(self, client: ClientId, request: RequestRouteCall) -> EventACK | EventError:
        return request.error(ErrorCode.TERR_UNSUP_OPER, "routing is not supported by this T-Server")

    def on_attach_user_data(self, client: ClientId, request: UserDataRequest) -> EventError | None:
        return None

    def on_query_call(self, client: ClientId, request: RequestQueryCall) -> EventError | None:
        return None


@dataclass(frozen=True, slots=True)
class CallInfo:
    """A call as the T-Server knows it: ConnID (local), CallUUID (global), parties, UserData."""

    conn_id: str
    call_uuid: str
    parties: tuple[str, ...]
    user_data: KVList


@dataclass(slots=True)
class _Session:
    decoder: TlibDecoder
    outbox: deque[Event]
    dns: set[str]
    closing: bool = False


class TServerCore:
    """The T-Server sessions of all connected clients, the DN directory and the calls."""

    def __init__(self, handler: TServerHandler | None = None, *, max_line_length: int = MAX_LINE_LENGTH) -> None:
        self.handler: TServerHandler = handler if handler is not None else BaseTServerHandler()
        self.max_line_length = max_line_length
        self._ids = itertools.count(1)
        self._sessions: dict[ClientId, _Session] = {}
        self._directory: dict[str, set[ClientId]] = {}
        self._calls: dict[str, CallInfo] = {}
        # Events produced while a handler runs, delivered after the request's answer.
        self._deferred: list[tuple[ClientId, Event]] | None = None

    # --- connections --------------------------------------------------------------------

    def connect(self) -> ClientId:
        client = ClientId(next(self._ids))
        decoder = TlibDecoder(Direction.REQUESTS, max_line_length=self.max_line_length)
        self._sessions[client] = _Session(decoder, deque(), set())
        return client

    def disconnect(self, client: ClientId) -> None:
        """Forget a client: its registrations end, queued events are dropped (idempotent)."""
        session = self._sessions.pop(client, None)
        if session is not None:
            self._drop_registrations(client, session)

    def _drop_registrations(self, client: ClientId, session: _Session) -> None:
        for dn in session.dns:
            holders = self._directory.get(dn)
            if holders is not None:
                holders.discard(client)
                if not holders:
                    del self._directory[dn]
        session.dns.clear()

    @property
    def clients(self) -> frozenset[ClientId]:
        return frozenset(self._sessions)

    def _session(self, client: ClientId) -> _Session:
        try:
            return self._sessions[client]
        except KeyError:
            raise LocalProtocolError(f"unknown client {client}") from None

    def receive_data(self, client: ClientId, data: bytes) -> None:
        """Bytes from a client: decode, answer every request, queue EventError for bad lines.

        After a fatal error (over-long line) `should_close(client)` is true and further data is
        ignored: the adapter sends what is queued, then closes.
        """
        session = self._session(client)
        chunk = data
        while not session.closing:
            try:
                requests = session.decoder.feed(chunk)
            except TlibProtocolError as exc:
                for request in exc.decoded:
                    self._handle_decoded(client, request)
                self._queue(client, exc.event)
                if exc.fatal:
                    # The connection is going away: stop routing call events to it now, and
                    # queue nothing after the EventError (the adapter half-closes after it).
                    session.closing = True
                    self._drop_registrations(client, session)
                    return
                chunk = b""  # the rest of the buffer still holds undecoded lines
                continue
            for request in requests:
                self._handle_decoded(client, request)
            return

    def _handle_decoded(self, client: ClientId, message: Message) -> None:
        # The decoder only yields requests in Direction.REQUESTS.
        assert isinstance(message, Request)
        if client in self._sessions:
            self.handle(client, message)

    def pending_bytes(self, client: ClientId) -> int:
        """Bytes of an unfinished request line (non-zero when a client leaves mid-request)."""
        return self._session(client).decoder.pending_bytes

    def should_close(self, client: ClientId) -> bool:
        return self._session(client).closing

    def take_messages(self, client: ClientId) -> list[Event]:
        """Drain the events queued for a client."""
        outbox = self._session(client).outbox
        out = list(outbox)
        outbox.clear()
        return out

    def data_to_send(self, client: ClientId) -> bytes:
        """Drain the events queued for a client as wire bytes."""
        return b"".join(encode(m, max_line_length=self.max_line_length) for m in self.take_messages(client))

    def clients_with_output(self) -> list[ClientId]:
        return [c for c, s in self._sessions.items() if s.outbox]

    def _queue(self, client: ClientId, event: Event) -> None:
        if self._deferred is not None:
            self._deferred.append((client, event))
            return
        session = self._sessions.get(client)
        if session is not None and not session.closing:
            session.outbox.append(event)

    def send(self, client: ClientId, event: Event) -> None:
        """Queue an event for one client (e.g. a private event meant for the requester only)."""
        self._session(client)
        self._queue(client, event)

    # --- DN directory -------------------------------------------------------------------

    def registrants(self, dn: str) -> frozenset[ClientId]:
        return frozenset(self._directory.get(dn, ()))

    def registrations(self, client: ClientId) -> frozenset[str]:
        return frozenset(self._session(client).dns)

    # --- calls --------------------------------------------------------------------------

    def open_call(
        self, conn_id: str, call_uuid: str, parties: Iterable[str], user_data: Mapping[str, KVValue] = EMPTY
    ) -> CallInfo:
        if conn_id in self._calls:
            raise LocalProtocolError(f"call {conn_id} already exists")
        call = CallInfo(conn_id, call_uuid, tuple(parties), KVList(user_data))
        self._calls[conn_id] = call
        return call

    def call(self, conn_id: str) -> CallInfo | None:
        return self._calls.get(conn_id)

    def _call(self, conn_id: str) -> CallInfo:
        call = self._calls.get(conn_id)
        if call is None:
            raise LocalProtocolError(f"unknown call {conn_id}")
        return call

    def set_parties(self, conn_id: str, parties: Iterable[str]) -> CallInfo:
        call = self._call(conn_id)
        new = CallInfo(call.conn_id, call.call_uuid, tuple(parties), call.user_data)
        self._calls[conn_id] = new
        return new

    def close_call(self, conn_id: str) -> None:
        self._calls.pop(conn_id, None)

    def update_user_data(self, conn_id: str, user_data: Mapping[str, KVValue]) -> CallInfo:
        """A change made by the switch itself (e.g. a routing strategy attaching data): the
        parties' registrants get an unsolicited EventAttachedDataChanged."""
        call = self._store_user_data(conn_id, self._call(conn_id).user_data.merged(user_data))
        self._broadcast_user_data(call, skip=None)
        return call

    def _store_user_data(self, conn_id: str, user_data: KVList) -> CallInfo:
        call = self._calls[conn_id]
        new = CallInfo(call.conn_id, call.call_uuid, call.parties, user_data)
        self._calls[conn_id] = new
        return new

    def _broadcast_user_data(self, call: CallInfo, skip: tuple[ClientId, str] | None) -> None:
        for dn in call.parties:
            for client in sorted(self.registrants(dn)):
                if (client, dn) == skip:
                    continue  # the requester already has the answer for this DN
                self._queue(
                    client,
                    EventAttachedDataChanged(
                        this_dn=dn, conn_id=call.conn_id, call_uuid=call.call_uuid, user_data=call.user_data
                    ),
                )

    # --- unsolicited events -------------------------------------------------------------

    def notify(self, event: Event) -> int:
        """Deliver an event to every client that registered its ThisDN; returns how many."""
        this_dn = getattr(event, "this_dn", None)
        if not isinstance(this_dn, str):
            raise LocalProtocolError(f"{event.MESSAGE} has no ThisDN to route it by")
        targets = sorted(self.registrants(this_dn))
        for client in targets:
            self._queue(client, event)
        return len(targets)

    def _call_event(self, kind: type[_E], conn_id: str, this_dn: str, other_dn: str | None) -> _E:
        """A call-progress event for ThisDN's view of the call, sent to ThisDN's registrants."""
        call = self._call(conn_id)
        event = kind(this_dn=this_dn, other_dn=other_dn, conn_id=conn_id, call_uuid=call.call_uuid,
                     user_data=call.user_data)
        self.notify(event)
        return event

    def ringing(self, conn_id: str, this_dn: str, other_dn: str | None = None) -> EventRinging:
        return self._call_event(EventRinging, conn_id, this_dn, other_dn)

    def established(self, conn_id: str, this_dn: str, other_dn: str | None = None) -> EventEstablished:
        return self._call_event(EventEstablished, conn_id, this_dn, other_dn)

    def released(self, conn_id: str, this_dn: str, other_dn: str | None = None) -> EventReleased:
        return self._call_event(EventReleased, conn_id, this_dn, other_dn)

    def party_changed(self, conn_id: str, this_dn: str, other_dn: str | None, *, third_party_dn: str | None = None,
                      previous_conn_id: str | None = None) -> EventPartyChanged:
        """ThisDN now talks to `other_dn` (a transfer by `third_party_dn` completed)."""
        call = self._call(conn_id)
        event = EventPartyChanged(this_dn=this_dn, other_dn=other_dn, conn_id=conn_id, call_uuid=call.call_uuid,
                                  user_data=call.user_data, third_party_dn=third_party_dn,
                                  previous_conn_id=previous_conn_id)
        self.notify(event)
        return event

    def route_request(self, conn_id: str, this_dn: str, other_dn: str | None = None) -> EventRouteRequest:
        return self._call_event(EventRouteRequest, conn_id, this_dn, other_dn)

    # --- requests -----------------------------------------------------------------------

    def handle(self, client: ClientId, request: Request) -> None:
        """Answer one decoded request (also the entry point for in-memory tests)."""
        session = self._session(client)
        if isinstance(request, RequestRegisterAddress):
            veto = self.handler.on_register_address(client, request)
            if veto is not None:
                self._queue(client, self._checked(request, veto, (EventError,)))
                return
            session.dns.add(request.this_dn)
            self._directory.setdefault(request.this_dn, set()).add(client)
            self._queue(client, EventRegistered(reference_id=request.reference_id, this_dn=request.this_dn))
            return
        if isinstance(request, RequestUnregisterAddress):
            if request.this_dn not in session.dns:
                self._queue(client, self._not_registered(request))
                return
            session.dns.discard(request.this_dn)
            holders = self._directory[request.this_dn]
            holders.discard(client)
            if not holders:
                del self._directory[request.this_dn]
            self._queue(client, EventUnregistered(reference_id=request.reference_id, this_dn=request.this_dn))
            return
        if not isinstance(
            request,
            RequestPrivateService
            | RequestRouteCall
            | RequestAttachUserData
            | RequestUpdateUserData
            | RequestDeleteUserData
            | RequestQueryCall,
        ):
            raise LocalProtocolError(f"no rule for {request.MESSAGE}")
        if request.this_dn not in session.dns:
            self._queue(client, self._not_registered(request))
            return
        call = self._calls.get(request.conn_id)
        if call is None:
            self._queue(
                client, request.error(ErrorCode.TERR_INVALID_CONNID, f"no call with ConnID {request.conn_id}")
            )
            return
        self._deferred = []
        try:
            answer, after = self._call_request(client, request, call)
        finally:
            deferred, self._deferred = self._deferred, None
        self._queue(client, answer)
        after()
        for target, event in deferred:
            self._queue(target, event)

    def _not_registered(self, request: Request) -> EventError:
        return request.error(
            ErrorCode.TERR_DN_NOT_REGISTERED, f"DN {request.this_dn} is not registered by this client"
        )

    def _call_request(
        self, client: ClientId, request: CallRequest, call: CallInfo
    ) -> tuple[Event, _After]:
        if isinstance(request, RequestPrivateService):
            answer: Event = self.handler.on_private_service(client, request)
            return self._checked(request, answer, (EventACK, EventError, EventPrivateInfo)), _nothing
        if isinstance(request, RequestRouteCall):
            answer = self.handler.on_route_call(client, request)
            return self._checked(request, answer, (EventACK, EventError)), _nothing
        if isinstance(request, RequestQueryCall):
            veto = self.handler.on_query_call(client, request)
            if veto is not None:
                return self._checked(request, veto, (EventError,)), _nothing
            return (
                EventPartyInfo(
                    reference_id=request.reference_id,
                    this_dn=request.this_dn,
                    conn_id=call.conn_id,
                    call_uuid=call.call_uuid,
                    parties=call.parties,
                    user_data=call.user_data,
                ),
                _nothing,
            )
        veto = self.handler.on_attach_user_data(client, request)
        if veto is not None:
            return self._checked(request, veto, (EventError,)), _nothing
        if isinstance(request, RequestDeleteUserData):
            if request.key not in call.user_data:
                return request.error(ErrorCode.TERR_NO_SUCH_KEY, f"UserData has no key {request.key!r}"), _nothing
            new_data = call.user_data.without(request.key)
        else:
            # Attach and Update both leave one value per key: this emulation's UserData has
            # unique keys (docs §4), so attaching a present key replaces its value.
            new_data = call.user_data.merged(request.user_data)
        call = self._store_user_data(call.conn_id, new_data)
        answer = EventAttachedDataChanged(
            reference_id=request.reference_id,
            this_dn=request.this_dn,
            conn_id=call.conn_id,
            call_uuid=call.call_uuid,
            user_data=call.user_data,
        )
        stored = call

        def broadcast() -> None:
            self._broadcast_user_data(stored, skip=(client, request.this_dn))

        return answer, broadcast

    @staticmethod
    def _checked(request: Request, answer: Event, allowed: tuple[type[Event], ...]) -> Event:
        # A handler answering with the wrong type or ReferenceID would break the client's
        # correlation (docs §5): that is a bug on our side, not the peer's.
        if not isinstance(answer, allowed):
            raise LocalProtocolError(f"handler answered {request.MESSAGE} with {type(answer).__name__}")
        if answer.reference_id != request.reference_id:
            raise LocalProtocolError(
                f"handler answer has ReferenceID {answer.reference_id}, request had {request.reference_id}"
            )
        return answer


def _nothing() -> None:
    return None
