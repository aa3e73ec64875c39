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
  drop-above=N    accepts every session, but one set up while N sessions were already up loses
                  every 4th RTP packet: a recorder that takes more than it can hold (arec load
                  must find its capacity at the ramp step past N/2 two-stream calls)
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from harness.cli import _build_parser
from harness.protocol.sip import uas
from reference_recorder.core import RecorderCore
from reference_recorder.server import run_from_cli


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

    def _on_new_invite(self, event: uas.RequestReceived, now: float) -> None:
        if sum(1 for s in self._sessions.values() if s.ending is None) >= self.config.capacity:
            return
        super()._on_new_invite(event, now)


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


FAULTS: dict[str, type[RecorderCore]] = {
    "sendrecv": SendrecvAnswer, "swap-channels": SwapChannels, "drop-agent": DropAgent,
    "accept-video": AcceptVideo, "slow-answer": SlowAnswer, "ignore-cancel": IgnoreCancel,
    "accept-malformed": AcceptMalformed, "drop-at-capacity": DropAtCapacity, "drop-above": DropAbove,
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
    args = _build_parser().parse_args(["recorder", *rest])
    return run_from_cli(args, core_factory=known.fault)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
