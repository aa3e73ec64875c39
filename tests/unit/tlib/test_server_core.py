"""T-Server core, in memory: registration, event delivery, handler routing, UserData, cleanup."""

from __future__ import annotations

import pytest

from harness.protocol.errors import LocalProtocolError
from harness.protocol.tlib import (
    BaseTServerHandler,
    ClientId,
    ErrorCode,
    EventACK,
    EventAttachedDataChanged,
    EventError,
    EventEstablished,
    EventPartyInfo,
    EventPrivateInfo,
    EventRegistered,
    EventRinging,
    EventUnregistered,
    KVList,
    PrivateMsgMap,
    RecordOp,
    RecordState,
    RequestAttachUserData,
    RequestDeleteUserData,
    RequestPrivateService,
    RequestQueryCall,
    RequestRegisterAddress,
    RequestRouteCall,
    RequestUnregisterAddress,
    RequestUpdateUserData,
    TlibClientCore,
    TServerCore,
    UserDataRequest,
    encode,
)

CONN = "006a02a0d8c3e001"
UUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"


class FakeSwitch(BaseTServerHandler):
    """Records what it is asked; answers recording requests like the SIP Server emulation will."""

    def __init__(self, core: TServerCore | None = None) -> None:
        self.core = core
        self.private: list[tuple[ClientId, RequestPrivateService]] = []
        self.routed: list[RequestRouteCall] = []
        self.recording = False
        self.known_dns = {"1001", "1002", "7001", "5000"}
        self.veto_user_data = False

    def on_register_address(self, client: ClientId, request: RequestRegisterAddress) -> EventError | None:
        if request.this_dn not in self.known_dns:
            return request.error(ErrorCode.TERR_UNKNOWN_DN, f"DN {request.this_dn} is not configured")
        return None

    def on_private_service(
        self, client: ClientId, request: RequestPrivateService
    ) -> EventACK | EventError | EventPrivateInfo:
        self.private.append((client, request))
        op = PrivateMsgMap().operation(request.private_msg_id)
        if op is None:
            return request.error(ErrorCode.TERR_UNSUP_OPER, "unknown PrivateMsgID")
        if op is RecordOp.STOP and not self.recording:
            return request.error(ErrorCode.TERR_INVALID_STATE, "no recording running")
        self.recording = op is not RecordOp.STOP
        if self.core is not None and op is RecordOp.START:
            # The state event is emitted while handling; the core must still send the ACK first.
            self.core.notify(
                EventPrivateInfo.recording(RecordState.STARTED, "rec-1", this_dn="1002", conn_id=CONN, call_uuid=UUID)
            )
        return request.ack()

    def on_route_call(self, client: ClientId, request: RequestRouteCall) -> EventACK | EventError:
        self.routed.append(request)
        return request.ack()

    def on_attach_user_data(self, client: ClientId, request: UserDataRequest) -> EventError | None:
        return request.error(ErrorCode.TERR_UNSUP_OPER, "read-only") if self.veto_user_data else None


@pytest.fixture
def switch() -> FakeSwitch:
    return FakeSwitch()


@pytest.fixture
def core(switch: FakeSwitch) -> TServerCore:
    core = TServerCore(switch)
    switch.core = core
    core.open_call(CONN, UUID, ("1001", "1002"), KVList({"Segment": "gold"}))
    return core


def register(core: TServerCore, client: ClientId, dn: str, ref: int = 1) -> None:
    core.handle(client, RequestRegisterAddress(reference_id=ref, this_dn=dn))
    assert core.take_messages(client) == [EventRegistered(reference_id=ref, this_dn=dn)]


def start(ref: int = 5, dn: str = "7001", conn: str = CONN, msg_id: int = 3013) -> RequestPrivateService:
    return RequestPrivateService(
        reference_id=ref, private_msg_id=msg_id, this_dn=dn, conn_id=conn, extensions=KVList({"record": "source"})
    )


def test_register_and_unregister(core: TServerCore) -> None:
    a = core.connect()
    register(core, a, "1002")
    assert core.registrants("1002") == {a} and core.registrations(a) == {"1002"}
    core.handle(a, RequestUnregisterAddress(reference_id=2, this_dn="1002"))
    assert core.take_messages(a) == [EventUnregistered(reference_id=2, this_dn="1002")]
    assert core.registrants("1002") == frozenset()
    core.handle(a, RequestUnregisterAddress(reference_id=3, this_dn="1002"))
    [err] = core.take_messages(a)
    assert isinstance(err, EventError) and err.error_code == ErrorCode.TERR_DN_NOT_REGISTERED
    assert err.reference_id == 3


