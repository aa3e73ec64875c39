"""The reference recorder's T-Lib client logic, sans-IO (seed steps 2, 8, 9; docs/tlib-emulation.md).

Bytes from the T-Server in (`receive_data`), request bytes out (`data_to_send`), the clock
passed in (`now`, epoch seconds). What it does, with the rule behind each choice:

- Registers the configured DNs (RequestRegisterAddress) and keeps the registrations in step
  with the configuration when it is reloaded or after a reconnect (closing the connection ends
  every registration, docs §2).
- Step 2: on EventEstablished of a registered DN, the first applicable rule (reference_recorder
  .rules) may decide to record: RequestPrivateService GSIP_RECORD_START with ThisDN = that DN,
  the ConnID and `Extensions.record`. One request per call: a client registered on both
  parties gets one EventEstablished per DN (docs §5 rule 8), and a call already recorded
  (EventPrivateInfo started, or our own start in flight) is left alone.
- Step 8: the call's UserData (call events, EventAttachedDataChanged, EventPartyInfo from a
  RequestQueryCall when a recording of the call opens) becomes `attached_data` annotations.
- Step 9: when the configured attached-data key turns to its pause / resume value, the
  recorder itself sends GSIP_RECORD_PAUSE / RESUME; recording-state EventPrivateInfo (whoever
  caused it) becomes pause / resume annotations so the recording shows the paused interval.
- Transfers: a call is ours while one of our DNs is on it (an EventReleased of the DN that
  transferred away is not its end when the target is ours too; EventPartyChanged brings the
  new party's UserData); a multi-site transfer's new ConnID with a known CallUUID is the same
  interaction (ARE-17): its data, recording and pause state go on under it.
- An EventError answer is logged and annotated, never fatal (contract).

Output for storage is a list of `Annotation`s keyed by CallUUID; the adapter
(`reference_recorder.tlib_link`) applies them to the recording store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from harness.protocol.tlib import (
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
    EventUnregistered,
    KVList,
    KVValue,
    PrivateMsgMap,
    RecordOp,
    RecordState,
    TlibClientCore,
    TlibProtocolError,
)
from reference_recorder.rules import TlibRecorderConfig

__all__ = [
    "AttachedData",
    "Annotation",
    "CallEnded",
    "LogLine",
    "RecordingPaused",
    "RecordingResumed",
    "TlibAgent",
    "TlibLog",
]

Section = Literal["requests", "errors", "events"]


# --- annotations (what storage should record) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttachedData:
    """The call's complete UserData changed."""

    call_uuid: str
    data: dict[str, KVValue]


@dataclass(frozen=True, slots=True)
class TlibLog:
    """One entry of the recording's `tlib` log; `entry["t"]` is absolute (epoch seconds)."""

    call_uuid: str
    section: Section
    entry: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecordingPaused:
    call_uuid: str
    t: float


@dataclass(frozen=True, slots=True)
class RecordingResumed:
    call_uuid: str
    t: float


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call was released: later changes cannot concern its recordings any more."""

    call_uuid: str


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line for the operator (stderr); `problem` lines are warnings, the others info."""

    text: str
    problem: bool = True


Annotation = AttachedData | TlibLog | RecordingPaused | RecordingResumed | CallEnded | LogLine


# --- state -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Call:
    conn_id: str
    call_uuid: str
    our_dn: str  # a DN of ours on the call: requests about the call are made on its behalf
    user_data: dict[str, KVValue] = field(default_factory=dict)
    start_in_flight: bool = False
    recording: bool = False  # EventPrivateInfo started / resumed / paused seen (or our ACK)
    record_id: str | None = None
    paused: bool = False
    control_in_flight: bool = False
    want_paused: bool | None = None  # what the pause key last asked for
    pause_pending: bool = False  # the pause key changed and that change is not acted on yet
    last_state: tuple[str, str | None] | None = None  # de-duplicates EventPrivateInfo per DN
    dns: set[str] = field(default_factory=set)  # our DNs on the call (from its call events)


