"""SipTServer in memory: the T-Lib recording paths (docs/genesys-flow.md §3.1-§3.4) and their errors."""

from __future__ import annotations

import pytest

from harness.emulators.sip_server import RecordingJob, Side, SipServerEmulation
from harness.emulators.sip_tserver import SipTServer
from harness.protocol.tlib import (
    ClientId,
    ErrorCode,
    Event,
    EventACK,
    EventError,
    EventEstablished,
    EventPartyChanged,
    EventPrivateInfo,
    EventReleased,
    EventRouteRequest,
    KVList,
    PrivateMsgMap,
    RecordOp,
    RecordState,
    RequestPrivateService,
    RequestRegisterAddress,
    RequestRouteCall,
)

CUSTOMER, AGENT, SUPERVISOR, RECORDER_DN, RP = "5551000", "7001", "7900", "9999", "8000"


class World:
    def __init__(self, msgs: PrivateMsgMap = PrivateMsgMap(), record_dn_option: str | None = None,  # noqa: B008
                 known: frozenset[str] | None = None) -> None:
        sip = SipServerEmulation()
        if record_dn_option is not None:
            sip.configure_dn(record_dn_option, record=True)
        self.started: list[RecordingJob] = []
        self.controls: list[tuple[RecordOp, str]] = []
        self.ts = SipTServer(sip, private_msgs=msgs, on_recording=self.started.append,
                             on_control=lambda op, job: self.controls.append((op, job.record_id)), known_dns=known)
        self.core = self.ts.core
        self.refs = iter(range(1, 10_000))

    def client(self, *dns: str) -> ClientId:
        client = self.core.connect()
        for dn in dns:
            self.core.handle(client, RequestRegisterAddress(reference_id=next(self.refs), this_dn=dn))
        self.core.take_messages(client)
        return client

    def private(self, client: ClientId, op: RecordOp, this_dn: str, conn_id: str,
                msgs: PrivateMsgMap = PrivateMsgMap(), **ext: str) -> list[Event]:  # noqa: B008
        request = RequestPrivateService(reference_id=next(self.refs), private_msg_id=msgs.msg_id(op),
                                        this_dn=this_dn, conn_id=conn_id, extensions=KVList(ext))
        self.core.take_messages(client)  # earlier call events: not part of this answer
        self.core.handle(client, request)
        out = self.core.take_messages(client)
        assert out[0].reference_id == request.reference_id  # the answer comes first (docs §5)
        return out

    def route(self, client: ClientId, conn_id: str, other_dn: str = AGENT, **ext: str) -> list[Event]:
        self.core.handle(client, RequestRouteCall(reference_id=next(self.refs), this_dn=RP, conn_id=conn_id,
                                                  other_dn=other_dn, extensions=KVList(ext)))
        return self.core.take_messages(client)


def _states(events: list[Event]) -> list[RecordState | None]:
    return [e.record_state for e in events if isinstance(e, EventPrivateInfo)]


def test_call_events_go_to_registered_dns_only() -> None:
    w = World()
    agent, other = w.client(AGENT), w.client("7002")
    call = w.ts.place_call(CUSTOMER, AGENT)
    events = w.core.take_messages(agent)
    assert [type(e).__name__ for e in events] == ["EventRinging", "EventEstablished"]
    assert all(e.conn_id == call.conn_id and e.call_uuid == call.calluuid for e in events)  # type: ignore[attr-defined]
    assert w.core.take_messages(other) == []
    assert w.ts.release_call(call) is None
    released = w.core.take_messages(agent)
    assert isinstance(released[0], EventReleased) and released[0].this_dn == AGENT
    assert w.core.call(call.conn_id) is None


