"""The Python end of SIPp's 3PCC twin socket: learn the recorder's answer, order re-INVITE/BYE.

SIPp 3.6 "3PCC" mode (``-3pcc host:port``): a scenario whose first twin command is
``<sendCmd>`` is "controller A" and connects over TCP to its twin; here the twin is this
module, standing in for the other SIPp (SIPp reference, "3PCC"). Wire format, read from
SIPp's ``src/socket.cpp`` (``check_for_message``: a control socket's message ends at the
ESC character, 27) and ``src/call.cpp`` (``process_twinSippCom``: the command is routed to
the call named by its ``Call-ID`` header, and it is rejected, aborting the call, unless the
call is waiting at a ``<recvCmd>``), and checked against SIPp 3.6.1::

    Call-ID: 1-4242@127.0.0.1\\r\\n
    X-Arec-Event: answered\\r\\n              (SIPp -> us: answered | reinvite-answered |
    Content-Type: application/sdp\\r\\n        ended | peer-bye; body = recorder's SDP)
    Content-Length:   123\\r\\n
    \\r\\n
    v=0 ...<ESC>

    Call-ID: 1-4242@127.0.0.1\\r\\n
    X-Arec-Action: reinvite\\r\\n             (us -> SIPp: reinvite, body = our new offer;
    Content-Length: 180\\r\\n                 or bye)
    \\r\\n
    v=0 ...<ESC>

The ``X-Arec-*`` headers are our own convention with the scenarios in ``scenarios/``.
:class:`TwinSession` is the sans-IO core (bytes in, events out, bytes to send; a state table
stops us from sending a command SIPp would reject); :class:`SippControl` is the small thread
+ socket adapter around it.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum

from harness.protocol.errors import LocalProtocolError, RemoteProtocolError
from harness.protocol.sdp import Direction as Direction  # re-exported: callers import it from here
from harness.protocol.sdp import SessionDescription, parse_sdp

ESC = b"\x1b"
EVENT_HEADER = "X-Arec-Event"
ACTION_HEADER = "X-Arec-Action"


class TwinEvent(StrEnum):
    ANSWERED = "answered"  # 200 OK to the INVITE received and ACKed
    REINVITE_ANSWERED = "reinvite-answered"  # 200 OK to our re-INVITE received and ACKed
    ENDED = "ended"  # our BYE was answered 200
    PEER_BYE = "peer-bye"  # the recorder sent BYE; SIPp answered 200
    # The SRS asked for a metadata snapshot (RFC 7866 §9.2, an UPDATE SIPp answered 200; only
    # siprec_uac.xml reports it): the leg stays idle, the snapshot is ours to send.
    SNAPSHOT_REQUESTED = "snapshot-requested"
    # Not ours: SIPp's own "internal-cmd: abort_call" (its default "3pcc_abort" message),
    # sent to the twin whenever it aborts the call (unexpected response, e.g. 488 to the
    # re-INVITE; timeout; unexpected BYE).
    ABORTED = "abort_call"


class TwinAction(StrEnum):
    REINVITE = "reinvite"
    # RFC 3311 UPDATE carrying the offer (only scenarios with an UPDATE branch know it, e.g.
    # siprec_uac.xml); its 200 is reported as reinvite-answered: the same offer/answer step.
    UPDATE = "update"
    BYE = "bye"


class LegState(Enum):
    WAITING_ANSWER = "waiting-answer"
    IDLE = "idle"  # SIPp waits at its <recvCmd>: the only state where it accepts a command
    REINVITING = "reinviting"
    BYE_SENT = "bye-sent"
    FINISHED = "finished"
    FAILED = "failed"  # the twin connection closed before the leg finished


# What SIPp may report in each state, and where it takes the leg.
_EVENT_TRANSITIONS: dict[tuple[LegState, TwinEvent], LegState] = {
    (LegState.WAITING_ANSWER, TwinEvent.ANSWERED): LegState.IDLE,
    (LegState.REINVITING, TwinEvent.REINVITE_ANSWERED): LegState.IDLE,
    (LegState.BYE_SENT, TwinEvent.ENDED): LegState.FINISHED,
    (LegState.IDLE, TwinEvent.PEER_BYE): LegState.FINISHED,
    (LegState.IDLE, TwinEvent.SNAPSHOT_REQUESTED): LegState.IDLE,
    **{(state, TwinEvent.ABORTED): LegState.FAILED
       for state in (LegState.WAITING_ANSWER, LegState.IDLE, LegState.REINVITING, LegState.BYE_SENT)},
}
# What we may order in each state: process_twinSippCom rejects (aborts the call) a command
# that arrives while the scenario is not at its <recvCmd>, so only IDLE accepts one.
_ACTION_TRANSITIONS: dict[tuple[LegState, TwinAction], LegState] = {
    (LegState.IDLE, TwinAction.REINVITE): LegState.REINVITING,
    (LegState.IDLE, TwinAction.UPDATE): LegState.REINVITING,
    (LegState.IDLE, TwinAction.BYE): LegState.BYE_SENT,
}


@dataclass(frozen=True, slots=True)
class TwinMessage:
    """One twin command: header lines and an optional body."""

    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        # Header names compare case-insensitively, as in SIP (RFC 3261 §7.3.1).
        low = name.lower()
        return next((v for n, v in self.headers if n.lower() == low), None)

    @property
    def call_id(self) -> str:
        value = self.header("Call-ID")
        if not value:
            raise RemoteProtocolError("twin message without Call-ID")
        return value

    @property
    def event(self) -> TwinEvent:
        if (self.header("internal-cmd") or "").strip() == "abort_call":
            return TwinEvent.ABORTED
        value = self.header(EVENT_HEADER)
        try:
            return TwinEvent((value or "").strip().lower())
        except ValueError:
            raise RemoteProtocolError(f"twin message with unknown {EVENT_HEADER}: {value!r}") from None


def parse_twin_message(raw: bytes) -> TwinMessage:
    """Parse one ESC-stripped twin command (SIPp writes CRLF; bare LF is accepted too)."""
    sep = raw.find(b"\r\n\r\n")
    if sep >= 0:
        head, body = raw[:sep], raw[sep + 4:]
    else:
        sep = raw.find(b"\n\n")
        head, body = (raw[:sep], raw[sep + 2:]) if sep >= 0 else (raw, b"")
    headers: list[tuple[str, str]] = []
    for line in head.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise RemoteProtocolError(f"twin header line without ':': {line!r}")
        headers.append((name.strip(), value.strip()))
    msg = TwinMessage(tuple(headers), body)
    length = msg.header("Content-Length")
    if length is not None:
        try:
            n = int(length)
        except ValueError:
            raise RemoteProtocolError(f"bad Content-Length {length!r} in twin message") from None
        if n > len(body):
            raise RemoteProtocolError(f"twin message body shorter ({len(body)}) than Content-Length {n}")
        msg = TwinMessage(msg.headers, body[:n])
    return msg


def encode_command(call_id: str, action: TwinAction, body: bytes = b"",
                   content_type: str = "application/sdp") -> bytes:
    """One command for SIPp's <recvCmd>, ESC-terminated (SIPp's control-socket framing)."""
    if ESC in body or any(c in call_id + content_type for c in "\r\n\x1b"):
        raise LocalProtocolError("twin command must not contain ESC or CR/LF in the Call-ID")
    head = f"Call-ID: {call_id}\r\n{ACTION_HEADER}: {action.value}\r\n"
    if body:
        # The SIPREC scenario copies it into the re-INVITE (multipart/mixed with metadata, RFC 7866 §9).
        head += f"Content-Type: {content_type}\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode("ascii") + body + ESC


class TwinDecoder:
    """Splits the TCP byte stream into ESC-terminated twin messages."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[TwinMessage]:
        self._buf += data
        *complete, self._buf = self._buf.split(ESC)
        return [parse_twin_message(raw) for raw in complete if raw.strip()]

    @property
    def pending(self) -> bytes:
        return self._buf


