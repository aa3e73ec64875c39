"""Sans-IO SIP user agent server core: RFC 3261 §8.2 (UAS behaviour), §9.2 (CANCEL), §12 (dialogs),
§13.3 (INVITE at the UAS), §15.1.2 (BYE), §17.2 (server transactions, with RFC 6026), §18.2.2 /
RFC 3581 (where responses go).

`UserAgentServer` is the h11-style connection object a recorder drives: feed it bytes with
`receive_datagram` / `receive_stream_bytes`, read `Event`s back, answer requests with `respond`,
take bytes to send from `data_to_send`, and arm one timer at `next_deadline()` that calls
`on_timer(now)`. It never reads a clock, never opens a socket, and never raises on peer input:
bad input becomes a `BadMessage` event (answered with the error's status when §18.3/§8.2 allow).

What the core answers by itself, so the TU never sees it: request retransmissions (the last
response is re-sent), 100 Trying to INVITE, 405/501 with Allow, 420 with Unsupported, 481 for
unknown dialogs / CANCEL without an INVITE, 500 for out-of-order CSeq and overlapping re-INVITE,
200 to CANCEL plus 487 to the cancelled INVITE, 200 to BYE, 2xx retransmission until ACK.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from harness.protocol.errors import LocalProtocolError, RemoteProtocolError
from harness.protocol.sip.dialog import (
    AckTimeout,
    Dialog,
    DialogId,
    DialogTable,
    TerminationReason,
    UasDialog,
)
from harness.protocol.sip.headers import Via, canonical_name, header_key, is_token, split_header_values
from harness.protocol.sip.message import (
    Headers,
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    build_response,
    check_require,
    parse_message,
)
from harness.protocol.sip.transaction import (
    AckDisposition,
    Outgoing,
    ServerTransaction,
    TimedOut,
    TimerConfig,
    TimerName,
    TransactionKey,
    TransactionKind,
    Transport,
    TxState,
)
from harness.protocol.sip.uri import ForeignUri

__all__ = [
    "DEFAULT_ALLOW",
    "KNOWN_METHODS",
    "AckReceived",
    "AnsweredStatelessly",
    "BadMessage",
    "CancelReceived",
    "CloseConnection",
    "DialogTerminated",
    "Event",
    "Outgoing",
    "RequestHandle",
    "RequestReceived",
    "RequestRejected",
    "TransactionTimeout",
    "UserAgentServer",
]

Address = tuple[str, int]
# (status, reason, extra headers) of a response the TU wants sent without transaction state.
StatelessAnswer = tuple[int, str, tuple[tuple[str, str], ...]]
# Asked for each new out-of-dialog request (not ACK/CANCEL) once Allow/Require checks passed.
StatelessPolicy = Callable[[SipRequest], StatelessAnswer | None]

# Methods of RFC 3261 and its common extensions. §8.2.1 / §21.4.6: a method we know but do not
# allow gets 405 with Allow; §21.5.2: a method we do not recognise at all gets 501.
KNOWN_METHODS = frozenset(
    {
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
        "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
    }
)  # fmt: skip
DEFAULT_ALLOW = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO")


# -- events ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RequestHandle:
    """Opaque reference to a request the TU must answer with `UserAgentServer.respond`."""

    id: int


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request for the TU (INVITE, re-INVITE, OPTIONS, INFO, UPDATE ...)."""

    handle: RequestHandle
    request: SipRequest
    dialog: Dialog | None
    in_dialog: bool


@dataclass(frozen=True, slots=True)
class AckReceived:
    """The ACK for a 2xx we sent (may carry the SDP answer); surfaced once."""

    dialog: Dialog
    request: SipRequest


@dataclass(frozen=True, slots=True)
class CancelReceived:
    """A CANCEL ended the INVITE behind `handle`: 200 and 487 are already queued (§9.2)."""

    handle: RequestHandle
    request: SipRequest


@dataclass(frozen=True, slots=True)
class DialogTerminated:
    """The dialog ended: BYE received (200 already queued), or no ACK for a 2xx in 64*T1 (send BYE)."""

    dialog: Dialog
    reason: TerminationReason
    request: SipRequest | None = None


@dataclass(frozen=True, slots=True)
class RequestRejected:
    """The core answered a request itself with an error (405, 420, 481, 500, 501 ...)."""

    request: SipRequest
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class AnsweredStatelessly:
    """The TU's `stateless` policy answered an out-of-dialog request; no state was kept.

    On the datagram fast path (`UserAgentServer.receive_datagram`) `request` holds only the
    header fields the parser validates eagerly and a response copies, and no body."""

    request: SipRequest
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class BadMessage:
    """Unusable peer input. `answered`: an error response (`error.status`) was queued."""

    error: RemoteProtocolError
    answered: bool
    source: Address


