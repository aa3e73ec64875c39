"""UAS dialogs, sans-IO: RFC 3261 §12.1.1 (creation), §12.2.2 (in-dialog requests),
§13.3.1.4 (2xx retransmission until ACK), §14.2 (re-INVITE while one is pending), §15.1.2 (BYE).

A `UasDialog` is the mutable per-dialog state kept by the UAS core; events carry immutable
`Dialog` snapshots. The INVITE usage inside a dialog is a small enum + transition table
(`InviteState`): at most one INVITE may await its final response at a time. Each 2xx sent to an
INVITE is retransmitted by this layer -- "with an interval that starts at T1 seconds and doubles
for each retransmission until it reaches T2 seconds" -- until its ACK arrives, or 64*T1 passes and
the session must be ended with a BYE (reported as `AckTimeout`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.protocol.errors import LocalProtocolError, RemoteProtocolError
from harness.protocol.sip.headers import split_header_values
from harness.protocol.sip.message import SipRequest
from harness.protocol.sip.transaction import Outgoing, TimerConfig

__all__ = [
    "AckTimeout",
    "Dialog",
    "DialogId",
    "DialogState",
    "DialogTable",
    "InviteInput",
    "InviteState",
    "INVITE_TRANSITIONS",
    "TerminationReason",
    "UasDialog",
]


class DialogState(enum.Enum):
    # A UAS dialog is confirmed the moment it sends the 2xx (§12.1.1); early dialogs (1xx with a
    # tag) are not modelled.
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class TerminationReason(enum.Enum):
    BYE_RECEIVED = "BYE received"
    ACK_TIMEOUT = "no ACK for the 2xx within 64*T1"


class InviteState(enum.Enum):
    IDLE = "idle"  # no INVITE on this dialog awaits a final response
    PENDING = "pending"  # an INVITE awaits our final response


class InviteInput(enum.Enum):
    INVITE = "INVITE received"
    FINAL_SENT = "final response sent"


# §14.2: "A UAS that receives a second INVITE before it sends the final response to a first
# INVITE with a lower CSeq sequence number on the same dialog MUST return a 500" -- so INVITE is
# not a valid input in PENDING.
INVITE_TRANSITIONS: dict[InviteState, dict[InviteInput, InviteState]] = {
    InviteState.IDLE: {InviteInput.INVITE: InviteState.PENDING},
    InviteState.PENDING: {InviteInput.FINAL_SENT: InviteState.IDLE},
}


@dataclass(frozen=True, slots=True)
class DialogId:
    """§12: "A dialog is identified ... by a Call-ID value, a local tag and a remote tag"."""

    call_id: str
    local_tag: str
    remote_tag: str


@dataclass(frozen=True, slots=True)
class Dialog:
    """Immutable view of a dialog at the time an event was produced."""

    id: DialogId
    local_uri: str
    remote_uri: str
    remote_target: str
    route_set: tuple[str, ...]
    remote_cseq: int
    secure: bool
    state: DialogState


@dataclass(frozen=True, slots=True)
class AckTimeout:
    """§13.3.1.4: no ACK for the 2xx with this CSeq in 64*T1; the TU should send BYE."""

    dialog_id: DialogId
    cseq: int


@dataclass(slots=True)
class _Pending2xx:
    out: Outgoing
    interval: float
    next_send: float
    give_up: float


def _route_set(request: SipRequest) -> tuple[str, ...]:
    # §12.1.1: "The route set MUST be set to the list of URIs in the Record-Route header field
    # from the request, taken in order and preserving all URI parameters."
    values: list[str] = []
    for line in request.headers.get_all("Record-Route"):
        values.extend(v.strip() for v in split_header_values(line) if v.strip())
    return tuple(values)


@dataclass(slots=True)
class UasDialog:
    """Mutable UAS-side dialog state, owned by the UAS core."""

    id: DialogId
    local_uri: str
    remote_uri: str
    remote_target: str
    route_set: tuple[str, ...]
    remote_cseq: int
    secure: bool
    timers: TimerConfig = field(default_factory=TimerConfig)
    state: DialogState = DialogState.CONFIRMED
    invite_state: InviteState = InviteState.IDLE
    pending_invite_cseq: int | None = None
    _pending_2xx: dict[int, _Pending2xx] = field(default_factory=dict)

    @classmethod
    def from_invite(cls, request: SipRequest, local_tag: str, timers: TimerConfig) -> UasDialog:
        """§12.1.1 UAS behaviour, called when the 2xx to `request` is sent."""
        contacts = request.contacts
        if not contacts:
            # Checked before the INVITE reaches the TU; reaching here is a bug in the caller.
            raise LocalProtocolError("dialog-creating INVITE without Contact")
        remote_tag = request.from_.tag or ""
        return cls(
            id=DialogId(request.call_id, local_tag, remote_tag),
            local_uri=str(request.to.uri),
            remote_uri=str(request.from_.uri),
            # "The remote target MUST be set to the URI from the Contact header field of the request."
            remote_target=str(contacts[0].uri),
            route_set=_route_set(request),
            # "The remote sequence number MUST be set to the value of the sequence number in the
            # CSeq header field of the request."
            remote_cseq=request.cseq.number,
            # "If the request arrived over TLS, and the Request-URI contained a SIPS URI, the
            # 'secure' flag is set to TRUE." We have no TLS; SIPS alone is recorded.
            secure=request.uri.scheme.lower() == "sips",
            timers=timers,
        )

    def snapshot(self) -> Dialog:
        return Dialog(
            self.id,
            self.local_uri,
            self.remote_uri,
            self.remote_target,
            self.route_set,
            self.remote_cseq,
            self.secure,
            self.state,
        )

    # -- in-dialog requests (§12.2.2) ---------------------------------------------------------
    def receive_request(self, request: SipRequest, retry_after: Callable[[], int]) -> None:
        """Validate and absorb a new in-dialog request other than ACK/CANCEL.

        Raises RemoteProtocolError carrying the response to send (500) when the request must be
        rejected; otherwise updates the remote CSeq, the remote target on a target refresh, and
        the INVITE usage state.
        """
        if self.state is DialogState.TERMINATED:
            raise LocalProtocolError("request routed to a terminated dialog")
        number = request.cseq.number
        # §12.2.2: "If the remote sequence number was not empty, but the sequence number of the
        # request is lower than the remote sequence number, the request is out of order and MUST
        # be rejected with a 500 (Server Internal Error) response."
        if number < self.remote_cseq:
            raise RemoteProtocolError(
                f"CSeq {number} lower than remote sequence number {self.remote_cseq}",
                500,
                "Server Internal Error",
            )
        if request.method == "INVITE":
            if INVITE_TRANSITIONS[self.invite_state].get(InviteInput.INVITE) is None:
                # §14.2: "... MUST return a 500 (Server Internal Error) response to the second
                # INVITE and MUST include a Retry-After header field with a randomly chosen value
                # of between 0 and 10 seconds."
                raise RemoteProtocolError(
                    f"re-INVITE CSeq {number} while INVITE CSeq {self.pending_invite_cseq} is pending",
                    500,
                    "Server Internal Error",
                    (("Retry-After", str(retry_after())),),
                )
            self.invite_state = INVITE_TRANSITIONS[self.invite_state][InviteInput.INVITE]
            self.pending_invite_cseq = number
            # §12.2.2: "When a UAS receives a target refresh request, it MUST replace the
            # dialog's remote target URI with the URI from the Contact header field in that
            # request, if present."
            contacts = request.contacts
            if contacts:
                self.remote_target = str(contacts[0].uri)
        self.remote_cseq = number

    def invite_final_sent(self, cseq: int, status: int, out: Outgoing, now: float) -> None:
        """A final response to the INVITE with `cseq` left; a 2xx starts its retransmission."""
        if self.invite_state is InviteState.PENDING and self.pending_invite_cseq == cseq:
            self.invite_state = INVITE_TRANSITIONS[self.invite_state][InviteInput.FINAL_SENT]
            self.pending_invite_cseq = None
        if 200 <= status < 300:
            # §13.3.1.4 applies over every transport: the 2xx is retransmitted end to end
            # because a UDP hop may sit between us and the UAC.
            t = self.timers
            self._pending_2xx[cseq] = _Pending2xx(out, t.t1, now + t.t1, now + t.sixty_four_t1)

    def resend_2xx(self, cseq: int) -> Outgoing | None:
        """The 2xx to INVITE `cseq` still awaiting its ACK (for an INVITE retransmission)."""
        pending = self._pending_2xx.get(cseq)
        return pending.out if pending is not None else None

    def receive_ack(self, cseq: int) -> bool:
        """True when this ACK acknowledges a 2xx we were retransmitting (surface it once)."""
        # §13.3.1.4: "Response retransmissions cease when an ACK request for the response is
        # received." A later copy of the ACK finds nothing pending and is dropped.
        return self._pending_2xx.pop(cseq, None) is not None

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED
        self._pending_2xx.clear()

    # -- timers ---------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        if not self._pending_2xx:
            return None
        return min(min(p.next_send, p.give_up) for p in self._pending_2xx.values())

    def on_timer(self, now: float) -> list[Outgoing | AckTimeout]:
        out: list[Outgoing | AckTimeout] = []
        for cseq in sorted(self._pending_2xx):
            p = self._pending_2xx[cseq]
            while p.next_send <= now and p.next_send < p.give_up:
                out.append(p.out)
                p.interval = min(2 * p.interval, self.timers.t2)
                p.next_send += p.interval
            if p.give_up <= now:
                del self._pending_2xx[cseq]
                out.append(AckTimeout(self.id, cseq))
        return out


@dataclass(slots=True)
class DialogTable:
    """The UAS core's dialogs, by id. Terminated dialogs are removed at once."""

    _dialogs: dict[DialogId, UasDialog] = field(default_factory=dict)

    def add(self, dialog: UasDialog) -> None:
        if dialog.id in self._dialogs:
            raise LocalProtocolError(f"dialog {dialog.id} exists already")
        self._dialogs[dialog.id] = dialog

    def find(self, call_id: str, local_tag: str | None, remote_tag: str | None) -> UasDialog | None:
        if local_tag is None:
            return None
        return self._dialogs.get(DialogId(call_id, local_tag, remote_tag or ""))

    def get(self, dialog_id: DialogId) -> UasDialog | None:
        return self._dialogs.get(dialog_id)

    def remove(self, dialog_id: DialogId) -> UasDialog | None:
        dialog = self._dialogs.pop(dialog_id, None)
        if dialog is not None:
            dialog.terminate()
        return dialog

    def __len__(self) -> int:
        return len(self._dialogs)

    def __contains__(self, dialog_id: object) -> bool:
        return dialog_id in self._dialogs