@dataclass(frozen=True, slots=True)
class AnsweredLeg:
    """The recorder's SDP answer as the RTP sender needs it (RFC 3264 §6: where to send)."""

    call_id: str
    sdp: bytes
    connection_ip: str | None  # of the first audio stream
    audio_ports: tuple[int, ...]  # one per m=audio line, in offer order; 0 = rejected
    directions: tuple[str, ...]  # per m=audio line (default sendrecv, RFC 4566 §6)
    parsed: SessionDescription | None = None  # None: no body, or it does not parse (parse_error)
    parse_error: str | None = None


def summarize_sdp(sdp: bytes) -> tuple[str | None, tuple[int, ...], tuple[str, ...]]:
    """(connection address of the first audio stream, audio ports, directions) of an SDP body.

    Only what the RTP sender needs, read with the one SDP parser (`harness.protocol.sdp`): a
    media-level ``c=`` overrides the session one (RFC 4566 §5.7), so does a media-level
    direction (§6). An answer that does not parse gives no ports: nothing is sent to it (the
    SIP validator reports the body).
    """
    try:
        parsed = parse_sdp(sdp)
    except (RemoteProtocolError, ValueError):
        return None, (), ()
    return _summary(parsed)


def _summary(parsed: SessionDescription) -> tuple[str | None, tuple[int, ...], tuple[str, ...]]:
    audio = [i for i, m in enumerate(parsed.media) if m.media == "audio"]
    first = parsed.media_connection(audio[0]) if audio else None
    ports = tuple(parsed.media[i].port for i in audio)
    directions = tuple(parsed.media[i].direction(parsed).value for i in audio)
    return (first.host if first is not None else None), ports, directions


