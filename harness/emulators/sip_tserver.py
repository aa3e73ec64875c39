"""SIP Server emulation as a T-Server: the T-Lib recording paths (Genesys ARE steps 2-4, 9).

`SipTServer` is the `TServerHandler` (harness/protocol/tlib/server_core.py) that puts the
`SipServerEmulation` behind a `TServerCore`: calls are opened in the core so registered clients
see EventRinging / EventEstablished / EventReleased, and the initiation paths of docs/genesys-flow.md §3.1
become recording triggers or request handlers:

1. DN option `[TServer] record=true` - `dn_option_trigger`, unless a TRouteCall `disable_*`
   switched it off for this call (DOMAIN §3.4 "DN Recording Override");
2. / 3. TRequestPrivateService `GSIP_RECORD_START` from the recorder or from a third party on
   behalf of a DN it registered; the DN "must be registered by the requesting client but need
   not be a party on the call" (DOMAIN §3.2) - the core enforces the registration;
4. TRouteCall with `Extensions.record` = source / destination (start when the routed call is
   established) or disable_source / disable_destination.

`Extensions.id` becomes the record id (the `record=` of the Media Server's Request-URI) and
`Extensions.dest` the recorder location override (`RecordingJob.dest`); with `Extensions.dest2`
too (GSIP_RECORD_START only) the same recording goes to that second recorder as well (stream
duplication, GQM815). Stop / pause / resume
(`GSIP_RECORD_STOP/PAUSE/RESUME`, numbers from the configurable `PrivateMsgMap`) are checked
against the call's recording state (TERR_INVALID_STATE when no recording runs), handed to a
callback (the run-time control of the Media Server legs), and announced with EventPrivateInfo.

Sans-IO like the core: callbacks run synchronously inside request handling; an asyncio adapter
must hand slow work (starting SIPp) to a thread.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from harness.emulators.sip_server import (
    Call,
    RecordingJob,
    RecordingTrigger,
    Side,
    SipServerEmulation,
    dn_option_trigger,
)
from harness.protocol.tlib.messages import (
    EMPTY,
    ErrorCode,
    EventACK,
    EventError,
    EventPrivateInfo,
    KVValue,
    PrivateMsgMap,
    RecordOp,
    RecordState,
    RequestPrivateService,
    RequestRegisterAddress,
    RequestRouteCall,
)
from harness.protocol.tlib.server_core import BaseTServerHandler, ClientId, TServerCore

__all__ = [
    "CallPhase",
    "ControlCallback",
    "RecordingCallback",
    "RecordingStatus",
    "RouteDecision",
    "SipTServer",
]

RecordingCallback = Callable[[RecordingJob], None]
ControlCallback = Callable[[RecordOp, RecordingJob], None]


class CallPhase(enum.Enum):
    ROUTING = "routing"  # waiting at a routing point for TRouteCall
    ESTABLISHED = "established"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """What a TRouteCall's `Extensions` asked for this call (DOMAIN §3.4)."""

    record: Side | None = None  # start recording this side when the call is established
    disabled: frozenset[Side] = frozenset()  # DN-option recording suppressed for these sides
    record_id: str | None = None
    dest: str | None = None


@dataclass(slots=True)
class RecordingStatus:
    """The recording of one call as SIP Server tracks it (one at a time per call)."""

    job: RecordingJob
    paused: bool = False
    stopped: bool = False
    # GQM815 "MSR with stream duplication": the same recording sent to a second recorder
    # (`Extensions.dest2`); run-time control applies to each.
    duplicates: list[RecordingJob] = field(default_factory=list)


# Transition table of the run-time operations: (paused, op) -> new paused flag. Anything
# missing is refused with TERR_INVALID_STATE (pause while paused, resume while recording).
_CONTROL: dict[tuple[bool, RecordOp], bool] = {
    (False, RecordOp.PAUSE): True,
    (True, RecordOp.RESUME): False,
    (False, RecordOp.STOP): False,
    (True, RecordOp.STOP): True,
}
_STATE_OF: dict[RecordOp, RecordState] = {
    RecordOp.START: RecordState.STARTED,
    RecordOp.STOP: RecordState.STOPPED,
    RecordOp.PAUSE: RecordState.PAUSED,
    RecordOp.RESUME: RecordState.RESUMED,
}


