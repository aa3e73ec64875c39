"""Media Server emulation: the recording sessions and the replicated RTP (Genesys ARE step 6).

Per recorded call, Media Server opens a recording session towards the recorder for each
replicated stream (two-session mode) or one session with two m-lines (single-session mode),
with the call context in the Request-URI (GVP-MSRec), and sends a copy of each party's RTP to
the port of the recorder's SDP answer.

Here each session is a real SIPp process (scenario XML in harness/sipp/scenarios) steered at
run time through its 3PCC twin socket; the RTP is built with scapy (a header template per
stream) carrying the audio time code, and sent by one paced scheduler from plain UDP sockets
bound before the offer, so the offer's m-line port is the port the RTP really comes from.
SIPp's results are evidence; the verdicts come from the capture and the recording files.
"""

from __future__ import annotations

import ipaddress
import itertools
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.emulators.call_legs import CallLegs, StampedSource
from harness.emulators.sip_server import RecordingJob, SessionMode, Side, StreamJob
from harness.emulators.siprec_client import SiprecClient
from harness.media.impairments import Impairments, WirePacket, impair
from harness.media.pacer import PacedSender, SendRecord
from harness.media.rtp_source import PacketKind, RtpStreamSource, Run
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.genesys import RecordingTarget
from harness.protocol.sip.message import SipResponse, parse_message
from harness.sipp.leg import PCMA, PCMU, Codec, Scenario, SippLeg, Transport
from harness.sipp.process import SippProcess
from harness.sipp.results import SippResult
from harness.sipp.trace import read_message_log
from harness.sipp.twin import AnsweredLeg, SippLegError

# G.722: RFC 3551 §4.5.2, static PT 9, "G722/8000" in SDP (the RTP clock, not the 16 kHz audio).
CODECS: dict[str, Codec] = {"PCMU": PCMU, "PCMA": PCMA, "G722": Codec("G722", 9)}
# A stream's schedule is open-ended: the call ends when the scenario says so (stop_stream).
# Four hours of 20 ms packets: longer than any call a scenario places, the soak's hour included.
_MAX_PACKETS = 50 * 3600 * 4
SIPP_EXIT_BIND = 254  # "fatal error binding a socket" (docs/tooling.md)


def parse_dest(dest: str) -> tuple[str, int]:
    """T-Lib `Extensions.dest` ("host:port", "sip:host:port" or "sip:user@host:port") as an
    address; the port defaults to 5060 (RFC 3261 §19.1.2)."""
    rest = dest.split(":", 1)[1] if dest.lower().startswith(("sip:", "sips:")) else dest
    rest = rest.rsplit("@", 1)[-1].split(";", 1)[0]
    host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    if not host or (port and not port.isdigit()):
        raise MediaServerError(f"bad recorder location {dest!r}")
    return host, int(port) if port else 5060


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _refusal(process: SippProcess) -> str | None:
    """The final non-2xx answer to the leg's INVITE ("404 Not Found"), from SIPp's message log."""
    for message in read_message_log(process.traces.message_log):
        if message.sent:
            continue
        try:
            parsed = parse_message(message.payload)
        except RemoteProtocolError:
            continue
        if isinstance(parsed, SipResponse) and parsed.status >= 300 and parsed.cseq.method == "INVITE":
            return f"{parsed.status} {parsed.reason}"
    return None


def _invite_sent(process: SippProcess) -> bool:
    """Did the leg's INVITE go out (SIPp's message log)? Then a missing answer is the recorder's."""
    return any(m.sent and m.payload.startswith(b"INVITE ") for m in read_message_log(process.traces.message_log))


def _logged(packets: Iterable[WirePacket], wire: list[WirePacket]) -> Iterator[tuple[float, bytes]]:
    """The pacer's (offset, datagram) items, each packet kept in `wire` as it is handed over."""
    for packet in packets:
        wire.append(packet)
        yield packet.send_offset, packet.data


# What `RecordingLeg.refused` says when the recorder never sent a final response to the INVITE.
NO_FINAL_RESPONSE = "no final response"


