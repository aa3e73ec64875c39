"""One conformance scenario run: emulators + capture + recorder under test + evidence.

Life cycle: the Gherkin `Given` steps configure (DNs, codec, mode, INVITE order), the `When`
steps play the call in real time (SIPp legs, paced RTP), and the first `Then` step stops the
capture and runs the validators once; every `Then` step then judges the requirement ids it
names from the same evidence.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.capture.pcap_capture import CaptureError, LoopbackCapture, capture_available
from harness.capture.synthetic import SyntheticCapture
from harness.emulators.media_server import ActiveRecording, MediaServerEmulation, ReplicatedStream
from harness.emulators.runtime_control import PauseProfile, RuntimeControl
from harness.emulators.sip_server import Call, RecordingJob, SessionMode, Side, SipServerEmulation
from harness.emulators.sip_tserver import SipTServer
from harness.media.timecode import SEGMENT_SAMPLES, SYMBOL_SAMPLES
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.message import parse_message
from harness.protocol.tlib import Event, RecordOp, Request
from harness.protocol.tlib.client_core import TlibClientCore
from harness.protocol.tlib.server_core import ClientId
from harness.recorders.base import RecorderUnderTest
from harness.sipp.runner import Scenario, SippLeg, SippResult, Transport, run_options
from harness.sipp.trace import TracedMessage, read_message_log
from harness.spec.findings import Finding
from harness.validators.model import Datagram
from harness.validators.pcap import PcapReadError, read_capture
from harness.validators.recording import ExpectedStream, validate_recording
from harness.validators.rtp import RtpReport, validate_rtp
from harness.validators.sip import ExpectedMode, SipReport, validate_sip


@dataclass(slots=True)
class Evidence:
    """Everything the Then steps judge; computed once, after the call."""

    pcap: Path
    capture_method: str
    datagrams: list[Datagram]
    sip: SipReport
    rtp: RtpReport
    read_error: str | None = None
    recording_findings: list[Finding] = field(default_factory=list)
    recording_dir: Path | None = None


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
    tlib_clients: dict[str, TlibClient] = field(default_factory=dict)
    notes: list[tuple[float, str]] = field(default_factory=list)
    tserver: SipTServer = field(init=False)
    _pending_call: tuple[str, str, str] | None = None
    _media_server: MediaServerEmulation | None = None
    _capture: LoopbackCapture | SyntheticCapture | None = None
    _evidence: Evidence | None = None

    def __post_init__(self) -> None:
        # SIP Server as T-Server: the DN option (step 1), TRequestPrivateService (steps 2-3),
        # TRouteCall (step 4) and run-time control (step 9) all decide through it.
        self.tserver = SipTServer(self.sip_server, on_recording=self._on_recording, on_control=self._on_control)

    # -- set-up ------------------------------------------------------------------------------
    def start_capture(self) -> None:
        pcap = self.work_dir / "capture.pcap"
        ok, why = capture_available()
        if os.environ.get("AREC_CAPTURE") == "synthetic":
            ok, why = False, "forced by AREC_CAPTURE=synthetic"
        if ok:
            try:
                capture = LoopbackCapture(pcap, self.recorder.capture_filter)
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
                send_rtp=self.send_rtp,
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
        self.call = self.tserver.place_call(customer_dn, agent_dn, codec, routing_point=self.routing_point)
        self.note(f"call {self.call.conn_id} {customer_dn} -> {self.routing_point or agent_dn} ({codec}), "
                  f"CallUUID {self.call.calluuid}")
        if self.job is None:
            self.note("SIP Server does not record the call (yet)")
        time.sleep(seconds)

    def _on_recording(self, job: RecordingJob) -> None:
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
        {RecordOp.PAUSE: self.control.pause, RecordOp.RESUME: self.control.resume,
         RecordOp.STOP: self.control.stop}[op]()

    # -- T-Lib clients (agent desktop, supervisor, routing strategy) ---------------------------
    def tlib_client(self, name: str, dn: str) -> TlibClient:
        client = TlibClient(name, dn, self.tserver)
        client.register()
        self.tlib_clients[name] = client
        return client

    def tlib_request(self, name: str, op: RecordOp, **extensions: str) -> Event:
        assert self.call is not None, "no call to act on"
        client = self.tlib_clients[name]
        answer = client.private_service(op, self.call.conn_id, extensions)
        self.note(f"{name} ({client.dn}) {op.value}: {type(answer).__name__}")
        return answer

    def route_call(self, name: str, agent_dn: str, record: str) -> Event:
        assert self.call is not None, "no call at the routing point"
        answer = self.tlib_clients[name].route_call(self.call.conn_id, agent_dn, {"record": record})
        self.note(f"routing strategy {name} routes to {agent_dn} with record={record}: {type(answer).__name__}")
        return answer

    def end_stream_session(self, side: Side) -> None:
        assert self.active is not None, "no recording to end"
        self.note(f"Media Server ends the {side.value} stream's session")
        self.media_server.end_leg(self.active.leg_of(side))

    def keep_talking(self, seconds: float) -> None:
        time.sleep(seconds)

    def release(self, first: Side | None = None) -> None:
        """The call is released: Media Server sends BYE on each recording session (step 10)."""
        self.note("call released")
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
                      transport=Transport(self.recorder.transport))
        self.options_result = run_options(leg, self.work_dir / "sipp" / "options")
        return self.options_result

    # -- evidence ------------------------------------------------------------------------------
    def evidence(self) -> Evidence:
        if self._evidence is None:
            self._evidence = self._collect()
        return self._evidence

    def _collect(self) -> Evidence:
        if self._media_server is not None:
            self._media_server.close()  # any leg still up is torn down before judging
        self._wait_for_recordings()
        pcap = self.work_dir / "capture.pcap"
        method = self.capture_method
        if self._capture is not None:
            if isinstance(self._capture, LoopbackCapture):
                time.sleep(0.2)  # let the last datagrams (BYE's 200) reach the capture
                self._capture.stop()
            else:
                self._fill_synthetic(self._capture)
                self._capture.close()
            self._capture = None
        datagrams: list[Datagram] = []
        read_error = None
        try:
            datagrams.extend(read_capture(pcap))
        except PcapReadError as error:
            read_error = str(error)
        mode = ExpectedMode.ANY
        if self.job is not None:
            mode = (ExpectedMode.SINGLE_SESSION if self.job.mode is SessionMode.SINGLE_SESSION
                    else ExpectedMode.TWO_SESSIONS)
        sip = validate_sip(datagrams, recorder=(self.recorder.host, self.recorder.port), mode=mode)
        rtp = validate_rtp(datagrams, sip.negotiated)
        evidence = Evidence(pcap, method, datagrams, sip, rtp, read_error)
        directory = self.recording_dir()
        if directory is not None and self.active is not None:
            evidence.recording_dir = directory
            evidence.recording_findings = validate_recording(directory, self.expected_streams())
        return evidence

    def _fill_synthetic(self, capture: SyntheticCapture) -> None:
        """Without CAP_NET_RAW: rebuild the traffic from what our own emulators logged.

        SIP comes byte-exact from each SIPp leg's message log; RTP from the paced sender's log
        (what was sent, when). What the recorder sent on its own (e.g. media on a recvonly
        stream) cannot be seen this way: the report names the capture method for that reason.
        """
        recorder = (self.recorder.host, self.recorder.port)
        records: list[tuple[float, tuple[str, int], tuple[str, int], bytes, str]] = []
        for log in sorted((self.work_dir / "sipp").rglob("messages.log")):
            messages = read_message_log(log)
            local = _sent_by(messages)
            if local is None:
                continue
            for m in messages:
                src, dst = (local, recorder) if m.sent else (recorder, local)
                records.append((m.time, src, dst, m.payload, m.transport))
        media_server = self._media_server
        if media_server is not None:
            offset = media_server.pacer.wall_offset
            for stream in (s for active in media_server.recordings for s in active.streams):
                if stream.destination is None:
                    continue
                for sent in stream.log:
                    if sent.error is None:
                        records.append((sent.sent_at + offset, ("127.0.0.1", stream.local_port), stream.destination,
                                        stream.source.packet(sent.index), "udp"))
        for when, src, dst, payload, transport in sorted(records, key=lambda r: r[0]):
            capture.record(src, dst, payload, when, transport)

    def _wait_for_recordings(self, timeout: float = 5.0) -> None:
        """A recorder finalises its files after the last BYE; give it a moment, never forever."""
        directory = self.recording_dir()
        if directory is None:
            return
        deadline = time.monotonic() + timeout
        metadata = directory / "recording.json"
        while time.monotonic() < deadline:
            if metadata.exists() and b'"complete": true' in metadata.read_bytes():
                return
            time.sleep(0.05)

    def recording_dir(self) -> Path | None:
        """Reference layout: <root>/<calluuid>/<record_id>/ (DESIGN.md §4)."""
        if self.job is None or self.recorder.recordings is None:
            return None
        return self.recorder.recordings / self.job.call.calluuid / self.job.record_id

    def expected_streams(self, active: ActiveRecording | None = None) -> list[ExpectedStream]:
        active = active or self.active
        assert active is not None
        if self.control is not None:
            return [self.control.expected_stream(s) for s in active.streams]
        return [expected_stream(s) for s in active.streams]

    def close(self) -> None:
        if self._media_server is not None:
            self._media_server.close()
        if isinstance(self._capture, LoopbackCapture):
            self._capture.stop()
        elif self._capture is not None:
            self._capture.close()
        self._capture = None


@dataclass(slots=True)
class TlibClient:
    """A T-Lib client of the scenario (agent desktop, supervisor, routing strategy).

    Requests go to the T-Server core as encoded JSON lines and the answers come back as bytes
    through the decoder: the wire format of docs/tlib-emulation.md, without a socket.
    """

    name: str
    dn: str
    tserver: SipTServer
    events: list[Event] = field(default_factory=list)
    _client: TlibClientCore = field(default_factory=TlibClientCore)
    _id: ClientId | None = None

    def _exchange(self, request: Request) -> Event:
        core = self.tserver.core
        if self._id is None:
            self._id = core.connect()
        core.receive_data(self._id, self._client.data_to_send())
        self._client.receive_data(core.data_to_send(self._id))
        answer = self._client.take_answer(request.reference_id)
        self.events.extend(self._client.take_events())
        if answer is None:
            raise AssertionError(f"{self.name}: no answer to {type(request).__name__}")
        return answer

    def register(self) -> Event:
        return self._exchange(self._client.register_address(self.dn))

    def private_service(self, op: RecordOp, conn_id: str, extensions: dict[str, str]) -> Event:
        request = self._client.private_service(self.dn, conn_id, self.tserver.private_msgs.msg_id(op),
                                               extensions)
        return self._exchange(request)

    def route_call(self, conn_id: str, other_dn: str, extensions: dict[str, str]) -> Event:
        return self._exchange(self._client.route_call(self.dn, conn_id, other_dn, extensions=extensions))


def _sent_by(messages: list[TracedMessage]) -> tuple[str, int] | None:
    """The leg's own address: the sent-by of the top Via of the first message it sent."""
    for m in messages:
        if m.sent:
            try:
                via = parse_message(m.payload).vias[0]
            except (RemoteProtocolError, IndexError):
                continue
            return via.host, via.port or 5060
    return None


def expected_stream(stream: ReplicatedStream) -> ExpectedStream:
    """What the recording must hold for a stream: the segments whose packets were all sent."""
    packets = stream.packets_sent
    whole_segments = packets * SYMBOL_SAMPLES // SEGMENT_SAMPLES
    return ExpectedStream(stream=stream.job.stream_index, dn=stream.job.dn, first_segment=0,
                          last_segment=whole_segments - 1, expected_samples=packets * SYMBOL_SAMPLES)
