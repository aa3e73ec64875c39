"""Message model: immutability, validation when built, KVList, private message id map."""

from __future__ import annotations

import dataclasses

import pytest

from harness.protocol.errors import LocalProtocolError
from harness.protocol.tlib import (
    AttributeValueError,
    ErrorCode,
    EventError,
    EventPrivateInfo,
    KVList,
    PrivateMsgMap,
    RecordOp,
    RecordState,
    RequestPrivateService,
    RequestRegisterAddress,
    RequestRouteCall,
)


def test_messages_are_frozen_slotted_and_hashable() -> None:
    msg = RequestRegisterAddress(reference_id=1, this_dn="7001")
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.this_dn = "7002"  # type: ignore[misc]
    assert not hasattr(msg, "__dict__")
    assert {msg: 1}[RequestRegisterAddress(reference_id=1, this_dn="7001")] == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"reference_id": 0, "this_dn": "7001"},
        {"reference_id": -1, "this_dn": "7001"},
        {"reference_id": True, "this_dn": "7001"},
        {"reference_id": 2**31, "this_dn": "7001"},
        {"reference_id": 1, "this_dn": ""},
        {"reference_id": 1, "this_dn": 7001},
    ],
)
def test_invalid_request_refused_when_built(kwargs: dict[str, object]) -> None:
    with pytest.raises(AttributeValueError) as info:
        RequestRegisterAddress(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, LocalProtocolError)
    assert info.value.code == ErrorCode.TERR_INVALID_ATTR


def test_extensions_values_checked() -> None:
    ok = RequestRouteCall(
        reference_id=1, this_dn="5000", conn_id="c", other_dn="1002", extensions=KVList({"record": "disable_source"})
    )
    assert ok.extensions["record"] == "disable_source"
    # disable_* exists for TRouteCall only (DOMAIN §3.4), not for TRequestPrivateService (§3.2)
    with pytest.raises(AttributeValueError):
        RequestPrivateService(
            reference_id=1, private_msg_id=3013, this_dn="1", conn_id="c", extensions=KVList({"record": "disable_source"})
        )
    with pytest.raises(AttributeValueError):
        RequestPrivateService(reference_id=1, private_msg_id=3013, this_dn="1", conn_id="c", extensions=KVList({"dest": ""}))
    with pytest.raises(AttributeValueError):
        RequestPrivateService(
            reference_id=1, private_msg_id=3013, this_dn="1", conn_id="c", extensions={"record": "source"}  # type: ignore[arg-type]
        )


def test_kvlist() -> None:
    kv = KVList({"a": "1", "b": 2})
    assert kv == {"a": "1", "b": 2} and kv == KVList([("a", "1"), ("b", 2)])
    assert kv != KVList({"b": 2, "a": "1"})  # order is part of the wire form
    assert kv.merged({"b": 3, "c": "x"}).to_dict() == {"a": "1", "b": 3, "c": "x"}
    assert kv.without("a") == {"b": 2}
    assert kv == {"a": "1", "b": 2}  # unchanged
    assert hash(kv) == hash(KVList({"a": "1", "b": 2}))
    for bad in ({"a": True}, {"a": 1.5}, {"a": None}, {"": "x"}, {1: "x"}, [("a", "1"), ("a", "2")]):
        with pytest.raises(ValueError):
            KVList(bad)  # type: ignore[arg-type]


def test_private_msg_map_defaults_and_configuration() -> None:
    default = PrivateMsgMap()
    assert [default.msg_id(op) for op in RecordOp] == [3013, 3014, 3015, 3016]
    assert default.operation(3015) is RecordOp.PAUSE
    assert default.operation(4000) is None
    custom = PrivateMsgMap(start=1, stop=2, pause=3, resume=4)
    assert custom.operation(3) is RecordOp.PAUSE and custom.operation(3013) is None
    with pytest.raises(LocalProtocolError):
        PrivateMsgMap(start=1, stop=1)
    with pytest.raises(LocalProtocolError):
        PrivateMsgMap(start=-1)


def test_private_info_recording_state() -> None:
    custom = PrivateMsgMap(start=11, stop=12, pause=13, resume=14)
    event = EventPrivateInfo.recording(
        RecordState.RESUMED, "r-1", this_dn="1002", conn_id="c", call_uuid="u", private_msgs=custom
    )
    assert event.private_event_id == 14
    assert event.record_state is RecordState.RESUMED and event.record_id == "r-1"
    with pytest.raises(AttributeValueError):
        EventPrivateInfo(private_event_id=1, this_dn="1", extensions=KVList({"record_state": "exploded"}))


def test_request_answers_echo_reference_id() -> None:
    request = RequestPrivateService(reference_id=41, private_msg_id=3014, this_dn="7001", conn_id="c")
    ack = request.ack()
    assert (ack.reference_id, ack.this_dn, ack.conn_id) == (41, "7001", "c")
    err = request.error(ErrorCode.TERR_INVALID_STATE, "not recording")
    assert err == EventError(
        reference_id=41, error_code=203, error_message="not recording", this_dn="7001", conn_id="c"
    )
    register = RequestRegisterAddress(reference_id=2, this_dn="7001")
    assert register.ack().conn_id is None
