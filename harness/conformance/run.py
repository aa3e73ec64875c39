"""One conformance scenario run: emulators + capture + recorder under test + evidence.

Life cycle: the Gherkin `Given` steps configure (DNs, codec, mode, INVITE order), the `When`
steps play the call in real time (SIPp legs, paced RTP), and the first `Then` step stops the
capture and runs the validators once; every `Then` step then judges the requirement ids it
names from the same evidence.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from harness.capture.pcap_capture import CaptureError, LoopbackCapture, capture_available
from harness.capture.synthetic import SyntheticCapture
from harness.conformance.recorder_tlib_config import RecorderTlibConfig
from harness.emulators.call_legs import CallLegs
from harness.emulators.media_server import ActiveRecording, MediaServerEmulation, ReplicatedStream
from harness.emulators.runtime_control import PauseProfile, RuntimeControl
from harness.emulators.sip_server import Call, RecordingJob, SessionMode, Side, SipServerEmulation
from harness.emulators.sip_tserver import RecordingStatus, SipTServer
from harness.emulators.tlib_endpoint import Address, TlibEndpoint
from harness.emulators.tlib_server import BlockingTlibClient
from harness.media.timecode import SEGMENT_SAMPLES, SYMBOL_SAMPLES
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.message import parse_message
from harness.protocol.tlib import (
    Event,
    EventError,
    EventRegistered,
    KVValue,
    RecordOp,
    Request,
    TlibClientCore,
)
from harness.recorders.base import RecorderUnderTest
from harness.recorders.locate import (
    REFERENCE_LAYOUT,
    CallKeys,
    Located,
    RecordingLocator,
    StreamKey,
    snapshot,
)
from harness.sipp.runner import Scenario, SippLeg, SippResult, Transport, run_options
from harness.sipp.trace import TracedMessage, read_message_log
from harness.spec.findings import Finding
from harness.validators.model import Datagram
from harness.validators.pcap import PcapReadError, read_capture
from harness.validators.recording import ExpectedStream, validate_recording
from harness.validators.rtp import RtpReport, validate_rtp
from harness.validators.sip import ExpectedMode, SipReport, validate_sip

T = TypeVar("T")
# One RTP packet as sent: (wall-clock send time, source, destination, RTP bytes).
SentRtp = tuple[float, tuple[str, int], tuple[str, int], bytes]
# A scenario client's request may make SIP Server set up recording sessions (SIPp legs) before
# it answers: much longer than a T-Lib round trip.
TLIB_ANSWER_TIMEOUT_S = 60.0
SCENARIO_CLIENT_FIRST_REFERENCE_ID = 100_000_000


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
    # With a real capture: the RTP the Media Server emulation sent, as a pcap (the sender side
    # of `harness.validators.delivery`); None when the capture itself is rebuilt from it.
    sent_pcap: Path | None = None


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
        self.note(f"{name} ({this_dn or client.dn}) {op.value}: {_describe(answer)}")
        return answer

    def route_call(self, name: str, agent_dn: str, record: str | None = None,
                   user_data: Mapping[str, KVValue] | None = None) -> Event:
        assert self.call is not None, "no call at the routing point"
        extensions = {} if record is None else {"record": record}
        answer = self.tlib_clients[name].route_call(self.call.conn_id, agent_dn, extensions, user_data or {})
        self.note(f"routing strategy {name} routes to {agent_dn} with record={record}, UserData {dict(user_data or {})}: "
                  f"{_describe(answer)}")
        return answer

    def attach_data(self, name: str, data: Mapping[str, KVValue], *, update: bool = False) -> Event:
        """RequestAttachUserData (or RequestUpdateUserData) from a scenario client on the call."""
        assert self.call is not None, "no call to attach data to"
        answer = self.tlib_clients[name].user_data(self.call.conn_id, data, update=update)
        verb = "updates" if update else "attaches"
        self.note(f"{name} {verb} {dict(data)}: {_describe(answer)}")
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
            self.note(f"recorder T-Lib: {request.MESSAGE} {_request_summary(request)} -> {_describe(answer)}")
        self._wait_for_recordings()
        pcap = self.work_dir / "capture.pcap"
        method = self.capture_method
        sent_pcap: Path | None = None
        if self._capture is not None:
            if isinstance(self._capture, LoopbackCapture):
                time.sleep(0.2)  # let the last datagrams (BYE's 200) reach the capture
                self._capture.stop()
                sent_pcap = self._write_sent_rtp()
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
        evidence = Evidence(pcap, method, datagrams, sip, rtp, read_error, sent_pcap=sent_pcap)
        located = self.located_recording()
        if located is not None:
            evidence.recording_dir = located.directory
            # A third-party layout has no reference recording.json to require (its metadata,
            # if any, is in the recorder's own format).
            evidence.recording_findings = validate_recording(
                located.target, self.expected_streams(), require_metadata=isinstance(located.target, Path))
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
        records.extend((when, src, dst, packet, "udp") for when, src, dst, packet in self.sent_rtp())
        for when, src, dst, payload, transport in sorted(records, key=lambda r: r[0]):
            capture.record(src, dst, payload, when, transport)

    def sent_rtp(self) -> list[SentRtp]:
        """Every RTP packet the Media Server emulation really sent: (wall time, src, dst, bytes)."""
        media_server = self._media_server
        if media_server is None:
            return []
        offset = media_server.pacer.wall_offset
        replicas = [(sent_at + offset, (self.recorder.local_address, stream.local_port), stream.destination, packet)
                    for stream in (s for active in media_server.recordings for s in active.streams)
                    if stream.destination is not None
                    for sent_at, packet in self._rtp_sent(media_server, stream)]
        # The call's original legs too (harness-owned endpoints, not sent to the recorder).
        originals = media_server.call_legs.sent(media_server.pacer) if media_server.call_legs is not None else []
        return replicas + originals

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

    def _rtp_sent(self, media_server: MediaServerEmulation, stream: ReplicatedStream) -> list[tuple[float, bytes]]:
        """Every RTP packet a stream really sent, rebuilt byte for byte, with its send time.

        A stream is a sequence of pacer streams (*pieces*): one while nothing was paused, more
        after run-time control (harness/emulators/runtime_control.py). Each pacer log counts its
        own packets from 0, so a packet is found from its piece: time-code slot = the piece's
        first slot + the index in its log, sequence number = the one the pacer logged as sent;
        silence pieces carry codec silence; the first packet of a time-code piece has the
        marker (a new talkspurt after a gap, RFC 3551 §4.1), as `_piece_items` sends them.
        """
        pieces = self._pieces(stream)
        out: list[tuple[float, bytes]] = []
        source = stream.source
        for pacer_id, first_slot, silence in pieces:
            for k, sent in enumerate(media_server.pacer.log(pacer_id)):
                if sent.error is not None:
                    continue
                slot = first_slot + sent.index
                if silence:
                    packet = source.silence_packet(slot, seq=sent.seq, marker=False)
                else:
                    packet = source.packet(slot, seq=sent.seq, marker=k == 0)
                out.append((sent.sent_at, packet))
        return out

    def _pieces(self, stream: ReplicatedStream) -> list[tuple[int, int, bool]]:
        """(pacer stream id, first slot, silence) of each piece of a stream, in order."""
        if self.control is not None:
            with_pieces = {id(s) for active in self.control.history for s in active.streams}
            if id(stream) in with_pieces:
                pieces = self.control.pieces(stream)
                if pieces:
                    return [(p.pacer_id, p.first_slot, p.silence) for p in pieces]
        # Never controlled: the Media Server's own single pacer stream from slot 0.
        pacer_id = stream.pacer_id
        if pacer_id is None:
            return []
        return [(pacer_id, 0, False)]

    def _wait_for_recordings(self, timeout: float = 5.0) -> None:
        """A recorder finalises its files after the last BYE; give it a moment, never forever."""
        locator = self.recorder.locator
        if locator is not None and locator.spec.layout != "reference":
            # A third-party recorder's files may appear late and still grow after the last BYE:
            # wait (at most the profile's settle_s) until all are there and unchanged 0.2 s apart.
            deadline = time.monotonic() + locator.spec.settle_s
            previous: tuple[tuple[str, int, float], ...] | None = None
            while True:
                located = self.located_recording()
                if located is None:
                    return
                current = snapshot(located) if located.complete else None
                if current is not None and current == previous or time.monotonic() >= deadline:
                    return
                previous = current
                time.sleep(0.2)
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
        """Reference layout: <root>/<calluuid>/<record_id>/ (DESIGN.md §4); a profile's own
        layout: the directory the call's files were found in (the recordings root if none)."""
        if self.job is None or self.recorder.recordings is None:
            return None
        locator = self.recorder.locator
        if locator is not None and locator.spec.layout != "reference":
            located = self.located_recording()
            return locator.root if located is None else located.directory
        return self.recorder.recordings / self.job.call.calluuid / self.job.record_id

    def located_recording(self, active: ActiveRecording | None = None) -> Located | None:
        """A recording's files (default: the current one), found the profile's way
        (`harness.recorders.locate`); `target` is what `validate_recording` takes. None:
        recordings not visible / no recording."""
        active = active or self.active
        if self.job is None or self.recorder.recordings is None or active is None:
            return None
        locator = self.recorder.locator or RecordingLocator(REFERENCE_LAYOUT, self.recorder.recordings)
        streams = tuple(StreamKey(s.job.dn, s.job.side.value, leg.process.leg.call_id, s.job.stream_index)
                        for leg in active.legs for s in leg.streams)
        job = active.job
        keys = CallKeys(job.call.calluuid, job.record_id, job.record_dn, streams)
        # Files of this call are written after the scenario's first step (a little slack for
        # file systems with coarse mtimes).
        since = min((t for t, _ in self.notes), default=0.0) - 0.1
        return locator.locate(keys, since)

    def expected_streams(self, active: ActiveRecording | None = None) -> list[ExpectedStream]:
        active = active or self.active
        assert active is not None
        if self.control is not None:
            return [self.control.expected_stream(s) for s in active.streams]
        return [expected_stream(s) for s in active.streams]

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