@dataclass(frozen=True, slots=True)
class TransactionTimeout:
    """Timer H fired: the ACK for our non-2xx final response to `request` never came (§17.2.1)."""

    handle: RequestHandle
    request: SipRequest
    timer: TimerName


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """The byte stream from `connection` cannot be framed any more (§18.3): close it."""

    connection: Address
    error: RemoteProtocolError


Event = (
    RequestReceived
    | AnsweredStatelessly
    | AckReceived
    | CancelReceived
    | DialogTerminated
    | RequestRejected
    | BadMessage
    | TransactionTimeout
    | CloseConnection
)


# -- helpers -------------------------------------------------------------------------------------
# Methods a stateless policy answers on the datagram fast path: OPTIONS (a load balancer's
# liveness ping) and INVITE (503 beyond capacity, §21.5.4).
_PEEK_METHODS = (b"INVITE ", b"OPTIONS ")
# Header fields the fast path keeps: what a response copies (§8.2.6.2), and for OPTIONS what
# the parser also validates eagerly (Max-Forwards, Contact, the single Content-Type), so an
# OPTIONS it answers 200 parses exactly as the full request would: no 2xx to an invalid
# request. An INVITE the policy refuses (503) keeps only the five: a request refused for
# overload is not judged further (which error a bad one gets first, §21.5.4 or 400, is ours).
_PEEK_ANSWER = frozenset({"via", "from", "to", "call-id", "cseq"})
_PEEK_KEEP = {"INVITE": _PEEK_ANSWER, "OPTIONS": _PEEK_ANSWER | {"max-forwards", "contact", "content-type"}}


# Header names seen on the fast path, with their lookup key ("" for a name that is no token):
# a flood repeats a handful of names, so each is checked once (bounded: new names stop being
# remembered beyond the limit, they are still checked).
_PEEK_NAMES: dict[str, str] = {}
_PEEK_NAMES_LIMIT = 256


def _peek_key(name: str) -> str:
    key = _PEEK_NAMES.get(name)
    if key is None:
        key = header_key(name) if is_token(name) else ""
        if len(_PEEK_NAMES) < _PEEK_NAMES_LIMIT:
            _PEEK_NAMES[name] = key
    return key


