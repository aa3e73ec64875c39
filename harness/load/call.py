"""One two-stream recorded call as Media Server places it, on plain sockets (GVP-MSRec).

Two recording sessions (one INVITE per replicated stream, two-session mode), each with the call
context in the Request-URI (`harness.protocol.genesys`) and a sendonly offer
(`harness.protocol.sdp`, RFC 3264 §6.1: the recorder answers recvonly), time-coded RTP for the call's
length (from the worker's media process, `harness.load.media_process`), BYEs, then the recording judged by
`validate_recording`. Blocking socket calls only: under Locust, gevent makes them cooperative,
and the same code runs without Locust in the benchmark.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.load.media import CallMedia, Played, StreamPlan
from harness.load.verdict import CallOutcome, CallVerdict, PacingStats, classify, pacing_stats
from harness.media.timecode import SEGMENT_SAMPLES, SYMBOL_SAMPLES
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.genesys import RecordingTarget, build_recording_uri
from harness.protocol.sdp import (
    Connection,
    Direction,
    MediaDescription,
    Origin,
    SessionDescription,
    parse_sdp,
)
from harness.protocol.sip.uac import Answered, Ended, Failed, RecordingSessionUac, UacEvent
from harness.recorders.locate import REFERENCE_LAYOUT, CallKeys, RecordingLocator, StreamKey, snapshot
from harness.validators.recording import ExpectedStream, validate_recording

__all__ = ["CallConfig", "CallResult", "JudgeRequest", "Judgement", "PlacedCall", "dial_call", "judge", "place_call",
           "sendonly_offer"]

_PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}  # RFC 3551 §6 table 4


@dataclass(frozen=True, slots=True)
class CallConfig:
    recorder_host: str
    recorder_port: int
    recordings: Path | None  # None: the recorder's files are not visible here: no judgement
    call_length_s: float = 2.0
    codec: str = "PCMU"
    local_host: str = "127.0.0.1"
    jitter_window_ms: float = 500.0  # the reference recorder's (reference_recorder.core)
    finalise_timeout_s: float = 5.0
    locator: RecordingLocator | None = None  # a profile's layout; default: the reference layout
    profile: Path | None = None  # the profile `locator` came from (for a judge in another process)


@dataclass(slots=True)
class CallResult:
    verdict: CallVerdict
    invite_events: list[Answered | Failed] = field(default_factory=list)
    rtp_packets: int = 0


def sendonly_offer(host: str, port: int, codec: str, session_id: int) -> bytes:
    """Media Server's offer for one replicated stream: audio, sendonly (GVP-MSRec, RFC 3264 §6.1)."""
    pt = _PAYLOAD_TYPES[codec]
    media = MediaDescription(media="audio", port=port, proto="RTP/AVP", formats=(str(pt),),
                             attributes=(("rtpmap", f"{pt} {codec}/8000"), ("ptime", "20"),
                                         (Direction.SENDONLY.value, None)))
    sdp = SessionDescription(origin=Origin("arec", str(session_id), "1", "IN", "IP4", host),
                             session_name="arec-load", connection=Connection("IN", "IP4", host), media=(media,))
    return sdp.to_bytes()


def _exchange(sock: socket.socket, uac: RecordingSessionUac, first: bytes, destination: tuple[str, int],
              clock: Callable[[], float], until: tuple[type, ...]) -> UacEvent:
    """Send `first`, then retransmit / receive until an event of the `until` types (or failure)."""
    sock.sendto(first, destination)
    while True:
        now = clock()
        deadline = uac.next_deadline()
        sock.settimeout(max(0.001, (deadline - now) if deadline is not None else 1.0))
        try:
            data, _ = sock.recvfrom(65535)
        except (TimeoutError, BlockingIOError):
            out, events = uac.on_timer(clock())
        else:
            out, events = uac.receive(data, clock())
        for datagram in out:
            sock.sendto(datagram, destination)
        for event in events:
            if isinstance(event, (*until, Failed)):
                return event


def _rtp_destination(answer: bytes) -> tuple[str, int] | None:
    try:
        sdp = parse_sdp(answer)
    except RemoteProtocolError:
        return None
    if not sdp.media or sdp.media[0].port == 0:
        return None
    conn = sdp.media_connection(0)
    return (conn.host if conn is not None else "", sdp.media[0].port)