def test_register_veto_by_handler(core: TServerCore) -> None:
    a = core.connect()
    core.handle(a, RequestRegisterAddress(reference_id=4, this_dn="9999"))
    [err] = core.take_messages(a)
    assert isinstance(err, EventError) and (err.error_code, err.reference_id) == (ErrorCode.TERR_UNKNOWN_DN, 4)
    assert core.registrants("9999") == frozenset()


def test_call_events_go_to_every_registrant_of_the_dn_only(core: TServerCore) -> None:
    a, b, c = core.connect(), core.connect(), core.connect()
    register(core, a, "1002")
    register(core, b, "1002")
    register(core, c, "1001")
    event = core.ringing(CONN, "1002", "1001")
    assert event == EventRinging(
        this_dn="1002", other_dn="1001", conn_id=CONN, call_uuid=UUID, user_data=KVList({"Segment": "gold"})
    )
    assert core.take_messages(a) == [event] and core.take_messages(b) == [event]
    assert core.take_messages(c) == []
    assert core.notify(EventEstablished(this_dn="1001", conn_id=CONN, call_uuid=UUID)) == 1
    assert [type(m) for m in core.take_messages(c)] == [EventEstablished]


def test_private_service_routed_to_handler_ack_before_caused_events(core: TServerCore, switch: FakeSwitch) -> None:
    supervisor, agent = core.connect(), core.connect()
    register(core, supervisor, "7001")  # not a party on the call: allowed (DOMAIN §3.2)
    register(core, agent, "1002")
    request = start()
    core.handle(supervisor, request)
    assert switch.private == [(supervisor, request)]
    assert core.take_messages(supervisor) == [EventACK(reference_id=5, this_dn="7001", conn_id=CONN)]
    [info] = core.take_messages(agent)
    assert isinstance(info, EventPrivateInfo) and info.record_state is RecordState.STARTED


def test_ack_precedes_deferred_event_on_same_client(core: TServerCore) -> None:
    a = core.connect()
    register(core, a, "1002")
    core.handle(a, start(dn="1002"))
    assert [type(m) for m in core.take_messages(a)] == [EventACK, EventPrivateInfo]


def test_handler_errors_are_passed_through(core: TServerCore) -> None:
    a = core.connect()
    register(core, a, "7001")
    core.handle(a, start(ref=6, msg_id=3014))  # stop while not recording
    [err] = core.take_messages(a)
    assert isinstance(err, EventError) and (err.error_code, err.reference_id) == (ErrorCode.TERR_INVALID_STATE, 6)
    core.handle(a, start(ref=7, msg_id=4242))
    [err] = core.take_messages(a)
    assert isinstance(err, EventError) and err.error_code == ErrorCode.TERR_UNSUP_OPER


def test_request_for_unregistered_dn_is_refused_without_asking_handler(core: TServerCore, switch: FakeSwitch) -> None:
    a, b = core.connect(), core.connect()
    register(core, b, "7001")  # registered by another client: not good enough for a
    core.handle(a, start(ref=9))
    [err] = core.take_messages(a)
    assert isinstance(err, EventError)
    assert (err.error_code, err.reference_id, err.this_dn) == (ErrorCode.TERR_DN_NOT_REGISTERED, 9, "7001")
    assert switch.private == []


def test_unknown_connid_is_refused(core: TServerCore, switch: FakeSwitch) -> None:
    a = core.connect()
    register(core, a, "7001")
    core.handle(a, start(ref=10, conn="ffffffffffffffff"))
    [err] = core.take_messages(a)
    assert isinstance(err, EventError) and (err.error_code, err.conn_id) == (
        ErrorCode.TERR_INVALID_CONNID,
        "ffffffffffffffff",
    )
    assert switch.private == []


def test_route_call_routed(core: TServerCore, switch: FakeSwitch) -> None:
    rp = core.connect()
    register(core, rp, "5000")
    request = RequestRouteCall(
        reference_id=3, this_dn="5000", conn_id=CONN, other_dn="1002", extensions=KVList({"record": "destination"})
    )
    core.handle(rp, request)
    assert switch.routed == [request]
    assert core.take_messages(rp) == [EventACK(reference_id=3, this_dn="5000", conn_id=CONN)]


