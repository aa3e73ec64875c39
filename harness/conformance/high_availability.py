"""High-availability runs: a recorder pool behind the Resource Manager, and Media Server failover.

What Genesys does (docs/genesys-flow.md §4.5, sources GVP-Scale, GVP-HA), played here:
- **pool**: RM proxies the recording sessions to a pool of recorders and OPTIONS-pings them;
  `PoolRun` starts the RM emulation (`harness.emulators.resource_manager`) in front of the
  members and points the Media Server emulation at RM;
- **Media Server failover**: the first Media Server dies (its SIPp legs are killed, no BYE, its
  RTP stops), SIP Server re-joins the parties to a new Media Server after the failover time, and
  that one opens new recording sessions with the same parameters (calluuid, record id, dn).
  `FailoverRun` plays both Media Servers against one recorder and gathers the evidence: what the
  recorder answered the second ones, and whether (and when) it ended the dead ones by BYE: a
  UDP socket takes over each dead leg's SIP port after the kill, so the BYE the recorder sends
  to the dead Media Server's Contact is seen where it would have gone.

Verdicts are not made here: the evidence goes to `harness.checks.high_availability`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import soundfile

from harness.checks.high_availability import (
    CrashedStream,
    DeadDialog,
    FailoverGap,
    FailoverSession,
    FailoverStreamAudio,
)
from harness.conformance.recordings import wait_for_recordings
from harness.emulators.media_server import ActiveRecording, MediaServerEmulation
from harness.emulators.resource_manager import ResourceManagerEmulation
from harness.emulators.sip_server import RecordingJob, SessionMode, SipServerEmulation
from harness.emulators.sip_tserver import SipTServer
from harness.media.timecode import SAMPLE_RATE, SEGMENT_SAMPLES, SYMBOL_SAMPLES, decode_timecode
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.message import SipRequest, parse_message
from harness.protocol.sip.resource_manager import Policy, RmEvent
from harness.protocol.tlib import (
    Event,
    EventACK,
    KVList,
    KVValue,
    RequestPrivateService,
    RequestRegisterAddress,
)
from harness.recorders.under_test import RecorderUnderTest

__all__ = ["CrashEvidence", "FailoverEvidence", "FailoverRun", "HaScenario", "PoolRun", "recording_job"]

Address = tuple[str, int]
PACKET_S = SYMBOL_SAMPLES / SAMPLE_RATE  # one 20 ms packet: one time-code slot


def recording_job(customer_dn: str = "5551234", agent_dn: str = "7001", codec: str = "PCMU") -> RecordingJob:
    """A call on an always-record DN, as SIP Server decides it (ARE step 1)."""
    server = SipServerEmulation(mode=SessionMode.TWO_SESSIONS)
    server.configure_dn(agent_dn, record=True)
    job = server.decide_recording(server.place_call(customer_dn, agent_dn, codec))
    assert job is not None
    return job


@dataclass(slots=True)
class PoolRun:
    """RM in front of `members`; Media Server sends every recording session to RM."""

    members: list[RecorderUnderTest]
    work_dir: Path
    policy: Policy = Policy.ROUND_ROBIN
    options_interval_s: float = 0.3
    options_timeout_s: float = 0.25
    rm: ResourceManagerEmulation = field(init=False)
    media_server: MediaServerEmulation = field(init=False)
    recordings: list[ActiveRecording] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rm = ResourceManagerEmulation(tuple((m.host, m.port) for m in self.members), policy=self.policy,
                                           options_interval_s=self.options_interval_s,
                                           options_timeout_s=self.options_timeout_s).start()
        self.media_server = MediaServerEmulation(self.rm.address, self.work_dir / "sipp")

    def run_for(self, seconds: float) -> None:
        time.sleep(seconds)

    def record_call(self, job: RecordingJob) -> ActiveRecording:
        active = self.media_server.start_recording(job)
        self.recordings.append(active)
        return active

    def release(self, active: ActiveRecording) -> None:
        self.media_server.release(active)

    def member_of(self, active: ActiveRecording) -> list[Address | None]:
        """The pool member RM pinned each of the call's sessions to (None: not established)."""
        return [self.rm.session_member(leg.process.leg.call_id or "") for leg in active.legs]

    @property
    def events(self) -> list[RmEvent]:
        return self.rm.events

    def close(self) -> None:
        self.media_server.close()
        self.rm.stop()


