"""One sample of every T-Lib emulation message, matching tests/fixtures/tlib/messages.jsonl line by line."""

from __future__ import annotations

from harness.protocol.tlib import (
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
    Message,
    RecordState,
    RequestAttachUserData,
    RequestDeleteUserData,
    RequestPrivateService,
    RequestQueryCall,
    RequestRegisterAddress,
    RequestRouteCall,
    RequestUnregisterAddress,
    RequestUpdateUserData,
)

CONN = "006a02a0d8c3e001"
UUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"

SAMPLES: list[Message] = [
    RequestRegisterAddress(reference_id=1, this_dn="7001"),
    RequestUnregisterAddress(reference_id=2, this_dn="7001"),
    RequestPrivateService(
        reference_id=3,
        private_msg_id=3013,
        this_dn="7001",
        conn_id=CONN,
        extensions=KVList({"record": "destination", "id": "rec-42", "dest": "sip:rec@127.0.0.1:5070"}),
    ),
    RequestRouteCall(
        reference_id=4,
        this_dn="5000",
        conn_id=CONN,
        other_dn="1002",
        user_data=KVList({"Segment": "gold"}),
        extensions=KVList({"record": "disable_destination"}),
    ),
    RequestAttachUserData(reference_id=5, this_dn="1002", conn_id=CONN, user_data=KVList({"CaseID": "C-1", "Score": 7})),
    RequestUpdateUserData(reference_id=6, this_dn="1002", conn_id=CONN, user_data=KVList({"Score": 8})),
    RequestDeleteUserData(reference_id=7, this_dn="1002", conn_id=CONN, key="CaseID"),
    RequestQueryCall(reference_id=8, this_dn="7001", conn_id=CONN),
    EventRegistered(reference_id=1, this_dn="7001"),
    EventUnregistered(reference_id=2, this_dn="7001"),
    EventACK(reference_id=3, this_dn="7001", conn_id=CONN),
    EventError(reference_id=3, error_code=202, error_message="no call with ConnID 0", this_dn="7001", conn_id="0"),
    EventRinging(this_dn="1002", other_dn="1001", conn_id=CONN, call_uuid=UUID),
    EventEstablished(this_dn="1002", other_dn="1001", conn_id=CONN, call_uuid=UUID, user_data=KVList({"Segment": "gold"})),
    EventReleased(this_dn="1002", other_dn="1001", conn_id=CONN, call_uuid=UUID),
    EventRouteRequest(this_dn="5000", other_dn="1001", conn_id=CONN, call_uuid=UUID),
    EventPartyChanged(this_dn="1001", other_dn="1003", conn_id=CONN, call_uuid=UUID, third_party_dn="1002",
                      previous_conn_id="006a02a0d8c3e002"),
    EventAttachedDataChanged(
        reference_id=5, this_dn="1002", conn_id=CONN, call_uuid=UUID, user_data=KVList({"CaseID": "C-1", "Score": 7})
    ),
    EventPartyInfo(
        reference_id=8,
        this_dn="7001",
        conn_id=CONN,
        call_uuid=UUID,
        parties=("1001", "1002"),
        user_data=KVList({"Kunde": "Müller"}),
    ),
    EventPrivateInfo.recording(RecordState.PAUSED, "rec-42", this_dn="1002", conn_id=CONN, call_uuid=UUID),
]