def place_call(config: CallConfig, media: CallMedia, *, worker: str = "",
               clock: Callable[[], float] = time.monotonic,
               judge_with: Callable[[JudgeRequest], Judgement] | None = None) -> CallResult:
    """Place, stream, end and judge one call; never raises for what the recorder does.

    `media` sends the RTP (a load worker's media process, or `LocalMedia` here). `judge_with`
    judges the recording (default: here, with `config.locator`); it costs 0.1-0.3 s of CPU per
    4 s call, so a load worker hands it to a judge process (`harness.load.judge`) to keep its
    own loop free for the other calls' signalling.
    """
    return dial_call(config, media, worker=worker, clock=clock).finish(judge_with)


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """A call whose BYEs are done and whose recording is yet to be judged: a load user places
    its next call at once and the judgement follows (a serial judge would otherwise hold every
    user, and the ramp's concurrency would be the judge's throughput, not the plan's)."""

    config: CallConfig
    worker: str
    calluuid: str
    record_id: str
    dns: tuple[str, ...]
    call_ids: tuple[str, ...]
    started_at: float
    ended_at: float
    invites: tuple[Answered | Failed, ...]
    reasons: tuple[str, ...]
    pacing: PacingStats
    sent_per_stream: tuple[int, ...]

    @property
    def signalling_ok(self) -> bool:
        return len(self.invites) == len(self.dns) and all(isinstance(e, Answered) for e in self.invites)

    def finish(self, judge_with: Callable[[JudgeRequest], Judgement] | None = None) -> CallResult:
        """Judge the recording (when the signalling worked and the files are visible) and classify."""
        config, pacing, invites = self.config, self.pacing, self.invites
        reasons = list(self.reasons)
        status = tuple(e.status for e in invites)
        requirement_ids: list[str] = []
        if self.signalling_ok and config.recordings is not None:
            request = JudgeRequest(str(config.recordings), str(config.profile or ""), self.calluuid, self.record_id,
                                   self.dns, self.call_ids, self.sent_per_stream, config.call_length_s,
                                   config.finalise_timeout_s)
            ids, why = judge_with(request) if judge_with is not None else judge(request, config.locator)
            requirement_ids = list(ids)
            reasons.extend(why)
        outcome = classify(invite_status=status, failed_requirements=requirement_ids, pacing=pacing,
                           jitter_window_ms=config.jitter_window_ms)
        if outcome is CallOutcome.GENERATOR_LATE:
            reasons.insert(0, f"generator late: max packet lateness {pacing.late_max_ms} ms "
                              f"(jitter window {config.jitter_window_ms} ms), {pacing.send_errors} send errors")
        retry_after = next((e.retry_after for e in invites if isinstance(e, Failed) and e.retry_after is not None),
                           None)
        verdict = CallVerdict(
            calluuid=self.calluuid, started_at=self.started_at, ended_at=self.ended_at, outcome=outcome,
            worker=self.worker, invite_latency_ms=tuple(round(e.latency * 1000, 3) for e in invites
                                                        if isinstance(e, Answered)),
            invite_status=status, retry_after=retry_after, pacing=pacing,
            requirement_ids=tuple(requirement_ids), reasons=tuple(r[:300] for r in reasons))
        return CallResult(verdict, list(invites), sum(self.sent_per_stream))


