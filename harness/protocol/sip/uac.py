"""A small sans-IO UAC for one recording session over UDP: INVITE, ACK, BYE (RFC 3261).

Media Server's side of an ARE recording session (GVP-MSRec) needs nothing else: it offers
sendonly media, ACKs the 2xx, streams, and hangs up. The load generator runs hundreds of them
per process, so it cannot afford a SIPp process per session; this state machine takes bytes and
a clock and returns bytes to send and events, and the caller owns the socket.

Only the client transaction behaviour an unreliable transport needs is kept (RFC 3261 §17.1):
the request is retransmitted at T1, 2*T1, ... (timer A, capped at T2 for non-INVITE, timer E)
until a response arrives, and abandoned after 64*T1 (timers B and F). A 2xx to INVITE is ACKed
by the UAC core (§13.2.2.4) and the ACK is resent for every retransmitted 2xx; a non-2xx final
response is ACKed within the transaction (§17.1.1.3).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from typing import Final

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.message import Headers, SipRequest, SipResponse, parse_message
from harness.protocol.sip.uri import SipUri

__all__ = ["Answered", "Ended", "Failed", "RecordingSessionUac", "UacEvent", "UacState"]

T1: Final = 0.5  # RFC 3261 §17.1.1.1: RTT estimate
T2: Final = 4.0  # §17.1.2.2: cap of the non-INVITE retransmission interval
TIMEOUT: Final = 64 * T1  # timers B and F


class UacState(enum.Enum):
    IDLE = "idle"
    CALLING = "calling"  # INVITE sent, no final response yet
    CONFIRMED = "confirmed"  # 2xx received and ACKed
    ENDING = "ending"  # BYE sent
    ENDED = "ended"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Answered:
    """The INVITE got a 2xx: the session is up; `sdp` is the answer body."""

    status: int
    sdp: bytes
    latency: float  # INVITE first sent -> 2xx received (seconds)


@dataclass(frozen=True, slots=True)
class Failed:
    """The INVITE (or BYE) failed: a final non-2xx response, or no answer before timer B/F."""

    method: str
    status: int | None  # None: timed out
    reason: str
    retry_after: int | None = None  # seconds, from a 503's Retry-After (RFC 3261 §20.33)
    latency: float | None = None


@dataclass(frozen=True, slots=True)
class Ended:
    """The BYE got its final response (any: the dialog is over either way, §15.1.1)."""

    status: int


UacEvent = Answered | Failed | Ended


def _token() -> str:
    return secrets.token_hex(8)


@dataclass(slots=True)
class RecordingSessionUac:
    """One dialog: `invite()`, feed `receive()`, poll `on_timer()`, then `bye()`."""

    request_uri: SipUri
    local: tuple[str, int]  # where this UAC's socket is bound (Via sent-by, Contact)
    from_user: str = "mediaserver"
    call_id: str = field(default_factory=lambda: f"{_token()}@arec-load")
    state: UacState = UacState.IDLE
    _cseq: int = 0
    _from_tag: str = field(default_factory=_token)
    _to_header: str | None = None
    _remote_target: SipUri | None = None
    _request: bytes | None = None  # the request being retransmitted
    _method: str = ""
    _branch: str = ""
    _started: float = 0.0
    _next_retransmit: float | None = None
    _interval: float = T1
    _ack: bytes | None = None

    # --------------------------------------------------------------- requests

    def invite(self, sdp: bytes, now: float) -> bytes:
        if self.state is not UacState.IDLE:
            raise RuntimeError(f"invite() in state {self.state.value}")
        self.state = UacState.CALLING
        return self._send("INVITE", self.request_uri, sdp, now, content_type="application/sdp")

    def bye(self, now: float) -> bytes:
        """Hang up a confirmed dialog (RFC 3261 §15.1.1)."""
        if self.state is not UacState.CONFIRMED:
            raise RuntimeError(f"bye() in state {self.state.value}")
        self.state = UacState.ENDING
        return self._send("BYE", self._remote_target or self.request_uri, b"", now)

    def _headers(self, method: str, cseq: int, branch: str) -> Headers:
        host, port = self.local
        headers = Headers()
        headers.add("Via", f"SIP/2.0/UDP {host}:{port};branch=z9hG4bK{branch};rport")
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<sip:{self.from_user}@{host}:{port}>;tag={self._from_tag}")
        headers.add("To", self._to_header or f"<{self.request_uri}>")
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{cseq} {method}")
        headers.add("Contact", f"<sip:{self.from_user}@{host}:{port}>")
        return headers

    def _send(self, method: str, uri: SipUri, body: bytes, now: float, content_type: str | None = None) -> bytes:
        self._cseq += 1
        self._branch = _token()
        self._method = method
        headers = self._headers(method, self._cseq, self._branch)
        if content_type is not None:
            headers.add("Content-Type", content_type)
        data = SipRequest(method, uri, headers, body).to_bytes()
        self._request = data
        self._started = now
        self._interval = T1
        self._next_retransmit = now + T1
        return data

    # --------------------------------------------------------------- input

    def receive(self, data: bytes, now: float) -> tuple[list[bytes], list[UacEvent]]:
        """Feed one datagram; returns (datagrams to send, events). Stray or bad input is ignored."""
        try:
            message = parse_message(data)
        except RemoteProtocolError:
            return [], []
        if not isinstance(message, SipResponse) or message.call_id != self.call_id:
            return [], []
        cseq = message.cseq
        if cseq.method == "INVITE":
            return self._invite_response(message, now)
        if cseq.method == "BYE" and cseq.number == self._cseq and self.state is UacState.ENDING:
            if message.status < 200:
                return [], []
            self._stop_timer()
            self.state = UacState.ENDED
            return [], [Ended(message.status)]
        return [], []

    def _invite_response(self, response: SipResponse, now: float) -> tuple[list[bytes], list[UacEvent]]:
        if response.status < 200:
            if self.state is UacState.CALLING:
                # §17.1.1.2: a provisional response stops timer A (UDP retransmissions).
                self._next_retransmit = None
            return [], []
        if self.state is not UacState.CALLING:
            # A retransmitted final response: repeat the ACK (§13.2.2.4, §17.1.1.2).
            return ([self._ack] if self._ack is not None else []), []
        self._stop_timer()
        latency = now - self._started
        to = response.headers.get("To") or f"<{self.request_uri}>"
        if 200 <= response.status < 300:
            self._to_header = to
            contacts = response.contacts
            self._remote_target = contacts[0].uri if contacts else self.request_uri
            self._ack = self._build_ack(response, two_xx=True)
            self.state = UacState.CONFIRMED
            return [self._ack], [Answered(response.status, response.body, latency)]
        self._ack = self._build_ack(response, two_xx=False)
        self.state = UacState.FAILED
        return [self._ack], [Failed("INVITE", response.status, response.reason,
                                    _retry_after(response), latency)]

    def _build_ack(self, response: SipResponse, *, two_xx: bool) -> bytes:
        # §17.1.1.3: the ACK of a non-2xx reuses the INVITE's branch and Request-URI; §13.2.2.4:
        # the ACK of a 2xx is a new transaction to the remote target, same CSeq number.
        branch = _token() if two_xx else self._branch
        uri = (self._remote_target or self.request_uri) if two_xx else self.request_uri
        self._to_header = response.headers.get("To") or self._to_header
        headers = self._headers("ACK", self._cseq, branch)
        return SipRequest("ACK", uri, headers, b"").to_bytes()

    # --------------------------------------------------------------- timers

    def next_deadline(self) -> float | None:
        if self._next_retransmit is None and self.state in (UacState.CALLING, UacState.ENDING):
            return self._started + TIMEOUT
        return self._next_retransmit

    def on_timer(self, now: float) -> tuple[list[bytes], list[UacEvent]]:
        if self.state not in (UacState.CALLING, UacState.ENDING):
            return [], []
        if now - self._started >= TIMEOUT:
            self._stop_timer()
            method = self._method
            self.state = UacState.FAILED if method == "INVITE" else UacState.ENDED
            return [], [Failed(method, None, f"no final response in {TIMEOUT:.0f} s (timer B/F)")]
        if self._next_retransmit is None or now < self._next_retransmit or self._request is None:
            return [], []
        self._interval = self._interval * 2 if self._method == "INVITE" else min(self._interval * 2, T2)
        self._next_retransmit = now + self._interval
        return [self._request], []

    def _stop_timer(self) -> None:
        self._next_retransmit = None
        self._request = None


def _retry_after(response: SipResponse) -> int | None:
    """Retry-After = delta-seconds [comment] *(;params) (RFC 3261 §20.33)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    digits = value.strip().split(";", 1)[0].split("(", 1)[0].strip()
    return int(digits) if digits.isdigit() else None