@dataclass(frozen=True, slots=True)
class _Pending:
    op: str  # register | unregister | start | pause | resume | query
    dn: str
    t: float
    conn_id: str | None = None
    call_uuid: str | None = None


# The events that can answer each request (docs §8); EventError answers any of them.
_ANSWERS: dict[str, tuple[type[Event], ...]] = {
    "register": (EventRegistered, EventError),
    "unregister": (EventUnregistered, EventError),
    "query": (EventPartyInfo, EventError),
    "start": (EventACK, EventError, EventPrivateInfo),  # §8.3: EventACK (or EventPrivateInfo)
    "pause": (EventACK, EventError, EventPrivateInfo),
    "resume": (EventACK, EventError, EventPrivateInfo),
}
_STATE_OP = {RecordState.STARTED: "start", RecordState.PAUSED: "pause",
             RecordState.RESUMED: "resume", RecordState.STOPPED: "stop"}


class TlibAgent:
    """One T-Lib connection's worth of recorder logic; survives reconnects (`connection_made`)."""

    def __init__(
        self,
        config: TlibRecorderConfig,
        *,
        private_msgs: PrivateMsgMap | None = None,
        to_local: Callable[[float], datetime] = datetime.fromtimestamp,
    ) -> None:
        self.config = config
        self.private_msgs = private_msgs if private_msgs is not None else PrivateMsgMap()
        # Local time for the rules' windows: injected so tests pick the weekday and hour.
        self._to_local = to_local
        self._core: TlibClientCore | None = None
        self.registered: set[str] = set()  # confirmed by EventRegistered
        self._wanted: set[str] = set()  # registered once the requests sent so far are answered
        self._pending: dict[int, _Pending] = {}
        self._calls: dict[str, _Call] = {}  # by ConnID
        self._next_ref = 1
        self.must_disconnect = False

    # --- connection ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._core is not None

    def connection_made(self, now: float) -> list[Annotation]:
        # ReferenceIDs keep increasing across connections so log lines never reuse an id.
        self._core = TlibClientCore(private_msgs=self.private_msgs, first_reference_id=self._next_ref)
        self.must_disconnect = False
        self.registered.clear()
        self._wanted.clear()
        self._pending.clear()
        self._sync_registrations(now)
        return []

    def connection_lost(self, now: float) -> list[Annotation]:
        """The T-Server went away: its registrations ended; unanswered requests are dropped (§2)."""
        out: list[Annotation] = []
        for pending in self._pending.values():
            if pending.call_uuid is not None and pending.op in ("start", "pause", "resume"):
                out.append(self._request_log(pending, None, "connection lost before the answer"))
        self._core = None
        self._pending.clear()
        self.registered.clear()
        self._wanted.clear()
        # Calls are forgotten: their events can no longer arrive; a call still running is met
        # again by its next event after the reconnect.
        self._calls.clear()
        return out

    def data_to_send(self) -> bytes:
        return self._core.data_to_send() if self._core is not None else b""

    # --- configuration ---------------------------------------------------------------------

    def set_config(self, config: TlibRecorderConfig, now: float) -> list[Annotation]:
        """A (re)loaded configuration: register new DNs, unregister removed ones."""
        self.config = config
        if self._core is not None:
            self._sync_registrations(now)
        return []

    def _sync_registrations(self, now: float) -> None:
        desired = set(self.config.register)
        for dn in self.config.register:
            if dn not in self._wanted:
                self._send("register", dn, now)
                self._wanted.add(dn)
        for dn in sorted(self._wanted - desired):
            self._send("unregister", dn, now)
            self._wanted.discard(dn)

    # --- recordings (from the SIP side) ---------------------------------------------------

    def recording_opened(self, call_uuid: str, now: float) -> list[Annotation]:
        """A recording session for this CallUUID started: read the call's data (step 8)."""
        call = next((c for c in self._calls.values() if c.call_uuid == call_uuid), None)
        if call is not None and self._core is not None and call.our_dn in self.registered:
            self._send("query", call.our_dn, now, call)
        return []

    # --- input ----------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Annotation]:
        """Handle what the T-Server sent. After a line the server got wrong (the events before
        it are handled first) `must_disconnect` is set: the adapter closes and reconnects."""
        if self._core is None or self.must_disconnect:
            return []
        core = self._core
        out: list[Annotation] = []
        error: TlibProtocolError | None = None
        try:
            events: list[Event] | tuple[Event, ...] = core.receive_data(data)
        except TlibProtocolError as exc:
            error = exc
            events = tuple(m for m in exc.decoded if isinstance(m, Event))
        for event in events:
            # Sorted here, not by the client core: an event about someone else's request may
            # echo *that* request's ReferenceID (the SIP Server emulation's EventPrivateInfo
            # does), so an id match alone does not make an answer - the type must fit too.
            pending = self._pending.get(event.reference_id) if event.reference_id else None
            if event.reference_id:
                core.take_answer(event.reference_id)
            if pending is not None and isinstance(event, _ANSWERS[pending.op]) and (
                not isinstance(event, EventPrivateInfo) or event.conn_id == pending.conn_id
            ):
                del self._pending[event.reference_id]
                out += self._on_answer(pending, event, now)
            else:
                out += self._on_event(event, now)
        core.take_events()  # handled above, in arrival order
        if error is not None:
            # A client has nobody to answer a bad line to (client_core): drop the connection.
            self.must_disconnect = True
            out.append(LogLine(f"T-Lib: the T-Server sent a bad line ({error}); reconnecting"))
        return out

    # --- requests -------------------------------------------------------------------------

    def _send(self, op: str, dn: str, now: float, call: _Call | None = None, record: str | None = None) -> None:
        core = self._core
        assert core is not None
        if op == "register":
            request_id = core.register_address(dn).reference_id
        elif op == "unregister":
            request_id = core.unregister_address(dn).reference_id
        elif op == "query":
            assert call is not None
            request_id = core.query_call(dn, call.conn_id).reference_id
        else:
            assert call is not None
            request_id = core.record(RecordOp(op), dn, call.conn_id, record=record).reference_id
        self._next_ref = 1 if request_id >= 2**31 - 1 else request_id + 1
        self._pending[request_id] = _Pending(
            op, dn, now, call.conn_id if call else None, call.call_uuid if call else None
        )

    def _request_log(self, pending: _Pending, answer: Event | None, error: str | None) -> TlibLog:
        assert pending.call_uuid is not None
        entry: dict[str, Any] = {"t": pending.t, "op": pending.op, "this_dn": pending.dn,
                                 "conn_id": pending.conn_id, "answer": answer.MESSAGE if answer else None}
        if error is not None:
            entry["error"] = error
        return TlibLog(pending.call_uuid, "requests", entry)

    # --- answers ----------------------------------------------------------------------------

    def _on_answer(self, pending: _Pending, answer: Event, now: float) -> list[Annotation]:
        if pending.op == "register":
            if isinstance(answer, EventRegistered):
                self.registered.add(pending.dn)
                return []
            self._wanted.discard(pending.dn)  # retried after the next reload or reconnect
            return [LogLine(f"T-Lib: cannot register DN {pending.dn}: {_describe(answer)}")]
        if pending.op == "unregister":
            self.registered.discard(pending.dn)
            if isinstance(answer, EventUnregistered):
                return []
            return [LogLine(f"T-Lib: cannot unregister DN {pending.dn}: {_describe(answer)}")]
        call = self._calls.get(pending.conn_id or "")
        if pending.op == "query":
            if isinstance(answer, EventPartyInfo):
                return self._user_data(answer.conn_id, answer.call_uuid, answer.this_dn, answer.user_data, now)
            return [LogLine(f"T-Lib: RequestQueryCall {pending.conn_id}: {_describe(answer)}")]
        return self._on_control_answer(pending, call, answer, now)

    def _on_control_answer(self, pending: _Pending, call: _Call | None, answer: Event, now: float) -> list[Annotation]:
        """Answer to GSIP_RECORD_START / PAUSE / RESUME."""
        out: list[Annotation] = []
        if isinstance(answer, EventError):
            text = _describe(answer)
            out.append(self._request_log(pending, answer, text))
            assert pending.call_uuid is not None
            out.append(TlibLog(pending.call_uuid, "errors", {
                "t": now, "op": pending.op, "this_dn": pending.dn, "conn_id": pending.conn_id,
                "code": answer.error_code, "name": _error_name(answer.error_code),
                "message": answer.error_message,
            }))
            out.append(LogLine(f"T-Lib: {pending.op} recording of call {pending.conn_id} "
                               f"(CallUUID {pending.call_uuid}) by {pending.dn} refused: {text}"))
        else:
            out.append(self._request_log(pending, answer, None))
        if isinstance(answer, EventPrivateInfo):  # the state itself as the answer (§8.3)
            out += self._private_info(answer, now)
        if call is None:
            return out
        if pending.op == "start":
            call.start_in_flight = False
            if isinstance(answer, EventACK | EventPrivateInfo):
                call.recording = True
                record_id = answer.extensions.get("id")
                call.record_id = record_id if isinstance(record_id, str) else call.record_id
                if call.want_paused:
                    call.pause_pending = True  # the key said "pause" before the recording began
        else:
            call.control_in_flight = False
            if isinstance(answer, EventACK):
                call.paused = pending.op == "pause"
        return out + self._reconcile_pause(call, now)

    # --- unsolicited events -------------------------------------------------------------------

    def _on_event(self, event: Event, now: float) -> list[Annotation]:
        if isinstance(event, EventRinging | EventEstablished | EventPartyChanged):
            # EventPartyChanged: a transfer brought a new party; the call's UserData goes with it.
            out = self._user_data(event.conn_id, event.call_uuid, event.this_dn, event.user_data, now)
            if isinstance(event, EventEstablished):
                out += self._maybe_start(self._calls[event.conn_id], event.this_dn, now)
            return out
        if isinstance(event, EventAttachedDataChanged):
            return self._user_data(event.conn_id, event.call_uuid, event.this_dn, event.user_data, now)
        if isinstance(event, EventPrivateInfo):
            return self._private_info(event, now)
        if isinstance(event, EventReleased):
            call = self._calls.get(event.conn_id)
            if call is None:
                return []
            call.dns.discard(event.this_dn)
            if self._stays(call):
                # A transfer took this DN of ours off the call; another of ours is still on it
                # (the transfer target): the call goes on, requests on behalf of a DN on it.
                if call.our_dn == event.this_dn:
                    call.our_dn = min(call.dns)
                return []
            del self._calls[event.conn_id]
            if self._carried_on(call) is not None:
                return []  # a multi-site transfer: the interaction goes on under another ConnID
            return [CallEnded(event.call_uuid)]
        if isinstance(event, EventError):
            return [LogLine(f"T-Lib: unsolicited EventError: {_describe(event)}")]
        return []  # EventRouteRequest etc.: not the recorder's business

    def _call(self, conn_id: str, call_uuid: str, this_dn: str) -> _Call:
        call = self._calls.get(conn_id)
        if call is None:
            call = self._calls[conn_id] = _Call(conn_id, call_uuid, this_dn)
            before = self._carried_on(call)
            if before is not None:
                # ARE-17 (docs/genesys-flow.md §3.5, GVP-Xfer): across a multi-site transfer the
                # ConnID changes, the CallUUID does not. It is the same interaction: its attached
                # data, recording and pause state go on under the new ConnID (no second start).
                call.user_data = dict(before.user_data)
                call.recording, call.record_id, call.paused = before.recording, before.record_id, before.paused
                call.want_paused, call.last_state = before.want_paused, before.last_state
        return call

    @staticmethod
    def _stays(call: _Call) -> bool:
        """The call is still ours after one of our DNs was released from it."""
        return bool(call.dns)

    def _carried_on(self, call: _Call) -> _Call | None:
        """Another ConnID of ours with `call`'s CallUUID: the interaction under its other ConnID."""
        return next((c for c in self._calls.values() if c is not call and c.call_uuid == call.call_uuid), None)

    def _user_data(self, conn_id: str, call_uuid: str, this_dn: str, user_data: KVList, now: float) -> list[Annotation]:
        """Every event carries the call's complete UserData (docs §8.10): replace, do not merge."""
        call = self._call(conn_id, call_uuid, this_dn)
        call.dns.add(this_dn)
        data = user_data.to_dict()
        if data == call.user_data:
            return []  # the same change seen once per registered party
        old, call.user_data = call.user_data, data
        out: list[Annotation] = [AttachedData(call_uuid, dict(data))]
        pause = self.config.pause
        if pause is not None and data.get(pause.key) != old.get(pause.key):
            value = data.get(pause.key)
            if value == pause.pause_value:
                call.want_paused, call.pause_pending = True, True
            elif value == pause.resume_value:
                call.want_paused, call.pause_pending = False, True
            out += self._reconcile_pause(call, now)
        return out

    def _maybe_start(self, call: _Call, this_dn: str, now: float) -> list[Annotation]:
        if call.recording or call.start_in_flight or this_dn not in self.registered or self._core is None:
            return []
        rule = self.config.decide(this_dn, call.call_uuid, self._to_local(now))
        if rule is None:
            return []
        call.our_dn = this_dn
        call.start_in_flight = True
        self._send("start", this_dn, now, call, record=rule.record)
        return [LogLine(f"T-Lib: rule {rule.name!r}: recording call {call.conn_id} "
                        f"(CallUUID {call.call_uuid}) on {this_dn}, record={rule.record}", problem=False)]

    def _private_info(self, event: EventPrivateInfo, now: float) -> list[Annotation]:
        state = event.record_state
        if state is None:
            return []
        call = self._calls.get(event.conn_id or "")
        call_uuid = event.call_uuid or (call.call_uuid if call is not None else None)
        if call_uuid is None:
            return []
        if call is None and event.conn_id is not None:
            call = self._call(event.conn_id, call_uuid, event.this_dn)
        key = (state.value, event.record_id)
        was_paused = call.paused if call is not None else state is RecordState.STOPPED
        if call is not None:
            if call.last_state == key:
                return []  # the same change, reported to each DN of ours on the call
            call.last_state = key
            call.recording = state is not RecordState.STOPPED
            call.paused = state is RecordState.PAUSED
            call.record_id = event.record_id or call.record_id
        out: list[Annotation] = [TlibLog(call_uuid, "events", {
            "t": now, "event": event.MESSAGE, "state": state.value, "op": _STATE_OP[state],
            "record_id": event.record_id, "this_dn": event.this_dn, "conn_id": event.conn_id,
        })]
        if state is RecordState.PAUSED:
            out.append(RecordingPaused(call_uuid, now))
        elif state is RecordState.RESUMED or (state is RecordState.STOPPED and was_paused):
            # A stop while paused ends the paused interval too.
            out.append(RecordingResumed(call_uuid, now))
        if call is not None and state is RecordState.STARTED and call.want_paused:
            call.pause_pending = True
        if call is not None:
            out += self._reconcile_pause(call, now)
        return out

    def _reconcile_pause(self, call: _Call, now: float) -> list[Annotation]:
        """Act on a pause-key change once the recording runs and no control request is in flight.

        Only a *change* of the key acts: a pause or resume someone else requested (a
        supervisor's TRequestPrivateService) is not undone by the recorder.
        """
        if (not call.pause_pending or not call.recording or call.control_in_flight or call.start_in_flight
                or self._core is None or call.want_paused is None):
            return []
        call.pause_pending = False
        if call.want_paused == call.paused:
            return []
        dn = call.our_dn if call.our_dn in self.registered else next(iter(sorted(self.registered)), None)
        if dn is None:
            return []
        call.control_in_flight = True
        self._send("pause" if call.want_paused else "resume", dn, now, call)
        return []


def _error_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"error {code}"  # docs §7: clients must accept codes they do not know


def _describe(answer: Event) -> str:
    if isinstance(answer, EventError):
        text = f"{_error_name(answer.error_code)} ({answer.error_code})"
        return f"{text}: {answer.error_message}" if answer.error_message else text
    return f"unexpected answer {answer.MESSAGE}"
