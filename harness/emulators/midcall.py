"""Mid-call media changes on the recording sessions: transfer kept in path, hold / retrieve of
one party, codec change (docs/genesys-flow.md §3.5, GVP-Xfer, RFC 3264 §8).

What Media Server does, as far as the public material says:

* **transfer kept in path** (GVP-Xfer; docs/genesys-flow.md §3.5): "the recording session is
  kept and the recorder should expect a re-INVITE renegotiating media". The party the stream
  now copies is another device, so the replicated RTP comes from a new source: a new SSRC and
  a new random sequence number / timestamp base (RFC 3550 §5.1, §8.1), from another socket
  (the offer's m-line names the new port), possibly in another codec. Whether Genesys changes
  the SSRC, the source port and the codec on every transfer is not published: `MediaChange`
  makes each one a scenario option.
* **codec change** by re-INVITE (RFC 3264 §8: a new offer in the dialog): the same source
  (SSRC and sequence go on), another payload type from the next packet.
* **hold / retrieve** of one party: in the three variants the pause profiles already cover
  (docs/genesys-flow.md §4.6): the RTP of that party stops (the RTP clock runs on), codec
  silence keeps flowing, or a re-INVITE a=inactive and, on retrieve, a=sendonly. The recording
  is *not* paused: the recorder must keep the held party's channel on wall-clock time.

The re-INVITE goes out while the stream sends nothing (its time line has a gap of the
re-INVITE's round trip); the time code goes on at the slot of "now", so a recording that keeps
the stream on wall-clock time holds every segment outside that gap. The stream's pieces keep
their own source and port (`StreamPiece`), so every packet sent can be rebuilt as evidence.
"""

from __future__ import annotations

import enum
import random
import socket
import time
from dataclasses import dataclass, field, replace

from harness.emulators.media_server import CODECS, RecordingLeg, ReplicatedStream
from harness.emulators.runtime_control import PauseProfile, RuntimeControl
from harness.emulators.sip_server import Call, RecordingJob, Side, SipServerEmulation
from harness.media.rtp_source import RtpStreamSource
from harness.protocol.rtp.seqnum import ts_distance
from harness.protocol.sdp import Direction
from harness.sipp.leg import SippLeg

__all__ = ["ChangeKind", "ChangeRecord", "MediaChange", "MidCallChanges", "TransferOutcome", "consult_job",
           "transfer_outcome"]

# A new source's timestamp base is at least this far (either way, in serial arithmetic) from
# where the old one would be: a recorder that places the new source by the old timestamp
# space, instead of anchoring it anew (RFC 3550 §8.1, a new SSRC), misplaces it by hours, never
# by chance by a few packets (the draw is random otherwise).
_MIN_TS_JUMP = 1 << 30


class ChangeKind(enum.StrEnum):
    TRANSFER = "transfer"
    CODEC = "codec change"
    HOLD = "hold"
    RETRIEVE = "retrieve"


class TransferOutcome(enum.StrEnum):
    KEPT = "kept in path"  # the recording sessions stay up and get a re-INVITE
    ENDED = "ended"  # SIP Server stops the recording: BYE on the recording sessions


def transfer_outcome(record_dn: str, transferring_dn: str) -> TransferOutcome:
    """SIP Server's decision when `transferring_dn` transfers the call away (docs/genesys-flow.md
    §3.5, GVP-Xfer): recording is "sticky" to the side it was started from. Started from the
    device that now transfers away (the recording job's record DN), it ends; started from the
    other device, it survives the far end's transfer and the sessions are kept in path."""
    return TransferOutcome.ENDED if record_dn == transferring_dn else TransferOutcome.KEPT