def test_default_handler_refuses_private_service_and_routing() -> None:
    core = TServerCore()
    core.open_call(CONN, UUID, ("1001",))
    a = core.connect()
    register(core, a, "1001")
    core.handle(a, start(dn="1001"))
    core.handle(a, RequestRouteCall(reference_id=6, this_dn="1001", conn_id=CONN, other_dn="1002"))
    codes = [m.error_code for m in core.take_messages(a) if isinstance(m, EventError)]
    assert codes == [ErrorCode.TERR_UNSUP_OPER, ErrorCode.TERR_UNSUP_OPER]


def test_user_data_attach_update_delete_broadcast(core: TServerCore) -> None:
    desktop, recorder, other = core.connect(), core.connect(), core.connect()
    register(core, desktop, "1002")
    register(core, recorder, "1002")
    register(core, recorder, "1001", ref=2)
    register(core, other, "7001")
    core.handle(desktop, RequestAttachUserData(reference_id=20, this_dn="1002", conn_id=CONN, user_data=KVList({"CaseID": "C-9"})))
    expected = KVList({"Segment": "gold", "CaseID": "C-9"})
    assert core.take_messages(desktop) == [
        EventAttachedDataChanged(reference_id=20, this_dn="1002", conn_id=CONN, call_uuid=UUID, user_data=expected)
    ]
    # the recorder hears it once per DN it registered on the call, unsolicited (ReferenceID 0)
    assert core.take_messages(recorder) == [
        EventAttachedDataChanged(this_dn="1001", conn_id=CONN, call_uuid=UUID, user_data=expected),
        EventAttachedDataChanged(this_dn="1002", conn_id=CONN, call_uuid=UUID, user_data=expected),
    ]
    assert core.take_messages(other) == []

    core.handle(desktop, RequestUpdateUserData(reference_id=21, this_dn="1002", conn_id=CONN, user_data=KVList({"Segment": "silver"})))
    [answer] = core.take_messages(desktop)
    assert isinstance(answer, EventAttachedDataChanged) and answer.user_data == {"Segment": "silver", "CaseID": "C-9"}
    core.handle(desktop, RequestDeleteUserData(reference_id=22, this_dn="1002", conn_id=CONN, key="Segment"))
    [answer] = core.take_messages(desktop)
    assert isinstance(answer, EventAttachedDataChanged) and answer.user_data == {"CaseID": "C-9"}
    core.handle(desktop, RequestDeleteUserData(reference_id=23, this_dn="1002", conn_id=CONN, key="Segment"))
    [err] = core.take_messages(desktop)
    assert isinstance(err, EventError) and (err.error_code, err.reference_id) == (ErrorCode.TERR_NO_SUCH_KEY, 23)
    info = core.call(CONN)
    assert info is not None and info.user_data == {"CaseID": "C-9"}
    # the call events carry the current UserData
    assert core.ringing(CONN, "1002").user_data == {"CaseID": "C-9"}


def test_user_data_veto(core: TServerCore, switch: FakeSwitch) -> None:
    switch.veto_user_data = True
    a = core.connect()
    register(core, a, "1002")
    core.handle(a, RequestAttachUserData(reference_id=2, this_dn="1002", conn_id=CONN, user_data=KVList({"x": "y"})))
    [err] = core.take_messages(a)
    assert isinstance(err, EventError) and err.error_code == ErrorCode.TERR_UNSUP_OPER
    info = core.call(CONN)
    assert info is not None and info.user_data == {"Segment": "gold"}


def test_server_side_user_data_update_is_unsolicited(core: TServerCore) -> None:
    a = core.connect()
    register(core, a, "1001")
    core.update_user_data(CONN, {"Strategy": "VIP"})
    [event] = core.take_messages(a)
    assert isinstance(event, EventAttachedDataChanged) and event.reference_id == 0
    assert event.user_data == {"Segment": "gold", "Strategy": "VIP"}


def test_query_call(core: TServerCore) -> None:
    a = core.connect()
    register(core, a, "7001")
    core.handle(a, RequestQueryCall(reference_id=30, this_dn="7001", conn_id=CONN))
    assert core.take_messages(a) == [
        EventPartyInfo(
            reference_id=30,
            this_dn="7001",
            conn_id=CONN,
            call_uuid=UUID,
            parties=("1001", "1002"),
            user_data=KVList({"Segment": "gold"}),
        )
    ]
    core.close_call(CONN)
    core.handle(a, RequestQueryCall(reference_id=31, this_dn="7001", conn_id=CONN))
    [err] = core.take_messages(a)
    assert isinstance(err, EventError) and err.error_code == ErrorCode.TERR_INVALID_CONNID