def _answer_headers(data: bytes) -> bytes | None:
    """The datagram reduced to its start line and the `_PEEK_KEEP` header fields, without body;
    None when anything could make the full request answer otherwise: folded lines, a bad
    header name, a bare CR or LF, a Require (§8.2.2.3, 420), a Content-Length larger than the
    body or not a number (§18.3, 400). No value is interpreted here: the one parser
    (`parse_message`) then reads the reduced request."""
    if not data.startswith(_PEEK_METHODS):
        return None
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    try:
        text = data[:end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    keep = _PEEK_KEEP.get(lines[0].partition(" ")[0], _PEEK_ANSWER)
    kept = [lines[0]]
    for line in lines[1:]:
        colon = line.find(":")
        if colon <= 0 or line[0] in " \t" or "\r" in line or "\n" in line:
            return None
        key = _peek_key(line[:colon].rstrip(" \t"))
        if not key:
            return None
        if key in keep:
            kept.append(line)
        elif key == "require":
            return None
        elif key == "content-length":
            value = line[colon + 1 :].strip(" \t")
            if not value.isdigit() or not value.isascii() or int(value) > len(data) - end - 4:
                return None
    return ("\r\n".join(kept) + "\r\n\r\n").encode("utf-8")


def _bare_host(host: str) -> str:
    return host.strip("[]").lower()


def _has_param(params: Iterable[tuple[str, str | None]], name: str) -> bool:
    return any(k.lower() == name for k, _ in params)


def _retag_via(via: Via, received: str | None, rport: int | None) -> str:
    """The top Via value with received/rport set (§18.2.1, RFC 3581 §4)."""
    if received is not None:
        try:
            via = via.with_param("received", received)
        except LocalProtocolError:  # an IPv6 address is not a gen-value token: bracket it
            via = via.with_param("received", f"[{_bare_host(received)}]")
    if rport is not None:
        via = via.with_param("rport", str(rport))
    return str(via)


def _route_response(
    request: SipRequest, via: Via, source: Address, transport: Transport, *, one_value_per_line: bool = False
) -> tuple[SipRequest, Address]:
    """Return (request whose top Via carries received/rport, destination of its responses).

    `one_value_per_line`: the caller knows every Via header line holds one value (as many
    values as lines), so the first line is `via` and need not be split again."""
    src_ip, src_port = source
    rport_asked = _has_param(via.params, "rport")
    # §18.2.1: "the server MUST add a 'received' parameter" when the sent-by host "differs from
    # the source address of the packet"; RFC 3581 §4: with rport, received is inserted "even if
    # it is identical to the value of the 'sent-by' component".
    received = src_ip if rport_asked or _bare_host(via.host) != _bare_host(src_ip) else None
    rport = src_port if rport_asked else None
    if transport == "tcp":
        # §18.2.2: on a reliable transport the response goes back on the connection.
        destination = source
    elif rport_asked:
        # RFC 3581 §4: "send the response to the IP address and port in the 'received' and 'rport'".
        destination = source
    else:
        # §18.2.2: "the response MUST be sent to the address in the 'received' parameter, using
        # the port indicated in the 'sent-by' value, or using port 5060 if none is specified".
        # Without received, the sent-by host is the source address itself.
        destination = (src_ip, via.port if via.port is not None else 5060)
    if received is None and rport is None:
        return request, destination
    items = request.headers.items()
    for i, (name, value) in enumerate(items):
        if canonical_name(name) == "Via":
            if one_value_per_line:
                items[i] = (name, _retag_via(via, received, rport))
                break
            values = split_header_values(value)
            values[0] = _retag_via(via, received, rport)
            items[i] = (name, ", ".join(values))
            break
    rewritten = SipRequest(request.method, request.uri, Headers(items), request.body, request.version)
    return rewritten, destination


def _header_names(headers: Iterable[tuple[str, str]]) -> set[str]:
    return {canonical_name(n).lower() for n, _ in headers}


@dataclass(slots=True, eq=False)
class _ServerTx:
    """A server transaction plus what the core needs to answer on it."""

    tx: ServerTransaction
    handle: RequestHandle
    request: SipRequest  # as received (what events carry)
    reply_request: SipRequest  # with received/rport in the top Via: responses are built from it
    destination: Address
    transport: Transport
    to_tag: str | None  # our tag for responses when the request had none
    dialog_id: DialogId | None = None
    initial_invite: bool = False


@dataclass(slots=True, eq=False)
class _Table:
    by_key: dict[TransactionKey, _ServerTx] = field(default_factory=dict)
    by_handle: dict[int, _ServerTx] = field(default_factory=dict)  # awaiting a TU final response


class UserAgentServer:
    """The UAS core. See the module docstring for what it answers on its own."""

    def __init__(
        self,
        *,
        local_tag_factory: Callable[[], str] | None = None,
        supported: Iterable[str] = (),
        allow: Iterable[str] = DEFAULT_ALLOW,
        contact: str | None = None,
        timers: TimerConfig | None = None,
        rng: random.Random | None = None,
        send_trying: bool = True,
        stateless: StatelessPolicy | None = None,
    ) -> None:
        self._tag = local_tag_factory or (lambda: secrets.token_hex(8))  # §19.3: >= 32 random bits
        self._supported = tuple(supported)
        self._allow = tuple(m.upper() for m in allow)
        for m in ("ACK", "CANCEL"):  # handled by the core whatever the TU allows
            if m not in self._allow:
                self._allow += (m,)
        self._contact = contact
        self._timers = timers or TimerConfig()
        self._rng = rng or random.Random()
        self._send_trying = send_trying
        self._stateless = stateless
        self._tx = _Table()
        self._dialogs = DialogTable()
        self._framers: dict[Address, StreamFramer] = {}
        self._out: list[Outgoing] = []
        self._heap: list[tuple[float, int, _ServerTx | UasDialog]] = []
        # The deadline each owner is armed for: one live heap entry per owner, so request
        # retransmissions do not pile up duplicate entries (older entries are lazily dropped).
        self._armed: dict[TransactionKey | DialogId, float] = {}
        self._seq = itertools.count()
        self._handles = itertools.count(1)

    # -- public API ----------------------------------------------------------------------------
    def receive_datagram(self, data: bytes, source: Address, now: float) -> list[Event]:
        """One UDP datagram from `source` (§18.3: one datagram carries one message)."""
        if self._stateless is not None and data.startswith(_PEEK_METHODS):
            answered = self._answer_fast(data, source)
            if answered is not None:
                return answered
        try:
            message = parse_message(data, lenient_request_uri=True)
        except SipParseError as e:
            return [self._bad_message(e, e.partial, source, "udp")]
        return self._dispatch(message, source, "udp", now)

    def receive_stream_bytes(self, connection: Address, data: bytes, now: float) -> list[Event]:
        """Bytes read from the TCP connection whose peer address is `connection`."""
        framer = self._framers.get(connection)
        if framer is None:
            framer = self._framers[connection] = StreamFramer(lenient_request_uri=True)
        events: list[Event] = []
        while True:
            try:
                messages = framer.feed(data)
            except SipParseError as e:
                for message in e.preceding:
                    events.extend(self._dispatch(message, connection, "tcp", now))
                events.append(self._bad_message(e, e.partial, connection, "tcp"))
                if framer.broken:
                    # §18.3: a stream whose message boundaries are lost cannot be
                    # resynchronised: tell the adapter to close the connection.
                    del self._framers[connection]
                    events.append(CloseConnection(connection, e))
                    return events
                data = b""  # the bad message was consumed; parse what follows it
                continue
            for message in messages:
                events.extend(self._dispatch(message, connection, "tcp", now))
            return events

    def connection_closed(self, connection: Address) -> None:
        """The adapter saw the TCP connection close; forget its framing state."""
        self._framers.pop(connection, None)

    def respond(
        self,
        handle: RequestHandle,
        status: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        now: float,
    ) -> Dialog | None:
        """Answer the request behind `handle`; returns the dialog a 2xx to INVITE created or belongs to."""
        stx = self._tx.by_handle.get(handle.id)
        if stx is None:
            raise LocalProtocolError(f"{handle} is unknown or already has a final response")
        extra = list(headers)
        names = _header_names(extra)
        is_invite = stx.request.method == "INVITE"
        if is_invite and 200 <= status < 300 and "contact" not in names:
            # §12.1.1: "The UAS MUST add a Contact header field to the response."
            if self._contact is None:
                raise LocalProtocolError("2xx to INVITE needs a Contact header (§12.1.1); none given")
            extra.append(("Contact", self._contact))
        if stx.request.method == "OPTIONS" and 200 <= status < 300 and "allow" not in names:
            extra.append(("Allow", ", ".join(self._allow)))  # §11.2: Allow SHOULD be present
        if stx.initial_invite and 100 < status < 300 and "record-route" not in names:
            # §12.1.1: "the UAS MUST copy all Record-Route header field values from the request".
            extra.extend(("Record-Route", v) for v in stx.request.headers.get_all("Record-Route"))
        out = self._send(stx, status, reason, extra, body, content_type, now)
        if status < 200:
            return None
        self._tx.by_handle.pop(handle.id, None)
        if not is_invite:
            return self._snapshot(stx.dialog_id)
        if stx.initial_invite and status < 300:
            assert stx.to_tag is not None
            dialog = UasDialog.from_invite(stx.request, stx.to_tag, self._timers)
            self._dialogs.add(dialog)
            stx.dialog_id = dialog.id
        self._invite_final_sent(stx, status, out, now)
        return self._snapshot(stx.dialog_id)

    def end_dialog(self, dialog_id: DialogId) -> None:
        """The TU ended the dialog itself (it sent BYE, §15): a later request in it gets 481."""
        self._dialogs.remove(dialog_id)

    def is_pending(self, handle: RequestHandle) -> bool:
        """True while the request behind `handle` still awaits the TU's final response."""
        return handle.id in self._tx.by_handle

    def data_to_send(self) -> list[Outgoing]:
        """Everything queued since the last call, in order."""
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        while self._heap and self._stale(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def on_timer(self, now: float) -> list[Event]:
        events: list[Event] = []
        while self._heap and self._heap[0][0] <= now:
            entry = heapq.heappop(self._heap)
            if self._stale(entry):
                continue
            owner = entry[2]
            del self._armed[self._owner_key(owner)]
            if isinstance(owner, UasDialog):
                events.extend(self._fire_dialog(owner, now))
            else:
                events.extend(self._fire_transaction(owner, now))
        return events

    def debug_sizes(self) -> dict[str, int]:
        """Sizes of the internal tables (tests check that finished calls leave nothing behind)."""
        return {
            "transactions": len(self._tx.by_key),
            "handles": len(self._tx.by_handle),
            "dialogs": len(self._dialogs),
            "framers": len(self._framers),
            "timers": len(self._heap),
            "armed": len(self._armed),
        }

    # -- dispatch ----------------------------------------------------------------------------
    def _answer_fast(self, data: bytes, source: Address) -> list[Event] | None:
        """The stateless policy's answer to a new out-of-dialog OPTIONS or INVITE, from the
        request reduced to the header fields a response needs (`_answer_headers`): a flood
        beyond capacity or of liveness pings costs a fraction of a full parse and leaves no
        state (§8.2.7). None: the request takes the full path (anything unusual, a request we
        hold a transaction for, one with a To tag, one the policy does not answer)."""
        reduced = _answer_headers(data)
        if reduced is None:
            return None
        try:
            request = parse_message(reduced, lenient_request_uri=True)
        except SipParseError:
            return None  # the full path answers 400 / 505 or drops, as it always did
        if not isinstance(request, SipRequest) or request.method not in self._allow:
            return None
        try:
            if request.to.tag is not None or request.uri.headers:
                return None
            vias = request.vias
            top = vias[0]
            cseq = request.cseq
            key = TransactionKey.for_request(
                method=request.method, branch=top.branch, sent_by_host=top.host, sent_by_port=top.port,
                call_id=request.call_id, from_tag=request.from_.tag, cseq_number=cseq.number,
            )
        except (RemoteProtocolError, IndexError):
            return None
        if key in self._tx.by_key:
            return None  # a retransmission of a request we answered statefully: its transaction resends
        answer = self._stateless(request) if self._stateless is not None else None
        if answer is None:
            return None
        single = len(vias) == request.headers.count("Via")
        reply_request, destination = _route_response(request, top, source, "udp", one_value_per_line=single)
        return [self._send_stateless(request, top, reply_request, destination, "udp", answer)]

    def _dispatch(
        self, message: SipRequest | SipResponse, source: Address, transport: Transport, now: float
    ) -> list[Event]:
        if isinstance(message, SipResponse):
            # A UAS sends no requests, so no response can match a client transaction; RFC 6026
            # §7.2 / §18.1.2: unmatched responses are discarded.
            err = RemoteProtocolError(f"unexpected response {message.status} received by a UAS")
            return [BadMessage(err, False, source)]
        try:
            return self._receive_request(message, source, transport, now)
        except RemoteProtocolError as e:
            # A header the codec parses lazily was malformed: answer statelessly if possible.
            return [self._bad_message(e, message, source, transport)]

    def _receive_request(
        self, request: SipRequest, source: Address, transport: Transport, now: float
    ) -> list[Event]:
        vias = request.vias
        if not vias:
            # §8.1.1.7 makes Via mandatory; without one there is nowhere to send a response.
            return [BadMessage(RemoteProtocolError("request without Via"), False, source)]
        top = vias[0]
        cseq = request.cseq
        if cseq.method.upper() != request.method.upper():
            # §8.1.1.5: "The method MUST match that of the request."
            raise RemoteProtocolError(f"CSeq method {cseq.method} does not match {request.method}")
        key = TransactionKey.for_request(
            method=request.method,
            branch=top.branch,
            sent_by_host=top.host,
            sent_by_port=top.port,
            call_id=request.call_id,
            from_tag=request.from_.tag,
            cseq_number=cseq.number,
        )
        if request.method == "ACK":
            return self._receive_ack(request, key, now)
        existing = self._tx.by_key.get(key)
        if existing is not None:
            self._retransmission(existing, now)
            return []
        to_tag = request.to.tag
        reply_request, destination = _route_response(request, top, source, transport)
        stx = _ServerTx(
            tx=ServerTransaction(
                key,
                TransactionKind.INVITE if request.method == "INVITE" else TransactionKind.NON_INVITE,
                reliable=transport == "tcp",
                timers=self._timers,
            ),
            handle=RequestHandle(next(self._handles)),
            request=request,
            reply_request=reply_request,
            destination=destination,
            transport=transport,
            # §8.2.6.2: a response to a request without a To tag MUST carry ours; CANCEL's is
            # taken from the INVITE it cancels.
            to_tag=self._tag() if to_tag is None and request.method != "CANCEL" else None,
        )
        self._tx.by_key[key] = stx
        if request.method == "CANCEL":
            return self._receive_cancel(stx, now)
        return self._new_request(stx, to_tag, now)

    def _new_request(self, stx: _ServerTx, to_tag: str | None, now: float) -> list[Event]:
        request = stx.request
        method = request.method
        if method not in self._allow:
            allow = (("Allow", ", ".join(self._allow)),)
            if method in KNOWN_METHODS:
                return self._reject(stx, 405, "Method Not Allowed", allow, now)
            return self._reject(stx, 501, "Not Implemented", allow, now)
        try:
            # §8.2.2.3: unknown option tags in Require get 420 with Unsupported (not for ACK/CANCEL).
            check_require(request, self._supported)
        except RemoteProtocolError as e:
            return self._reject(stx, e.status, e.reason, e.extra_headers, now)
        if to_tag is not None:
            return self._in_dialog(stx, to_tag, now)
        if method == "BYE":
            # §15.1.2: "If the BYE does not match an existing dialog, the UAS core SHOULD generate
            # a 481 (Call/Transaction Does Not Exist) response".
            return self._reject(stx, 481, "Call/Transaction Does Not Exist", (), now)
        answer = self._stateless(request) if self._stateless is not None else None
        if answer is not None:
            return self._answer_statelessly(stx, answer)
        if method == "INVITE":
            contacts = request.contacts
            if not contacts:
                # §8.1.1.8: "The Contact header field MUST be present ... in any request that can
                # result in the establishment of a dialog" -- we would have no remote target.
                return self._reject(stx, 400, "Missing Contact", (), now)
            if len(contacts) != 1 or isinstance(contacts[0].uri, ForeignUri):
                # §8.1.1.8: "... and contain exactly one SIP or SIPS URI". Not 416: that code is
                # for the Request-URI's scheme only (§21.4.17).
                return self._reject(stx, 400, "Bad Contact", (), now)
            stx.initial_invite = True
            self._trying(stx, now)
        self._tx.by_handle[stx.handle.id] = stx
        return [RequestReceived(stx.handle, request, None, False)]

    def _answer_statelessly(self, stx: _ServerTx, answer: StatelessAnswer) -> list[Event]:
        """§8.2.7 stateless UAS: one response, no transaction, no 100, no retransmission.

        For what a loaded server must answer cheaply (OPTIONS liveness pings, 503 beyond
        capacity, §21.5.4): a retransmitted request is simply answered again, and the To tag
        is derived from the request "in a manner that will generate the same tag for the
        same request consistently" (§8.2.7). The ACK to a stateless non-2xx matches nothing
        and is ignored, as §8.2.7 asks.
        """
        del self._tx.by_key[stx.tx.key]
        request = stx.request
        return [self._send_stateless(request, request.vias[0], stx.reply_request, stx.destination,
                                     stx.transport, answer)]

    def _send_stateless(self, request: SipRequest, top: Via, reply_request: SipRequest, destination: Address,
                        transport: Transport, answer: StatelessAnswer) -> AnsweredStatelessly:
        status, reason, extra = answer
        seed = f"{request.call_id}|{request.from_.tag}|{top.branch}|{request.cseq}".encode()
        tag = hashlib.blake2b(seed, digest_size=8).hexdigest()
        response = build_response(reply_request, status, reason, to_tag=tag, headers=extra)
        self._out.append(Outgoing(response.to_bytes(), destination, transport))
        return AnsweredStatelessly(request, status, reason)

    def _in_dialog(self, stx: _ServerTx, to_tag: str, now: float) -> list[Event]:
        request = stx.request
        dialog = self._dialogs.find(request.call_id, to_tag, request.from_.tag)
        if dialog is None:
            # §12.2.2: a request with a To tag that matches no dialog: "the UAS ... SHOULD
            # respond to the request with a 481 (Call/Transaction Does Not Exist)".
            return self._reject(stx, 481, "Call/Transaction Does Not Exist", (), now)
        try:
            dialog.receive_request(request, lambda: self._rng.randint(0, 10))
        except RemoteProtocolError as e:
            return self._reject(stx, e.status, e.reason, e.extra_headers, now)
        stx.dialog_id = dialog.id
        if request.method == "BYE":
            return self._receive_bye(stx, dialog, now)
        if request.method == "INVITE":
            self._trying(stx, now)
        self._tx.by_handle[stx.handle.id] = stx
        return [RequestReceived(stx.handle, request, dialog.snapshot(), True)]

    def _receive_bye(self, stx: _ServerTx, dialog: UasDialog, now: float) -> list[Event]:
        # §15.1.2: "The UAS MUST still respond to any pending requests received for that dialog.
        # It is RECOMMENDED that a 487 (Request Terminated) response be generated".
        for pending in list(self._tx.by_handle.values()):
            if pending.dialog_id == dialog.id:
                self._send(pending, 487, "Request Terminated", [], b"", None, now)
                self._tx.by_handle.pop(pending.handle.id, None)
        self._send(stx, 200, "OK", [], b"", None, now)
        self._dialogs.remove(dialog.id)
        self._armed.pop(dialog.id, None)
        return [DialogTerminated(dialog.snapshot(), TerminationReason.BYE_RECEIVED, stx.request)]

    def _receive_cancel(self, stx: _ServerTx, now: float) -> list[Event]:
        invite = self._tx.by_key.get(stx.tx.key.as_method("INVITE"))
        if invite is None:
            # §9.2: "If the UAS did not find a matching transaction for the CANCEL ... it SHOULD
            # respond to the CANCEL with a 481 (Call Leg/Transaction Does Not Exist)."
            stx.to_tag = None if stx.request.to.tag else self._tag()
            return self._reject(stx, 481, "Call/Transaction Does Not Exist", (), now)
        # §9.2: "the To tag of the response to the CANCEL and the To tag in the response to the
        # original request SHOULD be the same."
        stx.to_tag = None if stx.request.to.tag else invite.to_tag
        # "... a final response to the CANCEL ... is 200 (OK)" whatever the INVITE's state.
        self._send(stx, 200, "OK", [], b"", None, now)
        if invite.tx.final_sent:
            return []  # "If the UAS has already sent a final response ... the CANCEL has no effect"
        # "the UAS ... SHOULD then respond to the INVITE with a 487 (Request Terminated)".
        out = self._send(invite, 487, "Request Terminated", [], b"", None, now)
        self._tx.by_handle.pop(invite.handle.id, None)
        self._invite_final_sent(invite, 487, out, now)
        return [CancelReceived(invite.handle, stx.request)]

    def _receive_ack(self, request: SipRequest, key: TransactionKey, now: float) -> list[Event]:
        stx = self._tx.by_key.get(key)
        if stx is not None:
            disposition = stx.tx.receive_ack(now)
            self._after_tx_change(stx)
            if disposition is not AckDisposition.PASS_TO_TU:
                return []  # ACK for a non-2xx final belongs to the transaction (§17.2.1)
        # §13.3.1.4 / §17: the ACK for a 2xx is its own transaction, matched to the dialog.
        dialog = self._dialogs.find(request.call_id, request.to.tag, request.from_.tag)
        if dialog is None or not dialog.receive_ack(request.cseq.number):
            return []  # stray or repeated ACK: never answered, never surfaced twice
        self._schedule(dialog)
        return [AckReceived(dialog.snapshot(), request)]

    def _retransmission(self, stx: _ServerTx, now: float) -> None:
        out = stx.tx.receive_request(now)
        if out is None and stx.tx.state is TxState.ACCEPTED and stx.dialog_id is not None:
            # RFC 6026 §8.7 keeps the INVITE retransmission from the TU; answering it with the
            # 2xx still awaiting its ACK (as the TU would on its next Timer) quenches the UAC.
            dialog = self._dialogs.get(stx.dialog_id)
            out = dialog.resend_2xx(stx.request.cseq.number) if dialog is not None else None
        if out is not None:
            self._out.append(out)
        self._after_tx_change(stx)

    # -- sending -------------------------------------------------------------------------------
    def _trying(self, stx: _ServerTx, now: float) -> None:
        # §17.2.1: "The server transaction MUST generate a 100 (Trying) response unless it knows
        # that the TU will generate a provisional or final response within 200 ms" -- the TU is
        # asynchronous, so we cannot know. 100 carries no To tag (§8.2.6.1).
        if self._send_trying:
            self._send(stx, 100, "Trying", [], b"", None, now)

    def _reject(
        self,
        stx: _ServerTx,
        status: int,
        reason: str,
        extra: Iterable[tuple[str, str]],
        now: float,
    ) -> list[Event]:
        self._send(stx, status, reason, list(extra), b"", None, now)
        self._invite_final_sent(stx, status, None, now)
        return [RequestRejected(stx.request, status, reason)]

    def _send(
        self,
        stx: _ServerTx,
        status: int,
        reason: str | None,
        extra: list[tuple[str, str]],
        body: bytes,
        content_type: str | None,
        now: float,
    ) -> Outgoing:
        response = build_response(
            stx.reply_request,
            status,
            reason,
            to_tag=stx.to_tag if status > 100 else None,
            headers=extra,
            body=body,
            content_type=content_type,
        )
        out = Outgoing(response.to_bytes(), stx.destination, stx.transport)
        stx.tx.send_response(status, out, now)  # raises LocalProtocolError if the state forbids it
        self._out.append(out)
        self._after_tx_change(stx)
        return out

    def _invite_final_sent(self, stx: _ServerTx, status: int, out: Outgoing | None, now: float) -> None:
        if stx.request.method != "INVITE" or stx.dialog_id is None:
            return
        dialog = self._dialogs.get(stx.dialog_id)
        if dialog is None:
            return
        if out is None:
            out = stx.tx.last_response
            assert out is not None
        dialog.invite_final_sent(stx.request.cseq.number, status, out, now)
        self._schedule(dialog)

    # -- timers ---------------------------------------------------------------------------------
    @staticmethod
    def _owner_key(owner: _ServerTx | UasDialog) -> TransactionKey | DialogId:
        return owner.id if isinstance(owner, UasDialog) else owner.tx.key

    def _schedule(self, owner: _ServerTx | UasDialog) -> None:
        deadline = owner.next_deadline() if isinstance(owner, UasDialog) else owner.tx.next_deadline()
        key = self._owner_key(owner)
        if deadline is None:
            self._armed.pop(key, None)
        elif self._armed.get(key) != deadline:
            self._armed[key] = deadline
            heapq.heappush(self._heap, (deadline, next(self._seq), owner))

    def _stale(self, entry: tuple[float, int, _ServerTx | UasDialog]) -> bool:
        deadline, _, owner = entry
        if isinstance(owner, UasDialog):
            live = self._dialogs.get(owner.id) is owner
        else:
            live = self._tx.by_key.get(owner.tx.key) is owner
        return not live or self._armed.get(self._owner_key(owner)) != deadline

    def _after_tx_change(self, stx: _ServerTx) -> None:
        """Drop a terminated transaction at once (§17.2.1: "MUST be destroyed"), else re-arm its timer."""
        if stx.tx.terminated:
            if self._tx.by_key.get(stx.tx.key) is stx:
                del self._tx.by_key[stx.tx.key]
                self._armed.pop(stx.tx.key, None)
            self._tx.by_handle.pop(stx.handle.id, None)
        else:
            self._schedule(stx)

    def _fire_transaction(self, stx: _ServerTx, now: float) -> list[Event]:
        events: list[Event] = []
        for item in stx.tx.on_timer(now):
            if isinstance(item, TimedOut):
                events.append(TransactionTimeout(stx.handle, stx.request, item.timer))
            else:
                self._out.append(item)
        self._after_tx_change(stx)
        return events

    def _fire_dialog(self, dialog: UasDialog, now: float) -> list[Event]:
        events: list[Event] = []
        for item in dialog.on_timer(now):
            if isinstance(item, AckTimeout):
                # §13.3.1.4: "If the server retransmits the 2xx response for 64*T1 seconds
                # without receiving an ACK, the dialog is confirmed, but the session SHOULD be
                # terminated. This is accomplished with a BYE" -- which the TU sends.
                self._dialogs.remove(dialog.id)
                self._armed.pop(dialog.id, None)
                events.append(DialogTerminated(dialog.snapshot(), TerminationReason.ACK_TIMEOUT))
                break
            self._out.append(item)
        else:
            self._schedule(dialog)
        return events

    # -- errors -----------------------------------------------------------------------------------
    def _snapshot(self, dialog_id: DialogId | None) -> Dialog | None:
        dialog = self._dialogs.get(dialog_id) if dialog_id is not None else None
        return dialog.snapshot() if dialog is not None else None

    def _bad_message(
        self, error: RemoteProtocolError, partial: SipRequest | None, source: Address, transport: Transport
    ) -> BadMessage:
        """§18.3 / §8.2: answer a malformed request statelessly when enough of it parsed, else drop."""
        if partial is None or partial.method == "ACK":  # an ACK is never answered (§17.1.1.3)
            return BadMessage(error, False, source)
        try:
            top = partial.top_via
            reply_request, destination = _route_response(partial, top, source, transport)
            try:
                has_tag = partial.to.tag is not None
            except RemoteProtocolError:
                has_tag = True  # an unparseable To is copied as it is (build_response)
            tag = None if has_tag else self._tag()
            response = build_response(
                reply_request, error.status, error.reason, to_tag=tag, headers=error.extra_headers
            )
            data = response.to_bytes()
        except (RemoteProtocolError, LocalProtocolError, ValueError):
            # Via / From / To / Call-ID / CSeq themselves unusable: no response can be built.
            return BadMessage(error, False, source)
        self._out.append(Outgoing(data, destination, transport))
        return BadMessage(error, True, source)