def consult_job(server: SipServerEmulation, main: RecordingJob, consult_dn: str, *,
                record_consult: bool, call: Call | None = None) -> RecordingJob | None:
    """SIP Server's decision when the recorded agent places a consultation call to `consult_dn`
    (docs/genesys-flow.md §3.5: "when recording is on the agent DN, consult calls are recorded
    too"; the option, called `record-consult-calls` in the training material's contents, is
    UNCONFIRMED, so a scenario option): on, the consultation is a call of its own, with its own
    CallUUID and ConnID, recorded as a separate recording on behalf of the consulting agent;
    off, it is not recorded. `call`: the consultation call when the T-Server emulation placed it
    (`SipTServer.consult`, its T-Lib events sent); otherwise one is made here."""
    if not record_consult:
        return None
    agent = main.call.agent_dn
    if call is None:
        call = server.place_call(agent, consult_dn, main.call.codec)
    return server.job_for(call, Side.CUSTOMER, trigger=f"consultation from DN {agent} (record-consult-calls=true)")


@dataclass(frozen=True, slots=True)
class MediaChange:
    """What a re-INVITE renegotiates for the stream(s) of a leg (each a scenario option)."""

    new_ssrc: bool = True  # a new RTP source: SSRC, sequence and timestamp base drawn anew
    new_port: bool = True  # the replicated RTP comes from another socket (the m-line's port)
    codec: str | None = None  # another codec (PCMU / PCMA); None: the one in use

    def __post_init__(self) -> None:
        if self.codec is not None and self.codec.upper() not in CODECS:
            raise ValueError(f"codec must be one of {sorted(CODECS)}, got {self.codec!r}")


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One mid-call change as it happened (the scenario's timeline, the checks' facts)."""

    kind: ChangeKind
    side: Side
    wall_time: float
    first_slot: int | None  # the stream's first slot after the change (None: not resumed)
    answered: bool  # the re-INVITE got a 2xx (True when the change needed none)
    ssrc: int
    codec: str
    local_port: int


@dataclass(slots=True)
class MidCallChanges:
    """Mid-call changes of one call's recording sessions on the Media Server emulation, built on
    the run-time control's stream pieces (`RuntimeControl.interrupt` / `carry_on`)."""

    control: RuntimeControl
    rng: random.Random = field(default_factory=random.Random)
    log: list[ChangeRecord] = field(default_factory=list)
    retired_sockets: list[socket.socket] = field(default_factory=list)
    _offers: dict[int, SippLeg] = field(default_factory=dict)  # id(RecordingLeg) -> what it offers now
    _held: dict[Side, PauseProfile] = field(default_factory=dict)

    # -- the offers ----------------------------------------------------------------------------
    def _offer(self, leg: RecordingLeg, direction: Direction, codec: str | None = None) -> bytes:
        current = self._offers.get(id(leg), leg.process.leg)
        updated = replace(current, media_ports=tuple(s.local_port for s in leg.streams),
                          codec=CODECS[codec.upper()] if codec is not None else current.codec)
        self._offers[id(leg)] = updated
        # RFC 3264 §8 / RFC 4566 §5.2: same o= session id, the version one higher.
        return updated.offer_sdp(version=leg.process.control.session.offer_version + 1, direction=direction)

    def _reinvite(self, leg: RecordingLeg, direction: Direction, codec: str | None = None) -> bool:
        answer = self.control.reinvite_with(leg, direction, self._offer(leg, direction, codec))
        if answer is None:
            return False
        host = answer.connection_ip or leg.process.leg.recorder_host
        for stream in leg.streams:
            port = answer.audio_ports[stream.m_index] if stream.m_index < len(answer.audio_ports) else 0
            # RFC 3264 §8.3.1: the answer may move the stream; port 0 refuses it (nothing sent).
            stream.destination = (host, port) if port else None
        return True

    def _stream(self, side: Side) -> ReplicatedStream:
        return self.control.active.stream(side)

    def _record(self, kind: ChangeKind, stream: ReplicatedStream, first_slot: int | None, answered: bool) -> None:
        self.log.append(ChangeRecord(kind, stream.job.side, time.time(), first_slot, answered, stream.source.ssrc,
                                     stream.source.codec, stream.local_port))

    @staticmethod
    def _live(stream: ReplicatedStream) -> bool:
        # After interrupt() pacer_id still names the ended piece; an abandoned stream (its
        # re-INVITE unanswered) has none and is stopped.
        return stream.destination is not None and stream.pacer_id is not None and stream.stopped_at is None

    # -- transfer / codec change ----------------------------------------------------------------
    def _new_source(self, stream: ReplicatedStream, slot: int, change: MediaChange) -> RtpStreamSource:
        old = stream.source
        codec = (change.codec or old.codec).upper()
        if not change.new_ssrc:
            # Same source, other codec: SSRC, sequence and timestamp go on (RFC 3550 §5.1).
            return RtpStreamSource(old.stream_index, codec, CODECS[codec].payload_type, old.ssrc, old.initial_seq,
                                   old.initial_timestamp, old.ptime_ms)
        fresh = RtpStreamSource.create(old.stream_index, codec, ptime_ms=old.ptime_ms, rng=self.rng)
        if fresh.ssrc == old.ssrc:
            fresh = replace(fresh, ssrc=(old.ssrc + 1) % (1 << 32))
        if abs(ts_distance(old.timestamp_of(slot), fresh.timestamp_of(slot))) < _MIN_TS_JUMP:
            fresh = replace(fresh, initial_timestamp=(fresh.initial_timestamp + (1 << 31)) % (1 << 32))
        return fresh

    def change_media(self, change: MediaChange, sides: tuple[Side, ...] = (Side.CUSTOMER, Side.AGENT),
                     kind: ChangeKind = ChangeKind.TRANSFER) -> None:
        """The streams of `sides` get the new media (transfer: a new source; codec change), each
        leg one re-INVITE with the new offer; the time code goes on where wall-clock time is."""
        legs = [leg for leg in self.control.active.legs if any(s.job.side in sides for s in leg.streams)]
        for leg in legs:
            # The offer's codec is the leg's (one per SippLeg): in single-session mode a codec
            # change moves both m-lines' streams; otherwise the other m-line's stream keeps its
            # source, port and RTP and only its offer line is repeated.
            changed = [s for s in leg.streams if (s.job.side in sides or change.codec is not None) and self._live(s)]
            if not changed:
                continue
            for stream in changed:
                slot = self.control.interrupt(stream)
                stream.source = self._new_source(stream, slot, change)
                if change.new_port:
                    self.retired_sockets.append(stream.sock)
                    sock = socket.socket(stream.sock.family, socket.SOCK_DGRAM)
                    sock.bind((stream.sock.getsockname()[0], 0))
                    stream.sock = sock
                    stream.local_port = int(sock.getsockname()[1])
            answered = self._reinvite(leg, Direction.SENDONLY, change.codec)
            for stream in changed:
                first = None
                if answered and self._live(stream):
                    # A new source is another device's media: it starts at least one packet
                    # after the old one stopped.
                    first = self.control.carry_on(stream, restart_sequence=change.new_ssrc,
                                                  min_gap=1 if change.new_ssrc else 0)
                self._record(kind, stream, first, answered)

    # -- hold / retrieve --------------------------------------------------------------------
    def hold(self, side: Side, profile: PauseProfile) -> None:
        """The party on `side` is put on hold, the way `profile` says Media Server shows it."""
        if side in self._held:
            raise ValueError(f"the {side.value} party is on hold already")
        stream = self._stream(side)
        if not self._live(stream):
            return
        slot = self.control.interrupt(stream)
        self._held[side] = profile
        answered = True
        if profile is PauseProfile.SILENCE:
            self.control.fill_silence(stream, slot)
        elif profile is PauseProfile.REINVITE:
            answered = self._reinvite(self.control.active.leg_of(side), Direction.INACTIVE)
        self._record(ChangeKind.HOLD, stream, None, answered)

    def retrieve(self, side: Side) -> None:
        profile = self._held.pop(side)
        stream = self._stream(side)
        answered = True
        if profile is PauseProfile.REINVITE:
            answered = self._reinvite(self.control.active.leg_of(side), Direction.SENDONLY)
        first = self.control.carry_on(stream) if answered and self._live(stream) else None
        self._record(ChangeKind.RETRIEVE, stream, first, answered)

    def close(self) -> None:
        for sock in self.retired_sockets:
            sock.close()
        self.retired_sockets.clear()