@pytest.mark.parametrize(("requester_dn", "record", "side", "recorded_dn"), [
    (AGENT, "source", Side.AGENT, AGENT),  # the recorder on behalf of the agent DN
    (AGENT, "destination", Side.CUSTOMER, CUSTOMER),  # the other DN of the connection
    (SUPERVISOR, "source", Side.CUSTOMER, CUSTOMER),  # third party not on the call
    (SUPERVISOR, "destination", Side.AGENT, AGENT),
])
def test_private_start_from_party_or_third_party(requester_dn: str, record: str, side: Side,
                                                 recorded_dn: str) -> None:
    w = World()
    requester, agent = w.client(requester_dn), w.client(AGENT)
    call = w.ts.place_call(CUSTOMER, AGENT)
    w.core.take_messages(requester)
    w.core.take_messages(agent)
    out = w.private(requester, RecordOp.START, requester_dn, call.conn_id, record=record, id="REC42",
                    dest="sip:127.0.0.1:5099")
    assert isinstance(out[0], EventACK) and out[0].extensions["id"] == "REC42"
    assert _states(out[1:]) == [RecordState.STARTED]  # the requester learns the state change too
    (job,) = w.started
    assert (job.record_id, job.record_dn, job.dest) == ("REC42", recorded_dn, "sip:127.0.0.1:5099")
    assert job.call.dn_of(side) == recorded_dn
    assert {s.dn for s in job.streams} == {CUSTOMER, AGENT}  # both streams whichever side asked
    if requester_dn != AGENT:
        assert _states(w.core.take_messages(agent)) == [RecordState.STARTED]


def test_private_start_default_record_is_source_and_id_generated() -> None:
    w = World()
    rec = w.client(AGENT)
    call = w.ts.place_call(CUSTOMER, AGENT)
    w.core.take_messages(rec)
    out = w.private(rec, RecordOp.START, AGENT, call.conn_id)
    (job,) = w.started
    assert job.record_dn == AGENT and len(job.record_id) == 16
    assert out[0].extensions["id"] == job.record_id  # type: ignore[attr-defined]


def test_configured_private_message_ids() -> None:
    msgs = PrivateMsgMap(start=1, stop=2, pause=3, resume=4)
    w = World(msgs)
    rec = w.client(AGENT)
    call = w.ts.place_call(CUSTOMER, AGENT)
    w.core.take_messages(rec)
    out = w.private(rec, RecordOp.START, AGENT, call.conn_id, msgs)
    assert isinstance(out[0], EventACK)
    assert [e.private_event_id for e in out[1:] if isinstance(e, EventPrivateInfo)] == [1]
    # The default 3013 is not known to this map.
    out = w.private(rec, RecordOp.START, AGENT, call.conn_id)
    assert isinstance(out[0], EventError) and out[0].error_code == ErrorCode.TERR_UNSUP_OPER


def test_pause_resume_stop_then_start_gives_new_record_id() -> None:
    w = World()
    rec, sup = w.client(AGENT), w.client(SUPERVISOR)
    call = w.ts.place_call(CUSTOMER, AGENT)
    w.private(rec, RecordOp.START, AGENT, call.conn_id, id="FIRST")
    w.core.take_messages(rec)
    for op, state in [(RecordOp.PAUSE, RecordState.PAUSED), (RecordOp.RESUME, RecordState.RESUMED),
                      (RecordOp.PAUSE, RecordState.PAUSED), (RecordOp.STOP, RecordState.STOPPED)]:
        out = w.private(sup, op, SUPERVISOR, call.conn_id)  # a third party controls it
        assert isinstance(out[0], EventACK), out
        assert _states(out[1:]) == [state]
        assert _states(w.core.take_messages(rec)) == [state]  # the recorder's DN is a party
    assert w.controls == [(RecordOp.PAUSE, "FIRST"), (RecordOp.RESUME, "FIRST"), (RecordOp.PAUSE, "FIRST"),
                          (RecordOp.STOP, "FIRST")]
    out = w.private(rec, RecordOp.START, AGENT, call.conn_id)
    assert isinstance(out[0], EventACK)
    first, second = w.ts.recordings(call.conn_id)
    assert first.record_id == "FIRST" and second.record_id != "FIRST"
    assert second.call.calluuid == first.call.calluuid


@pytest.mark.parametrize("op", [RecordOp.STOP, RecordOp.PAUSE, RecordOp.RESUME])
def test_control_without_running_recording_is_invalid_state(op: RecordOp) -> None:
    w = World()
    rec = w.client(AGENT)
    call = w.ts.place_call(CUSTOMER, AGENT)
    w.core.take_messages(rec)
    out = w.private(rec, op, AGENT, call.conn_id)
    assert isinstance(out[0], EventError) and out[0].error_code == ErrorCode.TERR_INVALID_STATE
    assert len(out) == 1 and w.controls == []