@dataclass(slots=True)
class _CallEntry:
    call: Call
    phase: CallPhase
    routing_point: str | None = None
    route: RouteDecision = field(default_factory=RouteDecision)
    recording: RecordingStatus | None = None
    history: list[RecordingJob] = field(default_factory=list)


class SipTServer(BaseTServerHandler):
    """The SIP Server emulation behind a T-Server core (create one, then use `.core`)."""

    def __init__(
        self,
        sip: SipServerEmulation | None = None,
        *,
        private_msgs: PrivateMsgMap = PrivateMsgMap(),  # noqa: B008 - immutable value
        on_recording: RecordingCallback | None = None,
        on_control: ControlCallback | None = None,
        known_dns: frozenset[str] | None = None,
    ) -> None:
        self.sip = sip if sip is not None else SipServerEmulation()
        self.private_msgs = private_msgs
        self.on_recording = on_recording
        self.on_control = on_control
        # None: any DN may be registered; else TERR_UNKNOWN_DN for DNs not configured.
        self.known_dns = known_dns
        self.core = TServerCore(self)
        self._calls: dict[str, _CallEntry] = {}
        self._install_triggers()

    # --- triggers -----------------------------------------------------------------------

    def _install_triggers(self) -> None:
        # The TRouteCall trigger goes first (a routing strategy's explicit `record` wins); the
        # DN option is wrapped so a `disable_*` override of this call can suppress it.
        triggers: list[RecordingTrigger] = [self._route_trigger]
        for trigger in self.sip.triggers:
            triggers.append(self._dn_option_unless_disabled if trigger is dn_option_trigger else trigger)
        self.sip.triggers[:] = triggers

    def _route_trigger(self, server: SipServerEmulation, call: Call) -> RecordingJob | None:
        entry = self._calls.get(call.conn_id)
        if entry is None or entry.route.record is None:
            return None
        side = entry.route.record
        return server.job_for(
            call, side, trigger=f"TRouteCall record={_SIDE_VALUE[side]}", record_id=entry.route.record_id
        ).with_dest(entry.route.dest)

    def _dn_option_unless_disabled(self, server: SipServerEmulation, call: Call) -> RecordingJob | None:
        entry = self._calls.get(call.conn_id)
        disabled = entry.route.disabled if entry is not None else frozenset()
        # Same order as dn_option_trigger (agent side checked first, GIR-Methods).
        for side in (Side.AGENT, Side.CUSTOMER):
            if side in disabled:
                continue  # DOMAIN §3.4: disable_* "suppress recording ... even if its DN option says record"
            config = server.dns.get(call.dn_of(side))
            if config is not None and config.record:
                return server.job_for(call, side, trigger=f"DN {config.dn} record=true")
        return None

    # --- calls (driven by the scenario) ---------------------------------------------------

    def place_call(
        self,
        customer_dn: str,
        agent_dn: str,
        codec: str = "PCMU",
        *,
        calluuid: str | None = None,
        user_data: Mapping[str, KVValue] = EMPTY,
        routing_point: str | None = None,
    ) -> Call:
        """A new call. With `routing_point` it waits there (EventRouteRequest) for TRouteCall;
        otherwise it is established at once (events, then the recording decision)."""
        call = self.sip.place_call(customer_dn, agent_dn, codec, calluuid)
        if routing_point is not None:
            self.core.open_call(call.conn_id, call.calluuid, (customer_dn, routing_point), user_data)
            self._calls[call.conn_id] = _CallEntry(call, CallPhase.ROUTING, routing_point)
            self.core.route_request(call.conn_id, routing_point, customer_dn)
            return call
        self.core.open_call(call.conn_id, call.calluuid, (customer_dn, agent_dn), user_data)
        self._calls[call.conn_id] = _CallEntry(call, CallPhase.ROUTING)
        self._establish(self._calls[call.conn_id])
        return call

    def _establish(self, entry: _CallEntry) -> None:
        call = entry.call
        self.core.set_parties(call.conn_id, (call.customer_dn, call.agent_dn))
        entry.phase = CallPhase.ESTABLISHED
        self.core.ringing(call.conn_id, call.agent_dn, call.customer_dn)
        self.core.established(call.conn_id, call.agent_dn, call.customer_dn)
        self.core.established(call.conn_id, call.customer_dn, call.agent_dn)
        job = self.sip.decide_recording(call)
        if job is not None:
            self._start(entry, job)

    def release_call(self, call: Call) -> RecordingJob | None:
        """The call ended: EventReleased to both parties; returns the recording that was running
        (the caller ends its Media Server legs)."""
        entry = self._entry(call.conn_id)
        running = entry.recording
        if running is not None and not running.stopped:
            running.stopped = True
            self._announce(entry, RecordState.STOPPED, running.job)
        entry.phase = CallPhase.RELEASED
        info = self.core.call(call.conn_id)
        parties = info.parties if info is not None else ()
        for dn in parties:
            self.core.released(call.conn_id, dn, next((p for p in parties if p != dn), None))
        self.core.close_call(call.conn_id)
        return running.job if running is not None else None

    def transfer(self, call: Call, transferring_dn: str, target_dn: str) -> None:
        """`transferring_dn` transfers `call` to `target_dn` within the site: the ConnID and the
        CallUUID stay, the party changes, and the call's DN on that side becomes `target_dn`.

        Emulation choices (the public material does not give the sequence; docs/tlib-emulation.md
        §8.10): the target gets EventRinging and EventEstablished, the party that stays
        EventPartyChanged (OtherDN the target, ThirdPartyDN the transferring DN), the
        transferring DN EventReleased. The recording, if any, is the caller's business (sticky
        side, `harness.emulators.midcall.transfer_outcome`)."""
        info = self.core.call(call.conn_id)
        parties = info.parties if info is not None else (call.customer_dn, call.agent_dn)
        staying = next((p for p in parties if p != transferring_dn), call.customer_dn)
        if transferring_dn == call.customer_dn:
            call.customer_dn = target_dn
        else:
            call.agent_dn = target_dn
        self.core.set_parties(call.conn_id, (call.customer_dn, call.agent_dn))
        self.core.ringing(call.conn_id, target_dn, staying)
        self.core.established(call.conn_id, target_dn, staying)
        self.core.party_changed(call.conn_id, staying, target_dn, third_party_dn=transferring_dn)
        self.core.released(call.conn_id, transferring_dn, staying)

    def consult(self, call: Call, consult_dn: str) -> Call:
        """The agent of `call` places a consultation call to `consult_dn`: a call of its own (new
        ConnID and CallUUID) carrying a copy of the main call's UserData, both parties told
        (EventRinging / EventEstablished). Whether SIP Server records it is the caller's
        decision (`harness.emulators.midcall.consult_job`); end it with `release_call`."""
        info = self.core.call(call.conn_id)
        consult = self.sip.place_call(call.agent_dn, consult_dn, call.codec)
        self.core.open_call(consult.conn_id, consult.calluuid, (call.agent_dn, consult_dn),
                            info.user_data.to_dict() if info is not None else EMPTY)
        self.core.ringing(consult.conn_id, consult_dn, call.agent_dn)
        self.core.established(consult.conn_id, consult_dn, call.agent_dn)
        self.core.established(consult.conn_id, call.agent_dn, consult_dn)
        self._calls[consult.conn_id] = _CallEntry(consult, CallPhase.ESTABLISHED)
        return consult

    def transfer_to_site(self, call: Call, target_dn: str) -> Call:
        """A multi-site transfer of `call` to `target_dn` (ARE-17; docs/genesys-flow.md §3.5,
        GVP-Xfer: "ConnIDs differ per T-Server instance; the CallUUID is the common identifier
        kept across sites and transfers"). The call is seen from now on under a new ConnID,
        with the same CallUUID and UserData; its recording (if any) goes on under it.

        Emulation choices (the public material does not give the event sequence): one T-Server
        plays both sites, so the recorder connected to it sees the call arrive under the new
        ConnID (EventRinging / EventEstablished for the target and the customer) *before* the
        old ConnID is released (EventReleased for its parties): the call is never absent."""
        entry = self._entry(call.conn_id)
        old = self.core.call(call.conn_id)
        user_data = old.user_data.to_dict() if old is not None else {}
        moved = Call(self.sip.place_call(call.customer_dn, target_dn, call.codec, call.calluuid).conn_id,
                     call.calluuid, call.customer_dn, target_dn, call.codec)
        self.core.open_call(moved.conn_id, moved.calluuid, (moved.customer_dn, target_dn), user_data)
        self.core.ringing(moved.conn_id, target_dn, moved.customer_dn)
        self.core.established(moved.conn_id, target_dn, moved.customer_dn)
        self.core.established(moved.conn_id, moved.customer_dn, target_dn)
        parties = old.parties if old is not None else (call.customer_dn, call.agent_dn)
        for dn in parties:
            self.core.released(call.conn_id, dn, next((p for p in parties if p != dn), None))
        self.core.close_call(call.conn_id)
        del self._calls[call.conn_id]
        entry.call = moved
        self._calls[moved.conn_id] = entry
        return moved

    def recording(self, conn_id: str) -> RecordingStatus | None:
        entry = self._calls.get(conn_id)
        return entry.recording if entry is not None else None

    def recordings(self, conn_id: str) -> tuple[RecordingJob, ...]:
        """Every recording started for the call, in order (a stop + start gives a new one)."""
        entry = self._calls.get(conn_id)
        return tuple(entry.history) if entry is not None else ()

    def route_decision(self, conn_id: str) -> RouteDecision | None:
        entry = self._calls.get(conn_id)
        return entry.route if entry is not None else None

    def _entry(self, conn_id: str) -> _CallEntry:
        return self._calls[conn_id]

    # --- TServerHandler -----------------------------------------------------------------

    def on_register_address(self, client: ClientId, request: RequestRegisterAddress) -> EventError | None:
        if self.known_dns is not None and request.this_dn not in self.known_dns:
            return request.error(ErrorCode.TERR_UNKNOWN_DN, f"DN {request.this_dn} is not configured")
        return None

    def on_private_service(
        self, client: ClientId, request: RequestPrivateService
    ) -> EventACK | EventError | EventPrivateInfo:
        op = self.private_msgs.operation(request.private_msg_id)
        if op is None:
            return request.error(ErrorCode.TERR_UNSUP_OPER, f"PrivateMsgID {request.private_msg_id} is not supported")
        entry = self._calls.get(request.conn_id)
        if entry is None or entry.phase is not CallPhase.ESTABLISHED:
            # DOMAIN §3.1: GSIP_RECORD_START works "on an existing connection" - an established call.
            return request.error(ErrorCode.TERR_INVALID_STATE, f"call {request.conn_id} is not established")
        if op is RecordOp.START:
            return self._private_start(entry, request)
        running = entry.recording
        if running is None or running.stopped:
            return request.error(
                ErrorCode.TERR_INVALID_STATE, f"no recording is running on call {request.conn_id}"
            )
        new_paused = _CONTROL.get((running.paused, op))
        if new_paused is None:
            state = "paused" if running.paused else "recording"
            return request.error(ErrorCode.TERR_INVALID_STATE, f"cannot {op.value}: the recording is {state}")
        running.paused = new_paused
        running.stopped = op is RecordOp.STOP
        if self.on_control is not None:
            for job in (running.job, *running.duplicates):
                self.on_control(op, job)
        self._announce(entry, _STATE_OF[op], running.job, requester=request.this_dn)
        return request.ack(EMPTY.merged({"id": running.job.record_id}))

    def _private_start(self, entry: _CallEntry, request: RequestPrivateService) -> EventACK | EventError:
        running = entry.recording
        if running is not None and not running.stopped:
            return request.error(
                ErrorCode.TERR_INVALID_STATE,
                f"call {request.conn_id} is already recorded (record id {running.job.record_id})",
            )
        call = entry.call
        record = request.extensions.get("record", "source")
        this_side = _side_of(call, request.this_dn)
        # DOMAIN §3.2: `source` records the ThisDN side, `destination` the other DN; a ThisDN
        # that is not a party (supervisor) names no side, so source/destination fall back to
        # the call's origination/destination sides as for TRouteCall (§3.4).
        side = this_side or Side.CUSTOMER
        if record == "destination":
            side = _other(this_side) if this_side is not None else Side.AGENT
        record_id = _str_or_none(request.extensions.get("id"))
        if record_id is not None and any(job.record_id == record_id for job in entry.history):
            # DOMAIN §3.2: the id "must be globally unique".
            return request.error(ErrorCode.TERR_INVALID_ATTR, f"record id {record_id} was already used")
        job = self.sip.job_for(
            call, side, trigger=f"TRequestPrivateService GSIP_RECORD_START by {request.this_dn} record={record}",
            record_id=record_id,
        ).with_dest(_str_or_none(request.extensions.get("dest")))
        self._start(entry, job, requester=request.this_dn)
        dest2 = _str_or_none(request.extensions.get("dest2"))
        if dest2 is not None and entry.recording is not None:
            # DOMAIN §3.2 names `dest2` without its meaning (UNCONFIRMED); GQM815's "MSR with
            # stream duplication" sends the streams to two recorders at once: here the same job
            # (calluuid, record id, dn) to the `dest2` recorder as well, an emulation choice.
            duplicate = replace(job, dest=dest2)
            entry.recording.duplicates.append(duplicate)
            if self.on_recording is not None:
                self.on_recording(duplicate)
        return request.ack(EMPTY.merged({"id": job.record_id}))

    def on_route_call(self, client: ClientId, request: RequestRouteCall) -> EventACK | EventError:
        entry = self._calls.get(request.conn_id)
        if entry is None or entry.phase is not CallPhase.ROUTING or entry.routing_point is None:
            return request.error(ErrorCode.TERR_INVALID_STATE, f"call {request.conn_id} is not at a routing point")
        if request.this_dn != entry.routing_point:
            return request.error(
                ErrorCode.TERR_INVALID_STATE, f"call {request.conn_id} waits at {entry.routing_point}, not {request.this_dn}"
            )
        record = request.extensions.get("record")
        entry.route = RouteDecision(
            record=_ROUTE_START.get(str(record)) if record is not None else None,
            disabled=frozenset(_ROUTE_DISABLE.get(str(record), ())),
            record_id=_str_or_none(request.extensions.get("id")),
            dest=_str_or_none(request.extensions.get("dest")),
        )
        entry.call.agent_dn = request.other_dn
        if request.user_data:
            self.core.update_user_data(request.conn_id, request.user_data)
        # Events of the routed call are deferred by the core until after this EventACK.
        self._establish(entry)
        return request.ack()

    # --- helpers --------------------------------------------------------------------------

    def _start(self, entry: _CallEntry, job: RecordingJob, *, requester: str | None = None) -> None:
        entry.recording = RecordingStatus(job)
        entry.history.append(job)
        if self.on_recording is not None:
            self.on_recording(job)
        self._announce(entry, RecordState.STARTED, job, requester=requester)

    def _announce(self, entry: _CallEntry, state: RecordState, job: RecordingJob, *,
                  requester: str | None = None) -> None:
        """EventPrivateInfo to every client registered on a party of the call or on the
        requester's DN (a supervisor not on the call still learns the state it changed)."""
        call = self.core.call(entry.call.conn_id)
        dns = list(call.parties) if call is not None else [entry.call.customer_dn, entry.call.agent_dn]
        if requester is not None:
            dns.append(requester)
        for dn in dict.fromkeys(dns):
            self.core.notify(
                EventPrivateInfo.recording(
                    state, job.record_id, this_dn=dn, conn_id=entry.call.conn_id, call_uuid=entry.call.calluuid,
                    # docs/tlib-emulation.md §5 rule 4: unsolicited events carry ReferenceID 0;
                    # the requester's own answer is the EventACK echoing its ReferenceID. Echoing
                    # it here made another client with the same id outstanding take this event
                    # for its answer.
                    private_msgs=self.private_msgs, reference_id=0,
                )
            )


_SIDE_VALUE = {Side.CUSTOMER: "source", Side.AGENT: "destination"}
_ROUTE_START = {"source": Side.CUSTOMER, "destination": Side.AGENT}
_ROUTE_DISABLE = {"disable_source": (Side.CUSTOMER,), "disable_destination": (Side.AGENT,)}


def _side_of(call: Call, dn: str) -> Side | None:
    if dn == call.customer_dn:
        return Side.CUSTOMER
    if dn == call.agent_dn:
        return Side.AGENT
    return None


def _other(side: Side) -> Side:
    return Side.AGENT if side is Side.CUSTOMER else Side.CUSTOMER


def _str_or_none(value: KVValue | None) -> str | None:
    return value if isinstance(value, str) else None
