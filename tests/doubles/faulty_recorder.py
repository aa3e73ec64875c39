"""Deliberately broken recorders: the reference recorder with one injected fault.

They prove the conformance scenarios can fail, and fail with the right requirement id:

    python -m tests.doubles.faulty_recorder --fault sendrecv --listen 127.0.0.1:5060 ...

  sendrecv        answers the recording INVITE's sendonly offer with a=sendrecv (RFC 3264 §6.1)
  swap-channels   records each stream's audio under the other stream's DN
  drop-agent      never records the audio of the second stream of a call
  accept-video    answers a video m-line with a port instead of 0 (SDP-VIDEO-REFUSED-PORT0)
  slow-answer     no fault: answers a new INVITE after 1 s, so a CANCEL can win the race
  ignore-cancel   answers slowly and drops CANCEL: the cancelled INVITE gets 200 (SIP-CANCEL-487)
  accept-malformed  takes a request whose body is shorter than its Content-Length as if the
                  header were right, and answers it 200 (SIP-MALFORMED-400; linphonec 5.1 does)
  drop-at-capacity  at its --capacity, ignores a new INVITE (only the automatic 100 Trying)
                  instead of answering 503 (SIP-CAPACITY-503)
  close-on-first-BYE  ends every stream of the recording on the first BYE of any of its
                  sessions, although the other stream continues until its own BYE
                  (ARE-10-BYE-ENDS-STREAM)
  reject-stream-200  answers an offer with no codec in common 200 with every m-line rejected
                  (port 0) instead of 488: allowed by RFC 3264 §6, a SIP-NO-CODEC-488-PREFERRED
                  warning, not a failure
  no-gap-fill     places each packet right after the previous one, ignoring the RTP timestamp:
                  a gap in the RTP (the rtp-stops pause) is not kept as silence, the timeline
                  after it is shifted (ARE-09-PAUSE-RESUME)
  ignore-reinvite never answers a re-INVITE (only the automatic 100 Trying): the pause /
                  resume re-INVITE times out (SIP-REINVITE-ANSWERED, RFC 3261 §14.1)
  inactive-answered-recvonly  answers an a=inactive re-INVITE with a=recvonly (SDP-ANSWER-INACTIVE,
                  RFC 3264 §6.1)
  new-origin-on-reinvite  answers a re-INVITE with a new o= sess-id (SDP-ORIGIN-KEPT, RFC 3264 §8)
  options-silent  never answers OPTIONS: the Resource Manager's ping takes it out of the pool
                  (ARE-HA-POOL-OPTIONS)
  reject-failover answers 482 to the new Media Server's session with the calluuid, record id and
                  dn of one a failed Media Server left open (ARE-HA-FAILOVER-ACCEPTED)
  drop-failover-audio  answers the failover session 200 but records nothing of it
                  (ARE-HA-FAILOVER-RECORDING)
  no-rtp-timeout  never ends a session whose RTP stopped (ARE-HA-DEAD-DIALOG-ENDED)
  close-failover-gap  places the new Media Server's audio right after the failed one's: the
                  outage is no gap in the recording and is not marked (ARE-HA-FAILOVER-GAP)
  no-checkpoint   writes nothing until a recording closes: killed mid-call, it leaves empty files
                  (ARE-HA-CRASH-RECORDING-READABLE)
  ignore-metadata SIPREC: accepts the recording session and its RFC 7865 metadata, then keeps no
                  participant <-> stream map (SRS-METADATA-KEPT)
  swap-participants  SIPREC: records each labelled stream's audio under the other stream's label
                  while keeping the metadata's map, so a participant's audio is in the wrong
                  stream (SRS-PARTICIPANT-AUDIO)
  reject-no-metadata  SIPREC: refuses (400) a recording-session INVITE that carries no metadata
                  yet, although RFC 7866 §9 lets it follow (SRS-NO-INITIAL-METADATA)
  no-srs-tag      SIPREC: answers a recording session without +sip.srs in its Contact (SRS-FEATURE-TAG)
  accept-half-siprec  SIPREC: takes an INVITE with Require: siprec but no +sip.src for a recording
                  session and answers it with +sip.srs (SRS-NOT-RS, RFC 7866 §6.2)
  ignore-require  drops every option tag but siprec from Require before reading the request, so
                  an unknown required extension is accepted instead of 420 (SRS-REQUIRE-420)
  ignore-update-metadata  SIPREC: answers an UPDATE carrying a metadata update (RFC 3311, RFC 7866
                  §9) like the reference but keeps the metadata it had before it: the map misses
                  a transfer sent by UPDATE (SRS-METADATA-KEPT)
  no-snapshot-request  SIPREC: left without metadata, never asks the SRC for a snapshot
                  (SRS-SNAPSHOT-REQUEST, RFC 7866 §9.2; a SHOULD: a warning)
  ignore-snapshot SIPREC: asks for a metadata snapshot as the reference does, then drops the
                  metadata of every later request: the snapshot it asked for never reaches its
                  map (SRS-METADATA-KEPT)
  refuse-new-stream  SIPREC: refuses (port 0) the new labelled m-line a transfer's re-offer adds,
                  as for a fixed channel layout: the new participant is not recorded
                  (SRS-NEW-STREAM-ACCEPTED)
  (sendrecv above also fails a SIPREC recording session: SDP-ANSWER-RECVONLY on its SDP answer)
  stop-after-reinvite  answers every re-INVITE 200 as the reference recorder does, then records
                  nothing more of that session's streams (ARE-07-XFER-KEEPS-RECORDING; a held
                  party's re-INVITE: ARE-07-HOLD-WALL-CLOCK)
  drop-new-ssrc   records only the first SSRC each stream carried: a transfer's new source is
                  dropped (ARE-07-XFER-KEEPS-RECORDING); also fails RTP-SSRC-CHANGE-RECORDED
  ignore-codec-change  takes the new payload type of a re-INVITE but decodes on with the codec of
                  the first answer: PCMA written as PCMU and back (ARE-07-CODEC-CHANGE)
  ignore-bye      answers BYE 200 (its UAS core does) but keeps the session and its recording open:
                  the recording ended by a transfer is never finalised (ARE-10-XFER-STICKY-SIDE)
  merge-by-record-dn  joins a new session to any open recording started on behalf of the same
                  recordDN, whatever its calluuid: the agent's consultation call is written into
                  the main call's recording (ARE-07-CONSULT-SEPARATE)
  drop-third-stream  accepts a third session of a call's recording (a supervisor joining) but
                  records none of its audio (ARE-07-CONFERENCE-SUPERVISOR)
  concatenate     impaired media: appends every packet's audio after the previous one's, so a lost
                  packet's time vanishes from the recording (REC-LOSS-SILENCE)
  arrival-order   impaired media: a packet older than the newest one received is written after
                  it instead of in its place (REC-REORDER-RESTORED)
  duplicates-twice  impaired media: a repeated sequence number is written again after the newest
                  audio, shifting the rest of the stream (REC-DUPLICATE-ONCE)
  decode-events   impaired media: decodes RFC 4733 telephone-event and RFC 3389 comfort-noise
                  payloads as the stream's G.711, each event packet written after the previous
                  one as an appending writer does (REC-DTMF-NOT-AUDIO, REC-CN-NOT-AUDIO)
  first-ssrc-only impaired media: keeps only the first SSRC seen on a port and drops a new
                  source's packets (RTP-SSRC-CHANGE-RECORDED; the same double as drop-new-ssrc)
  no-dtmf-metadata  impaired media: keeps the telephone events out of the audio but does not note
                  them in recording.json (REC-DTMF-METADATA, a warning)
  g729-accept     no fault: answers an offer of G.729 only 200 with G.729 (PT 18), as a recorder that
                  implements it does (SDP-CODEC-ACCEPT-OR-488 passes either way)
  g729-as-pcmu    answers an offer of G.729 only 200 with PCMU, a format not offered
                  (SDP-CODEC-ACCEPT-OR-488, RFC 3264 §6.1)
  naive-wrap      drops a packet whose sequence number or timestamp is not numerically above the
                  highest seen on its port (a late-packet filter without serial arithmetic): the
                  stream is lost from its first wrap on (RTP-WRAP-RECORDED, RFC 3550 §5.1)
  drop-after-seq-jump  drops a packet whose sequence number is over 100 from the last one kept:
                  after a sequence-number jump within one SSRC the stream is lost (RTP-JUMP-RECORDED)
  retrans-as-new  loses the INVITE transaction: a retransmitted INVITE (same branch) is taken
                  as a new request on another branch, so it gets a new final response (482 from
                  the merged-request rule) instead of the same 200 (SIP-INVITE-RETRANS-ONE-SESSION)
  grant-below-min-se  uses session timers but grants any interval asked for: Session-Expires 30
                  gets 200 with Session-Expires: 30 instead of 422 + Min-SE (SIP-SESSION-TIMER-422,
                  RFC 4028 §4, §9)
  refresh-without-timer  answers session refreshes (re-INVITE, UPDATE) 200 without the
                  Session-Expires its INVITE's 200 carried (SIP-SESSION-TIMER-REFRESH, RFC 4028 §9)
  ignore-session-expiry  grants session timers but never acts on their expiry: a dialog whose
                  refreshes stopped keeps its recording open until the Media Server's BYE
                  (SIP-SESSION-TIMER-EXPIRY, RFC 4028 §10; a SHOULD: a warning)
  drop-above=N    accepts every session, but one set up while N sessions were already up loses
                  every 4th RTP packet: a recorder that takes more than it can hold (arec load
                  must find its capacity at the ramp step past N/2 two-stream calls)
  drop-above=N    accepts every session, but one set up while N sessions were already up loses
                  every 4th RTP packet: a recorder that takes more than it can hold (arec load
                  must find its capacity at the ramp step past N/2 two-stream calls)
  conn-id-interaction  its T-Lib client keys a call by ConnID only: across a multi-site transfer
                  (new ConnID, same CallUUID) it takes the old ConnID's EventReleased for the end
                  of the interaction, so the data attached under the new ConnID never reaches the
                  recording (ARE-17-MULTISITE-ONE-INTERACTION)
  release-ends-call  its T-Lib client ends a call at the first EventReleased of any of its DNs: a
                  transfer between two of its DNs ends the call for it, so the data attached after
                  the transfer never reaches the recording (ARE-08-ATTACHED-DATA-UPDATED)
  expiry-without-bye  ends its recording when the session refreshes stop, sends no BYE
                  (SIP-SESSION-TIMER-EXPIRY, a warning: RFC 4028 §10 SHOULD)
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from typing import Any

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.genesys import RecordingTarget, parse_recording_uri
from harness.protocol.rtp.packet import RtpPacket, RtpParseError
from harness.protocol.sip import uas
from harness.protocol.sip.message import SipRequest
from harness.protocol.siprec.session import SRS_FEATURE_TAG, is_recording_session, split_body
from reference_recorder import siprec as srs
from reference_recorder.cli import main as recorder_main
from reference_recorder.core import RecorderCore
from reference_recorder.storage_work import RecordingRef
from reference_recorder.tlib_agent import TlibAgent


class SendrecvAnswer(RecorderCore):
    def data_to_send(self) -> list[uas.Outgoing]:
        out = []
        for item in super().data_to_send():
            if b"a=recvonly" in item.data:
                # Same length, so Content-Length stays right.
                item = uas.Outgoing(item.data.replace(b"a=recvonly", b"a=sendrecv"), item.destination,
                                    item.transport)
            out.append(item)
        return out


class SwapChannels(RecorderCore):
    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        entry = self._streams_by_port.get(port)
        if entry is not None:
            session, stream = entry
            for other_port, (other_session, _other) in self._streams_by_port.items():
                if other_port != port and other_session.recording is session.recording:
                    port = other_port
                    break
        super().receive_rtp(port, data, source, now)


class DropAgent(RecorderCore):
    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        entry = self._streams_by_port.get(port)
        if entry is not None:
            session, stream = entry
            first = min(p for p, (s, _) in self._streams_by_port.items() if s.recording is session.recording)
            if port != first:
                return
        super().receive_rtp(port, data, source, now)


class AcceptVideo(RecorderCore):
    """Answers a video m-line with a port instead of 0 (an audio-only recorder must refuse it)."""

    def data_to_send(self) -> list[uas.Outgoing]:
        # Same length, so Content-Length stays right.
        return [uas.Outgoing(item.data.replace(b"m=video 0 ", b"m=video 9 "), item.destination, item.transport)
                for item in super().data_to_send()]


class SlowAnswer(RecorderCore):
    """Not a fault: answers a new INVITE only after ANSWER_DELAY_S (100 Trying at once), like a
    recorder that prepares storage first, so a CANCEL can arrive before the final response."""

    ANSWER_DELAY_S = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: list[tuple[float, uas.RequestReceived]] = []

    def _on_new_invite(self, event: uas.RequestReceived, now: float) -> None:
        self._held.append((now + self.ANSWER_DELAY_S, event))

    def _handle(self, event: object, now: float) -> None:
        if isinstance(event, uas.CancelReceived):  # the core answered 200 and 487 already
            self._held = [(t, e) for t, e in self._held if e.handle is not event.handle]
        super()._handle(event, now)

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (super().next_deadline(), *(t for t, _ in self._held)) if d is not None]
        return min(deadlines) if deadlines else None

    def on_timer(self, now: float) -> None:
        due = [e for t, e in self._held if t <= now]
        self._held = [(t, e) for t, e in self._held if t > now]
        for event in due:
            super()._on_new_invite(event, now)
        super().on_timer(now)


class IgnoreCancel(SlowAnswer):
    """Answers slowly and never honours a CANCEL (drops it): the INVITE still gets 200."""

    def receive_sip(self, data: bytes, source: tuple[str, int], now: float) -> None:
        if not data.startswith(b"CANCEL "):
            super().receive_sip(data, source, now)


class AcceptMalformed(RecorderCore):
    """Repairs a Content-Length that exceeds the body before parsing, so the malformed request
    RFC 3261 §18.3 says to answer 400 gets a 200 instead."""

    _CONTENT_LENGTH = re.compile(rb"(?im)^(content-length|l)[ \t]*:[ \t]*(\d+)")

    def receive_sip(self, data: bytes, source: tuple[str, int], now: float) -> None:
        head, sep, body = data.partition(b"\r\n\r\n")
        match = self._CONTENT_LENGTH.search(head)
        if sep and match is not None and int(match.group(2)) > len(body):
            head = head[:match.start(2)] + str(len(body)).encode() + head[match.end(2):]
            data = head + sep + body
        super().receive_sip(data, source, now)


class DropAtCapacity(RecorderCore):
    """At capacity, leaves a new INVITE without a final response instead of 503 + Retry-After:
    the Media Server waits for timer B instead of trying the next recorder."""

    def _admit(self, request: SipRequest) -> uas.StatelessAnswer | None:
        return None  # let every INVITE reach _on_new_invite, which leaves it unanswered

    def _on_new_invite(self, event: uas.RequestReceived, now: float) -> None:
        if sum(1 for s in self._sessions.values() if s.ending is None) >= self.config.capacity:
            return
        super()._on_new_invite(event, now)


class CloseOnFirstBye(RecorderCore):
    """The first BYE of a call's recording sessions ends all of them (two-session mode)."""

    def _handle(self, event: object, now: float) -> None:
        super()._handle(event, now)
        if isinstance(event, uas.DialogTerminated):
            ended = self._sessions.get(event.dialog.id.call_id)
            if ended is not None and ended.ending is not None:
                for session in self._sessions.values():
                    if session.recording is ended.recording and session.ending is None:
                        session.ending = ended.ending


