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
  naive-wrap      drops a packet whose sequence number or timestamp is not numerically above the
                  highest seen on its port (a late-packet filter without serial arithmetic): the
                  stream is lost from its first wrap on (RTP-WRAP-RECORDED, RFC 3550 §5.1)
  drop-new-ssrc   records only the first SSRC seen on each port: after an SSRC change the
                  stream's audio is lost (RTP-SSRC-CHANGE-RECORDED, RFC 3550 §8.2)
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
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.rtp.packet import RtpPacket, RtpParseError
from harness.protocol.sip import uas
from harness.protocol.sip.message import SipRequest
from reference_recorder.cli import main as recorder_main
from reference_recorder.core import RecorderCore


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
    """Rewrites each packet's RTP timestamp to follow the previous packet's samples (G.711: one
    sample per payload byte), as a recorder that appends payloads would: gaps vanish."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_timestamp: dict[int, int] = {}

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            super().receive_rtp(port, data, source, now)
            return
        timestamp = self._next_timestamp.get(port, packet.timestamp)
        self._next_timestamp[port] = (timestamp + len(packet.payload)) & 0xFFFFFFFF
        super().receive_rtp(port, data[:4] + timestamp.to_bytes(4, "big") + data[8:], source, now)


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


class DropNewSsrc(RecorderCore):
    """Keys each port's stream by the first SSRC it saw: packets of any other SSRC are ignored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._first_ssrc: dict[int, int] = {}

    def receive_rtp(self, port: int, data: bytes, source: tuple[str, int], now: float) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            super().receive_rtp(port, data, source, now)
            return
        if self._first_ssrc.setdefault(port, packet.ssrc) != packet.ssrc:
            return
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


FAULTS: dict[str, type[RecorderCore]] = {
    "sendrecv": SendrecvAnswer, "swap-channels": SwapChannels, "drop-agent": DropAgent,
    "accept-video": AcceptVideo, "slow-answer": SlowAnswer, "ignore-cancel": IgnoreCancel,
    "accept-malformed": AcceptMalformed, "drop-at-capacity": DropAtCapacity, "drop-above": DropAbove,
    "close-on-first-BYE": CloseOnFirstBye, "no-gap-fill": NoGapFill, "reject-stream-200": RejectStreamWith200,
    "ignore-reinvite": IgnoreReinvite, "inactive-answered-recvonly": InactiveAnsweredRecvonly,
    "new-origin-on-reinvite": NewOriginOnReinvite,
    "naive-wrap": NaiveWrap, "drop-new-ssrc": DropNewSsrc, "retrans-as-new": RetransAsNew,
    "grant-below-min-se": GrantBelowMinSe, "refresh-without-timer": RefreshWithoutTimer,
    "ignore-session-expiry": IgnoreSessionExpiry,
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
