"""SIP server transactions, sans-IO: RFC 3261 §17.2.1 / §17.2.2 / §17.2.3, as updated by RFC 6026.

Two state machines, each an enum plus a transition table (the h11 `_state.py` model):

* the **INVITE server transaction** (§17.2.1 with RFC 6026 §7.1/§8.7): Proceeding -> Accepted on a
  2xx (the TU retransmits the 2xx; the transaction absorbs INVITE retransmissions and passes ACKs
  up; Timer L = 64*T1 ends it), Proceeding -> Completed on 300-699 (Timer G retransmits over
  unreliable transports, Timer H = 64*T1 waits for the ACK), Completed -> Confirmed on ACK
  (Timer I = T4 on UDP, 0 on reliable transports) -> Terminated;
* the **non-INVITE server transaction** (§17.2.2): Trying -> Proceeding on 1xx -> Completed on a
  final response (Timer J = 64*T1 on UDP, 0 on reliable transports) -> Terminated.

Timers are data: `next_deadline()` says when the adapter must call `on_timer(now)`. Nothing here
reads a clock or touches a socket. Responses are opaque `Outgoing` records (bytes + where to),
so this module does not depend on the message codec; `TransactionKey` holds the §17.2.3
matching fields, extracted by the caller.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

from harness.protocol.errors import LocalProtocolError

__all__ = [
    "MAGIC_COOKIE",
    "AckDisposition",
    "Outgoing",
    "ServerTransaction",
    "TimedOut",
    "TimerConfig",
    "TimerName",
    "TransactionKey",
    "TransactionKind",
    "Transport",
    "TxInput",
    "TxState",
    "TRANSITIONS",
]

# §8.1.1.7: "The branch ID inserted by an element compliant with this specification MUST always
# begin with the characters "z9hG4bK"" -- its presence selects §17.2.3 matching over RFC 2543's.
MAGIC_COOKIE = "z9hG4bK"

Transport = Literal["udp", "tcp"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Bytes for the adapter to send.

    `transport == "udp"`: send a datagram to `destination`. `"tcp"`: write on the connection
    identified by `destination` (the peer address of the accepted connection, §18.2.2: "If the
    connection used to receive the request is still open, the response MUST be sent on it").
    """

    data: bytes
    destination: tuple[str, int]
    transport: Transport = "udp"

    def __post_init__(self) -> None:
        if self.transport not in ("udp", "tcp"):
            raise LocalProtocolError(f"unknown transport {self.transport!r}")


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """§17.1.1.1 / Table 4 timer bases; configurable because test rigs shrink them."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    def __post_init__(self) -> None:
        if not (0 < self.t1 <= self.t2) or self.t4 < 0:
            raise LocalProtocolError(f"bad timer config {self!r}: need 0 < T1 <= T2 and T4 >= 0")

    @property
    def sixty_four_t1(self) -> float:
        """Timers H, J (unreliable) and L, and the 2xx give-up time of §13.3.1.4."""
        return 64 * self.t1


class TransactionKind(enum.Enum):
    INVITE = "INVITE"
    NON_INVITE = "non-INVITE"


class TxState(enum.Enum):
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"  # RFC 6026 §7.1
    TERMINATED = "Terminated"


class TxInput(enum.Enum):
    """What can happen to a server transaction: network input, TU input, or a timer."""

    REQUEST = "request retransmission"
    ACK = "ACK"
    SEND_1XX = "1xx from TU"
    SEND_2XX = "2xx from TU (INVITE)"
    SEND_FINAL = "final from TU (300-699 for INVITE, 200-699 otherwise)"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_L = "Timer L"
    TRANSPORT_ERROR = "transport error"


class TimerName(enum.Enum):
    G = "G"
    H = "H"
    I = "I"  # noqa: E741 -- the RFC's name
    J = "J"
    L = "L"


_TIMER_INPUT = {
    TimerName.G: TxInput.TIMER_G,
    TimerName.H: TxInput.TIMER_H,
    TimerName.I: TxInput.TIMER_I,
    TimerName.J: TxInput.TIMER_J,
    TimerName.L: TxInput.TIMER_L,
}

_S = TxState
_I = TxInput

# Transition tables, transcribed from RFC 3261 Figures 7 and 8 and RFC 6026 Figure 5.
# A pair missing from the table is an input the state does not accept: TU input there is a
# LocalProtocolError; network input is ignored (never raise on peer input).
TRANSITIONS: dict[TransactionKind, dict[TxState, dict[TxInput, TxState]]] = {
    TransactionKind.INVITE: {
        _S.PROCEEDING: {
            _I.REQUEST: _S.PROCEEDING,  # "the most recent provisional response MUST be passed ... for retransmission"
            _I.SEND_1XX: _S.PROCEEDING,
            _I.SEND_2XX: _S.ACCEPTED,  # RFC 6026 §8.5 (was: Terminated in RFC 3261)
            _I.SEND_FINAL: _S.COMPLETED,
            _I.TRANSPORT_ERROR: _S.TERMINATED,
        },
        _S.ACCEPTED: {
            _I.REQUEST: _S.ACCEPTED,  # RFC 6026 §8.7: INVITE retransmissions "MUST be absorbed"
            _I.ACK: _S.ACCEPTED,  # "... ACKs ... MUST be passed directly to the TU"
            _I.SEND_2XX: _S.ACCEPTED,  # TU's 2xx retransmissions go out through us
            _I.TIMER_L: _S.TERMINATED,
        },
        _S.COMPLETED: {
            _I.REQUEST: _S.COMPLETED,  # "the server SHOULD pass the response to the transport for retransmission"
            _I.TIMER_G: _S.COMPLETED,
            _I.ACK: _S.CONFIRMED,
            _I.TIMER_H: _S.TERMINATED,  # "MUST indicate to the TU that a transaction failure has occurred"
            _I.TRANSPORT_ERROR: _S.TERMINATED,
        },
        _S.CONFIRMED: {
            _I.REQUEST: _S.CONFIRMED,  # absorbed
            _I.ACK: _S.CONFIRMED,  # "absorb any additional ACK messages"
            _I.TIMER_I: _S.TERMINATED,
        },
        _S.TERMINATED: {},
    },
    TransactionKind.NON_INVITE: {
        _S.TRYING: {
            _I.REQUEST: _S.TRYING,  # "any further request retransmissions are discarded"
            _I.SEND_1XX: _S.PROCEEDING,
            _I.SEND_FINAL: _S.COMPLETED,
        },
        _S.PROCEEDING: {
            _I.REQUEST: _S.PROCEEDING,  # resend the most recent provisional response
            _I.SEND_1XX: _S.PROCEEDING,
            _I.SEND_FINAL: _S.COMPLETED,
            _I.TRANSPORT_ERROR: _S.TERMINATED,
        },
        _S.COMPLETED: {
            _I.REQUEST: _S.COMPLETED,  # "MUST pass the final response to the transport layer for retransmission"
            _I.TIMER_J: _S.TERMINATED,
            _I.TRANSPORT_ERROR: _S.TERMINATED,
        },
        _S.TERMINATED: {},
    },
}


@dataclass(frozen=True, slots=True)
class TransactionKey:
    """§17.2.3 server transaction identity.

    With the magic cookie: (branch, sent-by, method) where ACK is looked up as INVITE ("the method
    of the request matches the one that created the transaction, except for ACK, where the method
    of the request that created the transaction is INVITE"). Without it (RFC 2543 peers) we use a
    minimal fallback: Call-ID, From tag, CSeq number, top Via sent-by and method. The RFC 2543 rule
    also compares Request-URI and To tag; leaving them out only merges look-alike requests from a
    broken peer, it cannot crash.
    """

    method: str
    sent_by: tuple[str, int | None]
    branch: str | None = None
    legacy: tuple[str, str, int] | None = None  # (Call-ID, From tag, CSeq number)

    @classmethod
    def for_request(
        cls,
        *,
        method: str,
        branch: str | None,
        sent_by_host: str,
        sent_by_port: int | None,
        call_id: str,
        from_tag: str | None,
        cseq_number: int,
    ) -> TransactionKey:
        match_method = "INVITE" if method == "ACK" else method
        # Hostnames are case-insensitive (§19.1.4); the port is compared as written.
        sent_by = (sent_by_host.lower(), sent_by_port)
        if branch is not None and branch.startswith(MAGIC_COOKIE):
            return cls(match_method, sent_by, branch=branch)
        return cls(match_method, sent_by, legacy=(call_id, from_tag or "", cseq_number))

    def as_method(self, method: str) -> TransactionKey:
        """The key of the transaction with the same branch but another method (CANCEL -> INVITE, §9.2)."""
        return TransactionKey(method, self.sent_by, self.branch, self.legacy)


@dataclass(frozen=True, slots=True)
class TimedOut:
    """Timer H fired in Completed: the ACK never came (§17.2.1, "transaction failure")."""

    key: TransactionKey
    timer: TimerName


class AckDisposition(enum.Enum):
    ABSORBED = "absorbed"  # ACK of a non-2xx final, or a retransmitted one
    PASS_TO_TU = "pass to TU"  # RFC 6026: ACK received in Accepted
    IGNORED = "ignored"  # ACK the state does not expect (e.g. before any final response)


@dataclass(slots=True)
class ServerTransaction:
    """One server transaction. Mutable; owned by the UAS core, keyed by `key`."""

    key: TransactionKey
    kind: TransactionKind
    reliable: bool
    timers: TimerConfig = field(default_factory=TimerConfig)
    state: TxState = field(init=False)
    last_response: Outgoing | None = field(default=None, init=False)
    last_status: int | None = field(default=None, init=False)
    _deadlines: dict[TimerName, float] = field(default_factory=dict, init=False)
    _g_interval: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        # §17.2.1: "When a server transaction is constructed for a request, it enters the
        # Proceeding state"; §17.2.2: the non-INVITE one "is in the Trying state".
        self.state = TxState.PROCEEDING if self.kind is TransactionKind.INVITE else TxState.TRYING

    # -- queries ---------------------------------------------------------------------------
    @property
    def terminated(self) -> bool:
        return self.state is TxState.TERMINATED

    @property
    def final_sent(self) -> bool:
        return self.last_status is not None and self.last_status >= 200

    def next_deadline(self) -> float | None:
        return min(self._deadlines.values()) if self._deadlines else None

    # -- transitions ------------------------------------------------------------------------
    def _next_state(self, event: TxInput) -> TxState | None:
        return TRANSITIONS[self.kind][self.state].get(event)

    def _enter(self, state: TxState, now: float) -> None:
        self.state = state
        self._deadlines.clear()
        t = self.timers
        if state is TxState.ACCEPTED:
            self._deadlines[TimerName.L] = now + t.sixty_four_t1
        elif state is TxState.COMPLETED and self.kind is TransactionKind.INVITE:
            # "timer H MUST be set to fire in 64*T1 seconds for all transports"; timer G only
            # "If an unreliable transport is being used".
            self._deadlines[TimerName.H] = now + t.sixty_four_t1
            if not self.reliable:
                self._g_interval = t.t1
                self._deadlines[TimerName.G] = now + t.t1
        elif state is TxState.COMPLETED:
            # §17.2.2: "Timer J to fire in 64*T1 seconds for unreliable transports, and zero
            # seconds for reliable transports" -- zero means leave at once.
            if self.reliable:
                self.state = TxState.TERMINATED
            else:
                self._deadlines[TimerName.J] = now + t.sixty_four_t1
        elif state is TxState.CONFIRMED:
            # "timer I ... T4 seconds for unreliable transports, and zero seconds for reliable".
            if self.reliable or t.t4 == 0:
                self.state = TxState.TERMINATED
            else:
                self._deadlines[TimerName.I] = now + t.t4

    def send_response(self, status: int, out: Outgoing, now: float) -> Outgoing:
        """The TU hands a response down; returns what to transmit (`out`), or raises LocalProtocolError."""
        if not 100 <= status <= 699:
            raise LocalProtocolError(f"status {status} is not a SIP response code")
        if status < 200:
            event = TxInput.SEND_1XX
        elif status < 300 and self.kind is TransactionKind.INVITE:
            event = TxInput.SEND_2XX
        else:
            event = TxInput.SEND_FINAL
        new = self._next_state(event)
        if new is None:
            raise LocalProtocolError(
                f"cannot send {status} on {self.kind.value} transaction in state {self.state.value}"
            )
        self.last_response = out
        self.last_status = status
        if new is not self.state:
            self._enter(new, now)
        return out

    def receive_request(self, now: float) -> Outgoing | None:
        """A retransmission of the request arrived; returns the response to resend, if any."""
        new = self._next_state(TxInput.REQUEST)
        if new is None:
            return None
        if self.state is TxState.ACCEPTED or self.state is TxState.CONFIRMED:
            return None  # absorbed: the TU owns 2xx retransmission (RFC 6026 §8.7)
        # Trying holds no response yet; Proceeding/Completed resend the latest one.
        return self.last_response

    def receive_ack(self, now: float) -> AckDisposition:
        new = self._next_state(TxInput.ACK)
        if new is None:
            return AckDisposition.IGNORED
        before = self.state
        if new is not before:
            self._enter(new, now)
        if before is TxState.ACCEPTED:
            return AckDisposition.PASS_TO_TU
        return AckDisposition.ABSORBED

    def transport_error(self, now: float) -> bool:
        """The transport could not deliver; returns True when the TU must be told (§17.2.4)."""
        new = self._next_state(TxInput.TRANSPORT_ERROR)
        if new is None:
            return False
        self._enter(new, now)
        return True

    def on_timer(self, now: float) -> list[Outgoing | TimedOut]:
        """Fire every timer due at `now`, in deadline order; returns retransmissions and timeouts."""
        out: list[Outgoing | TimedOut] = []
        while self._deadlines:
            name, when = min(self._deadlines.items(), key=lambda kv: kv[1])
            if when > now:
                break
            del self._deadlines[name]
            new = self._next_state(_TIMER_INPUT[name])
            if new is None:  # cannot happen: timers are only armed in states that accept them
                continue
            if name is TimerName.G:
                if self.last_response is not None:
                    out.append(self.last_response)
                # "timer G is reset with a value that doubles, unless that value exceeds T2".
                # Re-armed from its own deadline, so a late adapter does not stretch the schedule.
                self._g_interval = min(2 * self._g_interval, self.timers.t2)
                self._deadlines[TimerName.G] = when + self._g_interval
                continue
            if name is TimerName.H:
                out.append(TimedOut(self.key, name))
            self._enter(new, now)
        return out