class NoGapFill(RecorderCore):
    """Appends each packet's payload right after the previous one's, as a recorder that ignores
    both the RTP timestamp and the arrival time would: gaps vanish.

    Both are rewritten before the reference core sees the packet: the timestamp to follow the
    previous packet's samples (G.711: one sample per payload byte), and the arrival time to the
    moment that timestamp stands for. Rewriting only the timestamp was not a fault at all when the
    pause ran long: the core's timeline re-anchors a stream whose timestamp and arrival disagree
    by more than a second (reference_recorder/timeline.py rule 3), which healed the gap whenever a
    loaded host stretched the 1 s pause past 1 s, and the double passed. With both rewritten the
    stream looks perfectly regular, so nothing re-aligns it on wall-clock time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_timestamp: dict[int, int] = {}
        self._first: dict[int, tuple[int, float]] = {}  # port -> (first timestamp, its arrival)

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            super().receive_rtp(port, data, source, now)
            return
        timestamp = self._next_timestamp.get(port, packet.timestamp)
        self._next_timestamp[port] = (timestamp + len(packet.payload)) & 0xFFFFFFFF
        first_timestamp, first_arrival = self._first.setdefault(port, (timestamp, now))
        appended_at = first_arrival + ((timestamp - first_timestamp) & 0xFFFFFFFF) / 8000
        super().receive_rtp(port, data[:4] + timestamp.to_bytes(4, "big") + data[8:], source, appended_at)


class RejectStreamWith200(RecorderCore):
    """Where the reference recorder answers 488 (nothing in common), answers 200 rejecting every
    m-line with port 0 (RFC 3264 §6 allows it; 488 is what the Media Server expects)."""

    def _on_new_invite(self, event: uas.RequestReceived, now: float) -> None:
        try:
            super()._on_new_invite(event, now)
        except RemoteProtocolError as error:
            if error.status != 488:
                raise
            host = self.config.media_address
            lines = ["v=0", f"o=- 1 1 IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0"]
            lines += [f"m={m.media} 0 {m.proto} {' '.join(m.formats)}" for m in self._offer_of(event.request).media]
            self._respond(event, now, 200, body=("\r\n".join(lines) + "\r\n").encode(),
                          content_type="application/sdp")


class IgnoreReinvite(RecorderCore):
    """Leaves every re-INVITE without a final response (a pause / resume that never lands)."""

    def _on_reinvite(self, event: uas.RequestReceived, now: float) -> None:
        return


class _ReanswerEdit(RecorderCore):
    """Rewrites the SDP body of the answer to a re-INVITE (and only that answer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_reinvite = False

    def _on_reinvite(self, event: uas.RequestReceived, now: float) -> None:
        self._in_reinvite = True
        try:
            super()._on_reinvite(event, now)
        finally:
            self._in_reinvite = False

    def _respond(self, event: uas.RequestReceived, now: float, status: int, reason: str | None = None, *,
                 headers: list[tuple[str, str]] | None = None, body: bytes = b"",
                 content_type: str | None = None) -> None:
        if self._in_reinvite and body:
            body = self.edit(body)
        super()._respond(event, now, status, reason, headers=headers, body=body, content_type=content_type)

    def edit(self, body: bytes) -> bytes:
        raise NotImplementedError


class InactiveAnsweredRecvonly(_ReanswerEdit):
    """Answers an a=inactive re-INVITE with a=recvonly (it keeps recording a paused stream)."""

    def edit(self, body: bytes) -> bytes:
        return body.replace(b"a=inactive", b"a=recvonly")


class NewOriginOnReinvite(_ReanswerEdit):
    """Answers a re-INVITE with a new o= sess-id, as the reference recorder once did."""

    def edit(self, body: bytes) -> bytes:
        return re.sub(rb"(?m)^o=(\S+) (\d+) ", lambda m: b"o=%s %d " % (m.group(1), int(m.group(2)) + 1000), body,
                      count=1)
class DropAbove(RecorderCore):
    """Past `LIMIT` concurrent sessions, accepts new ones but loses a quarter of their audio."""

    LIMIT = 8
    DROP_EVERY = 4

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._overloaded: set[str] = set()  # Call-IDs of the sessions set up past LIMIT
        self._rtp_seen: dict[int, int] = {}

    def _on_new_invite(self, event: uas.RequestReceived, now: float) -> None:
        up = sum(1 for s in self._sessions.values() if s.ending is None)
        before = set(self._sessions)
        super()._on_new_invite(event, now)
        if up >= self.LIMIT:
            self._overloaded.update(set(self._sessions) - before)

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        entry = self._streams_by_port.get(port)
        if entry is not None and entry[0].call_id in self._overloaded:
            count = self._rtp_seen.get(port, 0) + 1
            self._rtp_seen[port] = count
            if count % self.DROP_EVERY == 0:
                return
        super().receive_rtp(port, data, source, now)


class OptionsSilent(RecorderCore):
    """Never answers an out-of-dialog OPTIONS: Resource Manager's ping finds it dead and takes it
    out of its pool's rotation (ARE-HA-POOL-OPTIONS)."""

    def receive_sip(self, data: bytes, source: tuple[str, int], now: float) -> None:
        if data.startswith(b"OPTIONS "):
            return
        super().receive_sip(data, source, now)


class RejectFailover(RecorderCore):
    """Takes a new INVITE with the calluuid, record id and dn of a session still open (the one
    a failed Media Server left without BYE) for a duplicate and answers 482 (ARE-HA-FAILOVER-ACCEPTED)."""

    def _on_new_invite(self, event: uas.RequestReceived, now: float) -> None:
        target = parse_recording_uri(event.request.uri)
        if any(s.ending is None and (s.target.calluuid, s.target.record_id, s.target.dn)
               == (target.calluuid, target.record_id, target.dn) for s in self._sessions.values()):
            raise RemoteProtocolError("duplicate recording session", 482, "Loop Detected")
        super()._on_new_invite(event, now)


class DropFailoverAudio(RecorderCore):
    """Answers the new Media Server's session 200, but records nothing of it while the session
    with the same calluuid, record id and dn is still open: the audio after a Media Server
    failover is lost (ARE-HA-FAILOVER-RECORDING)."""

    def _on_new_invite(self, event: uas.RequestReceived, now: float) -> None:
        target = parse_recording_uri(event.request.uri)
        duplicate = any(s.ending is None and (s.target.calluuid, s.target.record_id, s.target.dn)
                        == (target.calluuid, target.record_id, target.dn) for s in self._sessions.values())
        super()._on_new_invite(event, now)
        session = self._sessions.get(event.request.call_id)
        if duplicate and session is not None:
            for stream in session.streams:
                stream.paused = True  # receive_rtp drops what a paused stream gets


class NoRtpTimeout(RecorderCore):
    """Keeps a session whose RTP stopped open for ever: the dead Media Server's dialogs are never
    ended (ARE-HA-DEAD-DIALOG-ENDED)."""

    def _end_silent_sessions(self, now: float) -> None:
        return


class NoCheckpoint(RecorderCore):
    """Keeps every packet in memory until the recording closes (no storage tick, so no write and
    no WAV header checkpoint mid-call): killed mid-call it leaves empty files
    (ARE-HA-CRASH-RECORDING-READABLE)."""

    def _tick(self, now: float) -> None:
        self._end_silent_sessions(now)
        self._next_tick = now + self.config.tick_interval_s if self._open else None
class CloseFailoverGap(NoCheckpoint):
    """Stitches the new Media Server's audio right after the failed one's: every packet of a
    failover stream is placed as if it had arrived that much earlier (the outage) so the gap is
    closed and not marked (ARE-HA-FAILOVER-GAP). Nothing is written before the recording closes
    (NoCheckpoint), so the moved audio never lands behind what was already written out: the
    fault does not depend on timing or load."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shift: dict[str, float] = {}  # stream key -> seconds moved earlier

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        entry = self._streams_by_port.get(port)
        if entry is not None:
            stream = entry[1]
            if stream.key not in self._shift:
                self._shift[stream.key] = max(0.0, now - stream.replaces[0]) if stream.replaces is not None else 0.0
            now -= self._shift[stream.key]
        super().receive_rtp(port, data, source, now)


class IgnoreMetadata(RecorderCore):
    """Parses the SIPREC metadata (so it answers like the reference) and drops it before storing."""

    def _annotate_siprec(self, session: Any, now: float) -> None:
        if session.siprec is not None:
            session.siprec.metadata = None
        super()._annotate_siprec(session, now)


class SwapParticipants(SwapChannels):
    """SwapChannels on a SIPREC session: stream label 1's RTP lands in label 2's file and back,
    while recording.json keeps the metadata's (right) participant map."""


class RejectWithoutMetadata(RecorderCore):
    def _on_new_invite(self, event: uas.RequestReceived, now: float) -> None:
        request = event.request
        if is_recording_session(request) and split_body(request.content_type_full, request.body).metadata is None:
            raise RemoteProtocolError("recording session without metadata", 400, "Bad Request")
        super()._on_new_invite(event, now)


class IgnoreUpdateMetadata(RecorderCore):
    """Answers an UPDATE's offer like the reference recorder, and drops the metadata it carried."""

    _before: Any = None

    def _on_update(self, event: uas.RequestReceived, now: float) -> None:
        session = self._sessions.get(event.request.call_id)
        if session is not None and session.siprec is not None and event.request.body:
            self._before = (session.siprec.metadata, session.siprec.updates)
        super()._on_update(event, now)
        self._before = None

    def _annotate_siprec(self, session: Any, now: float) -> None:
        if self._before is not None and session.siprec is not None:
            session.siprec.metadata, session.siprec.updates = self._before
        super()._annotate_siprec(session, now)


class NoSnapshotRequest(RecorderCore):
    """Never asks for a metadata snapshot (metadata_wait_s None), whatever it lacks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = dataclasses.replace(self.config, metadata_wait_s=None)


class IgnoreSnapshot(RecorderCore):
    """Sends the snapshot request, then keeps the metadata it had (none) whatever comes after."""

    def _annotate_siprec(self, session: Any, now: float) -> None:
        state = session.siprec
        if state is not None and state.snapshot_requested:
            state.metadata, state.updates = None, 0
        super()._annotate_siprec(session, now)


class RefuseNewStream(RecorderCore):
    ADD_SIPREC_STREAMS = False


class NoSrsTag(RecorderCore):
    def data_to_send(self) -> list[uas.Outgoing]:
        tag = f";{SRS_FEATURE_TAG}".encode()
        # Shorter headers, same body: Content-Length stays right.
        return [uas.Outgoing(item.data.replace(tag, b""), item.destination, item.transport)
                for item in super().data_to_send()]


class AcceptHalfSiprec(RecorderCore):
    @staticmethod
    def _open_recording_session(request: SipRequest) -> Any:
        return srs.open_recording_session(request, strict=False)


class IgnoreRequire(RecorderCore):
    _REQUIRE = re.compile(rb"(?im)^require[ \t]*:[^\r\n]*")

    def receive_sip(self, data: bytes, source: tuple[str, int], now: float) -> None:
        head, sep, body = data.partition(b"\r\n\r\n")
        keep = b"Require: siprec" if b"siprec" in head.lower() else b"X-Dropped-Require: 1"
        super().receive_sip(self._REQUIRE.sub(keep, head) + sep + body, source, now)
class StopAfterReinvite(RecorderCore):
    """Answers a re-INVITE, then drops every RTP packet of that session's streams."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reinvited: set[str] = set()  # Call-IDs

    def _on_reinvite(self, event: uas.RequestReceived, now: float) -> None:
        super()._on_reinvite(event, now)
        self._reinvited.add(event.request.call_id)

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        entry = self._streams_by_port.get(port)
        if entry is not None and entry[0].call_id in self._reinvited:
            return
        super().receive_rtp(port, data, source, now)


class DropNewSsrc(RecorderCore):
    """Keeps to the first SSRC seen on each stream's port; packets of any other are dropped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._first_ssrc: dict[int, int] = {}

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        try:
            ssrc = RtpPacket.parse(data).ssrc
        except RtpParseError:
            super().receive_rtp(port, data, source, now)
            return
        if self._first_ssrc.setdefault(port, ssrc) == ssrc:
            super().receive_rtp(port, data, source, now)


class IgnoreCodecChange(RecorderCore):
    """Follows a re-INVITE's payload type but keeps decoding with the codec first negotiated."""

    def _on_reinvite(self, event: uas.RequestReceived, now: float) -> None:
        session = self._sessions.get(event.request.call_id)
        before = {id(s): s.encoding for s in session.streams} if session is not None else {}
        super()._on_reinvite(event, now)
        for stream in session.streams if session is not None else []:
            stream.encoding = before.get(id(stream), stream.encoding)


class IgnoreBye(RecorderCore):
    """Its UAS core answers BYE 200, but the session (and so the recording) is never ended."""

    def _handle(self, event: object, now: float) -> None:
        if isinstance(event, uas.DialogTerminated) and event.request is not None:
            return
        super()._handle(event, now)


class MergeByRecordDn(RecorderCore):
    """Correlates sessions by recordDN instead of calluuid (docs/genesys-flow.md §4.4 says calluuid)."""

    def _recording_for(self, target: RecordingTarget, now: float) -> RecordingRef:
        for session in self._sessions.values():
            if session.target.record_dn == target.record_dn and not session.recording.closing:
                return session.recording
        return super()._recording_for(target, now)


class DropThirdStream(RecorderCore):
    """Records at most two streams per recording: a later session's RTP is dropped."""

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        entry = self._streams_by_port.get(port)
        if entry is not None:
            session, stream = entry
            if session.recording.stream_keys.index(stream.key) >= 2:
                return
        super().receive_rtp(port, data, source, now)


class Concatenate(NoGapFill):
    """Appends payloads (timestamps ignored): the same fault as no-gap-fill, named for the loss
    scenario of features/14_impaired_media.feature."""


def _with_timestamp(data: bytes, timestamp: int) -> bytes:
    return data[:4] + (timestamp & 0xFFFFFFFF).to_bytes(4, "big") + data[8:]


def _ts_after(a: int, b: int) -> bool:
    """RFC 3550 A.1 serial order of 32-bit timestamps: is b after a?"""
    return 0 < ((b - a) & 0xFFFFFFFF) < 0x80000000


class ArrivalOrder(RecorderCore):
    """Writes audio in arrival order: a packet older than the newest one is moved right after it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._newest: dict[int, int] = {}  # port -> end timestamp of the newest audio written

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            super().receive_rtp(port, data, source, now)
            return
        end = self._newest.get(port)
        if end is not None and not _ts_after(end, packet.timestamp) and packet.timestamp != end:
            data = _with_timestamp(data, end)  # late arrival: appended where the writer stands
        timestamp = RtpPacket.parse(data).timestamp
        self._newest[port] = (timestamp + len(packet.payload)) & 0xFFFFFFFF
        super().receive_rtp(port, data, source, now)


class DuplicatesTwice(RecorderCore):
    """A packet whose sequence number was seen already is written again after the newest audio,
    and every later packet moves along with it (the writer appends)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen: dict[int, set[int]] = {}
        self._shift: dict[int, int] = {}
        self._end: dict[int, int] = {}

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            super().receive_rtp(port, data, source, now)
            return
        seen = self._seen.setdefault(port, set())
        shift = self._shift.get(port, 0)
        if packet.sequence in seen and port in self._end:
            timestamp = self._end[port]
            self._shift[port] = shift + len(packet.payload)
        else:
            seen.add(packet.sequence)
            timestamp = (packet.timestamp + shift) & 0xFFFFFFFF
        self._end[port] = (timestamp + len(packet.payload)) & 0xFFFFFFFF
        super().receive_rtp(port, _with_timestamp(data, timestamp), source, now)


class DecodeEvents(RecorderCore):
    """Takes every payload type for the stream's G.711: telephone events and comfort noise too.
    RFC 4733 repeats an event's timestamp in every packet of the event; this writer appends each
    event packet's "audio" after the previous one's instead of overwriting it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._event_end: dict[int, tuple[int, int]] = {}  # port -> (event timestamp, end written)

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        entry = self._streams_by_port.get(port)
        if entry is not None and len(data) >= 12 and (data[1] & 0x7F) != entry[1].payload_type:
            data = data[:1] + bytes([(data[1] & 0x80) | entry[1].payload_type]) + data[2:]
            try:
                packet = RtpPacket.parse(data)
            except RtpParseError:
                packet = None
            if packet is not None:
                start, end = self._event_end.get(port, (packet.timestamp, packet.timestamp))
                timestamp = end if start == packet.timestamp else packet.timestamp
                self._event_end[port] = (packet.timestamp, (timestamp + len(packet.payload)) & 0xFFFFFFFF)
                data = _with_timestamp(data, timestamp)
        super().receive_rtp(port, data, source, now)


class NoDtmfMetadata(RecorderCore):
    """Receives RFC 4733 events (they stay out of the audio) but notes none in the metadata."""

    @staticmethod
    def _stream_report(stream: Any) -> dict[str, object]:
        report = RecorderCore._stream_report(stream)
        report["telephone_events"] = []
        return report


class G729Accept(RecorderCore):
    """Where the reference recorder answers 488 to a G.729-only offer, answers 200 with
    `ANSWER` (payload type, rtpmap); the probe sends no RTP and the session is not kept."""

    ANSWER = (18, "G729/8000")

    def _on_new_invite(self, event: uas.RequestReceived, now: float) -> None:
        if [m.formats for m in self._offer_of(event.request).media] != [("18",)]:
            super()._on_new_invite(event, now)
            return
        host, (pt, rtpmap) = self.config.media_address, self.ANSWER
        body = "\r\n".join(["v=0", f"o=- 1 1 IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0",
                             f"m=audio 9 RTP/AVP {pt}", f"a=rtpmap:{pt} {rtpmap}", "a=recvonly"]) + "\r\n"
        self._respond(event, now, 200, body=body.encode(), content_type="application/sdp")


class G729AsPcmu(G729Accept):
    ANSWER = (0, "PCMU/8000")


class NaiveWrap(RecorderCore):
    """Compares RTP counters as plain integers: after 65535 -> 0 (or 2**32-1 -> 0) every packet
    looks older than the highest seen and is dropped as late."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._highest: dict[int, tuple[int, int]] = {}

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            super().receive_rtp(port, data, source, now)
            return
        highest = self._highest.get(port)
        if highest is not None and (packet.sequence <= highest[0] or packet.timestamp <= highest[1]):
            return
        self._highest[port] = (packet.sequence, packet.timestamp)
        super().receive_rtp(port, data, source, now)


class DropAfterSeqJump(RecorderCore):
    """Takes a packet whose sequence number is more than 100 away (RFC 3550 A.1 serial distance)
    from the last one it kept as a stray from another stream, and drops it: after a sender's
    sequence-number jump (a discontinuity within one SSRC) every later packet is dropped, as the
    comparison is always with the last packet kept before the jump. Deterministic: arithmetic
    on the sent sequence numbers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: dict[int, int] = {}

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            super().receive_rtp(port, data, source, now)
            return
        kept = self._kept.get(port)
        if kept is not None and min((packet.sequence - kept) % 65536, (kept - packet.sequence) % 65536) > 100:
            return
        self._kept[port] = packet.sequence
        super().receive_rtp(port, data, source, now)


class RetransAsNew(RecorderCore):
    """Matches no INVITE retransmission to its transaction: each copy after the first gets a
    fresh top-Via branch before the SIP core sees it (RFC 3261 §17.2.3 keys on the branch)."""

    _TOP_BRANCH = re.compile(rb"(?im)^(?:via|v)[ \t]*:[^\r\n]*?;[ \t]*branch=([^;,\s]+)")
    _CALL_ID = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen: dict[tuple[bytes, bytes], int] = {}

    def receive_sip(self, data: bytes, source: tuple[str, int], now: float) -> None:
        branch, call_id = self._TOP_BRANCH.search(data), self._CALL_ID.search(data)
        if data.startswith(b"INVITE ") and branch is not None and call_id is not None:
            key = (call_id.group(1), branch.group(1))
            copies = self._seen.get(key, 0)
            self._seen[key] = copies + 1
            if copies:
                data = data[:branch.end(1)] + b"-copy%d" % copies + data[branch.end(1):]
        super().receive_sip(data, source, now)


_SESSION_EXPIRES = re.compile(rb"(?im)^(?:session-expires|x)[ \t]*:[ \t]*(\d+)")
_CALL_ID_LINE = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)")


class GrantBelowMinSe(RecorderCore):
    """Accepts a Session-Expires below 90 s and echoes it in the 2xx: the core sees 90 (so it
    accepts), and the answer's Session-Expires is put back to what was asked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._asked: dict[bytes, bytes] = {}  # Call-ID -> the interval asked for

    def receive_sip(self, data: bytes, source: tuple[str, int], now: float) -> None:
        interval, call_id = _SESSION_EXPIRES.search(data), _CALL_ID_LINE.search(data)
        if interval is not None and call_id is not None and int(interval.group(1)) < 90:
            self._asked[call_id.group(1)] = interval.group(1)
            data = data[:interval.start(1)] + b"90" + data[interval.end(1):]
        super().receive_sip(data, source, now)

    def data_to_send(self) -> list[uas.Outgoing]:
        out = []
        for item in super().data_to_send():
            interval, call_id = _SESSION_EXPIRES.search(item.data), _CALL_ID_LINE.search(item.data)
            if item.data.startswith(b"SIP/2.0 2") and interval and call_id and call_id.group(1) in self._asked:
                data = item.data[:interval.start(1)] + self._asked[call_id.group(1)] + item.data[interval.end(1):]
                item = uas.Outgoing(data, item.destination, item.transport)
            out.append(item)
        return out


class RefreshWithoutTimer(RecorderCore):
    """Drops Session-Expires from its 2xx to a session refresh (any request after CSeq 1)."""

    _CSEQ = re.compile(rb"(?im)^cseq[ \t]*:[ \t]*(\d+)[ \t]+(INVITE|UPDATE)\b")
    _LINE = re.compile(rb"(?im)^(?:session-expires|x)[ \t]*:[^\r\n]*\r\n")

    def data_to_send(self) -> list[uas.Outgoing]:
        out = []
        for item in super().data_to_send():
            cseq = self._CSEQ.search(item.data)
            if item.data.startswith(b"SIP/2.0 2") and cseq is not None and int(cseq.group(1)) > 1:
                item = uas.Outgoing(self._LINE.sub(b"", item.data, count=1), item.destination, item.transport)
            out.append(item)
        return out


class IgnoreSessionExpiry(RecorderCore):
    """Answers with Session-Expires like the reference recorder, then forgets every expiry."""

    def next_deadline(self) -> float | None:
        for session in self._sessions.values():
            session.expires_at = None
        return super().next_deadline()


class _ConnIdAgent(TlibAgent):
    """Sees no interaction beyond its ConnID: no other ConnID ever carries a call on."""

    def _carried_on(self, call: Any) -> None:
        return None


class ConnIdInteraction(RecorderCore):
    TLIB_AGENT = _ConnIdAgent


class _ReleaseEndsAgent(TlibAgent):
    """Takes the EventReleased of one of its DNs for the end of the call."""

    @staticmethod
    def _stays(call: Any) -> bool:
        return False


class ReleaseEndsCall(RecorderCore):
    TLIB_AGENT = _ReleaseEndsAgent
class ExpiryWithoutBye(RecorderCore):
    """Ends its recording when the session refreshes stop but sends no BYE (what the reference
    recorder did before): the Media Server's dialog stays open (SIP-SESSION-TIMER-EXPIRY,
    RFC 4028 §10 "SHOULD send a BYE")."""

    def _send_bye(self, session: Any, reason: str) -> None:
        if "Session timer" in reason:
            if session.dialog is not None:
                self._ua.end_dialog(session.dialog.id)
            return
        super()._send_bye(session, reason)


FAULTS: dict[str, type[RecorderCore]] = {
    "sendrecv": SendrecvAnswer, "swap-channels": SwapChannels, "drop-agent": DropAgent,
    "accept-video": AcceptVideo, "slow-answer": SlowAnswer, "ignore-cancel": IgnoreCancel,
    "accept-malformed": AcceptMalformed, "drop-at-capacity": DropAtCapacity, "drop-above": DropAbove,
    "close-on-first-BYE": CloseOnFirstBye, "no-gap-fill": NoGapFill, "reject-stream-200": RejectStreamWith200,
    "ignore-reinvite": IgnoreReinvite, "inactive-answered-recvonly": InactiveAnsweredRecvonly,
    "new-origin-on-reinvite": NewOriginOnReinvite,
    "options-silent": OptionsSilent, "reject-failover": RejectFailover, "no-rtp-timeout": NoRtpTimeout,
    "no-checkpoint": NoCheckpoint, "drop-failover-audio": DropFailoverAudio, "close-failover-gap": CloseFailoverGap,
    "ignore-metadata": IgnoreMetadata,
    "swap-participants": SwapParticipants, "reject-no-metadata": RejectWithoutMetadata, "no-srs-tag": NoSrsTag,
    "accept-half-siprec": AcceptHalfSiprec, "ignore-require": IgnoreRequire,
    "ignore-update-metadata": IgnoreUpdateMetadata, "no-snapshot-request": NoSnapshotRequest,
    "ignore-snapshot": IgnoreSnapshot, "refuse-new-stream": RefuseNewStream,
    "stop-after-reinvite": StopAfterReinvite,
    "drop-new-ssrc": DropNewSsrc, "ignore-codec-change": IgnoreCodecChange, "ignore-bye": IgnoreBye,
    "merge-by-record-dn": MergeByRecordDn, "drop-third-stream": DropThirdStream,
    "concatenate": Concatenate, "arrival-order": ArrivalOrder,
    "duplicates-twice": DuplicatesTwice, "decode-events": DecodeEvents, "first-ssrc-only": DropNewSsrc,
    "g729-accept": G729Accept, "g729-as-pcmu": G729AsPcmu, "no-dtmf-metadata": NoDtmfMetadata,
    "naive-wrap": NaiveWrap, "drop-after-seq-jump": DropAfterSeqJump, "retrans-as-new": RetransAsNew,
    "grant-below-min-se": GrantBelowMinSe, "refresh-without-timer": RefreshWithoutTimer,
    "ignore-session-expiry": IgnoreSessionExpiry,
    "conn-id-interaction": ConnIdInteraction, "release-ends-call": ReleaseEndsCall,
    "expiry-without-bye": ExpiryWithoutBye,
}


def _fault(text: str) -> type[RecorderCore]:
    """A fault name, or NAME=N for a fault with a limit (drop-above=8)."""
    name, _, value = text.partition("=")
    if name not in FAULTS or (name == "drop-above") != bool(value) or (value and not value.isdigit()):
        raise argparse.ArgumentTypeError(f"unknown fault {text!r} (one of {', '.join(sorted(FAULTS))}; "
                                         "drop-above=N)")
    if name == "drop-above":
        return type("DropAboveLimit", (DropAbove,), {"LIMIT": int(value)})
    return FAULTS[name]


def main(argv: list[str]) -> int:
    fault_parser = argparse.ArgumentParser(add_help=False)
    fault_parser.add_argument("--fault", type=_fault, required=True)
    known, rest = fault_parser.parse_known_args(argv)
    return recorder_main(rest, core_factory=known.fault)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