class MediaServerError(RuntimeError):
    """A recording session could not be set up (recorder silent, refused, SIPp failed)."""


@dataclass(slots=True)
class ReplicatedStream:
    """One party's replicated RTP stream: where it comes from, where it goes, what was sent."""

    job: StreamJob
    source: RtpStreamSource
    sock: socket.socket
    m_index: int  # position of its m-line in its session's SDP
    destination: tuple[str, int] | None = None  # from the recorder's answer; None: refused / not sent
    pacer_id: int | None = None
    log: tuple[SendRecord, ...] = ()
    stopped_at: float | None = None  # wall clock
    local_port: int = 0  # where the RTP comes from (the port in the offer's m-line)
    # Send logs of pacer streams this stream ran before `pacer_id` (run-time control replaces
    # the pacer stream on pause/resume); `stop_rtp` puts them in front of the last one's log.
    previous_logs: tuple[SendRecord, ...] = ()
    # Impaired media (harness/media/impairments.py): the spec, and every datagram handed to the
    # pacer in order (log record k of the pacer stream is wire[k]): what reached the network.
    impairment: Impairments | None = None
    wire: list[WirePacket] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.local_port = int(self.sock.getsockname()[1])

    @property
    def packets_sent(self) -> int:
        return sum(1 for r in self.log if r.error is None)


@dataclass(slots=True)
class RecordingLeg:
    """One recording session (one SIPp process)."""

    target: RecordingTarget
    streams: list[ReplicatedStream]
    process: SippProcess
    answer: AnsweredLeg | None = None
    result: SippResult | None = None
    invited_at: float | None = None  # wall clock
    bye_at: float | None = None
    ended_by_recorder: bool = False
    refused: str | None = None  # the recorder's final non-2xx answer to the INVITE, e.g. "404 Not Found"

    @property
    def name(self) -> str:
        return "+".join(s.job.side.value for s in self.streams)


@dataclass(slots=True)
class ActiveRecording:
    job: RecordingJob
    legs: list[RecordingLeg] = field(default_factory=list)
    siprec: SiprecClient | None = None  # SIPREC mode: the SRC's metadata over the call's life

    def stream(self, side: Side) -> ReplicatedStream:
        return next(s for leg in self.legs for s in leg.streams if s.job.side is side)

    def leg_of(self, side: Side) -> RecordingLeg:
        return next(leg for leg in self.legs if any(s.job.side is side for s in leg.streams))

    @property
    def streams(self) -> list[ReplicatedStream]:
        return [s for leg in self.legs for s in leg.streams]


