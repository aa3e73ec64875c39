"""The reference Call Recording Server's logic, sans-IO (docs/architecture.md §2, §5).

Bytes in (`receive_sip`, `receive_rtp`), datagrams out (`data_to_send`), the clock passed in
(`now`), one deadline out (`next_deadline`) for the adapter to arm. Sockets, port binding and
the event loop live in `reference_recorder.server`; the core touches no file: it hands the disk
work (open a recording, add a stream, checkpoint, finalise) to the adapter as `StorageWork`
items, and answers a new INVITE once the adapter reports its files were created
(`storage_done`): 200, or 500 when they could not be (disk full, permissions).

What it does, with the rule behind each choice:
- Accepts the Genesys ARE recording INVITE (`sip:record=<id>@…;calluuid=…;dn=…;recordDN=…`,
  GVP-MSRec); two per-stream sessions of one call are correlated by `calluuid` into one
  recording (docs/genesys-flow.md §4.4); one session with two m-lines (`otherDN`) is one recording too.
- Answers every sendonly m-line `recvonly` and refuses video with port 0 (RFC 3264 §6.1,
  GVP-Video); 488 when no offered codec is PCMU/PCMA/G722 (RFC 3261 §21.4.26).
- 503 with Retry-After at its configured capacity (GVP-Scale: Resource Manager then tries
  the next recorder instead of losing the recording; RFC 3261 §21.5.4).
- Pause/resume by re-INVITE `a=inactive` / `a=sendonly` (RFC 7866 §7.1.1.2 style, docs/genesys-flow.md
  §4.6 profile 3); silence is written for the paused span so the file stays on wall-clock time.
- OPTIONS answered 200 (Resource Manager liveness ping, GVP-Scale).
- SIPREC recording sessions (RFC 7866): `reference_recorder.siprec` reads the multipart body
  and the RFC 7865 metadata; the core records each labelled stream and answers with `+sip.srs`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.genesys import RecordingTarget, parse_recording_uri
from harness.protocol.printable import printable
from harness.protocol.rtp import g711
from harness.protocol.rtp.g722 import G722Decoder
from harness.protocol.rtp.impairments_seen import ImpairmentCounter
from harness.protocol.rtp.packet import RtpPacket, RtpParseError
from harness.protocol.rtp.stats import RtpStreamStats
from harness.protocol.sdp import (
    Direction,
    MediaDescription,
    SessionDescription,
    StreamPlan,
    answer_offer,
    parse_sdp,
)
from harness.protocol.sip import uas
from harness.protocol.sip.dialog import Dialog
from harness.protocol.sip.message import SipRequest, SipResponse, parse_message
from harness.protocol.sip.session_timer import TimerAnswer, uas_session_timer
from harness.protocol.siprec.session import OPTION_TAG
from reference_recorder import siprec as srs
from reference_recorder.in_dialog import build_in_dialog, destination
from reference_recorder.log_limit import RateLimitedLog
from reference_recorder.names import safe_component
from reference_recorder.rtp_timeout import RTP_TIMEOUT_REASON, build_bye, bye_destination
from reference_recorder.storage_work import (
    RecordingRef,
    StorageAddStream,
    StorageAnnotate,
    StorageClose,
    StorageEndStream,
    StorageOpen,
    StoragePause,
    StorageResume,
    StorageTick,
    StorageWork,
)

if TYPE_CHECKING:  # the T-Lib client is the adapter's (server.py); only its type here
    from reference_recorder.tlib_agent import TlibAgent

# G.722 (RFC 3551 §4.5.2) is decoded to the recording's 8 kHz rate, its RTP clock: the files keep
# the narrow band only (harness/protocol/rtp/g722.py).
SUPPORTED_CODECS = ("PCMU", "PCMA", "G722")
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"
# RTCP and comfort noise share the port range / payload space with audio; only these carry audio.
_COMFORT_NOISE_PT = 13
_G711_CLOCK = 8000


class MediaPorts(Protocol):
    """Binding RTP ports is I/O: the adapter does it and lends the core the port numbers."""

    def allocate(self) -> int: ...

    def release(self, port: int) -> None: ...


@dataclass(frozen=True, slots=True)
class RecorderConfig:
    recordings_root: Path
    sip_address: tuple[str, int]
    media_address: str
    transport: str = "udp"
    capacity: int = 100  # concurrent recording sessions (SIP dialogs)
    retry_after_s: int = 30
    user_agent: str = "arec-reference-recorder/0.1"
    tick_interval_s: float = 0.2
    # How late a packet may be processed and still land in place. A recorder is not a playout
    # device, so latency costs nothing here, while a loaded host that stalls the event loop for
    # 100 ms must not cost audio (measured: 60 ms dropped packets under `pytest -n 2`).
    jitter_window_s: float = 0.5
    # After a BYE, RTP already queued on the media sockets is still recorded for this long:
    # Media Server stops the stream and sends BYE back to back, and the event loop may read the
    # SIP socket before the RTP one; the stream's end time stays the BYE's.
    bye_grace_s: float = 0.3
    # A confirmed session with no RTP for this long is ended with our BYE (a Media Server that
    # died sends none, GVP-HA; reference_recorder/rtp_timeout.py). None: never.
    rtp_timeout_s: float | None = 30.0
    # A SIPREC recording session confirmed (ACK) without any metadata for this long: the SRS
    # asks the SRC for a snapshot by UPDATE (RFC 7866 §9.2). None: never asks. 3 s leaves an SRC
    # that sends its late metadata about a second after the ACK (feature 15) two seconds before
    # the request could cross that re-INVITE.
    metadata_wait_s: float | None = 3.0


@dataclass(slots=True)
class MediaStream:
    """One accepted audio m-line of one recording session."""

    key: str
    m_index: int
    dn: str
    port: int
    encoding: str
    payload_type: int
    clock_rate: int
    stats: RtpStreamStats
    paused: bool = False
    rtp_errors: int = 0
    unexpected_pt: int = 0
    # ADPCM state of a G.722 stream (one decoder, fed in arrival order); None for G.711.
    g722: G722Decoder | None = None
    # RFC 4733 telephone events received (the answer's telephone-event PT): noted in
    # recording.json, never decoded as audio.
    telephone_event_pt: int | None = None
    events: ImpairmentCounter = field(default_factory=ImpairmentCounter)
    # A later session's stream of a DN the recording already had audio of (GVP-HA failover):
    # when that audio ended and its Call-ID; the gap is marked at this stream's first audio.
    replaces: tuple[float, str] | None = None


@dataclass(slots=True)
class RecordingSession:
    """One SIP dialog from Media Server (one per stream in two-session mode)."""

    call_id: str
    target: RecordingTarget
    recording: RecordingRef
    plans: list[StreamPlan] = field(default_factory=list)
    streams: list[MediaStream] = field(default_factory=list)
    confirmed: bool = False
    ending: tuple[float, float, str] | None = None  # (finalise at, ended at, reason)
    # Our SDP's o= sess-id and sess-version: RFC 3264 §8, a later answer in the dialog keeps the
    # origin line and increments only the version.
    sdp_session_id: int = 0
    sdp_version: int = 1
    # Until the adapter reports the stream files created: the INVITE to answer, our SDP answer,
    # the storage items still outstanding, and the first failure among them.
    pending: tuple[uas.RequestHandle, bytes] | None = None
    awaiting: set[int] = field(default_factory=set)
    storage_error: str | None = None
    dialog: Dialog | None = None  # once answered 2xx: what our BYE on an RTP timeout is built from
    last_media: float = 0.0  # when RTP last arrived (or the session was answered)
    siprec: srs.SiprecSession | None = None  # a SIPREC recording session (RFC 7866)
    # RFC 4028 §9: the session-timer headers of the INVITE's 2xx (harness.protocol.sip.session_timer).
    timer_headers: tuple[tuple[str, str], ...] = ()
    # The session interval the Media Server refreshes (refresher=uac) and when it runs out (set
    # when the 2xx leaves, moved by each refresh); None: no session timer to watch.
    timer_interval: int | None = None
    expires_at: float | None = None
    # SIPREC: when to ask for a metadata snapshot if none arrived (RFC 7866 §9.2), and the CSeq
    # of our last request in the dialog (RFC 3261 §12.2.1.1: each of ours takes the next one).
    snapshot_at: float | None = None
    local_cseq: int = 0

    def refreshed(self, timer: TimerAnswer, now: float) -> None:
        """RFC 4028 §7.4/§9: a 2xx to the INVITE or to a refresh (re)starts the session timer."""
        granted = timer.granted
        self.timer_interval = granted.interval if granted is not None and granted.refresher == "uac" else None
        self.expires_at = None if self.timer_interval is None else now + self.timer_interval

    def ends_by_timer_at(self) -> float | None:
        """RFC 4028 §10: the side not refreshing ends the session "slightly before the session
        expiration. The minimum of 32 seconds and one third of the session interval is
        RECOMMENDED" (so much before it)."""
        if self.expires_at is None or self.timer_interval is None or self.ending is not None:
            return None
        return self.expires_at - min(32.0, self.timer_interval / 3)


