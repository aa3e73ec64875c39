"""T-Lib client core: ReferenceIDs, answer matching, event queue, wired to the server core."""

from __future__ import annotations

import pytest

from harness.protocol.errors import LocalProtocolError
from harness.protocol.tlib import (
    ErrorCode,
    EventACK,
    EventAttachedDataChanged,
    EventError,
    EventPartyInfo,
    EventRegistered,
    EventRinging,
    KVList,
    PrivateMsgMap,
    RecordOp,
    RequestPrivateService,
    TlibClientCore,
    TlibProtocolError,
    TServerCore,
    encode,
)

CONN = "006a02a0d8c3e001"
UUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"


def test_reference_ids_increase_and_wrap_to_one() -> None:
    client = TlibClientCore(first_reference_id=2**31 - 2)
    refs = [client.register_address(dn).reference_id for dn in ("1", "2", "3")]
    assert refs == [2**31 - 2, 2**31 - 1, 1]
    assert client.outstanding == {2**31 - 2, 2**31 - 1, 1}
    assert client.data_to_send().count(b"\n") == 3
    assert client.data_to_send() == b""


def test_record_builds_private_service_from_map() -> None:
    client = TlibClientCore(private_msgs=PrivateMsgMap(start=1, stop=2, pause=3, resume=4))
    request = client.record(RecordOp.PAUSE, "7001", CONN, record="destination", record_id="r-1", dest="sip:r@h")
    assert isinstance(request, RequestPrivateService)
    assert request.private_msg_id == 3
    assert request.extensions == {"record": "destination", "id": "r-1", "dest": "sip:r@h"}
    assert client.data_to_send() == encode(request)


def test_answers_and_events_are_sorted() -> None:
    client = TlibClientCore()
    reg = client.register_address("1002")
    data = encode(EventRinging(this_dn="1002", conn_id=CONN, call_uuid=UUID)) + encode(
        EventRegistered(reference_id=reg.reference_id, this_dn="1002")
    ) + encode(EventACK(reference_id=999))  # answer to nothing we sent: treated as an event
    events = client.receive_data(data)
    assert len(events) == 3
    assert client.take_answer(reg.reference_id) == EventRegistered(reference_id=reg.reference_id, this_dn="1002")
    assert client.take_answer(reg.reference_id) is None
    assert client.outstanding == frozenset()
    assert [type(e) for e in client.take_events()] == [EventRinging, EventACK]
    assert client.next_event() is None


def test_duplicate_outstanding_reference_id_is_misuse() -> None:
    client = TlibClientCore()
    req = client.register_address("1")
    with pytest.raises(LocalProtocolError):
        client.send(req)


def test_server_garbage_raises_after_sorting_earlier_events() -> None:
    client = TlibClientCore()
    reg = client.register_address("1002")
    with pytest.raises(TlibProtocolError):
        client.receive_data(encode(EventRegistered(reference_id=reg.reference_id, this_dn="1002")) + b"{oops\n")
    assert isinstance(client.take_answer(reg.reference_id), EventRegistered)


def pump(server: TServerCore, client_id: int, client: TlibClientCore) -> None:
    server.receive_data(client_id, client.data_to_send())  # type: ignore[arg-type]
    client.receive_data(server.data_to_send(client_id))  # type: ignore[arg-type]


def test_client_against_server_core() -> None:
    server = TServerCore()
    server.open_call(CONN, UUID, ("1001", "1002"))
    cid = server.connect()
    client = TlibClientCore()
    reg = client.register_address("1002")
    attach = client.attach_user_data("1002", CONN, {"CaseID": "C-1"})
    query = client.query_call("1002", CONN)
    bad = client.query_call("1002", "0000")
    start = client.record(RecordOp.START, "1002", CONN)
    pump(server, cid, client)
    assert isinstance(client.take_answer(reg.reference_id), EventRegistered)
    changed = client.take_answer(attach.reference_id)
    assert isinstance(changed, EventAttachedDataChanged) and changed.user_data == {"CaseID": "C-1"}
    info = client.take_answer(query.reference_id)
    assert isinstance(info, EventPartyInfo) and info.user_data == KVList({"CaseID": "C-1"})
    err = client.take_answer(bad.reference_id)
    assert isinstance(err, EventError) and err.error_code == ErrorCode.TERR_INVALID_CONNID
    err = client.take_answer(start.reference_id)
    assert isinstance(err, EventError) and err.error_code == ErrorCode.TERR_UNSUP_OPER
    assert client.outstanding == frozenset()