@dataclass(frozen=True, slots=True)
class FailoverEvidence:
    sessions: list[FailoverSession]  # the new Media Server's sessions and the recorder's answers
    dead: list[DeadDialog]  # the dead Media Server's dialogs and when the recorder ended each
    failed_at: float  # wall clock of the Media Server failure
    rejoined_at: float  # wall clock of the new Media Server's first INVITE
    first: ActiveRecording  # what the failed Media Server sent
    second: ActiveRecording  # what the new one sent, from time-code slot `second_slot` on
    second_slot: int


@dataclass(slots=True)
class FailoverRun:
    recorder: RecorderUnderTest
    work_dir: Path
    _first: MediaServerEmulation | None = None
    _second: MediaServerEmulation | None = None
    _listeners: list[tuple[str, socket.socket]] = field(default_factory=list)  # (Call-ID, socket)

    def run(self, job: RecordingJob, *, before_s: float, outage_s: float, after_s: float,
            dead_dialog_wait_s: float) -> FailoverEvidence:
        target = (self.recorder.host, self.recorder.port)
        self._first = MediaServerEmulation(target, self.work_dir / "sipp-ms1", local_address=self.recorder.local_address)
        first = self._first.start_recording(job)
        time.sleep(before_s)
        failed_at = time.time()
        self._die(self._first, first)
        time.sleep(outage_s)
        started = min((r.sent_at for s in first.streams for r in s.log), default=time.monotonic())
        slot = round((time.monotonic() - started) / PACKET_S)  # the call's timeline goes on
        self._second = MediaServerEmulation(target, self.work_dir / "sipp-ms2", call_id_prefix="arec-ms2",
                                            local_address=self.recorder.local_address, first_slot=slot)
        rejoined_at = time.time()
        second = self._second.start_recording(job)  # same job: same calluuid, record id, dns
        sessions = [FailoverSession(leg.target.dn, leg.process.leg.call_id or "",
                                    200 if leg.answer is not None else _status(leg.refused))
                    for leg in second.legs]
        time.sleep(after_s)
        self._second.release(second)
        dead = self._collect_byes(failed_at, failed_at + dead_dialog_wait_s)
        return FailoverEvidence(sessions, dead, failed_at, rejoined_at, first, second, slot)

    def _die(self, media_server: MediaServerEmulation, active: ActiveRecording) -> None:
        """Media Server fails: its RTP stops and its SIPp processes are killed (no BYE)."""
        for stream in active.streams:
            media_server.stop_rtp(stream)
        for leg in active.legs:
            process = leg.process
            if leg.answer is None or process.pid is None:
                continue
            port = process.local_port
            leg.result = process.kill()
            # The dead leg's SIP port, taken over: the recorder's BYE to that Contact lands here.
            sock = socket.socket(socket.AF_INET6 if ":" in process.leg.local_ip else socket.AF_INET,
                                 socket.SOCK_DGRAM)
            sock.bind((process.leg.local_ip, port))
            sock.setblocking(False)
            self._listeners.append((process.leg.call_id or "", sock))

    def _collect_byes(self, failed_at: float, until: float) -> list[DeadDialog]:
        ended: dict[str, float] = {}
        while time.time() < until and len(ended) < len(self._listeners):
            for call_id, sock in self._listeners:
                with contextlib.suppress(BlockingIOError):
                    while True:
                        data, _ = sock.recvfrom(65535)
                        try:
                            message = parse_message(data)
                        except RemoteProtocolError:
                            continue
                        if isinstance(message, SipRequest) and message.method == "BYE" and message.call_id == call_id:
                            ended.setdefault(call_id, time.time() - failed_at)
            time.sleep(0.05)
        return [DeadDialog(call_id, ended.get(call_id)) for call_id, _ in self._listeners]

    def close(self) -> None:
        for media_server in (self._first, self._second):
            if media_server is not None:
                media_server.close()
        for _, sock in self._listeners:
            sock.close()
        self._listeners.clear()


def _status(refused: str | None) -> int | None:
    """"486 Busy Here" -> 486; no final response -> None."""
    head = (refused or "").split(" ", 1)[0]
    return int(head) if head.isdigit() else None


@dataclass(frozen=True, slots=True)
class CrashEvidence:
    victim: RecorderUnderTest  # the pool member killed mid-call
    first: ActiveRecording  # the part recorded on it
    second: ActiveRecording  # the recording started again after the crash
    bound_s: float  # audio sent this long before the kill need not be on disk
    first_on_victim: bool  # RM had routed the first part to the victim