class RecorderCore:
    # The T-Lib client logic run beside this core with --tlib (None: reference_recorder.tlib_agent's
    # own); a test double of the recorder may swap it with its SIP behaviour.
    TLIB_AGENT: ClassVar[type[TlibAgent] | None] = None
    # A SIPREC re-offer's new labelled m-line becomes a new stream (False: refused, port 0).
    ADD_SIPREC_STREAMS = True

    def __init__(
        self,
        config: RecorderConfig,
        ports: MediaPorts,
        *,
        log: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.config = config
        self._ports = ports
        self._log = log
        # Lines one peer datagram can cause (a bad message, a refused request): rate-limited.
        self._log_limited = RateLimitedLog(log)
        host, port = config.sip_address
        transport = ";transport=tcp" if config.transport == "tcp" else ""
        # §12.1.1: the 2xx to INVITE carries our Contact; the UAS core adds it.
        self._contact = f"<sip:recorder@{_uri_host(host)}:{port}{transport}>"
        # `siprec` (RFC 7866 §6.1.1) is the one option tag a recording INVITE may require; any
        # other gets 420 + Unsupported from the UAS core (RFC 3261 §8.2.2.3).
        self._ua = uas.UserAgentServer(contact=self._contact, allow=ALLOW.split(", "),
                                       supported=(OPTION_TAG,), stateless=self._stateless_answer)
        self._sessions: dict[str, RecordingSession] = {}  # by Call-ID
        self._streams_by_port: dict[int, tuple[RecordingSession, MediaStream]] = {}
        self._session_ids = itertools.count(1)
        self._next_tick: float | None = None
        self._storage_work: list[StorageWork] = []
        self._recording_ids = itertools.count(1)
        self._open: list[RecordingRef] = []  # recordings not yet handed to StorageClose
        self._current: dict[tuple[str, str], RecordingRef] = {}  # latest by (calluuid, record id)
        self._awaited: dict[int, RecordingSession] = {}  # id(StorageAddStream) -> its session
        self._bye_out: list[uas.Outgoing] = []
        self._bye_branches = itertools.count(1)
        self.counters: dict[str, int] = {"bad_sip": 0, "bad_rtp": 0, "rtp_unknown_port": 0, "rejected_503": 0}

    # -- input ---------------------------------------------------------------------------
    def receive_sip(self, data: bytes, source: tuple[str, int], now: float) -> None:
        if data.startswith(b"SIP/2.0 ") and self._response_to_ours(data):
            return
        for event in self._ua.receive_datagram(data, source, now):
            self._handle(event, now)

    def _response_to_ours(self, data: bytes) -> bool:
        """A response to our snapshot-request UPDATE (the UAS core would drop it as unmatched,
        RFC 6026 §7.2): note its status for recording.json; True when it was one."""
        try:
            message = parse_message(data)
        except RemoteProtocolError:
            return False
        if not isinstance(message, SipResponse):
            return False
        try:
            session = self._sessions.get(message.call_id)
            cseq = message.cseq
        except RemoteProtocolError:
            return False
        if session is None or session.siprec is None or cseq.method != "UPDATE" \
                or cseq.number != session.local_cseq or not session.siprec.snapshot_requested:
            return False
        if message.status >= 200 and session.siprec.snapshot_answer is None:
            session.siprec.snapshot_answer = message.status
            self._log(f"session {printable(session.call_id)}: snapshot request answered {message.status}")
        return True

    def receive_sip_stream(self, connection: tuple[str, int], data: bytes, now: float) -> bool:
        """Bytes of the TCP connection from `connection`; False when it must be closed (§18.3)."""
        keep_open = True
        for event in self._ua.receive_stream_bytes(connection, data, now):
            if isinstance(event, uas.CloseConnection):
                keep_open = False
            self._handle(event, now)
        return keep_open

    def connection_closed(self, connection: tuple[str, int]) -> None:
        self._ua.connection_closed(connection)

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        entry = self._streams_by_port.get(port)
        if entry is None:
            self.counters["rtp_unknown_port"] += 1
            return
        session, stream = entry
        session.last_media = now
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            stream.rtp_errors += 1
            self.counters["bad_rtp"] += 1
            return
        stream.stats.update(packet.sequence, packet.timestamp, now, packet.payload_type,
                            packet.marker, packet.ssrc)
        if session.pending is not None:
            return  # not answered yet: nobody can be sending to this port legitimately
        if packet.payload_type == stream.payload_type and stream.encoding.upper() == "G722":
            if stream.g722 is None:
                stream.g722 = G722Decoder()
            pcm = stream.g722.decode(packet.payload)
        elif packet.payload_type == stream.payload_type:
            pcm = g711.decode(stream.encoding, packet.payload)
        elif packet.payload_type == _COMFORT_NOISE_PT:
            return  # RFC 3389 comfort noise: the timeline fills the gap with silence
        else:
            stream.unexpected_pt += 1  # telephone-event etc. carry no audio for the file
            if packet.payload_type == stream.telephone_event_pt:
                stream.events.add(packet.ssrc, packet.sequence, packet.timestamp, packet.payload_type, packet.payload)
            return
        if stream.paused:
            return  # PCI: nothing sent while paused may end up in the recording
        if stream.replaces is not None:
            self._mark_gap(session, stream, now)
        # GVP-HA: where this DN's audio ends so far, for a failover session's gap (cheap: one
        # dict entry per DN of the recording).
        session.recording.audio_end[stream.dn] = (now + len(pcm) / _G711_CLOCK, session.call_id)
        # Queued, not written: the store places it when the adapter next runs its storage work.
        session.recording.audio.append((stream.key, packet.timestamp, pcm, now, packet.ssrc))

    # -- timers ----------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        endings = [s.ending[0] for s in self._sessions.values() if s.ending is not None]
        expiries = [s.ends_by_timer_at() for s in self._sessions.values()]
        snapshots = [s.snapshot_at for s in self._sessions.values()]
        deadlines = [d for d in (self._ua.next_deadline(), self._next_tick, *endings, *expiries, *snapshots)
                     if d is not None]
        return min(deadlines) if deadlines else None

    def on_timer(self, now: float) -> None:
        for event in self._ua.on_timer(now):
            self._handle(event, now)
        for session in self._sessions.values():
            due = session.ends_by_timer_at()
            if due is not None and now >= due:
                # The refresher stopped refreshing (RFC 4028 §10: "it SHOULD send a BYE to
                # terminate the session, slightly before the session expiration"): BYE, as for
                # an RTP timeout, and end the recording instead of holding it for a dead dialog.
                self._send_bye(session, 'SIP;cause=408;text="Session timer expired"')
                self._log(f"session {printable(session.call_id)}: session timer expired, BYE sent")
                session.ending = (now, now, "session timer expired")
        for session in [s for s in self._sessions.values() if s.snapshot_at is not None and now >= s.snapshot_at]:
            session.snapshot_at = None
            self._request_snapshot(session, now)
        for session in [s for s in self._sessions.values() if s.ending is not None and now >= s.ending[0]]:
            _, ended_at, reason = session.ending  # type: ignore[misc]
            self._end_session(session, now, reason, ended_at=ended_at)
        if self._next_tick is not None and now >= self._next_tick:
            self._tick(now)

    def data_to_send(self) -> list[uas.Outgoing]:
        byes, self._bye_out = self._bye_out, []
        return self._ua.data_to_send() + byes

    def storage_work(self) -> list[StorageWork]:
        """Disk work due since the last call, in order (the adapter runs it with `store.run`,
        off the event loop): the core only decides, it never creates, writes or fsyncs."""
        work, self._storage_work = self._storage_work, []
        return work

    def storage_done(self, work: StorageWork, error: BaseException | None, now: float) -> None:
        """The adapter ran `work`: `error` is what it raised (None: done). A new INVITE is
        answered when the last of its streams' files exists: 200 with our SDP answer, or 500
        when one could not be created (RFC 3261 §21.5.1; every INVITE gets a final response,
        and Resource Manager may then try another recorder)."""
        if isinstance(work, StorageOpen) and error is not None:
            # Its sessions learn why from their streams' work; the reason is this one. The
            # recording is never joined again: the next INVITE of the call tries anew.
            for waiting in self._sessions.values():
                if waiting.recording is work.recording and waiting.storage_error is None:
                    waiting.storage_error = printable(error)
            self._close_recording(work.recording, now)
            return
        session = self._awaited.pop(id(work), None)
        if session is None or session.pending is None:
            return  # not awaited, or the session ended meanwhile (CANCEL, shutdown)
        session.awaiting.discard(id(work))
        if error is not None and session.storage_error is None:
            session.storage_error = printable(error)
        if session.awaiting:
            return
        handle, answer = session.pending
        session.pending = None
        contact = self._siprec_contact(session)
        if session.storage_error is not None:
            self._log(f"INVITE {printable(session.call_id)}: 500 cannot store the recording: "
                      f"{session.storage_error}")
            self._end_session(session, now, "storage failed")
            self._ua.respond(handle, 500, "Server Internal Error",
                             headers=[("Server", self.config.user_agent)], now=now)
            return
        session.dialog = self._ua.respond(handle, 200, headers=[("Server", self.config.user_agent), *contact,
                                                                *session.timer_headers],
                                          body=answer, content_type="application/sdp", now=now)
        session.last_media = now
        if session.timer_interval is not None:
            session.expires_at = now + session.timer_interval

    def close(self, now: float) -> None:
        """Shutdown: end every session and hand out the closing of every open recording."""
        for session in list(self._sessions.values()):
            if session.pending is not None:
                # Still waiting for its files: answer it (§21.5.4, try another recorder).
                self._ua.respond(session.pending[0], 503, "Service Unavailable", now=now,
                                 headers=[("Server", self.config.user_agent),
                                          ("Retry-After", str(self.config.retry_after_s))])
            self._end_session(session, now, "recorder shutdown")
        for ref in list(self._open):
            self._close_recording(ref, now)

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    # -- SIP events ------------------------------------------------------------------------
    def _handle(self, event: object, now: float) -> None:
        if isinstance(event, uas.RequestReceived):
            self._on_request(event, now)
        elif isinstance(event, uas.CancelReceived):
            # §9.2: the UAS core answered 487; a session still waiting for its files ends here.
            for cancelled in [s for s in self._sessions.values()
                              if s.pending is not None and s.pending[0] == event.handle]:
                self._end_session(cancelled, now, "CANCEL")
        elif isinstance(event, uas.AckReceived):
            session = self._sessions.get(event.request.call_id)
            if session is not None:
                session.confirmed = True
                wait = self.config.metadata_wait_s
                if (session.siprec is not None and session.siprec.metadata is None and wait is not None
                        and not session.siprec.snapshot_requested):
                    session.snapshot_at = now + wait
        elif isinstance(event, uas.DialogTerminated):
            # BYE (the UAS core already queued its 200, ARE step 10) or no ACK for our 2xx.
            session = self._sessions.get(event.dialog.id.call_id)
            if session is not None and session.ending is None:
                reason = "BYE" if event.request is not None else event.reason.name.lower()
                session.ending = (now + self.config.bye_grace_s, now, reason)
        elif isinstance(event, uas.BadMessage):
            self.counters["bad_sip"] += 1
            self._log_limited("bad_sip", f"bad SIP message ({'answered' if event.answered else 'dropped'}): "
                              f"{printable(event.error)}", now)

    def _stateless_answer(self, request: SipRequest) -> uas.StatelessAnswer | None:
        """What is answered without transaction state (RFC 3261 §8.2.7), so that a flood costs
        one parse and one send per request and leaves nothing behind: Resource Manager's
        OPTIONS ping (GVP-Scale liveness, answered throughout an overload), and an initial
        INVITE beyond capacity (503 + Retry-After, §21.5.4)."""
        server = ("Server", self.config.user_agent)
        if request.method == "OPTIONS":
            return 200, "OK", (server, ("Allow", ALLOW), ("Accept", "application/sdp"))
        if request.method == "INVITE":
            return self._admit(request)
        return None

    def _admit(self, request: SipRequest) -> uas.StatelessAnswer | None:
        """None to accept a new INVITE for processing; a 503 answer at capacity."""
        if sum(1 for s in self._sessions.values() if s.ending is None) < self.config.capacity:
            return None
        self.counters["rejected_503"] += 1
        return 503, "Service Unavailable", (("Server", self.config.user_agent),
                                            ("Retry-After", str(self.config.retry_after_s)))

    def _on_request(self, event: uas.RequestReceived, now: float) -> None:
        request = event.request
        method = request.method
        try:
            if method == "OPTIONS":
                self._respond(event, now, 200, headers=[("Allow", ALLOW), ("Accept", "application/sdp")])
            elif method == "INVITE" and not event.in_dialog:
                self._on_new_invite(event, now)
            elif method == "INVITE":
                self._on_reinvite(event, now)
            elif method == "UPDATE":
                self._on_update(event, now)
            elif method == "INFO":
                self._respond(event, now, 200)
            else:
                self._respond(event, now, 405, headers=[("Allow", ALLOW)])
        except RemoteProtocolError as error:
            self._log_limited("refused", f"{method} {printable(request.call_id)}: {error.status} {printable(error)}",
                              now)
            self._respond(event, now, error.status, error.reason, headers=list(error.extra_headers))

    def _on_new_invite(self, event: uas.RequestReceived, now: float) -> None:
        request = event.request
        if sum(1 for s in self._sessions.values() if s.ending is None) >= self.config.capacity:
            self.counters["rejected_503"] += 1
            raise RemoteProtocolError("at capacity", 503, "Service Unavailable",
                                      (("Retry-After", str(self.config.retry_after_s)),))
        if request.call_id in self._sessions:
            # Sessions are keyed by Call-ID; a second dialog-creating INVITE with the Call-ID of a
            # live session (no To tag, new branch) is most likely the same request arriving by
            # another path, and §8.2.2.2 says such a merged request "SHOULD" get 482 (Loop
            # Detected). Accepting it would overwrite the live session and leak its RTP ports.
            raise RemoteProtocolError(f"Call-ID {request.call_id} already has a session", 482,
                                      "Loop Detected")
        recording_session = self._open_recording_session(request)
        if recording_session is None:
            target = parse_recording_uri(request.uri)
            _check_identifiers(target)
            offer = self._offer_of(request)
            rs_state = None
        else:
            target, offer, rs_state = recording_session
            _check_identifiers(target)
        timer = uas_session_timer(request)  # 422 + Min-SE for too small an interval (RFC 4028 §9)
        plans_ports: dict[int, int] = {}

        def allocate(m_index: int, _media: object) -> int:
            port = self._ports.allocate()
            plans_ports[m_index] = port
            return port

        session_id = next(self._session_ids)
        try:
            answer, plans = answer_offer(
                offer, address=self.config.media_address, allocate_port=allocate,
                supported_encodings=SUPPORTED_CODECS, session_id=session_id,
            )
            bad_clock = [p for p in plans if p.accepted and p.clock_rate != _G711_CLOCK]
            if bad_clock:
                # RFC 3551 §4.5.14: G.711 is sampled at 8000 Hz; the recording timeline is too.
                raise RemoteProtocolError(f"G.711 at {bad_clock[0].clock_rate} Hz", 488, "Not Acceptable Here")
        except OSError as error:
            # RTP port range exhausted: like capacity, ask Resource Manager to try the next
            # recorder (§21.5.4 503 + Retry-After) instead of leaving the INVITE unanswered.
            for port in plans_ports.values():
                self._ports.release(port)
            self.counters["rejected_503"] += 1
            raise RemoteProtocolError(f"no RTP port: {error}", 503, "Service Unavailable",
                                      (("Retry-After", str(self.config.retry_after_s)),)) from None
        except RemoteProtocolError:
            for port in plans_ports.values():
                self._ports.release(port)
            raise
        recording = self._recording_for(target, now)
        session = RecordingSession(request.call_id, target, recording, plans=plans, sdp_session_id=session_id,
                                   pending=(event.handle, answer.to_bytes()), siprec=rs_state,
                                   timer_headers=timer.headers)
        session.refreshed(timer, now)
        session.expires_at = None  # runs from the 2xx (storage_done), not from the INVITE
        accepted = [p for p in plans if p.accepted]
        for position, plan in enumerate(accepted):
            assert plan.encoding is not None and plan.payload_type is not None and plan.clock_rate
            # Single-session mode: the first audio m-line is `dn`, the second `otherDN` (GVP-MSRec).
            dn = target.dn if position == 0 or target.other_dn is None else target.other_dn
            if rs_state is not None:
                dn = rs_state.dn_for(plan.index)  # SIPREC: the stream is named by its a=label
            key = f"{request.call_id}#{plan.index}"
            if key in recording.stream_keys:
                # A Call-ID reused after its session ended, while the call's recording is still
                # open (the other party's session lives on): keep the earlier stream's key.
                key = f"{key}~{len(recording.stream_keys) + 1}"
            stream = MediaStream(key, plan.index, dn, plan.port, plan.encoding, plan.payload_type,
                                 plan.clock_rate, RtpStreamStats(plan.clock_rate),
                                 telephone_event_pt=plan.telephone_event_pt,
                                 events=ImpairmentCounter(frozenset({plan.telephone_event_pt})
                                                          if plan.telephone_event_pt is not None else frozenset()))
            recording.stream_keys.append(key)
            stream.replaces = recording.audio_end.get(dn)
            # The files are created by the adapter; the answer waits for its report (storage_done).
            work = StorageAddStream(recording, key, dn, plan.encoding, plan.clock_rate, request.call_id, now)
            self._storage_work.append(work)
            if plan.offer_direction is Direction.INACTIVE:
                # RFC 3264 §6.1: an inactive stream carries no media; its silence is neither
                # recorded as audio nor taken for a dead Media Server by the RTP timeout.
                stream.paused = True
                self._storage_work.append(StoragePause(recording, key, now))
            self._awaited[id(work)] = session
            session.awaiting.add(id(work))
            session.streams.append(stream)
            self._streams_by_port[plan.port] = (session, stream)
        for port in plans_ports.values():
            if port not in self._streams_by_port:
                self._ports.release(port)  # allocated for an m-line the answer then refused
        self._sessions[request.call_id] = session
        self._annotate_siprec(session, now)
        self._schedule_tick(now)
        self._log(f"recording session {printable(request.call_id)}: calluuid={printable(target.calluuid)} "
                  f"record={printable(target.record_id)} dn={printable(target.dn)} streams={len(session.streams)}")

    def _on_reinvite(self, event: uas.RequestReceived, now: float) -> None:
        request = event.request
        session = self._sessions.get(request.call_id)
        if session is None:
            raise RemoteProtocolError("re-INVITE for a finished session", 481,
                                      "Call/Transaction Does Not Exist")
        timer = uas_session_timer(request)  # a session refresh (RFC 4028 §7.4, §9)
        offer = self._offer_of(request) if session.siprec is None else srs.reoffer(session.siprec, request)
        by_index = {s.m_index: s for s in session.streams}

        added: dict[int, int] = {}  # m-line index -> port, SIPREC streams added by this re-offer

        def refuse_new(m_index: int, media: MediaDescription) -> int:
            # A re-offer keeps each stream on its port (RFC 3264 §8, `previous=`); an m-line added
            # mid-session is refused with port 0: the recording's channel layout is fixed. Except
            # in a SIPREC session, where a new labelled m-line is a new stream of the recording
            # (a transfer that adds a participant, RFC 7866 §7.1.1.1), named by its label.
            label = media.label
            if not self.ADD_SIPREC_STREAMS or session.siprec is None or label is None or media.media != "audio" \
                    or label in {s.dn for s in session.streams}:
                return 0
            added[m_index] = self._ports.allocate()
            return added[m_index]

        # RFC 3264 §8: "the "o=" line of the new SDP MUST be identical to that in the previous
        # SDP, except that the version in the origin field MUST increment by one".
        answer, plans = answer_offer(
            offer, address=self.config.media_address, allocate_port=refuse_new,
            supported_encodings=SUPPORTED_CODECS, session_id=session.sdp_session_id,
            session_version=session.sdp_version + 1, previous=session.plans,
        )
        session.sdp_version += 1
        session.plans = plans
        self._add_siprec_streams(session, plans, added, now)
        for plan in plans:
            stream = by_index.get(plan.index)
            if stream is None or not plan.accepted:
                continue
            assert plan.encoding is not None and plan.payload_type is not None
            stream.encoding, stream.payload_type = plan.encoding, plan.payload_type
            if plan.offer_direction is Direction.INACTIVE and not stream.paused:
                stream.paused = True
                self._storage_work.append(StoragePause(session.recording, stream.key, now))
            elif plan.offer_direction in (Direction.SENDONLY, Direction.SENDRECV) and stream.paused:
                stream.paused = False
                self._storage_work.append(StorageResume(session.recording, stream.key, now))
        self._annotate_siprec(session, now)
        self._respond(event, now, 200, headers=[*self._siprec_contact(session), *timer.headers],
                      body=answer.to_bytes(), content_type="application/sdp")
        session.refreshed(timer, now)

    def _add_siprec_streams(self, session: RecordingSession, plans: list[StreamPlan], added: dict[int, int],
                            now: float) -> None:
        """The streams a SIPREC re-offer added: the same file layout as the INVITE's (one per
        label), their files created by the adapter before any of their audio is placed (the
        storage work runs in order). The answer does not wait for them: a re-INVITE's 2xx
        changes nothing the recording already holds."""
        for plan in plans:
            port = added.get(plan.index)
            if port is None:
                continue
            if not plan.accepted:
                self._ports.release(port)  # allocated, then refused (no common codec)
                continue
            assert plan.encoding is not None and plan.payload_type is not None and plan.clock_rate
            assert session.siprec is not None
            dn = session.siprec.dn_for(plan.index)
            key = f"{session.call_id}#{plan.index}"
            if key in session.recording.stream_keys:
                key = f"{key}~{len(session.recording.stream_keys) + 1}"
            stream = MediaStream(key, plan.index, dn, plan.port, plan.encoding, plan.payload_type, plan.clock_rate,
                                 RtpStreamStats(plan.clock_rate), telephone_event_pt=plan.telephone_event_pt,
                                 events=ImpairmentCounter(frozenset({plan.telephone_event_pt})
                                                          if plan.telephone_event_pt is not None else frozenset()))
            session.recording.stream_keys.append(key)
            self._storage_work.append(StorageAddStream(session.recording, key, dn, plan.encoding, plan.clock_rate,
                                                       session.call_id, now))
            session.streams.append(stream)
            self._streams_by_port[plan.port] = (session, stream)
            self._log(f"session {printable(session.call_id)}: stream {printable(dn)} added by re-offer")

    @staticmethod
    def _open_recording_session(request: SipRequest) -> tuple[RecordingTarget, SessionDescription,
                                                              srs.SiprecSession] | None:
        """A SIPREC recording session's target, offer and state; None for any other INVITE
        (403 for one that requires siprec without +sip.src, RFC 7866 §6.2)."""
        recording_session = srs.open_recording_session(request)
        if recording_session is None:
            srs.refuse_half_siprec(request)
        return recording_session

    def _siprec_contact(self, session: RecordingSession) -> list[tuple[str, str]]:
        """RFC 7866 §6.2: the SRS's Contact in a recording session carries `+sip.srs`."""
        return [] if session.siprec is None else [("Contact", srs.contact_with_srs_tag(self._contact))]

    def _annotate_siprec(self, session: RecordingSession, now: float) -> None:
        """Hand the participant <-> stream map to the store (recording.json `siprec`)."""
        if session.siprec is not None:
            keys = {s.m_index: s.key for s in session.streams}
            self._storage_work.append(StorageAnnotate(session.recording, "siprec", session.siprec.to_json(keys), now))

    def _on_update(self, event: uas.RequestReceived, now: float) -> None:
        """RFC 3311 UPDATE: with an offer it is answered like a re-INVITE's (§5.2: the answer in
        the 2xx); without one it is a session refresh (RFC 4028 §7.4: UPDATE is preferred for
        refreshes because it needs no offer), answered 200 with the session-timer headers."""
        request = event.request
        if request.body:
            self._on_reinvite(event, now)
            return
        session = self._sessions.get(request.call_id)
        if session is None:
            raise RemoteProtocolError("UPDATE for a finished session", 481, "Call/Transaction Does Not Exist")
        timer = uas_session_timer(request)
        self._respond(event, now, 200, headers=list(timer.headers))
        session.refreshed(timer, now)

    @staticmethod
    def _offer_of(request: SipRequest) -> SessionDescription:
        if not request.body:
            # An INVITE without an offer would make us the offerer; a recorder has nothing to
            # offer but recvonly, and Media Server always offers (GVP-MSRec), so refuse it.
            raise RemoteProtocolError("INVITE without SDP offer", 488, "Not Acceptable Here")
        if request.content_type != "application/sdp":
            raise RemoteProtocolError(f"unsupported body {request.content_type}", 415,
                                      "Unsupported Media Type", (("Accept", "application/sdp"),))
        return parse_sdp(request.body)

    def _recording_for(self, target: RecordingTarget, now: float) -> RecordingRef:
        """The recording this session belongs to: correlate the sessions of a call by calluuid.

        Whether Genesys gives the two per-party sessions the same `record=` id is not published
        (docs/genesys-flow.md §4.2), so a session joins an open recording of the same calluuid when the
        ids match, or when that recording holds exactly one other party's stream; otherwise
        (e.g. stop then start: a new id) it starts a new recording. A new one is a StorageOpen
        for the adapter, its directory names sanitised here (pure computation, CWE-22).
        """
        for recording in self._open:
            if recording.calluuid != target.calluuid or target.single_session:
                continue
            if recording.record_id == target.record_id:
                return recording
            owners = [s for s in self._sessions.values() if s.recording is recording]
            if (len(owners) == 1 and not owners[0].target.single_session
                    and owners[0].target.dn != target.dn):
                return recording
        ident = (target.calluuid, target.record_id)
        current = self._current.get(ident)
        if current is not None and not current.closing:
            return current
        ref = RecordingRef(next(self._recording_ids), target.calluuid, target.record_id,
                           (safe_component(target.calluuid), safe_component(target.record_id)), opened_at=now)
        self._current[ident] = ref
        self._open.append(ref)
        self._storage_work.append(StorageOpen(ref, now, dn=target.dn, record_dn=target.record_dn))
        return ref

    def _end_session(self, session: RecordingSession, now: float, reason: str,
                     ended_at: float | None = None) -> None:
        self._sessions.pop(session.call_id, None)
        for work_id in session.awaiting:
            self._awaited.pop(work_id, None)
        session.awaiting.clear()
        session.pending = None
        for stream in session.streams:
            self._streams_by_port.pop(stream.port, None)
            self._ports.release(stream.port)
            self._storage_work.append(StorageEndStream(session.recording, stream.key, self._stream_report(stream),
                                                       now if ended_at is None else ended_at, reason))
        if not any(s.recording is session.recording for s in self._sessions.values()):
            # ARE step 10: the last stream's BYE ends the recording; the adapter finalises the
            # files (disk work, off the event loop).
            self._close_recording(session.recording, now)
        self._log(f"session {printable(session.call_id)} ended: {reason}")

    def _close_recording(self, ref: RecordingRef, now: float) -> None:
        if ref.closing:
            return
        ref.closing = True
        self._open = [r for r in self._open if r is not ref]
        self._storage_work.append(StorageClose(ref, now))

    @staticmethod
    def _stream_report(stream: MediaStream) -> dict[str, object]:
        report = stream.stats.snapshot().to_dict()
        report.update(encoding=stream.encoding, payload_type=stream.payload_type, port=stream.port,
                      rtp_parse_errors=stream.rtp_errors, non_audio_packets=stream.unexpected_pt,
                      telephone_events=[{"event": e.name, "duration": e.duration, "ended": e.ended}
                                        for e in stream.events.result().events])
        return report

    def _respond(self, event: uas.RequestReceived, now: float, status: int, reason: str | None = None, *,
                 headers: list[tuple[str, str]] | None = None, body: bytes = b"",
                 content_type: str | None = None) -> None:
        all_headers = [("Server", self.config.user_agent), *(headers or [])]
        self._ua.respond(event.handle, status, reason, headers=all_headers, body=body,
                         content_type=content_type, now=now)

    def _schedule_tick(self, now: float) -> None:
        if self._next_tick is None:
            self._next_tick = now + self.config.tick_interval_s

    def _tick(self, now: float) -> None:
        stats = tuple((session.recording, stream.key, self._stream_report(stream))
                      for session in self._sessions.values() for stream in session.streams)
        self._storage_work.append(StorageTick(now, self.config.tick_interval_s, stats))
        self._end_silent_sessions(now)
        # StorageClose writes out what is left of a recording: no tick is needed after the last.
        self._next_tick = now + self.config.tick_interval_s if self._open else None


    def _request_snapshot(self, session: RecordingSession, now: float) -> None:
        """RFC 7866 §9.2: still no metadata, so ask the SRC for a full snapshot (once, by UPDATE)."""
        state, dialog = session.siprec, session.dialog
        if (state is None or state.metadata is not None or dialog is None or session.ending is not None
                or self.config.transport != "udp"):
            return
        headers, body = srs.snapshot_request()
        session.local_cseq += 1
        # Our own requests in a dialog all go out through the RTP-timeout BYE's queue.
        self._bye_out.append(uas.Outgoing(
            build_in_dialog(dialog, "UPDATE", self.config.sip_address, f"{next(self._bye_branches)}",
                            self.config.user_agent, cseq=session.local_cseq,
                            headers=[("Contact", srs.contact_with_srs_tag(self._contact)), *headers], body=body),
            destination(dialog)))
        state.snapshot_requested = True
        self._annotate_siprec(session, now)
        self._log(f"session {printable(session.call_id)}: no metadata, snapshot requested (RFC 7866 §9.2)")

    def _end_silent_sessions(self, now: float) -> None:
        """BYE on every confirmed dialog whose RTP stopped for rtp_timeout_s (not while paused)."""
        timeout = self.config.rtp_timeout_s
        if timeout is None:
            return
        for session in list(self._sessions.values()):
            dialog = session.dialog
            if (dialog is None or not session.confirmed or session.ending is not None or any(s.paused for s in session.streams)
                    or now - session.last_media < timeout):
                continue
            self._send_bye(session, RTP_TIMEOUT_REASON)
            self._log(f"session {printable(session.call_id)}: no RTP for {timeout:g} s, BYE sent")
            session.ending = (now, session.last_media, "rtp-timeout")

    def _mark_gap(self, session: RecordingSession, stream: MediaStream, now: float) -> None:
        """GVP-HA: after a Media Server failover the outage ("Lost audio = RM detection time +
        failover time") is a gap in the DN's audio; recording.json's `gaps` names it, so a
        listener knows the silence is an outage and not a party's silence."""
        assert stream.replaces is not None
        ended, previous = stream.replaces
        stream.replaces = None
        recording = session.recording
        if now <= ended:
            return  # the new stream's audio follows on: no gap
        t0 = recording.opened_at
        recording.gaps.append({"dn": stream.dn, "start": round(ended - t0, 6), "end": round(now - t0, 6),
                               "duration": round(now - ended, 6), "reason": "media-server-failover",
                               "call_id": session.call_id, "previous_call_id": previous})
        self._storage_work.append(StorageAnnotate(recording, "gaps", list(recording.gaps), now))
        self._log(f"session {printable(session.call_id)}: {now - ended:.3f} s gap in dn {printable(stream.dn)} "
                  f"after {printable(previous)}")

    def _send_bye(self, session: RecordingSession, reason: str) -> None:
        """End the session's dialog with a BYE of our own (RFC 3261 §15; over UDP only: the
        peer is presumed gone, reference_recorder/rtp_timeout.py) with an RFC 3326 Reason."""
        dialog = session.dialog
        if dialog is None:
            return
        if self.config.transport == "udp":
            self._bye_out.append(uas.Outgoing(
                build_bye(dialog, self.config.sip_address, f"{next(self._bye_branches)}", self.config.user_agent,
                          session.local_cseq + 1, reason=reason), bye_destination(dialog)))
        self._ua.end_dialog(dialog.id)


# Identifiers longer than this cannot be a Genesys CallUUID, record id or DN (GVP-MSRec: a
# 32-character CallUUID, short DNs); refusing them bounds what one INVITE can make us store.
_MAX_IDENTIFIER = 256


def _check_identifiers(target: RecordingTarget) -> None:
    """400 for identifiers that cannot be stored faithfully; anything else is stored.

    File names are sanitised whatever the value (`storage.paths.safe_component`), and every
    log line escapes it (`printable`), so raw UTF-8, backslashes, commas or `..` are accepted.
    A control character (a decoded `%00`, `%0A`) or an oversized value is no identifier a
    Media Server sends: refusing it with a reason beats storing a value no tool can show.
    """
    for name, value in (("record id", target.record_id), ("calluuid", target.calluuid), ("dn", target.dn),
                        ("recordDN", target.record_dn), ("otherDN", target.other_dn)):
        if value is None:
            continue
        if len(value) > _MAX_IDENTIFIER:
            raise RemoteProtocolError(f"{name} longer than {_MAX_IDENTIFIER} characters", 400, f"Invalid {name}")
        if not value.isprintable():
            # The value goes into the message raw: every log line escapes once, at the sink.
            raise RemoteProtocolError(f"{name} {value} contains control characters", 400,
                                      f"Invalid {name}")


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
