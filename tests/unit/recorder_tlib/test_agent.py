"""The recorder's sans-IO T-Lib agent against the sans-IO SIP Server T-Server (no sockets)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from harness.emulators.sip_server import RecordingJob, SipServerEmulation
from harness.emulators.sip_tserver import SipTServer
from harness.protocol.tlib import (
    Direction,
    ErrorCode,
    EventError,
    EventEstablished,
    EventPartyChanged,
    EventPrivateInfo,
    EventRegistered,
    KVList,
    RecordOp,
    RecordState,
    Request,
    RequestPrivateService,
    TlibClientCore,
    TlibDecoder,
    encode,
)
from reference_recorder.rules import parse_config
from reference_recorder.tlib_agent import (
    Annotation,
    AttachedData,
    CallEnded,
    LogLine,
    RecordingPaused,
    RecordingResumed,
    TlibAgent,
    TlibLog,
)

NOW = 1_700_000_000.0
MONDAY_NOON = datetime(2024, 1, 1, 12, 0)

CONFIG = """
register = ["7001", "1001"]
[[rules]]
dns = ["70*"]
record = "source"
[pause]
key = "PCI"
pause_value = "on"
resume_value = "off"
"""


class Loopback:
    """Agent <-> SipTServer core, bytes pumped by hand; every request the agent sent is kept."""

    def __init__(self, config: str = CONFIG, sip: SipServerEmulation | None = None) -> None:
        self.jobs: list[RecordingJob] = []
        self.server = SipTServer(sip, on_recording=self.jobs.append)
        self.agent = TlibAgent(parse_config(config), to_local=lambda _t: MONDAY_NOON)
        self.client = self.server.core.connect()
        self.requests: list[Request] = []
        self.annotations: list[Annotation] = []
        self._decoder = TlibDecoder(Direction.REQUESTS)
        self.annotations += self.agent.connection_made(NOW)
        self.pump()

    def pump(self) -> None:
        for _ in range(50):
            out = self.agent.data_to_send()
            if out:
                self.requests += [m for m in self._decoder.feed(out) if isinstance(m, Request)]
                self.server.core.receive_data(self.client, out)
            back = self.server.core.data_to_send(self.client)
            if back:
                self.annotations += self.agent.receive_data(back, NOW)
            if not out and not back:
                return
        raise AssertionError("agent and server kept talking")

    def starts(self) -> list[RequestPrivateService]:
        return [r for r in self.requests if isinstance(r, RequestPrivateService) and r.private_msg_id == 3013]

    def of(self, kind: type[Any]) -> list[Any]:
        return [a for a in self.annotations if isinstance(a, kind)]


def test_registers_the_configured_dns() -> None:
    loop = Loopback()
    assert loop.agent.registered == {"7001", "1001"}
    assert loop.server.core.registrations(loop.client) == frozenset({"7001", "1001"})


def test_start_once_per_call_even_when_both_parties_are_registered() -> None:
    # Both parties registered and both match the rule: two EventEstablished, one request.
    loop = Loopback(CONFIG.replace('dns = ["70*"]', 'dns = ["*"]'))
    call = loop.server.place_call("1001", "7001")
    loop.pump()
    starts = loop.starts()
    assert len(starts) == 1
    assert (starts[0].this_dn, starts[0].conn_id, starts[0].extensions.get("record")) == ("7001", call.conn_id, "source")
    assert len(loop.jobs) == 1 and "GSIP_RECORD_START by 7001" in loop.jobs[0].trigger
    requests = [a.entry for a in loop.of(TlibLog) if a.section == "requests"]
    assert requests == [{"t": NOW, "op": "start", "this_dn": "7001", "conn_id": call.conn_id, "answer": "EventACK"}]
    events = [a.entry for a in loop.of(TlibLog) if a.section == "events"]
    assert [(e["event"], e["state"]) for e in events] == [("EventPrivateInfo", "started")]  # once, not per DN


def test_rule_destination_and_non_matching_dn() -> None:
    config = 'register = ["7001", "8001"]\n[[rules]]\ndns = ["70*"]\nrecord = "destination"\n'
    loop = Loopback(config)
    loop.server.place_call("1001", "8001")
    loop.pump()
    assert loop.starts() == [] and loop.jobs == []
    loop.server.place_call("1001", "7001")
    loop.pump()
    assert [s.extensions.get("record") for s in loop.starts()] == ["destination"]
    assert loop.jobs[0].record_dn == "1001"  # destination = the other DN


def test_share_zero_sends_nothing() -> None:
    loop = Loopback('register = ["7001"]\n[[rules]]\ndns = ["7001"]\nshare = 0.0\n')
    loop.server.place_call("1001", "7001")
    loop.pump()
    assert loop.starts() == [] and loop.jobs == []


def test_no_start_when_the_call_is_already_recorded() -> None:
    loop = Loopback()
    # The recording-state event arrives first (e.g. a supervisor started it): no request.
    started = EventPrivateInfo.recording(RecordState.STARTED, "rec-1", this_dn="7001", conn_id="C1", call_uuid="U1")
    established = EventEstablished(this_dn="7001", other_dn="1001", conn_id="C1", call_uuid="U1")
    loop.annotations += loop.agent.receive_data(encode(started) + encode(established), NOW)
    assert loop.agent.data_to_send() == b""
    # control: the same event for a call not recorded yet does start it
    other = EventEstablished(this_dn="7001", other_dn="1001", conn_id="C2", call_uuid="U2")
    loop.annotations += loop.agent.receive_data(encode(other), NOW)
    assert b'"PrivateMsgID":3013' in loop.agent.data_to_send()


def test_event_error_is_logged_and_not_fatal() -> None:
    sip = SipServerEmulation()
    sip.configure_dn("7001", record=True)  # SIP Server records it by DN option already
    loop = Loopback(sip=sip)
    call = loop.server.place_call("1001", "7001")
    loop.pump()
    # Our start raced the DN-option recording: refused with TERR_INVALID_STATE.
    assert len(loop.starts()) == 1 and len(loop.jobs) == 1 and "DN 7001 record=true" in loop.jobs[0].trigger
    errors = [a.entry for a in loop.of(TlibLog) if a.section == "errors"]
    assert len(errors) == 1
    assert errors[0]["code"] == ErrorCode.TERR_INVALID_STATE and errors[0]["name"] == "TERR_INVALID_STATE"
    assert errors[0]["conn_id"] == call.conn_id
    requests = [a.entry for a in loop.of(TlibLog) if a.section == "requests"]
    assert requests[0]["answer"] == "EventError" and "already recorded" in requests[0]["error"]
    lines = [a.text for a in loop.of(LogLine) if a.problem]
    assert len(lines) == 1 and "TERR_INVALID_STATE" in lines[0] and "\n" not in lines[0]
    # still serving: a later call on another DN is recorded
    sip.configure_dn("7001", record=False)
    loop.server.place_call("1001", "7001")
    loop.pump()
    assert len(loop.jobs) == 2 and "GSIP_RECORD_START" in loop.jobs[1].trigger


def test_unknown_error_code_and_unsolicited_error_are_logged() -> None:
    loop = Loopback()
    loop.annotations += loop.agent.receive_data(encode(EventError(reference_id=0, error_code=999)), NOW)
    assert any("error 999" in a.text for a in loop.of(LogLine))


def test_attached_data_from_events_updates_and_query() -> None:
    loop = Loopback()
    call = loop.server.place_call("1001", "7001", user_data={"Segment": "gold"})
    loop.pump()
    assert loop.of(AttachedData) == [AttachedData(call.calluuid, {"Segment": "gold"})]
    loop.server.core.update_user_data(call.conn_id, {"Order": 42, "Segment": "silver"})
    loop.pump()
    # one annotation although two registered DNs each got EventAttachedDataChanged
    assert loop.of(AttachedData)[1:] == [AttachedData(call.calluuid, {"Segment": "silver", "Order": 42})]
    # a recording session opens: the agent queries the call (RequestQueryCall)
    loop.agent.recording_opened(call.calluuid, NOW)
    loop.server.core.update_user_data(call.conn_id, {"Late": "x"})  # changed meanwhile
    loop.pump()
    assert any(r.MESSAGE == "RequestQueryCall" for r in loop.requests)
    assert loop.of(AttachedData)[-1].data == {"Segment": "silver", "Order": 42, "Late": "x"}


def test_pause_and_resume_on_the_pci_key() -> None:
    loop = Loopback()
    call = loop.server.place_call("1001", "7001")
    loop.pump()
    loop.server.core.update_user_data(call.conn_id, {"PCI": "on"})
    loop.pump()
    controls = [r for r in loop.requests if isinstance(r, RequestPrivateService) and r.private_msg_id != 3013]
    assert [(r.private_msg_id, r.this_dn) for r in controls] == [(3015, "7001")]
    status = loop.server.recording(call.conn_id)
    assert status is not None and status.paused
    assert loop.of(RecordingPaused) == [RecordingPaused(call.calluuid, NOW)]
    loop.server.core.update_user_data(call.conn_id, {"PCI": "on", "Other": "1"})  # key unchanged: nothing
    loop.pump()
    loop.server.core.update_user_data(call.conn_id, {"PCI": "off"})
    loop.pump()
    controls = [r for r in loop.requests if isinstance(r, RequestPrivateService) and r.private_msg_id != 3013]
    assert [r.private_msg_id for r in controls] == [3015, 3016]
    assert not status.paused
    assert loop.of(RecordingResumed) == [RecordingResumed(call.calluuid, NOW)]
    loop.server.release_call(call)
    loop.pump()
    assert loop.of(CallEnded) == [CallEnded(call.calluuid)]


def test_pause_key_set_before_the_recording_started_pauses_it_once_it_runs() -> None:
    loop = Loopback()
    call = loop.server.place_call("1001", "7001", user_data={"PCI": "on"})
    loop.pump()
    ops = [r.private_msg_id for r in loop.requests if isinstance(r, RequestPrivateService)]
    assert ops == [3013, 3015]
    status = loop.server.recording(call.conn_id)
    assert status is not None and status.paused


def test_a_supervisor_pause_is_recorded_but_not_undone() -> None:
    loop = Loopback()
    call = loop.server.place_call("1001", "7001")
    loop.pump()
    supervisor = loop.server.core.connect()
    sup = TlibClientCore()
    sup.register_address("9000")
    sup.record(RecordOp.PAUSE, "9000", call.conn_id)
    loop.server.core.receive_data(supervisor, sup.data_to_send())
    loop.pump()
    assert loop.of(RecordingPaused) == [RecordingPaused(call.calluuid, NOW)]
    assert [r.private_msg_id for r in loop.requests if isinstance(r, RequestPrivateService)] == [3013]


def test_reload_adds_and_removes_registrations() -> None:
    loop = Loopback()
    loop.agent.set_config(parse_config('register = ["7001", "7002"]'), NOW)
    loop.pump()
    assert loop.server.core.registrations(loop.client) == frozenset({"7001", "7002"})
    assert loop.agent.registered == {"7001", "7002"}
    loop.agent.set_config(parse_config(""), NOW)
    loop.pump()
    assert loop.server.core.registrations(loop.client) == frozenset()
    assert loop.agent.registered == set()


def test_refused_registration_is_logged_and_retried_after_reload() -> None:
    loop = Loopback()
    loop.server.known_dns = frozenset({"7001"})
    loop.agent.set_config(parse_config('register = ["7001", "5555"]'), NOW)
    loop.pump()
    assert any("cannot register DN 5555" in a.text and "TERR_UNKNOWN_DN" in a.text for a in loop.of(LogLine))
    loop.server.known_dns = None
    loop.agent.set_config(parse_config('register = ["7001", "5555"]'), NOW)
    loop.pump()
    assert loop.agent.registered == {"7001", "5555"}


def test_reconnect_registers_again_and_reference_ids_keep_increasing() -> None:
    loop = Loopback()
    first_ids = [r.reference_id for r in loop.requests]
    lost = loop.agent.connection_lost(NOW)
    assert lost == [] and loop.agent.registered == set() and loop.agent.data_to_send() == b""
    loop.server.core.disconnect(loop.client)
    loop.client = loop.server.core.connect()
    loop.agent.connection_made(NOW)
    loop.pump()
    assert loop.server.core.registrations(loop.client) == frozenset({"7001", "1001"})
    assert min(r.reference_id for r in loop.requests[len(first_ids):]) > max(first_ids)


def test_bad_line_from_the_server_asks_for_a_reconnect_after_handling_what_came_before() -> None:
    loop = Loopback()
    established = EventEstablished(this_dn="7001", other_dn="1001", conn_id="C9", call_uuid="U9")
    out = loop.agent.receive_data(encode(established) + b"not json\n", NOW)
    assert loop.agent.must_disconnect
    assert any("bad line" in a.text for a in out if isinstance(a, LogLine))
    assert b"RequestPrivateService" in loop.agent.data_to_send()  # the call before it was handled


def test_an_event_echoing_a_pending_reference_id_is_not_taken_for_its_answer() -> None:
    agent = TlibAgent(parse_config('register = ["7001"]'), to_local=lambda _t: MONDAY_NOON)
    agent.connection_made(NOW)
    (register,) = TlibDecoder(Direction.REQUESTS).feed(agent.data_to_send())
    ref = register.reference_id
    # A supervisor's request with the same id made SIP Server announce a state with that id.
    foreign = EventPrivateInfo.recording(RecordState.PAUSED, "r1", this_dn="7001", conn_id="C1", call_uuid="U1",
                                         reference_id=ref)
    out = agent.receive_data(encode(foreign), NOW)
    assert RecordingPaused("U1", NOW) in out
    assert agent.registered == set()
    agent.receive_data(encode(EventRegistered(reference_id=ref, this_dn="7001")), NOW)
    assert agent.registered == {"7001"}


def test_connection_lost_with_a_start_in_flight_logs_it() -> None:
    agent = TlibAgent(parse_config('register = ["7001"]\n[[rules]]\n'), to_local=lambda _t: MONDAY_NOON)
    agent.connection_made(NOW)
    agent.data_to_send()
    agent.receive_data(encode(EventRegistered(reference_id=1, this_dn="7001")), NOW)
    agent.receive_data(encode(EventEstablished(this_dn="7001", conn_id="C1", call_uuid="U1")), NOW)
    assert b"RequestPrivateService" in agent.data_to_send()
    lost = agent.connection_lost(NOW + 1)
    assert [(a.section, a.entry["answer"], a.entry["error"]) for a in lost if isinstance(a, TlibLog)] == [
        ("requests", None, "connection lost before the answer")]


_MULTISITE = CONFIG.replace('register = ["7001", "1001"]', 'register = ["7001", "7002"]')


def test_a_multisite_transfer_keeps_one_interaction_under_the_new_conn_id() -> None:
    """ARE-17: the new ConnID (same CallUUID) carries the call's data, recording and pause state
    on: no second start for it, the old ConnID's release is not the end of the call, and the
    pause key set under the new ConnID pauses the recording from a DN of the new call."""
    loop = Loopback(_MULTISITE)
    call = loop.server.place_call("1001", "7001", user_data={"Site": "A"})
    loop.pump()
    assert len(loop.starts()) == 1
    moved = loop.server.transfer_to_site(call, "7002")
    loop.pump()
    assert moved.conn_id != call.conn_id and moved.calluuid == call.calluuid
    assert len(loop.starts()) == 1  # 7002's EventEstablished matches the rule, but the call is recorded
    assert loop.of(CallEnded) == []
    loop.server.core.update_user_data(moved.conn_id, {"PCI": "on"})
    loop.pump()
    controls = [r for r in loop.requests if isinstance(r, RequestPrivateService) and r.private_msg_id != 3013]
    assert [(r.private_msg_id, r.this_dn, r.conn_id) for r in controls] == [(3015, "7002", moved.conn_id)]
    status = loop.server.recording(moved.conn_id)
    assert status is not None and status.paused
    assert loop.of(AttachedData)[-1] == AttachedData(call.calluuid, {"Site": "A", "PCI": "on"})
    loop.server.release_call(moved)
    loop.pump()
    assert loop.of(CallEnded) == [CallEnded(call.calluuid)]


def test_a_transfer_between_two_dns_of_ours_keeps_the_call_and_its_data() -> None:
    """The transferring DN's EventReleased is not the end of the call while the target, a DN of
    ours too, is on it: data attached afterwards still annotates the recording; the pause key
    is acted on for the target's DN; the call ends with the last of our DNs."""
    loop = Loopback(_MULTISITE.replace('register = ["7001", "7002"]', 'register = ["7001", "7002", "1001"]'))
    call = loop.server.place_call("1001", "7001")
    loop.pump()
    loop.server.transfer(call, "7001", "7002")
    loop.pump()
    assert loop.of(CallEnded) == [] and len(loop.starts()) == 1
    loop.server.core.update_user_data(call.conn_id, {"Disposition": "sale", "PCI": "on"})
    loop.pump()
    assert loop.of(AttachedData)[-1] == AttachedData(call.calluuid, {"Disposition": "sale", "PCI": "on"})
    controls = [r for r in loop.requests if isinstance(r, RequestPrivateService) and r.private_msg_id != 3013]
    assert [(r.private_msg_id, r.this_dn in ("1001", "7002")) for r in controls] == [(3015, True)]  # a DN on the call
    loop.server.release_call(call)
    loop.pump()
    assert loop.of(CallEnded) == [CallEnded(call.calluuid)]


def test_event_party_changed_brings_the_new_partys_user_data() -> None:
    loop = Loopback('register = ["1001"]\n')
    call = loop.server.place_call("1001", "7001", user_data={"Segment": "gold"})
    loop.pump()
    changed = EventPartyChanged(this_dn="1001", other_dn="7002", conn_id=call.conn_id, call_uuid=call.calluuid,
                                user_data=KVList({"Segment": "gold", "Queue": "sales"}), third_party_dn="7001")
    out = loop.agent.receive_data(encode(changed), NOW)
    assert [a for a in out if isinstance(a, AttachedData)] == [
        AttachedData(call.calluuid, {"Segment": "gold", "Queue": "sales"})]
    assert not any(isinstance(a, CallEnded) for a in out)