@dataclass(slots=True)
class HaScenario:
    """What one high-availability scenario drove, for its Then steps (a bdd fixture holds it)."""

    work_dir: Path
    members: list[RecorderUnderTest] = field(default_factory=list)
    pool: PoolRun | None = None
    failover: FailoverEvidence | None = None
    calls: list[ActiveRecording] = field(default_factory=list)
    pool_size: int = 2  # `arec run --pool-size`: members of a pool at least
    # Starts one more instance of the recorder under test and returns it with a function that
    # kills it (the bdd fixture gives it, for a recorder started from a command); None: a pool
    # cannot be built (not applicable).
    another_member: Callable[[], tuple[RecorderUnderTest, Callable[[], None]]] | None = None
    crash: CrashEvidence | None = None
    _kill: dict[Address, Callable[[], None]] = field(default_factory=dict)
    _failover_run: FailoverRun | None = None
    _silent: list[socket.socket] = field(default_factory=list)
    _duplicating: list[tuple[RecorderUnderTest, MediaServerEmulation, ActiveRecording]] = field(default_factory=list)

    def grow_pool(self, size: int) -> bool:
        """Members up to `size`; False when no further instance can be started."""
        while len(self.members) < size:
            if self.another_member is None:
                return False
            member, kill = self.another_member()
            self.members.append(member)
            self._kill[(member.host, member.port)] = kill
        return True

    def start_pool(self) -> PoolRun:
        if self.pool is None:
            self.pool = PoolRun(self.members, self.work_dir / "pool")
        return self.pool

    def add_unanswering_member(self) -> None:
        """A pool member that is down: a bound UDP port that never answers (GQM815 hot standby:
        recorder A unreachable, the sessions go to the next one)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        self._silent.append(sock)
        port = int(sock.getsockname()[1])
        self.members.insert(0, RecorderUnderTest("a recorder that does not answer", "127.0.0.1", port, "udp", None,
                                                 None))

    def record_duplicated(self, seconds: float) -> None:
        """GQM815 "MSR with stream duplication" (Dest and Dest2 of TRequestPrivateService): a
        T-Lib client asks the SIP Server emulation to record the call with `dest` and `dest2`
        naming the two recorders; SIP Server hands Media Server the job once per destination
        (`SipTServer`, `RecordingStatus.duplicates`), so the call's recording sessions and RTP go
        to both at once. One Media Server emulation per destination (each binds the address its
        recorder reaches), the same job: the same time-coded streams to each."""
        by_dest: dict[str, tuple[RecorderUnderTest, MediaServerEmulation]] = {}
        for index, member in enumerate(self.members[:2]):
            media_server = MediaServerEmulation((member.host, member.port), self.work_dir / f"dup-{index}",
                                                call_id_prefix=f"arec-dest{index + 1}",
                                                local_address=member.local_address)
            by_dest[f"{member.host}:{member.port}"] = (member, media_server)

        def on_recording(job: RecordingJob) -> None:
            assert job.dest is not None, "a duplicated recording names its recorder"
            member, media_server = by_dest[job.dest]
            self._duplicating.append((member, media_server, media_server.start_recording(job)))

        tserver = SipTServer(SipServerEmulation(mode=SessionMode.TWO_SESSIONS), on_recording=on_recording)
        dest, dest2 = by_dest
        answer = _private_start(tserver, "5551234", "7001", {"record": "source", "dest": dest, "dest2": dest2})
        if not isinstance(answer, EventACK):
            raise RuntimeError(f"SIP Server emulation refused the duplicated recording: {answer}")
        if len(self._duplicating) != 2:
            raise RuntimeError(f"SIP Server emulation started {len(self._duplicating)} recording(s), not 2")
        time.sleep(seconds)
        for _member, media_server, active in self._duplicating:
            media_server.release(active)

    def duplicated_recordings(self) -> list[tuple[RecorderUnderTest, ActiveRecording, Path | None]]:
        return [(member, active, None if member.recordings is None
                 else member.recordings / active.job.call.calluuid / active.job.record_id)
                for member, _ms, active in self._duplicating]

    def record_calls(self, count: int, seconds: float) -> None:
        pool = self.start_pool()
        calls = [pool.record_call(recording_job(agent_dn=f"70{n:02d}")) for n in range(1, count + 1)]
        time.sleep(seconds)
        for active in calls:
            pool.release(active)
        self.calls += calls

    def run_failover(self, before_s: float, outage_s: float, after_s: float, dead_dialog_wait_s: float) -> None:
        self._failover_run = FailoverRun(self.members[0], self.work_dir / "failover")
        self.failover = self._failover_run.run(recording_job(), before_s=before_s, outage_s=outage_s,
                                               after_s=after_s, dead_dialog_wait_s=dead_dialog_wait_s)

    def failover_audio(self) -> list[FailoverStreamAudio] | None:
        """Per stream: the time-code segments each Media Server sent whole, and those found in
        every file of that DN the recorder wrote for the call (reference layout: all versions
        under <recordings>/<calluuid>/). None: the recordings are not visible."""
        evidence, recorder = self.failover, self.members[0]
        if evidence is None or recorder.recordings is None:
            return None
        root = recorder.recordings / evidence.first.job.call.calluuid
        wait_for_recordings(recorder, lambda: None, lambda: root / evidence.first.job.record_id)
        out: list[FailoverStreamAudio] = []
        for before, after in zip(evidence.first.streams, evidence.second.streams, strict=True):
            index, dn = before.job.stream_index, before.job.dn
            found: set[int] = set()
            for path in sorted(root.glob(f"*/stream-*-{dn}.wav")):
                with contextlib.suppress(RuntimeError, ValueError, soundfile.LibsndfileError):
                    audio, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
                    found |= set(decode_timecode(audio[:, 0], rate, streams=[index]).counters_of(index))
            start = evidence.second_slot * SYMBOL_SAMPLES
            end = start + after.packets_sent * SYMBOL_SAMPLES
            out.append(FailoverStreamAudio(
                dn, frozenset(found), tuple(range(before.packets_sent * SYMBOL_SAMPLES // SEGMENT_SAMPLES)),
                tuple(range(-(-start // SEGMENT_SAMPLES), end // SEGMENT_SAMPLES))))
        return out

    def failover_gaps(self) -> list[FailoverGap] | None:
        """Per stream: the outage on the wire (send logs), the outage in the recording (each
        part's time code located on the recording's timeline: reference layout, every file of the
        recording starts at its t0), and the `gaps` its recording.json marks for the DN. None: the
        recordings are not visible."""
        evidence, recorder = self.failover, self.members[0]
        if evidence is None or recorder.recordings is None:
            return None
        root = recorder.recordings / evidence.first.job.call.calluuid
        marks: list[dict[str, object]] | None = None
        for path in sorted(root.glob("*/recording.json")):
            with contextlib.suppress(OSError, ValueError):
                gaps = json.loads(path.read_text(encoding="utf-8")).get("gaps") or []
                marks = (marks or []) + [g for g in gaps if isinstance(g, dict)]
        out: list[FailoverGap] = []
        for before, after in zip(evidence.first.streams, evidence.second.streams, strict=True):
            index, dn = before.job.stream_index, before.job.dn
            sent_before = [r.sent_at for r in before.log if r.error is None]
            sent_after = [r.sent_at for r in after.log if r.error is None]
            if not sent_before or not sent_after:
                continue  # one side sent nothing: ARE-HA-FAILOVER-RECORDING judges that
            wire = sent_after[0] - (sent_before[-1] + PACKET_S)
            # Each part's offset: where time-code sample 0 of the call lies in the files.
            offsets: dict[bool, list[int]] = {False: [], True: []}
            first_after = evidence.second_slot * SYMBOL_SAMPLES
            for path in sorted(root.glob(f"*/stream-*-{dn}.wav")):
                with contextlib.suppress(RuntimeError, ValueError, soundfile.LibsndfileError):
                    audio, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
                    for seg in decode_timecode(audio[:, 0], rate, streams=[index]).segments_of(index):
                        code = seg.segment * SEGMENT_SAMPLES
                        offsets[code >= first_after].append(seg.start_sample - code)
            recorded = None
            if offsets[False] and offsets[True]:
                end_before = before.packets_sent * SYMBOL_SAMPLES + statistics.median(offsets[False])
                start_after = first_after + statistics.median(offsets[True])
                recorded = (end_before / SAMPLE_RATE, start_after / SAMPLE_RATE)
            marked = None if marks is None else tuple(
                (float(g["start"]), float(g["end"])) for g in marks  # type: ignore[arg-type]
                if g.get("dn") == dn and g.get("start") is not None and g.get("end") is not None)
            out.append(FailoverGap(dn, wire, recorded, marked))
        return out

    def run_crash(self, before_s: float, outage_s: float, after_s: float, bound_s: float) -> None:
        """GVP-HA recorder failure: the call goes to a pool member that is then killed (SIGKILL);
        Media Server's sessions to it are dropped, and after `outage_s` the recording is started
        again with the same parameters, which RM sends to a live member."""
        victim = next(m for m in self.members if (m.host, m.port) in self._kill)
        survivors = [m for m in self.members if m is not victim]
        self.pool = PoolRun([victim, *survivors], self.work_dir / "pool")  # round-robin: the victim first
        job = recording_job()
        first = self.pool.record_call(job)
        time.sleep(before_s)
        self._kill[(victim.host, victim.port)]()
        media_server = self.pool.media_server
        for stream in first.streams:
            media_server.stop_rtp(stream)
        for leg in first.legs:
            if leg.process.pid is not None and leg.result is None:
                leg.result = leg.process.kill()  # nothing more can reach a dead recorder
        time.sleep(outage_s)
        second = self.pool.record_call(job)
        time.sleep(after_s)
        self.pool.release(second)
        self.calls.append(second)
        pinned = {m for m in self.pool.member_of(first) if m is not None}
        self.crash = CrashEvidence(victim, first, second, bound_s, (victim.host, victim.port) in pinned)

    def crashed_streams(self) -> list[CrashedStream]:
        """What the killed recorder left of the first part, decoded (reference layout)."""
        assert self.crash is not None
        crash = self.crash
        assert crash.victim.recordings is not None
        directory = crash.victim.recordings / crash.first.job.call.calluuid / crash.first.job.record_id
        out: list[CrashedStream] = []
        for stream in crash.first.streams:
            sent_samples = stream.packets_sent * SYMBOL_SAMPLES - int(crash.bound_s * SAMPLE_RATE)
            required = max(sent_samples // SEGMENT_SAMPLES, 0)
            files = sorted(directory.glob(f"stream-*-{stream.job.dn}.wav"))
            if not files:
                out.append(CrashedStream(stream.job.dn, None, None, required, f"no stream file in {directory}"))
                continue
            try:
                audio, rate = soundfile.read(str(files[0]), dtype="int16", always_2d=True)
                track = decode_timecode(audio[:, 0], rate, streams=[stream.job.stream_index])
            except (RuntimeError, ValueError, soundfile.LibsndfileError) as error:
                out.append(CrashedStream(stream.job.dn, files[0].name, None, required, str(error)))
                continue
            out.append(CrashedStream(stream.job.dn, files[0].name, track.counters_of(stream.job.stream_index),
                                     required))
        return out

    def recording_of(self, active: ActiveRecording) -> tuple[RecorderUnderTest, Path] | None:
        """The member RM pinned the call to, and where its reference-layout recording is."""
        assert self.pool is not None
        pinned = {m for m in self.pool.member_of(active) if m is not None}
        member = next((m for m in self.members if (m.host, m.port) in pinned), None)
        if member is None or member.recordings is None:
            return None
        return member, member.recordings / active.job.call.calluuid / active.job.record_id

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self._failover_run is not None:
            self._failover_run.close()
        for _member, media_server, _active in self._duplicating:
            media_server.close()
        for sock in self._silent:
            sock.close()


def _private_start(tserver: SipTServer, customer_dn: str, agent_dn: str,
                   extensions: dict[str, KVValue]) -> Event | None:
    """A call from `customer_dn` to `agent_dn`, and a T-Lib client registered on the agent DN
    asking GSIP_RECORD_START with `extensions` (in process: the sans-IO T-Server core); its answer."""
    core = tserver.core
    client = core.connect()
    core.handle(client, RequestRegisterAddress(reference_id=1, this_dn=agent_dn))
    call = tserver.place_call(customer_dn, agent_dn)
    core.take_messages(client)
    core.handle(client, RequestPrivateService(reference_id=2, private_msg_id=tserver.private_msgs.start,
                                              this_dn=agent_dn, conn_id=call.conn_id, extensions=KVList(extensions)))
    return next((e for e in core.take_messages(client) if e.reference_id == 2), None)