@dataclass(slots=True)
class MediaServerEmulation:
    recorder: tuple[str, int]
    work_dir: Path
    transport: Transport = Transport.UDP
    invite_order: tuple[Side, ...] = (Side.CUSTOMER, Side.AGENT)
    send_rtp: bool = True
    answer_timeout_s: float = 5.0
    seed: int | None = None
    # Where our SIPp legs and RTP sockets bind (and what the offers' c= lines say): loopback,
    # or the host end of the veth pair of a recorder in a network namespace.
    local_address: str = "127.0.0.1"
    # The call's own RTP legs (harness.emulators.call_legs): when set, each party's original
    # stream is sent next to its replica, and both carry slot-stamped (unique) payloads so the
    # replication validator can pair them. Owned (and closed) by whoever passes it.
    call_legs: CallLegs | None = None
    # Call-IDs are "<prefix>-<leg number>-<record id>@<address>": a second Media Server (the one
    # taking over after a failover, GVP-HA) needs its own prefix, or it would reuse the dead one's.
    call_id_prefix: str = "arec"
    # The time-code slot each stream starts at: a Media Server taking over a call after a
    # failover carries on the call's timeline (the slots of the outage are never sent), so the
    # recording shows which audio came from which Media Server and where the gap is.
    first_slot: int = 0
    # SIPREC mode (SessionMode.SIPREC): metadata in the INVITE or only later; a vendor
    # extension element in the metadata (harness.emulators.siprec_client).
    siprec_initial_metadata: bool = True
    siprec_vendor_extension: bool = False
    # Impaired media per side (harness/media/impairments.py); a side not named sends clean RTP.
    impairments: dict[Side, Impairments] = field(default_factory=dict)
    # Builds a stream's RTP source (stream index, codec, seed) instead of random counters: a
    # long call's plan (harness.media.long_call: counters near the wrap, an SSRC change).
    source_factory: Callable[[int, str, int | None], RtpStreamSource] | None = None
    pacer: PacedSender = field(init=False)
    recordings: list[ActiveRecording] = field(default_factory=list)
    _leg_numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _started: bool = False

    def __post_init__(self) -> None:
        # RTP goes where the recorder's SDP answer says; besides loopback, the one address it
        # may be is the recorder's own (a recorder in a network namespace arec made answers
        # with its veth address). The pacer refuses anything else (harness.media.pacer).
        self.pacer = PacedSender(allowed_destinations=[self.recorder[0]] if _is_ip(self.recorder[0]) else [])

    # -- set-up ----------------------------------------------------------------------------
    def start_recording(self, job: RecordingJob) -> ActiveRecording:
        """Open the recording sessions for `job` in `invite_order`, then start the RTP."""
        if not self._started:
            self.pacer.start()
            self._started = True
        codec = CODECS[job.call.codec.upper()]
        streams = {s.side: self._new_stream(s, codec.name) for s in job.streams}
        dest = parse_dest(job.dest) if job.dest is not None else None
        active = ActiveRecording(job)
        self.recordings.append(active)
        if job.mode is SessionMode.SINGLE_SESSION:
            (target,) = job.targets()
            ordered = [streams[Side.CUSTOMER], streams[Side.AGENT]]  # dn first, otherDN second
            for index, stream in enumerate(ordered):
                stream.m_index = index
            active.legs.append(self._new_leg(target, ordered, codec, Scenario.SINGLE, dest))
        elif job.mode is SessionMode.SIPREC:
            (target,) = job.targets()
            ordered = [streams[Side.CUSTOMER], streams[Side.AGENT]]  # the labels' order (SiprecClient)
            for index, stream in enumerate(ordered):
                stream.m_index = index
            active.siprec = SiprecClient.for_job(job, self.local_address,
                                                 initial_metadata=self.siprec_initial_metadata,
                                                 vendor_extension=self.siprec_vendor_extension)
            active.legs.append(self._new_leg(target, ordered, codec, Scenario.SIPREC, dest, active.siprec))
        else:
            by_dn = {t.dn: t for t in job.targets()}
            for side in self.invite_order:
                stream = streams[side]
                active.legs.append(self._new_leg(by_dn[stream.job.dn], [stream], codec, Scenario.LEG, dest))
        for leg in active.legs:
            self._invite(leg)  # in order: the recorder sees the INVITEs in `invite_order`
        if self.send_rtp:
            for stream in active.streams:
                self._start_rtp(stream)
        return active

    def join_stream(self, active: ActiveRecording, job: StreamJob) -> RecordingLeg:
        """A further recording session of `active`'s recording for the stream of a party that
        joins the call (a supervisor's conference: "a separate supervisor stream", GIR-Flows):
        same calluuid, record id and recordDN, its own dn; two-session mode only."""
        codec = CODECS[active.job.call.codec.upper()]
        stream = self._new_stream(job, codec.name)
        target = RecordingTarget(active.job.record_id, active.job.call.calluuid, job.dn, active.job.record_dn)
        dest = parse_dest(active.job.dest) if active.job.dest is not None else None
        leg = self._new_leg(target, [stream], codec, Scenario.LEG, dest)
        active.legs.append(leg)
        self._invite(leg)
        if self.send_rtp:
            self._start_rtp(stream)
        return leg

    def _new_stream(self, job: StreamJob, codec: str) -> ReplicatedStream:
        sock = socket.socket(socket.AF_INET6 if ":" in self.local_address else socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.local_address, 0))
        rng = None if self.seed is None else self.seed * 10 + job.stream_index
        if self.source_factory is not None and self.call_legs is None:
            return ReplicatedStream(job, self.source_factory(job.stream_index, codec, rng), sock, 0)
        source_type = RtpStreamSource if self.call_legs is None else StampedSource
        spec = self.impairments.get(job.side)
        ptime = spec.ptime if spec is not None and spec.ptime is not None else 20
        source = source_type.create(job.stream_index, codec, rng=rng, ptime_ms=ptime)
        return ReplicatedStream(job, source, sock, 0, impairment=spec)

    def _new_leg(self, target: RecordingTarget, streams: list[ReplicatedStream], codec: Codec,
                 scenario: Scenario, dest: tuple[str, int] | None = None,
                 siprec: SiprecClient | None = None) -> RecordingLeg:
        number = next(self._leg_numbers)
        recorder = self.recorder if dest is None else dest
        if siprec is not None:
            # One recording session per call; its Call-ID is the record id, so an SRS that keys
            # recordings by CallUUID (X-Genesys-CallUUID) and RS Call-ID files it where the
            # reference layout has it (<calluuid>/<record_id>/).
            sipp_leg = SippLeg(
                recorder_host=recorder[0], recorder_port=recorder[1], record_id=target.record_id,
                calluuid=target.calluuid, dn=target.dn, record_dn=target.record_dn or target.dn,
                scenario=scenario, transport=self.transport, codec=codec,
                media_ports=tuple(s.local_port for s in streams), local_ip=self.local_address,
                media_ip=self.local_address, call_id=target.record_id, labels=siprec.labels)
            body, body_type = siprec.initial_body(sipp_leg.offer_sdp())
            sipp_leg = replace(sipp_leg, body=body, body_type=body_type)
            process = SippProcess(sipp_leg, self.work_dir / f"leg{number}-siprec")
            return RecordingLeg(target, streams, process)
        sipp_leg = SippLeg(
            recorder_host=recorder[0], recorder_port=recorder[1], record_id=target.record_id,
            calluuid=target.calluuid, dn=target.dn, record_dn=target.record_dn or target.dn,
            other_dn=target.other_dn, scenario=scenario, transport=self.transport, codec=codec,
            media_ports=tuple(s.local_port for s in streams), local_ip=self.local_address,
            media_ip=self.local_address, call_id=f"{self.call_id_prefix}-{number}-{target.record_id}@{self.local_address}",
            ptime_ms=streams[0].source.ptime_ms,
        )
        for stream in streams:
            if stream.impairment is not None:
                # RFC 4733 §7.1: the telephone-event payload type is the one the offer maps.
                pt = sipp_leg.telephone_event_pt
                stream.impairment = replace(stream.impairment, dtmf_pt=pt if pt is not None else 101)
        process = SippProcess(sipp_leg, self.work_dir / f"leg{number}-{'-'.join(s.job.side.value for s in streams)}")
        return RecordingLeg(target, streams, process)

    def _invite(self, leg: RecordingLeg, attempts: int = 3) -> None:
        for attempt in range(1, attempts + 1):
            leg.invited_at = time.time()
            leg.process.start()
            try:
                leg.answer = leg.process.control.wait_answer(self.answer_timeout_s)
                break
            except (SippLegError, TimeoutError) as error:
                leg.result = leg.process.terminate()
                if leg.result.exit_code == SIPP_EXIT_BIND and attempt < attempts:
                    # SIPp binds its own (unused) RTP sockets next to a kernel-chosen port; a
                    # parallel process can take one in between. Nothing reached the recorder.
                    leg.process = SippProcess(leg.process.leg, leg.process.work_dir.with_name(
                        f"{leg.process.work_dir.name}-retry{attempt}"))
                    leg.result = None
                    continue
                leg.refused = _refusal(leg.process)
                if leg.refused is not None:
                    # The recorder's own answer (4xx-6xx), in the capture like any other: the
                    # validators judge it (SIP-DIALOG-ESTABLISHED, ARE-06...), so it is a verdict,
                    # not a broken scenario. No dialog, no RTP; the other sessions still go out.
                    return
                if _invite_sent(leg.process):
                    # The INVITE went out and the recorder never answered it finally: a recorder
                    # failure the capture shows (SIP-DIALOG-ESTABLISHED), not a broken scenario.
                    leg.refused = NO_FINAL_RESPONSE
                    return
                # SIPp failed before the INVITE went out: the session could not be tried (one
                # line for the user: SIPp's first error may quote a whole message).
                raise MediaServerError(f"recording session {leg.name} ({leg.target.dn}) not answered: {error}; "
                                       f"SIPp: {leg.result.summary().splitlines()[0]}") from error
        assert leg.answer is not None
        host = leg.answer.connection_ip or leg.process.leg.recorder_host
        for stream in leg.streams:
            ports = leg.answer.audio_ports
            port = ports[stream.m_index] if stream.m_index < len(ports) else 0
            stream.destination = (host, port) if port else None

    def _start_rtp(self, stream: ReplicatedStream) -> None:
        if stream.destination is None:
            return  # refused (port 0): RFC 3264 §6, nothing may be sent
        schedule = [Run(PacketKind.MEDIA, _MAX_PACKETS)]
        start_at = None  # default: now
        if self.call_legs is not None:
            # The original leg and its replica share their slot deadlines (the pacer's clock is
            # time.monotonic); added first, the original goes out first at each deadline.
            start_at = time.monotonic()
            self.call_legs.start(self.pacer, stream.source, stream.job.side, start_at=start_at)
        if self.first_slot and start_at is None:
            # Offsets count from slot 0: the first slot sent goes out now, not first_slot later.
            start_at = time.monotonic() - self.first_slot * stream.source.ptime_ms / 1000.0
        items = stream.source.timed(schedule, first_n=self.first_slot)
        if stream.impairment is not None and stream.impairment.active:
            items = _logged(impair(stream.source, stream.impairment, max_slots=_MAX_PACKETS), stream.wire)
        stream.pacer_id = self.pacer.add_stream(items, stream.destination, sock=stream.sock, start_at=start_at)

    # -- run time --------------------------------------------------------------------------
    def stop_rtp(self, stream: ReplicatedStream) -> None:
        if stream.pacer_id is not None and stream.stopped_at is None:
            self.pacer.stop_stream(stream.pacer_id)
            stream.log = stream.previous_logs + self.pacer.log(stream.pacer_id)
        if stream.stopped_at is None:
            stream.stopped_at = time.time()
        if self.call_legs is not None:  # the call's own leg of that party ends with its replica
            self.call_legs.stop(self.pacer, stream.job.side)

    def end_leg(self, leg: RecordingLeg, timeout: float = 5.0) -> None:
        """Stop the leg's RTP, then BYE (ARE step 10); collect SIPp's result as evidence."""
        for stream in leg.streams:
            self.stop_rtp(stream)
        if leg.result is not None:
            return
        leg.bye_at = time.time()
        try:
            leg.process.control.bye()
            leg.process.control.wait_finished(timeout)
            leg.result = leg.process.wait(timeout)
        except (SippLegError, TimeoutError):
            leg.result = leg.process.terminate()

    def release(self, active: ActiveRecording, order: Iterable[Side] | None = None) -> None:
        """The call ended: BYE on every leg, in `order` of sides (default: INVITE order)."""
        sides = list(order or self.invite_order)
        for side in sides:
            self.end_leg(active.leg_of(side))
        for leg in active.legs:
            self.end_leg(leg)

    def close(self) -> None:
        for active in self.recordings:
            for leg in active.legs:
                if leg.result is not None:
                    continue
                for stream in leg.streams:
                    self.stop_rtp(stream)
                # A leg whose SIPp never started (an earlier leg of the call failed first) has
                # nothing to stop and no result: terminate() would raise "not started".
                if leg.process.pid is not None:
                    leg.result = leg.process.terminate()
        if self._started:
            self.pacer.stop()
        for active in self.recordings:
            for stream in active.streams:
                stream.sock.close()