def answered_leg(msg: TwinMessage) -> AnsweredLeg:
    if not msg.body:
        return AnsweredLeg(msg.call_id, msg.body, None, (), ())
    try:
        parsed = parse_sdp(msg.body)
    except (RemoteProtocolError, ValueError) as exc:  # a parse failure is evidence, not a crash
        return AnsweredLeg(msg.call_id, msg.body, None, (), (), None, f"{type(exc).__name__}: {exc}")
    ip, ports, dirs = _summary(parsed)
    return AnsweredLeg(msg.call_id, msg.body, ip, ports, dirs, parsed, None)


class TwinSession:
    """Sans-IO state of one leg's twin conversation."""

    def __init__(self) -> None:
        self.state = LegState.WAITING_ANSWER
        self.call_id: str | None = None
        self.offer_version = 1  # o= version of the offer SIPp sent in the INVITE
        self.aborted = False  # SIPp sent its abort_call internal command
        self._decoder = TwinDecoder()

    def receive(self, data: bytes) -> list[TwinMessage]:
        """Feed bytes from SIPp; returns the complete messages, state already advanced."""
        out = []
        for msg in self._decoder.feed(data):
            event = msg.event
            nxt = _EVENT_TRANSITIONS.get((self.state, event))
            if nxt is None:
                raise RemoteProtocolError(f"SIPp reported {event.value!r} while the leg is {self.state.value}")
            if self.call_id is None:
                self.call_id = msg.call_id
            self.aborted = self.aborted or event is TwinEvent.ABORTED
            self.state = nxt
            out.append(msg)
        return out

    def connection_lost(self) -> None:
        if self.state is not LegState.FINISHED:
            self.state = LegState.FAILED

    def _act(self, action: TwinAction, body: bytes = b"", content_type: str = "application/sdp") -> bytes:
        nxt = _ACTION_TRANSITIONS.get((self.state, action))
        if nxt is None or self.call_id is None:
            raise LocalProtocolError(f"cannot {action.value} while the leg is {self.state.value}")
        data = encode_command(self.call_id, action, body, content_type)
        self.state = nxt
        return data

    def reinvite(self, sdp: bytes, content_type: str = "application/sdp") -> bytes:
        """Bytes ordering a re-INVITE carrying ``sdp`` (its o= version must be larger)."""
        data = self._act(TwinAction.REINVITE, sdp, content_type)
        self.offer_version += 1
        return data

    def update(self, sdp: bytes, content_type: str = "application/sdp") -> bytes:
        """Bytes ordering an UPDATE carrying ``sdp`` (RFC 3311 §5.1: an offer in a confirmed dialog)."""
        data = self._act(TwinAction.UPDATE, sdp, content_type)
        self.offer_version += 1
        return data

    def bye(self) -> bytes:
        return self._act(TwinAction.BYE)


class SippLegError(RuntimeError):
    """The leg ended (SIPp exited / twin socket closed) before what we waited for."""


_END = object()