def test_invalid_transitions_and_double_start() -> None:
    w = World()
    rec = w.client(AGENT)
    call = w.ts.place_call(CUSTOMER, AGENT)
    w.private(rec, RecordOp.START, AGENT, call.conn_id, id="A")
    for op in (RecordOp.START, RecordOp.RESUME):  # already recording; resume while not paused
        out = w.private(rec, op, AGENT, call.conn_id)
        assert isinstance(out[0], EventError) and out[0].error_code == ErrorCode.TERR_INVALID_STATE
    w.private(rec, RecordOp.PAUSE, AGENT, call.conn_id)
    out = w.private(rec, RecordOp.PAUSE, AGENT, call.conn_id)
    assert isinstance(out[0], EventError) and out[0].error_code == ErrorCode.TERR_INVALID_STATE
    w.private(rec, RecordOp.STOP, AGENT, call.conn_id)
    out = w.private(rec, RecordOp.START, AGENT, call.conn_id, id="A")  # id must be unique
    assert isinstance(out[0], EventError) and out[0].error_code == ErrorCode.TERR_INVALID_ATTR


def test_bad_connid_and_unregistered_dn() -> None:
    w = World()
    rec = w.client(AGENT)
    call = w.ts.place_call(CUSTOMER, AGENT)
    w.core.take_messages(rec)
    out = w.private(rec, RecordOp.START, AGENT, "00000000deadbeef")
    assert isinstance(out[0], EventError) and out[0].error_code == ErrorCode.TERR_INVALID_CONNID
    # A supervisor DN this client never registered.
    out = w.private(rec, RecordOp.START, SUPERVISOR, call.conn_id)
    assert isinstance(out[0], EventError) and out[0].error_code == ErrorCode.TERR_DN_NOT_REGISTERED
    assert w.started == []


def test_unknown_dn_registration_refused() -> None:
    w = World(known=frozenset({AGENT}))
    client = w.core.connect()
    w.core.handle(client, RequestRegisterAddress(reference_id=1, this_dn="1234"))
    (answer,) = w.core.take_messages(client)
    assert isinstance(answer, EventError) and answer.error_code == ErrorCode.TERR_UNKNOWN_DN


def test_dn_option_records_and_announces_started() -> None:
    w = World(record_dn_option=AGENT)
    agent = w.client(AGENT)
    call = w.ts.place_call(CUSTOMER, AGENT)
    (job,) = w.started
    assert job.record_dn == AGENT and job.trigger == f"DN {AGENT} record=true"
    assert _states(w.core.take_messages(agent)) == [RecordState.STARTED]
    w.ts.release_call(call)
    assert _states(w.core.take_messages(agent)) == [RecordState.STOPPED]


@pytest.mark.parametrize(("record", "side"), [("source", Side.CUSTOMER), ("destination", Side.AGENT)])
def test_route_call_record_starts_when_established(record: str, side: Side) -> None:
    w = World()
    strategy, agent = w.client(RP), w.client(AGENT)
    call = w.ts.place_call(CUSTOMER, "unrouted", routing_point=RP)
    (route_request,) = w.core.take_messages(strategy)
    assert isinstance(route_request, EventRouteRequest) and route_request.conn_id == call.conn_id
    assert w.started == []
    out = w.route(strategy, call.conn_id, record=record, id="ROUTED1", dest="127.0.0.1:5070")
    assert isinstance(out[0], EventACK)
    (job,) = w.started
    assert (job.record_id, job.record_dn, job.dest) == ("ROUTED1", call.dn_of(side), "127.0.0.1:5070")
    assert job.trigger == f"TRouteCall record={record}"
    agent_events = w.core.take_messages(agent)
    assert any(isinstance(e, EventEstablished) for e in agent_events)
    assert _states(agent_events) == [RecordState.STARTED]
    assert w.core.call(call.conn_id).parties == (CUSTOMER, AGENT)  # type: ignore[union-attr]


