"""T-Lib client side of the emulation, sans-IO (docs/tlib-emulation.md §5; docs/genesys-flow.md §3.6).

Used by the reference recorder (registers its DNs, requests recording, reads UserData) and by
the agent-desktop / routing-strategy emulations. It builds requests with increasing
ReferenceIDs, queues their bytes, and sorts what the T-Server sends into *answers* (an event
whose ReferenceID matches a request still outstanding) and *events* (everything else:
ReferenceID 0, or an id no longer awaited), in arrival order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from harness.protocol.errors import LocalProtocolError
from harness.protocol.tlib.codec import MAX_LINE_LENGTH, Direction, TlibDecoder, TlibProtocolError, encode
from harness.protocol.tlib.messages import (
    EMPTY,
    MAX_REFERENCE_ID,
    Event,
    KVList,
    KVValue,
    Message,
    PrivateMsgMap,
    RecordOp,
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

__all__ = ["TlibClientCore"]


class TlibClientCore:
    def __init__(
        self,
        *,
        private_msgs: PrivateMsgMap | None = None,
        first_reference_id: int = 1,
        max_line_length: int = MAX_LINE_LENGTH,
    ) -> None:
        if not 1 <= first_reference_id <= MAX_REFERENCE_ID:
            raise LocalProtocolError("first_reference_id must be in 1..2**31-1")
        self.private_msgs = private_msgs if private_msgs is not None else PrivateMsgMap()
        self.max_line_length = max_line_length
        self._next_ref = first_reference_id
        self._decoder = TlibDecoder(Direction.EVENTS, max_line_length=max_line_length)
        self._out = bytearray()
        self._outstanding: dict[int, Request] = {}
        self._answers: dict[int, Event] = {}
        self._events: deque[Event] = deque()

    # --- building requests --------------------------------------------------------------

    def _reference_id(self) -> int:
        ref = self._next_ref
        # Wrap back to 1, never 0: 0 marks unsolicited events (docs §5).
        self._next_ref = 1 if ref >= MAX_REFERENCE_ID else ref + 1
        return ref

    def send(self, request: Request) -> Request:
        """Queue an already-built request (its ReferenceID must not be outstanding)."""
        if request.reference_id in self._outstanding:
            raise LocalProtocolError(f"ReferenceID {request.reference_id} is already outstanding")
        self._out += encode(request, max_line_length=self.max_line_length)
        self._outstanding[request.reference_id] = request
        return request

    def register_address(self, this_dn: str) -> RequestRegisterAddress:
        request = RequestRegisterAddress(reference_id=self._reference_id(), this_dn=this_dn)
        self.send(request)
        return request

    def unregister_address(self, this_dn: str) -> RequestUnregisterAddress:
        request = RequestUnregisterAddress(reference_id=self._reference_id(), this_dn=this_dn)
        self.send(request)
        return request

    def private_service(
        self, this_dn: str, conn_id: str, private_msg_id: int, extensions: Mapping[str, KVValue] = EMPTY
    ) -> RequestPrivateService:
        request = RequestPrivateService(
            reference_id=self._reference_id(),
            private_msg_id=private_msg_id,
            this_dn=this_dn,
            conn_id=conn_id,
            extensions=KVList(extensions),
        )
        self.send(request)
        return request

    def record(
        self,
        op: RecordOp,
        this_dn: str,
        conn_id: str,
        *,
        record: str | None = None,
        record_id: str | None = None,
        dest: str | None = None,
        dest2: str | None = None,
    ) -> RequestPrivateService:
        """GSIP_RECORD_START / STOP / PAUSE / RESUME with the DOMAIN §3.2 extension keys."""
        ext = {k: v for k, v in (("record", record), ("id", record_id), ("dest", dest), ("dest2", dest2)) if v is not None}
        return self.private_service(this_dn, conn_id, self.private_msgs.msg_id(op), ext)

    def route_call(
        self,
        this_dn: str,
        conn_id: str,
        other_dn: str,
        *,
        extensions: Mapping[str, KVValue] = EMPTY,
        user_data: Mapping[str, KVValue] = EMPTY,
    ) -> RequestRouteCall:
        request = RequestRouteCall(
            reference_id=self._reference_id(),
            this_dn=this_dn,
            conn_id=conn_id,
            other_dn=other_dn,
            extensions=KVList(extensions),
            user_data=KVList(user_data),
        )
        self.send(request)
        return request

    def attach_user_data(self, this_dn: str, conn_id: str, user_data: Mapping[str, KVValue]) -> RequestAttachUserData:
        request = RequestAttachUserData(
            reference_id=self._reference_id(), this_dn=this_dn, conn_id=conn_id, user_data=KVList(user_data)
        )
        self.send(request)
        return request

    def update_user_data(self, this_dn: str, conn_id: str, user_data: Mapping[str, KVValue]) -> RequestUpdateUserData:
        request = RequestUpdateUserData(
            reference_id=self._reference_id(), this_dn=this_dn, conn_id=conn_id, user_data=KVList(user_data)
        )
        self.send(request)
        return request

    def delete_user_data(self, this_dn: str, conn_id: str, key: str) -> RequestDeleteUserData:
        request = RequestDeleteUserData(reference_id=self._reference_id(), this_dn=this_dn, conn_id=conn_id, key=key)
        self.send(request)
        return request

    def query_call(self, this_dn: str, conn_id: str) -> RequestQueryCall:
        request = RequestQueryCall(reference_id=self._reference_id(), this_dn=this_dn, conn_id=conn_id)
        self.send(request)
        return request

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    # --- receiving ----------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        """Decode what the T-Server sent; returns every event, in order, after sorting them.

        A line the server got wrong raises `TlibProtocolError` after the events before it were
        sorted; a client has nobody to answer, so the adapter should close the connection.
        """
        try:
            messages = self._decoder.feed(data)
        except TlibProtocolError as exc:
            self._sort(exc.decoded)
            raise
        return self._sort(messages)

    def _sort(self, messages: tuple[Message, ...] | list[Message]) -> list[Event]:
        out: list[Event] = []
        for message in messages:
            assert isinstance(message, Event)  # Direction.EVENTS yields events only
            out.append(message)
            if message.reference_id and self._outstanding.pop(message.reference_id, None) is not None:
                self._answers[message.reference_id] = message
            else:
                self._events.append(message)
        return out

    @property
    def outstanding(self) -> frozenset[int]:
        """ReferenceIDs of requests sent and not answered yet."""
        return frozenset(self._outstanding)

    def request(self, reference_id: int) -> Request | None:
        """The outstanding request with this id, if any."""
        return self._outstanding.get(reference_id)

    def take_answer(self, reference_id: int) -> Event | None:
        """The answer to a request, once received (removed when taken)."""
        return self._answers.pop(reference_id, None)

    def next_event(self) -> Event | None:
        """The oldest unsolicited event not taken yet."""
        return self._events.popleft() if self._events else None

    def take_events(self) -> list[Event]:
        out = list(self._events)
        self._events.clear()
        return out