class SippControl:
    """Blocking control of one SIPp leg over the twin socket (one reader thread).

    ``offer(version, direction)`` builds our SDP for re-INVITEs; ``is_alive`` tells whether
    the SIPp process still runs, so a wait ends at once when SIPp died before connecting.
    """

    def __init__(
        self,
        offer: Callable[[int, Direction], bytes] | None = None,
        host: str = "127.0.0.1",
        is_alive: Callable[[], bool] | None = None,
    ) -> None:
        self._offer = offer
        self._is_alive = is_alive
        self.session = TwinSession()
        self._pending: list[TwinMessage] = []
        self._queue: queue.Queue[object] = queue.Queue()
        self._conn: socket.socket | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((host, 0))
        self._listener.listen(1)
        self.address: tuple[str, int] = (host, int(self._listener.getsockname()[1]))
        self._thread = threading.Thread(target=self._run, name=f"sipp-twin-{self.address[1]}", daemon=True)
        self._thread.start()

    # -- reader thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            self._queue.put(_END)
            return
        with self._lock:
            if self._closed:
                conn.close()
                self._queue.put(_END)
                return
            self._conn = conn
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                self._queue.put(data)
        except OSError:
            pass
        self._queue.put(_END)

    # -- waiting -------------------------------------------------------------------------
    def _wait_for(self, kinds: set[TwinEvent], timeout: float, what: str) -> TwinMessage:
        deadline = time.monotonic() + timeout
        while True:
            for i, msg in enumerate(self._pending):
                if msg.event in kinds:
                    return self._pending.pop(i)
            if self.session.state is LegState.FAILED:
                how = "aborted the call" if self.session.aborted else "ended"
                raise SippLegError(f"SIPp {how} before {what} (see its error log)")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {what} from SIPp within {timeout} s (leg {self.session.state.value})")
            try:
                item = self._queue.get(timeout=min(remaining, 0.1))
            except queue.Empty:
                if self._conn is None and self._is_alive is not None and not self._is_alive():
                    # SIPp exited without ever connecting (bad option, port in use...).
                    self.session.connection_lost()
                continue
            if item is _END:
                self.session.connection_lost()
                continue
            assert isinstance(item, bytes)
            self._pending.extend(self.session.receive(item))

    def _send(self, data: bytes) -> None:
        with self._lock:
            conn = self._conn
        if conn is None:
            raise SippLegError("SIPp twin socket is not connected")
        conn.sendall(data)

    def _drain(self) -> None:
        """Apply messages already received, without blocking."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is _END:
                self.session.connection_lost()
            else:
                assert isinstance(item, bytes)
                self._pending.extend(self.session.receive(item))

    # -- public API ----------------------------------------------------------------------
    def wait_answer(self, timeout: float) -> AnsweredLeg:
        """Block until SIPp got (and ACKed) the 200 OK to the INVITE; its SDP answer."""
        return answered_leg(self._wait_for({TwinEvent.ANSWERED}, timeout, "answer to the INVITE"))

    def reinvite(self, direction: Direction | None = None, *, sdp: bytes | None = None,
                 timeout: float = 10.0, content_type: str = "application/sdp") -> AnsweredLeg:
        """Send a re-INVITE now (pause: INACTIVE, resume: SENDONLY); returns the new answer."""
        self._drain()
        if sdp is None:
            if self._offer is None or direction is None:
                raise LocalProtocolError("reinvite needs a direction (with an offer builder) or an sdp")
            sdp = self._offer(self.session.offer_version + 1, direction)
        self._send(self.session.reinvite(sdp, content_type))
        return answered_leg(self._wait_for({TwinEvent.REINVITE_ANSWERED}, timeout, "answer to the re-INVITE"))

    def update(self, sdp: bytes, *, timeout: float = 10.0, content_type: str = "application/sdp") -> AnsweredLeg:
        """Send an UPDATE with ``sdp`` as its offer now (RFC 3311); returns the answer of its 2xx."""
        self._drain()
        self._send(self.session.update(sdp, content_type))
        return answered_leg(self._wait_for({TwinEvent.REINVITE_ANSWERED}, timeout, "answer to the UPDATE"))

    def wait_snapshot_request(self, timeout: float) -> None:
        """Block until the SRS asked for a metadata snapshot (RFC 7866 §9.2)."""
        self._wait_for({TwinEvent.SNAPSHOT_REQUESTED}, timeout, "metadata snapshot request")

    def bye(self) -> None:
        """Order the BYE now; :meth:`wait_finished` waits for its 200."""
        self._drain()
        self._send(self.session.bye())

    def wait_finished(self, timeout: float) -> TwinEvent:
        """ENDED (our BYE answered) or PEER_BYE (the recorder hung up)."""
        return self._wait_for({TwinEvent.ENDED, TwinEvent.PEER_BYE}, timeout, "end of the leg").event

    @property
    def state(self) -> LegState:
        self._drain()
        return self.session.state

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        # shutdown() wakes a thread blocked in accept() on Linux; close() alone does not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)

    def __enter__(self) -> SippControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