@dataclass(slots=True)
class TlibClient:
    """A T-Lib client of the scenario (agent desktop, supervisor, routing strategy) over TCP:
    the wire format of docs/tlib-emulation.md, on the same T-Server port as the recorder."""

    name: str
    dn: str
    connection: BlockingTlibClient

    @property
    def address(self) -> Address:
        host, port = self.connection.sock.getsockname()[:2]
        return str(host), int(port)

    def _exchange(self, request: Request) -> Event:
        return self.connection.wait_answer(request)

    def register(self) -> Event:
        return self._exchange(self.connection.core.register_address(self.dn))

    def private_service(self, op: RecordOp, conn_id: str, extensions: Mapping[str, KVValue],
                        this_dn: str | None = None) -> Event:
        core = self.connection.core
        return self._exchange(core.private_service(this_dn or self.dn, conn_id, core.private_msgs.msg_id(op),
                                                   extensions))

    def route_call(self, conn_id: str, other_dn: str, extensions: Mapping[str, KVValue],
                   user_data: Mapping[str, KVValue] | None = None) -> Event:
        return self._exchange(self.connection.core.route_call(self.dn, conn_id, other_dn, extensions=extensions,
                                                              user_data=user_data or {}))

    def user_data(self, conn_id: str, data: Mapping[str, KVValue], *, update: bool = False) -> Event:
        core = self.connection.core
        build = core.update_user_data if update else core.attach_user_data
        return self._exchange(build(self.dn, conn_id, data))

    def close(self) -> None:
        self.connection.close()


def _describe(answer: Event | None) -> str:
    if answer is None:
        return "no answer"
    if isinstance(answer, EventError):
        return f"EventError {answer.error_code} ({answer.error_message})"
    return answer.MESSAGE


def _request_summary(request: Request) -> str:
    fields = {"ThisDN": request.this_dn, "ConnID": getattr(request, "conn_id", None),
              "PrivateMsgID": getattr(request, "private_msg_id", None)}
    return " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)


def write_sent_rtp(path: Path, packets: Iterable[SentRtp]) -> Path:
    """A pcap of sent RTP packets (any order; written in time order), as the sender saw them."""
    with SyntheticCapture(path, "the Media Server emulation's sender log") as capture:
        for when, src, dst, packet in sorted(packets, key=lambda r: r[0]):
            capture.record(src, dst, packet, when, "udp")
    return path


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
