"""One conformance scenario run: emulators + capture + recorder under test + evidence.

Life cycle: the Gherkin `Given` steps configure (DNs, codec, mode, INVITE order), the `When`
steps play the call in real time (SIPp legs, paced RTP), and the first `Then` step stops the
capture and runs the validators once; every `Then` step then judges the requirement ids it
names from the same evidence.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from harness.capture.pcap_capture import CaptureError, CaptureStats, LoopbackCapture, capture_available
from harness.capture.synthetic import SyntheticCapture
from harness.conformance.evidence import Evidence, fill_synthetic, gather_evidence
from harness.conformance.recorder_tlib_config import RecorderTlibConfig
from harness.conformance.recordings import (
    expected_stream,
    expected_streams,
    locate_recording,
    recording_dir,
    wait_for_recordings,
)
from harness.conformance.sent_rtp import SentRtp, sent_rtp, write_sent_rtp
from harness.conformance.tlib_clients import (
    SCENARIO_CLIENT_FIRST_REFERENCE_ID,
    TLIB_ANSWER_TIMEOUT_S,
    TlibClient,
    describe_answer,
    request_summary,
)
from harness.emulators.call_legs import CallLegs
from harness.emulators.media_server import ActiveRecording, MediaServerEmulation, RecordingLeg
from harness.emulators.midcall import (
    ChangeKind,
    MediaChange,
    MidCallChanges,
    TransferOutcome,
    consult_job,
    transfer_outcome,
)
from harness.emulators.runtime_control import PauseProfile, RuntimeControl
from harness.emulators.sip_server import Call, RecordingJob, SessionMode, Side, SipServerEmulation, StreamJob
from harness.emulators.sip_tserver import RecordingStatus, SipTServer
from harness.emulators.tlib_endpoint import Address, TlibEndpoint
from harness.emulators.tlib_server import BlockingTlibClient
from harness.media.impairments import Impairments
from harness.media.rtp_source import RtpStreamSource
from harness.protocol.tlib import (
    Event,
    EventRegistered,
    KVValue,
    RecordOp,
    Request,
    TlibClientCore,
)
from harness.recorders.locate import Located
from harness.recorders.under_test import RecorderUnderTest
from harness.sipp.leg import Scenario, SippLeg, Transport
from harness.sipp.process import run_options
from harness.sipp.results import SippResult
from harness.validators.recording import ExpectedStream, validate_recording
from harness.validators.sip import ExpectedMode

# Names bindings and tests import from here; they live in the modules of their own concern.
__all__ = ["Evidence", "ScenarioRun", "SentRtp", "TlibClient", "expected_stream", "write_sent_rtp"]

T = TypeVar("T")


@dataclass(slots=True)
class ScenarioRun:
    recorder: RecorderUnderTest
    work_dir: Path
    sip_server: SipServerEmulation = field(default_factory=SipServerEmulation)
    invite_order: tuple[Side, ...] = (Side.CUSTOMER, Side.AGENT)
    send_rtp: bool = True
    pause_profile: PauseProfile = PauseProfile.RTP_STOPS
    routing_point: str | None = None
    # The requirement of the initiation path the scenario uses (steps 1-4): a missing recording
    # session is reported against it.
    initiation_requirement: str = "ARE-06-TWO-INVITES-PER-CALL"
    call: Call | None = None
    job: RecordingJob | None = None
    active: ActiveRecording | None = None
    options_result: SippResult | None = None
    control: RuntimeControl | None = None  # created by the first pause/resume/stop request
    midcall: MidCallChanges | None = None  # created by the first mid-call change (transfer, hold, codec)
    transfers: list[TransferOutcome] = field(default_factory=list)  # SIP Server's decision at each transfer
    site_transfers: list[tuple[str, str]] = field(default_factory=list)  # (old, new) ConnID of each multi-site transfer
    # Recording sessions added to the call's recording by a party joining it (a supervisor).
    joined: list[RecordingLeg] = field(default_factory=list)
    # Recordings of other calls than the scenario's main one (a recorded consultation call).
    consultations: list[ActiveRecording] = field(default_factory=list)
    consult_calls: list[Call] = field(default_factory=list)  # the consultation calls on the T-Server emulation
    # The scenario's T-Server on TCP, listening before the recorder starts (it may connect to
    # it); None: the run starts and stops one of its own.
    endpoint: TlibEndpoint | None = None
    # Where the recorder reads its T-Lib configuration (reference recorder: --tlib-config);
    # None: the harness cannot give this recorder rules.
    recorder_tlib_config: Path | None = None
    tlib_config: RecorderTlibConfig = field(default_factory=RecorderTlibConfig)
    tlib_clients: dict[str, TlibClient] = field(default_factory=dict)
    last_answer: Event | None = None  # a scenario client's last answer, for Then steps to judge
    notes: list[tuple[float, str]] = field(default_factory=list)
    evidence_attached: bool = False  # the report gets the evidence once (step error + after scenario)
    tserver: SipTServer = field(init=False)
    _tlib: TlibEndpoint = field(init=False)
    _own_endpoint: bool = False
    _pending_call: tuple[str, str, str] | None = None
    _media_server: MediaServerEmulation | None = None
    _capture: LoopbackCapture | SyntheticCapture | None = None
    _evidence: Evidence | None = None
    # The call's own RTP legs (harness.emulators.call_legs): their sockets are bound when the
    # capture starts (their ports go into its filter); `original_legs` makes the call use them.
    original_legs: bool = False
    _call_legs: CallLegs | None = None
    # Impaired media per side (harness/media/impairments.py): a Given step or `--arec-impair`.
    impairments: dict[Side, Impairments] = field(default_factory=dict)
    # How the Media Server builds each replicated stream's RTP source (None: random counters);
    # a long call's plan (harness.emulators.long_call).
    rtp_source_factory: Callable[[int, str, int | None], RtpStreamSource] | None = None

    def __post_init__(self) -> None:
        # SIP Server as T-Server: the DN option (step 1), TRequestPrivateService (steps 2-3),
        # TRouteCall (step 4) and run-time control (step 9) all decide through it. It lives on
        # the endpoint's loop thread: whatever touches it or the Media Server emulation its
        # callbacks drive goes through `self._tlib.call` (see harness/emulators/tlib_endpoint.py).
        if self.endpoint is None:
            self._tlib = TlibEndpoint(self.sip_server).start()
            self._own_endpoint = True
        else:
            self._tlib = self.endpoint
            self.sip_server = self._tlib.tserver.sip
        self.tserver = self._tlib.tserver
        self.tserver.on_recording = self._on_recording
        self.tserver.on_control = self._on_control

    @property
    def tlib_endpoint(self) -> TlibEndpoint:
        return self._tlib

    def on_tserver(self, fn: Callable[[], T]) -> T:
        """Run `fn` where the T-Server and the emulations behind it live (the endpoint's loop)."""
        return self._tlib.call(fn)

    # -- set-up ------------------------------------------------------------------------------
    def start_capture(self) -> None:
        pcap = self.work_dir / "capture.pcap"
        ok, why = capture_available()
        if os.environ.get("AREC_CAPTURE") == "synthetic":
            ok, why = False, "forced by AREC_CAPTURE=synthetic"
        if ok:
            try:
                # The original call legs' ports are captured whether or not the call uses them:
                # the filter is fixed before the Given steps say so.
                bpf = replace(self.recorder, extra_ports=self.call_legs.ports).capture_filter
                capture = LoopbackCapture(pcap, bpf, interface=self.recorder.capture_interface)
                capture.start()
                self._capture = capture
                return
            except CaptureError as error:
                why = str(error)
        # Unprivileged fallback: a pcap written from what our own emulators sent and received.
        self._capture = SyntheticCapture(pcap, why).open()

    @property
    def capture_method(self) -> str:
        return self._capture.method if self._capture is not None else "none"

    def note(self, text: str) -> None:
        self.notes.append((time.time(), text))

    def set_mode(self, mode: SessionMode) -> None:
        self.sip_server.mode = mode

    def place_call(self, customer_dn: str, agent_dn: str, codec: str) -> None:
        """The call to set up when the scenario says it is established."""
        self._pending_call = (customer_dn, agent_dn, codec)

    @property
    def media_server(self) -> MediaServerEmulation:
        if self._media_server is None:
            self._media_server = MediaServerEmulation(
                (self.recorder.host, self.recorder.port), self.work_dir / "sipp",
                transport=Transport(self.recorder.transport), invite_order=self.invite_order,
                send_rtp=self.send_rtp, local_address=self.recorder.local_address,
                call_legs=self.call_legs if self.original_legs else None, impairments=dict(self.impairments),
                source_factory=self.rtp_source_factory,
            )
        return self._media_server

    @property
    def media_server_if_started(self) -> MediaServerEmulation | None:
        """The Media Server emulation when the scenario used one (evidence), without creating it."""
        return self._media_server

    # -- the call ---------------------------------------------------------------------------
    def establish(self, seconds: float) -> None:
        """The call is established (or waits at a routing point): SIP Server decides (steps 1-4)
        and, when it records, Media Server replicates (steps 5-7) before this returns."""
        assert self._pending_call is not None, "no call placed"
        customer_dn, agent_dn, codec = self._pending_call
        self.call = self.on_tserver(lambda: self.tserver.place_call(customer_dn, agent_dn, codec,
                                                                     routing_point=self.routing_point))
        self.note(f"call {self.call.conn_id} {customer_dn} -> {self.routing_point or agent_dn} ({codec}), "
                  f"CallUUID {self.call.calluuid}")
        if self.job is None:
            self.note("SIP Server does not record the call (yet)")
        time.sleep(seconds)

    def _on_recording(self, job: RecordingJob) -> None:
        # SIP Server reports the call (EventEstablished...) before Media Server has set up the
        # recording sessions: the parties' clients, the recorder among them, see it now.
        self._tlib.flush()
        self.job = job
        self.note(f"SIP Server records the call: {job.trigger}, record id {job.record_id}")
        if self.control is not None:
            self.active = self.control.start(job)  # after a stop: a new recording, same CallUUID
        else:
            self.active = self.media_server.start_recording(job)

    def _on_control(self, op: RecordOp, job: RecordingJob) -> None:
        assert self.active is not None
        if self.control is None:
            self.control = RuntimeControl(self.media_server, self.active, self.pause_profile)
        self.note(f"{op.value} recording {job.record_id} ({self.pause_profile.value})")
        known = len(self.control.failures)
        {RecordOp.PAUSE: self.control.pause, RecordOp.RESUME: self.control.resume,
         RecordOp.STOP: self.control.stop}[op]()
        for failure in self.control.failures[known:]:
            self.note(failure)

    # -- T-Lib clients (agent desktop, supervisor, routing strategy) ---------------------------
    def tlib_client(self, name: str, dn: str) -> TlibClient:
        """A third-party T-Lib client of the scenario, connected over TCP like the recorder."""
        connection = BlockingTlibClient(self._tlib.host, self._tlib.port, timeout=TLIB_ANSWER_TIMEOUT_S,
                                        private_msgs=self.tserver.private_msgs)
        # Distinct ReferenceID ranges per client (the recorder's start at 1) make the T-Server's
        # request log readable; correctness does not depend on it (unsolicited events carry 0).
        connection.core = TlibClientCore(private_msgs=self.tserver.private_msgs,
                                         first_reference_id=SCENARIO_CLIENT_FIRST_REFERENCE_ID * (len(self.tlib_clients) + 1))
        client = TlibClient(name, dn, connection)
        answer = client.register()
        assert isinstance(answer, EventRegistered), f"SIP Server emulation refused to register {dn}: {answer}"
        self.tlib_clients[name] = client
        return client

    def tlib_request(self, name: str, op: RecordOp, *, conn_id: str | None = None, this_dn: str | None = None,
                     **extensions: str) -> Event:
        """GSIP_RECORD_<op> from a scenario client, on the call (or `conn_id`) for its DN (or
        `this_dn`, e.g. one it did not register)."""
        assert self.call is not None, "no call to act on"
        client = self.tlib_clients[name]
        answer = client.private_service(op, conn_id or self.call.conn_id, extensions, this_dn=this_dn)
        self.note(f"{name} ({this_dn or client.dn}) {op.value}: {describe_answer(answer)}")
        return answer

    def route_call(self, name: str, agent_dn: str, record: str | None = None,
                   user_data: Mapping[str, KVValue] | None = None) -> Event:
        assert self.call is not None, "no call at the routing point"
        extensions = {} if record is None else {"record": record}
        answer = self.tlib_clients[name].route_call(self.call.conn_id, agent_dn, extensions, user_data or {})
        self.note(f"routing strategy {name} routes to {agent_dn} with record={record}, UserData {dict(user_data or {})}: "
                  f"{describe_answer(answer)}")
        return answer

    def attach_data(self, name: str, data: Mapping[str, KVValue], *, update: bool = False) -> Event:
        """RequestAttachUserData (or RequestUpdateUserData) from a scenario client on the call."""
        assert self.call is not None, "no call to attach data to"
        answer = self.tlib_clients[name].user_data(self.call.conn_id, data, update=update)
        verb = "updates" if update else "attaches"
        self.note(f"{name} {verb} {dict(data)}: {describe_answer(answer)}")
        return answer

    def own_client_addresses(self) -> frozenset[Address]:
        return frozenset(c.address for c in self.tlib_clients.values())

    def recorder_requests(self) -> list[tuple[Request, Event | None]]:
        """What every T-Lib client that is not one of the scenario's asked, with the answers:
        the recorder under test's requests."""
        own = self.own_client_addresses()
        return self._tlib.answers_to(lambda peer: peer is not None and peer not in own)

    def recorder_registered(self, dn: str) -> bool:
        return bool(self._tlib.registrants(dn, excluding=self.own_client_addresses()))

    def recording_status(self) -> RecordingStatus | None:
        """The call's recording as SIP Server tracks it now (a copy: paused / stopped)."""
        assert self.call is not None
        conn_id = self.call.conn_id

        def look() -> RecordingStatus | None:
            status = self.tserver.recording(conn_id)
            return None if status is None else RecordingStatus(status.job, status.paused, status.stopped)

        return self.on_tserver(look)

    def write_recorder_tlib_config(self) -> None:
        assert self.recorder_tlib_config is not None
        self.tlib_config.write(self.recorder_tlib_config)
        self.note(f"recorder T-Lib configuration: {self.tlib_config.render()!r}")

    def end_stream_session(self, side: Side) -> None:
        assert self.active is not None, "no recording to end"
        self.note(f"Media Server ends the {side.value} stream's session")
        active = self.active
        self.on_tserver(lambda: self.media_server.end_leg(active.leg_of(side)))

    # -- mid-call changes (harness.emulators.midcall) ------------------------------------------
    def _mid_call(self) -> MidCallChanges:
        assert self.active is not None, "no recording to change"
        if self.control is None:
            self.control = RuntimeControl(self.media_server, self.active, self.pause_profile)
        if self.midcall is None:
            self.midcall = MidCallChanges(self.control)
        return self.midcall

    def _note_changes(self, known: int) -> None:
        assert self.midcall is not None and self.control is not None
        for record in self.midcall.log[known:]:
            self.note(f"{record.kind.value} of the {record.side.value} stream: SSRC {record.ssrc:08X}, {record.codec}, "
                      f"from port {record.local_port}" + ("" if record.answered else ", re-INVITE not answered"))

    def transfer(self, transferring_dn: str, target_dn: str, change: MediaChange,
                 sides: tuple[Side, ...]) -> TransferOutcome:
        """`transferring_dn` transfers the call to `target_dn`: SIP Server decides from the
        recording's side (sticky, docs/genesys-flow.md §3.5) whether the recording sessions are
        kept in path (a re-INVITE with `change` on the streams of `sides`) or end (BYE)."""
        assert self.active is not None and self.job is not None, "no recording to transfer"
        if self.call is not None:
            # The T-Lib side of the transfer: the parties' clients (a recorder among them) see it.
            call = self.call
            self.on_tserver(lambda: self.tserver.transfer(call, transferring_dn, target_dn))
            self._tlib.flush()
        return self._recording_follows(transferring_dn, target_dn, change, sides)

    def _recording_follows(self, transferring_dn: str, target_dn: str, change: MediaChange,
                           sides: tuple[Side, ...]) -> TransferOutcome:
        """SIP Server's decision on the recording at a transfer (sticky side) and Media Server's doing."""
        assert self.active is not None and self.job is not None, "no recording to transfer"
        outcome = transfer_outcome(self.job.record_dn, transferring_dn)
        self.transfers.append(outcome)
        self.note(f"{transferring_dn} transfers the call to {target_dn}: the recording started by "
                  f"{self.job.record_dn} is {outcome.value}")
        if outcome is TransferOutcome.ENDED:
            active = self.active
            # The call goes on (customer <-> target); only its recording ends: BYE on each session.
            self.on_tserver(lambda: self.control.stop() if self.control is not None and not self.control.stopped
                            else self.media_server.release(active))
            return outcome
        midcall = self.on_tserver(self._mid_call)
        known = len(midcall.log)
        self.on_tserver(lambda: midcall.change_media(change, sides))
        self._note_changes(known)
        return outcome

    def transfer_to_site(self, transferring_dn: str, target_dn: str, change: MediaChange,
                         sides: tuple[Side, ...]) -> TransferOutcome:
        """A multi-site transfer (ARE-17): as `transfer`, and the T-Server emulation gives the
        call a new ConnID with the same CallUUID (`SipTServer.transfer_to_site`) before Media
        Server renegotiates the recording sessions; the scenario's call is the moved one."""
        assert self.call is not None, "no call to transfer"
        old = self.call
        self.call = self.on_tserver(lambda: self.tserver.transfer_to_site(old, target_dn))
        self._tlib.flush()
        self.site_transfers.append((old.conn_id, self.call.conn_id))
        self.note(f"multi-site transfer: call {old.conn_id} is now {self.call.conn_id} at {target_dn}, "
                  f"CallUUID {self.call.calluuid}")
        return self._recording_follows(transferring_dn, target_dn, change, sides)

    def change_codec(self, codec: str) -> None:
        """A re-INVITE on every recording session moves the call to `codec` (same sources)."""
        midcall = self.on_tserver(self._mid_call)
        known = len(midcall.log)
        self.on_tserver(lambda: midcall.change_media(MediaChange(new_ssrc=False, new_port=False, codec=codec),
                                                     tuple(Side), kind=ChangeKind.CODEC))
        self._note_changes(known)

    def hold(self, side: Side) -> None:
        """The party on `side` is held, shown the way the scenario's pause profile says."""
        midcall = self.on_tserver(self._mid_call)
        known = len(midcall.log)
        self.on_tserver(lambda: midcall.hold(side, self.pause_profile))
        self._note_changes(known)

    def retrieve(self, side: Side) -> None:
        midcall = self.on_tserver(self._mid_call)
        known = len(midcall.log)
        self.on_tserver(lambda: midcall.retrieve(side))
        self._note_changes(known)

    def consult(self, consult_dn: str, *, record_consult: bool) -> None:
        """The recorded agent places a consultation call to `consult_dn`; with
        record-consult-calls on, SIP Server records it as a call of its own (`consult_job`)."""
        assert self.job is not None, "no recorded call to consult from"
        main = self.call if self.call is not None else self.job.call
        consult_call = self.on_tserver(lambda: self.tserver.consult(main, consult_dn))
        self._tlib.flush()
        self.consult_calls.append(consult_call)
        job = consult_job(self.sip_server, self.job, consult_dn, record_consult=record_consult, call=consult_call)
        if job is None:
            self.note(f"{self.job.call.agent_dn} consults {consult_dn}: not recorded (record-consult-calls=false)")
            return
        self.note(f"{self.job.call.agent_dn} consults {consult_dn}: recorded as call {job.call.calluuid}, "
                  f"record id {job.record_id}")
        self.consultations.append(self.on_tserver(lambda: self.media_server.start_recording(job)))

    def supervisor_joins(self, dn: str) -> RecordingLeg:
        """Supervisor DN `dn` joins the call (a conference): Media Server opens one recording
        session more, for the supervisor's stream (time-code alphabet 2), in the same recording."""
        assert self.active is not None, "no recording for the supervisor to join"
        assert self.control is None and self.job is not None and self.job.mode is SessionMode.TWO_SESSIONS, \
            "a supervisor joins only a two-session recording without run-time control in this emulation"
        active = self.active
        leg = self.on_tserver(lambda: self.media_server.join_stream(active, StreamJob(Side.AGENT, dn, 2)))
        self.joined.append(leg)
        self.note(f"supervisor {dn} joins the call: recording session {leg.process.leg.call_id} "
                  + (f"refused: {leg.refused}" if leg.refused else "answered"))
        return leg

    def end_consultation(self) -> None:
        """The consultation call ends: BYE on its recording sessions."""
        consultations = list(self.consultations)
        calls = list(self.consult_calls)

        def end() -> None:
            for call in calls:
                self.tserver.release_call(call)  # EventReleased to its parties
            for active in consultations:
                self.media_server.release(active)

        self.on_tserver(end)

    def keep_talking(self, seconds: float) -> None:
        time.sleep(seconds)

    def release(self, first: Side | None = None) -> None:
        """The call is released: Media Server sends BYE on each recording session (step 10)."""
        self.note("call released")
        self.on_tserver(lambda: self._release(first))

    def _release(self, first: Side | None) -> None:
        if self.call is not None:
            self.tserver.release_call(self.call)
        if self.control is not None and not self.control.stopped:
            self.control.stop()
        elif self.active is not None:
            order = None if first is None else (first, *[s for s in Side if s is not first])
            self.media_server.release(self.active, order)

    def options_ping(self) -> SippResult:
        leg = SippLeg(recorder_host=self.recorder.host, recorder_port=self.recorder.port, record_id="ping",
                      calluuid="ping", dn="ping", record_dn="ping", scenario=Scenario.OPTIONS,
                      transport=Transport(self.recorder.transport), local_ip=self.recorder.local_address)
        self.options_result = run_options(leg, self.work_dir / "sipp" / "options")
        return self.options_result

    # -- evidence ------------------------------------------------------------------------------
    def evidence(self) -> Evidence:
        if self._evidence is None:
            self._evidence = self._collect()
        return self._evidence

    def _collect(self) -> Evidence:
        media_server = self._media_server
        if media_server is not None:
            self.on_tserver(media_server.close)  # any leg still up is torn down before judging
        for request, answer in self.recorder_requests():
            self.note(f"recorder T-Lib: {request.MESSAGE} {request_summary(request)} -> {describe_answer(answer)}")
        self._wait_for_recordings()
        pcap = self.work_dir / "capture.pcap"
        method = self.capture_method
        sent_pcap: Path | None = None
        stats: CaptureStats | None = None
        recorder = (self.recorder.host, self.recorder.port)
        if self._capture is not None:
            if isinstance(self._capture, LoopbackCapture):
                time.sleep(0.2)  # let the last datagrams (BYE's 200) reach the capture
                stats = self._capture.stop()
                sent_pcap = self._write_sent_rtp()
            else:
                fill_synthetic(self._capture, self.work_dir / "sipp", recorder, self.sent_rtp())
                self._capture.close()
            self._capture = None
        mode = ExpectedMode.ANY
        if self.job is not None:
            mode = (ExpectedMode.SINGLE_SESSION if self.job.mode is SessionMode.SINGLE_SESSION
                    else ExpectedMode.ANY if self.job.mode is SessionMode.SIPREC  # judged by the SRS-* checks
                    else ExpectedMode.TWO_SESSIONS)
        evidence = gather_evidence(pcap, method, recorder=recorder, mode=mode, sipp_dir=self.work_dir / "sipp",
                                   sent=self.sent_rtp(), capture_stats=stats, sent_pcap=sent_pcap)
        if stats is not None and stats.dropped_by_kernel:
            self.note(f"the capture dropped {stats.dropped_by_kernel} packet(s) (tcpdump: dropped by kernel)")
        for message in evidence.recovered_sip:
            self.note(f"capture lost a SIP message: {message}")
        if evidence.foreign.total:
            self.note(str(evidence.foreign))
        located = self.located_recording()
        if located is not None:
            evidence.recording_dir = located.directory
            # A third-party layout has no reference recording.json to require (its metadata,
            # if any, is in the recorder's own format).
            evidence.recording_findings = validate_recording(
                located.target, self.expected_streams(), require_metadata=isinstance(located.target, Path))
        return evidence

    def sent_rtp(self) -> list[SentRtp]:
        """Every RTP packet the Media Server emulation really sent: (wall time, src, dst, bytes)."""
        return sent_rtp(self._media_server, self.control)

    @property
    def call_legs(self) -> CallLegs:
        """The call's original-leg endpoints (loopback sockets), bound on first use."""
        if self._call_legs is None:
            self._call_legs = CallLegs()
        return self._call_legs

    def _write_sent_rtp(self) -> Path | None:
        """sent.pcap next to the capture: what was sent, for `compare_delivery` (None: no RTP sent)."""
        sent = self.sent_rtp()
        if not sent:
            return None
        return write_sent_rtp(self.work_dir / "sent.pcap", sent)

    def _wait_for_recordings(self, timeout: float = 5.0) -> None:
        wait_for_recordings(self.recorder, self.located_recording, self.recording_dir, timeout)

    def recording_dir(self) -> Path | None:
        """Reference layout: <root>/<calluuid>/<record_id>/; a profile's own layout: the
        directory the call's files were found in (the recordings root if none)."""
        return recording_dir(self.recorder, self.job, self.located_recording)

    def located_recording(self, active: ActiveRecording | None = None) -> Located | None:
        """A recording's files (default: the current one), found the profile's way; None:
        recordings not visible / no recording."""
        # Files of this call are written after the scenario's first step (a little slack for
        # file systems with coarse mtimes).
        since = min((t for t, _ in self.notes), default=0.0) - 0.1
        return locate_recording(self.recorder, self.job, active or self.active, since)

    def expected_streams(self, active: ActiveRecording | None = None) -> list[ExpectedStream]:
        """What the recording must hold for the call's parties (a joined supervisor's stream is
        judged by its own step, `joined_streams`: a recorder may keep it out of the parties'
        multi-channel file)."""
        active = active or self.active
        assert active is not None
        joined = {s.job.dn for leg in self.joined for s in leg.streams}
        return [e for e in expected_streams(active, self.control) if e.dn not in joined]

    def joined_streams(self) -> list[ExpectedStream]:
        """What the recording must hold for the streams of the parties that joined the call."""
        return [expected_stream(s) for leg in self.joined for s in leg.streams]

    def close(self) -> None:
        media_server = self._media_server
        if media_server is not None:
            try:
                self.on_tserver(media_server.close)
            except RuntimeError:  # the endpoint is gone already: nothing else touches it now
                media_server.close()
        if isinstance(self._capture, LoopbackCapture):
            self._capture.stop()
        elif self._capture is not None:
            self._capture.close()
        self._capture = None
        if self._call_legs is not None:
            self._call_legs.close()
        if self.midcall is not None:
            self.midcall.close()
        for client in self.tlib_clients.values():
            client.close()
        if self._own_endpoint:
            self._tlib.stop()