def test_disconnect_cleans_registrations(core: TServerCore) -> None:
    a, b = core.connect(), core.connect()
    register(core, a, "1002")
    register(core, b, "1002")
    core.disconnect(a)
    assert core.registrants("1002") == {b}
    assert core.clients == {b}
    assert core.notify(EventRinging(this_dn="1002", conn_id=CONN, call_uuid=UUID)) == 1
    core.disconnect(a)  # idempotent
    core.disconnect(b)
    assert core.registrants("1002") == frozenset()
    with pytest.raises(LocalProtocolError):
        core.handle(a, RequestRegisterAddress(reference_id=1, this_dn="1002"))


def test_bytes_in_bytes_out_with_garbage(core: TServerCore) -> None:
    a = core.connect()
    data = (
        encode(RequestRegisterAddress(reference_id=1, this_dn="7001"))
        + b"this is not json\n"
        + b'{"message":"RequestPrivateService","ReferenceID":2,"ThisDN":"7001","ConnID":"x"}\n'
        + encode(start(ref=3))[:20]
    )
    core.receive_data(a, data)
    assert core.pending_bytes(a) == 20
    client = TlibClientCore()
    events = client.receive_data(core.data_to_send(a))
    assert [type(e).__name__ for e in events] == ["EventRegistered", "EventError", "EventError"]
    assert [e.reference_id for e in events] == [1, 0, 2]
    assert isinstance(events[2], EventError) and events[2].error_code == ErrorCode.TERR_NO_ATTR
    core.receive_data(a, encode(start(ref=3))[20:])
    assert core.take_messages(a)[0] == EventACK(reference_id=3, this_dn="7001", conn_id=CONN)
    assert not core.should_close(a)


def test_huge_line_closes_only_that_client(core: TServerCore) -> None:
    small = TServerCore(FakeSwitch(), max_line_length=200)
    small.open_call(CONN, UUID, ("1002",))
    a, b = small.connect(), small.connect()
    register(small, b, "1002")
    small.receive_data(a, encode(RequestRegisterAddress(reference_id=1, this_dn="1002")) + b"x" * 300)
    messages = small.take_messages(a)
    assert isinstance(messages[0], EventRegistered)
    assert isinstance(messages[1], EventError) and messages[1].error_code == ErrorCode.TERR_MSG_TOO_LONG
    assert small.should_close(a) and not small.should_close(b)
    # registrations end at the fatal error, before the adapter gets round to disconnect()
    assert small.registrants("1002") == {b}
    assert small.notify(EventRinging(this_dn="1002", conn_id=CONN, call_uuid=UUID)) == 1
    assert small.take_messages(a) == []
    assert [type(m) for m in small.take_messages(b)] == [EventRinging]
    small.receive_data(a, encode(RequestRegisterAddress(reference_id=2, this_dn="1001")))
    assert small.take_messages(a) == []  # ignored after the fatal error
    small.disconnect(a)
    assert small.registrants("1002") == {b}
    small.handle(b, RequestQueryCall(reference_id=9, this_dn="1002", conn_id=CONN))
    assert isinstance(small.take_messages(b)[0], EventPartyInfo)


def test_handler_answer_with_wrong_reference_id_is_our_bug(core: TServerCore) -> None:
    class Bad(BaseTServerHandler):
        def on_private_service(
            self, client: ClientId, request: RequestPrivateService
        ) -> EventACK | EventError | EventPrivateInfo:
            return EventACK(reference_id=request.reference_id + 1)

    bad = TServerCore(Bad())
    bad.open_call(CONN, UUID, ("1002",))
    a = bad.connect()
    register(bad, a, "1002")
    with pytest.raises(LocalProtocolError):
        bad.handle(a, start(dn="1002"))
    # the core is usable afterwards (no events stuck in the deferred queue)
    bad.handle(a, RequestQueryCall(reference_id=40, this_dn="1002", conn_id=CONN))
    assert isinstance(bad.take_messages(a)[0], EventPartyInfo)


def test_call_directory_misuse(core: TServerCore) -> None:
    with pytest.raises(LocalProtocolError):
        core.open_call(CONN, UUID, ())
    with pytest.raises(LocalProtocolError):
        core.ringing("nope", "1002")
    assert core.set_parties(CONN, ["1001", "1003"]).parties == ("1001", "1003")
    with pytest.raises(LocalProtocolError):
        core.notify(EventACK(reference_id=0))
