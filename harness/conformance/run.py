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
from harness.emulators.media_server import ActiveRecording, MediaServerEmulation
from harness.emulators.runtime_control import PauseProfile, RuntimeControl
from harness.emulators.sip_server import Call, RecordingJob, SessionMode, Side, SipServerEmulation
from harness.emulators.sip_tserver import RecordingStatus, SipTServer
from harness.emulators.tlib_endpoint import Address, TlibEndpoint
from harness.emulators.tlib_server import BlockingTlibClient
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
                call_legs=self.call_legs if self.original_legs else None,
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
        active = active or self.active
        assert active is not None
        return expected_streams(active, self.control)

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
        for client in self.tlib_clients.values():
            client.close()
        if self._own_endpoint:
            self._tlib.stop()