@pytest.mark.parametrize(("option_dn", "record", "recorded"), [
    (AGENT, "disable_destination", False),
    (CUSTOMER, "disable_source", False),
    (AGENT, "disable_source", True),  # overriding the other side leaves the DN option alone
    (CUSTOMER, "disable_destination", True),
])
def test_route_call_disable_overrides_dn_option(option_dn: str, record: str, recorded: bool) -> None:
    w = World(record_dn_option=option_dn)
    strategy = w.client(RP)
    call = w.ts.place_call(CUSTOMER, AGENT, routing_point=RP)
    w.core.take_messages(strategy)
    out = w.route(strategy, call.conn_id, record=record)
    assert isinstance(out[0], EventACK)
    assert bool(w.started) is recorded
    # Recording can still be started afterwards with TPrivateService (DOMAIN §3.4).
    agent = w.client(AGENT)
    if not recorded:
        assert isinstance(w.private(agent, RecordOp.START, AGENT, call.conn_id)[0], EventACK)
        assert len(w.started) == 1


def test_route_call_errors() -> None:
    w = World()
    strategy = w.client(RP)
    call = w.ts.place_call(CUSTOMER, AGENT)  # established directly: not at a routing point
    out = w.route(strategy, call.conn_id, record="source")
    assert isinstance(out[0], EventError) and out[0].error_code == ErrorCode.TERR_INVALID_STATE
    out = w.route(strategy, "ffffffffffffffff", record="source")
    assert isinstance(out[0], EventError) and out[0].error_code == ErrorCode.TERR_INVALID_CONNID
    routed = w.ts.place_call(CUSTOMER, AGENT, routing_point=RP)
    other = w.client()
    w.core.handle(other, RequestRouteCall(reference_id=7, this_dn=RP, conn_id=routed.conn_id, other_dn=AGENT))
    (answer,) = w.core.take_messages(other)
    assert isinstance(answer, EventError) and answer.error_code == ErrorCode.TERR_DN_NOT_REGISTERED


def test_private_start_before_routing_is_refused() -> None:
    w = World()
    strategy = w.client(RP)
    call = w.ts.place_call(CUSTOMER, AGENT, routing_point=RP)
    w.core.take_messages(strategy)
    out = w.private(strategy, RecordOp.START, RP, call.conn_id)
    assert isinstance(out[0], EventError) and out[0].error_code == ErrorCode.TERR_INVALID_STATE


def test_a_multisite_transfer_gives_a_new_conn_id_with_the_same_calluuid_and_data() -> None:
    """ARE-17 emulation: the call appears under a new ConnID (same CallUUID, same UserData) for
    the target, then the old ConnID is released; the recording goes on under the new ConnID."""
    w = World(record_dn_option=CUSTOMER)
    agent, target = w.client(AGENT), w.client("7002")
    call = w.ts.place_call(CUSTOMER, AGENT, user_data={"Site": "A"})
    w.core.take_messages(agent)
    moved = w.ts.transfer_to_site(call, "7002")
    assert moved.conn_id != call.conn_id and moved.calluuid == call.calluuid and moved.agent_dn == "7002"
    arrived = w.core.take_messages(target)
    assert [type(e).__name__ for e in arrived] == ["EventRinging", "EventEstablished"]
    assert all(e.conn_id == moved.conn_id and e.call_uuid == call.calluuid  # type: ignore[attr-defined]
               and e.user_data.to_dict() == {"Site": "A"} for e in arrived)  # type: ignore[attr-defined]
    released = w.core.take_messages(agent)
    assert [type(e).__name__ for e in released] == ["EventReleased"] and released[0].conn_id == call.conn_id  # type: ignore[attr-defined]
    assert w.core.call(call.conn_id) is None and w.ts.recording(call.conn_id) is None
    status = w.ts.recording(moved.conn_id)
    assert status is not None and status.job is w.started[0]
    # The recording is the moved call's: a second start under the new ConnID is refused.
    answer = w.private(target, RecordOp.START, "7002", moved.conn_id)
    assert isinstance(answer[0], EventError) and answer[0].error_code == ErrorCode.TERR_INVALID_STATE