def dial_call(config: CallConfig, media: CallMedia, *, worker: str = "",
              clock: Callable[[], float] = time.monotonic) -> PlacedCall:
    """Place, stream and end one call (two sessions); never raises for what the recorder does."""
    calluuid = secrets.token_hex(16).upper()  # 32 characters, like a Genesys CallUUID
    record_id = secrets.token_hex(8).upper()
    dns = ("7001", "7002")
    targets = [RecordingTarget(record_id, calluuid, dn, dns[0]) for dn in dns]
    destination = (config.recorder_host, config.recorder_port)
    started_wall = time.time()
    sip_socks: list[socket.socket] = []
    rtp_ports: list[int] = []
    uacs: list[RecordingSessionUac] = []
    invites: list[Answered | Failed] = []
    reasons: list[str] = []
    plans: list[StreamPlan] = []
    played: list[Played] = []
    try:
        for index, target in enumerate(targets):
            sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sip.bind((config.local_host, 0))
            sip_socks.append(sip)
            rtp_ports.append(media.open(config.local_host))  # bound before the offer: its port is the RTP source
            uac = RecordingSessionUac(build_recording_uri(target, config.recorder_host, config.recorder_port),
                                      sip.getsockname()[:2])
            uacs.append(uac)
            offer = sendonly_offer(config.local_host, rtp_ports[-1], config.codec, index + 1)
            event = _exchange(sip, uac, uac.invite(offer, clock()), destination, clock, (Answered,))
            assert isinstance(event, Answered | Failed)
            invites.append(event)
            if isinstance(event, Failed):
                reasons.append(f"INVITE {target.dn}: {event.status or 'timeout'} {event.reason}")
                break
        packets = int(round(config.call_length_s * 50))
        if len(invites) == len(targets) and all(isinstance(e, Answered) for e in invites):
            for index, (event, port) in enumerate(zip(invites, rtp_ports, strict=True)):
                assert isinstance(event, Answered)
                rtp_dest = _rtp_destination(event.sdp)
                if rtp_dest is None:
                    reasons.append(f"stream {index}: no usable port in the SDP answer")
                    continue
                plans.append(StreamPlan(port, rtp_dest, index, config.codec, packets))
            played = media.play(plans)
        for uac, sip in zip(uacs, sip_socks, strict=False):
            if uac.state.value == "confirmed":
                ended = _exchange(sip, uac, uac.bye(clock()), destination, clock, (Ended,))
                if isinstance(ended, Failed):
                    reasons.append(f"BYE: {ended.reason}")
    finally:
        for sock in sip_socks:
            sock.close()
        for port in rtp_ports:
            media.close(port)
    lateness = [x for p in played for x in p.lateness_s]
    errors = sum(p.errors for p in played)
    sent_per_stream = [0] * len(targets)  # a stream the answer gave no port sent nothing
    for plan, stream_played in zip(plans, played, strict=False):
        sent_per_stream[plan.stream_index] = stream_played.sent
    return PlacedCall(config, worker, calluuid, record_id, dns, tuple(u.call_id for u in uacs), started_wall,
                      time.time(), tuple(invites), tuple(reasons), pacing_stats(lateness, errors),
                      tuple(sent_per_stream))


@dataclass(frozen=True, slots=True)
class JudgeRequest:
    """What judging one call's recording needs, as plain values (it may cross a pipe)."""

    recordings: str
    profile: str  # recorder profile path ("" = reference layout)
    calluuid: str
    record_id: str
    dns: tuple[str, ...]
    call_ids: tuple[str, ...]
    sent_per_stream: tuple[int, ...]
    call_length_s: float
    finalise_timeout_s: float

    def to_json(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JudgeRequest:
        return cls(str(data["recordings"]), str(data["profile"]), str(data["calluuid"]), str(data["record_id"]),
                   tuple(data["dns"]), tuple(data["call_ids"]), tuple(int(x) for x in data["sent_per_stream"]),
                   float(data["call_length_s"]), float(data["finalise_timeout_s"]))


Judgement = tuple[tuple[str, ...], tuple[str, ...]]  # failed requirement ids, reasons


def judge(request: JudgeRequest, locator: RecordingLocator | None = None) -> Judgement:
    """Wait for the call's files (never for ever), then the suite's recording checks."""
    if locator is None and request.profile:
        from harness.load.profiles import profile_locator

        locator, _root = profile_locator(Path(request.profile), Path(request.recordings))
    locator = locator or RecordingLocator(REFERENCE_LAYOUT, Path(request.recordings))
    dns = request.dns
    # Stream 0 is the customer's (the first DN, which requested recording), stream 1 the agent's.
    keys = CallKeys(request.calluuid, request.record_id, dns[0], tuple(
        StreamKey(dn, side, call_id, index)
        for index, (dn, side, call_id) in enumerate(zip(dns, ("customer", "agent"), request.call_ids, strict=True))))
    since = time.time() - request.call_length_s - 5.0
    reference = locator.spec.layout == "reference"
    deadline = time.monotonic() + (request.finalise_timeout_s if reference else locator.spec.settle_s)
    located = locator.locate(keys, since)
    previous = snapshot(located) if located.complete and not reference else None
    while time.monotonic() < deadline:
        if located.complete and reference:
            break
        time.sleep(0.05 if reference else 0.2)  # the recorder finalises its files after the last BYE
        located = locator.locate(keys, since)
        if not reference and located.complete:
            # A third-party recorder's files may still grow: settled = unchanged 0.2 s apart.
            current = snapshot(located)
            if current == previous:
                break
            previous = current
    expected = []
    for index, dn in enumerate(dns):
        sent = request.sent_per_stream[index] if index < len(request.sent_per_stream) else 0
        samples = sent * SYMBOL_SAMPLES  # 20 ms packets of 160 samples = one time-code symbol
        expected.append(ExpectedStream(stream=index, dn=dn, first_segment=0,
                                       last_segment=samples // SEGMENT_SAMPLES - 1, expected_samples=samples))
    findings = validate_recording(located.target, expected)
    return (tuple(sorted({f.requirement_id for f in findings})),
            tuple([*located.missing, *(str(f) for f in findings[:5])]))