def test_a_transfer_tells_the_target_the_staying_party_and_the_transferring_dn() -> None:
    """Emulation choice (docs/tlib-emulation.md §8.10): target EventRinging + EventEstablished,
    the customer EventPartyChanged (OtherDN the target, ThirdPartyDN the agent), the agent
    EventReleased; same ConnID and CallUUID; the call's agent DN is the target's afterwards."""
    w = World()
    customer, agent, target = w.client(CUSTOMER), w.client(AGENT), w.client("7002")
    call = w.ts.place_call(CUSTOMER, AGENT)
    for client in (customer, agent):
        w.core.take_messages(client)
    w.ts.transfer(call, AGENT, "7002")
    assert call.agent_dn == "7002" and w.core.call(call.conn_id).parties == (CUSTOMER, "7002")  # type: ignore[union-attr]
    assert [(type(e).__name__, e.other_dn) for e in w.core.take_messages(target)] == [  # type: ignore[attr-defined]
        ("EventRinging", CUSTOMER), ("EventEstablished", CUSTOMER)]
    (changed,) = w.core.take_messages(customer)
    assert isinstance(changed, EventPartyChanged) and changed.conn_id == call.conn_id
    assert (changed.other_dn, changed.third_party_dn, changed.call_uuid) == ("7002", AGENT, call.calluuid)
    (released,) = w.core.take_messages(agent)
    assert isinstance(released, EventReleased) and released.conn_id == call.conn_id


def test_a_consultation_is_a_call_of_its_own_with_the_main_calls_data() -> None:
    w = World()
    agent, consulted = w.client(AGENT), w.client("7002")
    call = w.ts.place_call(CUSTOMER, AGENT, user_data={"Segment": "gold"})
    w.core.take_messages(agent)
    consult = w.ts.consult(call, "7002")
    assert consult.conn_id != call.conn_id and consult.calluuid != call.calluuid
    events = w.core.take_messages(consulted) + w.core.take_messages(agent)
    assert [(type(e).__name__, e.this_dn) for e in events] == [  # type: ignore[attr-defined]
        ("EventRinging", "7002"), ("EventEstablished", "7002"), ("EventEstablished", AGENT)]
    assert all(e.conn_id == consult.conn_id and e.user_data.to_dict() == {"Segment": "gold"}  # type: ignore[attr-defined]
               for e in events)
    w.ts.release_call(consult)
    assert [type(e).__name__ for e in w.core.take_messages(agent)] == ["EventReleased"]
    assert w.core.call(call.conn_id) is not None  # the main call goes on


def test_dest_and_dest2_give_the_same_recording_to_two_recorders_and_control_reaches_both() -> None:
    """GQM815 stream duplication: GSIP_RECORD_START with dest and dest2 hands Media Server the
    same job (calluuid, record id, dn) once per recorder; a pause applies to both."""
    w = World()
    agent = w.client(AGENT)
    call = w.ts.place_call(CUSTOMER, AGENT)
    out = w.private(agent, RecordOp.START, AGENT, call.conn_id, dest="127.0.0.1:5070", dest2="127.0.0.1:5080")
    assert isinstance(out[0], EventACK)
    assert [j.dest for j in w.started] == ["127.0.0.1:5070", "127.0.0.1:5080"]
    first, second = w.started
    assert (first.call, first.record_id, first.record_dn, first.streams) == (
        second.call, second.record_id, second.record_dn, second.streams)
    assert w.ts.recordings(call.conn_id) == (first,)  # one recording of the call, sent twice
    assert isinstance(w.private(agent, RecordOp.PAUSE, AGENT, call.conn_id)[0], EventACK)
    assert w.controls == [(RecordOp.PAUSE, first.record_id), (RecordOp.PAUSE, first.record_id)]


def test_without_dest2_one_recorder() -> None:
    w = World()
    agent = w.client(AGENT)
    call = w.ts.place_call(CUSTOMER, AGENT)
    w.private(agent, RecordOp.START, AGENT, call.conn_id, dest="127.0.0.1:5070")
    assert [j.dest for j in w.started] == ["127.0.0.1:5070"]
