"""Resource Manager as a SIP proxy in front of a pool of recorders: the sans-IO core.

Genesys GVP Resource Manager (RM) sits between Media Server and the recorders: it proxies each
recording session to one instance of a recorder pool, "typically round-robin", may "OPTIONS-ping"
the recorders so sessions only go to live instances, and keeps a session's affinity to the
recorder it chose (docs/genesys-flow.md §4.5, sources GVP-Scale, GVP-HA). Which responses make RM
try the next recorder, and its timers, are not published (docs/genesys-flow.md §10): they are
configuration here, defaulting to try-next on 408/480/486/5xx and on no final answer.

This core is a stateful proxy in the sense of RFC 3261 §16, reduced to what the pool needs:
- a request from Media Server gets our Via on top (§16.6 item 8), Max-Forwards decremented
  (§16.6 item 3) and, on a dialog-creating INVITE, the `X-Genesys-GVP-Session-ID` header RM
  stamps (its value format is not published: an opaque id here);
- an INVITE is answered 100 Trying at once (§16.2), forwarded to the chosen member, and a non-2xx
  final answer from a member is ACKed hop by hop (§17.1.1.3) and, when its status is a retry
  status, the INVITE goes to the next live member (serial forking, §16.6/§16.7) before Media
  Server hears anything but the last answer;
- the sessions of one call (same `calluuid` in the Request-URI, GVP-MSRec) go to the member that
  took the call's first one while it is live: one recorder holds the whole call;
- in-dialog requests follow the session's member by Call-ID (RM's affinity, GVP-HA); requests
  from a member (a recorder's BYE) go back to the Media Server of that dialog;
- a response has our Via removed (§16.7 item 3) and goes to the address its request came from.

Bytes in (`receive`), bytes out (`data_to_send`), events out; the clock is passed in and
`next_deadline` tells the adapter when to call `on_timer`. Branches and session ids come from
counters, so the same input gives the same output.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.headers import header_key, split_header_values
from harness.protocol.sip.message import Headers, SipRequest, SipResponse, build_response, parse_message
from harness.protocol.sip.uri import SipUri

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "SESSION_HEADER",
    "MemberDown",
    "MemberUp",
    "Outgoing",
    "Policy",
    "PoolExhausted",
    "ResourceManagerConfig",
    "ResourceManagerCore",
    "RmEvent",
    "SessionRouted",
    "TriedNext",
]

Address = tuple[str, int]
SESSION_HEADER = "X-Genesys-GVP-Session-ID"
# docs/genesys-flow.md §10 default: try the next recorder on 408/480/486/5xx (and on timeout).
DEFAULT_RETRY_STATUSES = frozenset({408, 480, 486, *range(500, 600)})
_BRANCH_PREFIX = "z9hG4bK-arec-rm-"  # §8.1.1.7 magic cookie


class Policy(enum.Enum):
    ROUND_ROBIN = "round-robin"
    LEAST_USED = "least-used"


@dataclass(frozen=True, slots=True)
class ResourceManagerConfig:
    address: Address  # where RM listens (its Via sent-by)
    members: tuple[Address, ...]  # the recorder pool, in rotation order
    policy: Policy = Policy.ROUND_ROBIN
    options_interval_s: float = 0.5  # GVP-Scale OPTIONS ping period (unpublished: configurable)
    options_timeout_s: float = 0.4  # a ping unanswered this long takes the member out of rotation
    invite_timeout_s: float = 2.0  # no final answer this long: the member is dead, try the next
    retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("a Resource Manager needs at least one pool member")
        if len(set(self.members)) != len(self.members):
            raise ValueError("pool members must be distinct addresses")
        if self.options_timeout_s > self.options_interval_s:
            raise ValueError("options_timeout_s must not exceed options_interval_s (one ping at a time)")


@dataclass(frozen=True, slots=True)
class Outgoing:
    data: bytes
    destination: Address


@dataclass(frozen=True, slots=True)
class MemberDown:
    member: Address
    at: float
    reason: str  # "OPTIONS unanswered", "INVITE unanswered"


@dataclass(frozen=True, slots=True)
class MemberUp:
    member: Address
    at: float


@dataclass(frozen=True, slots=True)
class SessionRouted:
    """A member answered 2xx to a dialog-creating INVITE: the session is pinned to it."""

    call_id: str
    member: Address
    at: float
    session_id: str  # the X-Genesys-GVP-Session-ID stamped on the forwarded INVITE


@dataclass(frozen=True, slots=True)
class TriedNext:
    """A member refused (status) or did not answer (None) a new session; RM moves on."""

    call_id: str
    member: Address
    status: int | None
    at: float


@dataclass(frozen=True, slots=True)
class PoolExhausted:
    """No live member took the session; Media Server got `status`."""

    call_id: str
    status: int
    at: float


RmEvent = MemberDown | MemberUp | SessionRouted | TriedNext | PoolExhausted


@dataclass(slots=True)
class _Member:
    address: Address
    alive: bool = True  # until a ping or an INVITE goes unanswered
    sessions: set[str] = field(default_factory=set)  # Call-IDs of its established sessions
    ping_branch: str | None = None
    ping_deadline: float | None = None
    next_ping: float = 0.0


@dataclass(slots=True)
class _ClientTx:
    """One request we forwarded (or an OPTIONS ping we originated), keyed by our branch."""

    method: str
    call_id: str
    upstream: Address | None  # who gets the responses; None: our own ping
    member: Address  # where it went (for a member's request: the Media Server we relayed to)
    request: SipRequest | None = None  # as received, for re-forwarding an INVITE to the next member
    forwarded: bytes = b""
    deadline: float | None = None  # INVITE: final answer due by then
    tried: list[Address] = field(default_factory=list)
    session_id: str = ""
    calluuid: str | None = None
    final: bool = False


class ResourceManagerCore:
    def __init__(self, config: ResourceManagerConfig, now: float) -> None:
        self.config = config
        self.members = [_Member(a, next_ping=now) for a in config.members]
        self._by_address = {m.address: m for m in self.members}
        self._cursor = 0
        self._branches = 0
        self._session_ids = 0
        self._tx: dict[str, _ClientTx] = {}  # our branch -> transaction
        self._upstream_tx: dict[str, str] = {}  # Media Server's INVITE branch -> our branch (retransmissions)
        self._dialogs: dict[str, tuple[Address, Address]] = {}  # Call-ID -> (member, Media Server)
        self._calls: dict[str, Address] = {}  # calluuid -> the member holding the call
        self._out: list[Outgoing] = []

    # -- input -----------------------------------------------------------------------------
    def receive(self, data: bytes, source: Address, now: float) -> list[RmEvent]:
        try:
            message = parse_message(data)
        except RemoteProtocolError:
            return []  # §16.3: an unparseable request is not proxied; nothing to route a reply to
        if isinstance(message, SipResponse):
            return self._on_response(message, now)
        if source in self._by_address:
            return self._from_member(message, source)
        return self._from_upstream(message, source, now)

    def data_to_send(self) -> list[Outgoing]:
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        times = [m.ping_deadline if m.ping_deadline is not None else m.next_ping for m in self.members]
        times += [t.deadline for t in self._tx.values() if t.deadline is not None and not t.final]
        return min(times, default=None)

    def on_timer(self, now: float) -> list[RmEvent]:
        events: list[RmEvent] = []
        for member in self.members:
            if member.ping_deadline is not None and now >= member.ping_deadline:
                self._tx.pop(member.ping_branch or "", None)
                member.ping_branch = member.ping_deadline = None
                if member.alive:
                    member.alive = False
                    events.append(MemberDown(member.address, now, "OPTIONS unanswered"))
            if member.ping_branch is None and now >= member.next_ping:
                self._ping(member, now)
        for branch, tx in list(self._tx.items()):
            if tx.method == "INVITE" and not tx.final and tx.deadline is not None and now >= tx.deadline:
                # Timer B's job, shortened (docs/genesys-flow.md §10): no final answer from this
                # member; it is treated as dead and the session tried on the next one.
                del self._tx[branch]
                member = self._by_address[tx.member]
                if member.alive:
                    member.alive = False
                    events.append(MemberDown(member.address, now, "INVITE unanswered"))
                events.append(TriedNext(tx.call_id, tx.member, None, now))
                events += self._route_invite(tx, now, status_if_none=408)
        return events

    @property
    def live_members(self) -> list[Address]:
        return [m.address for m in self.members if m.alive]

    def sessions_of(self, member: Address) -> int:
        return len(self._by_address[member].sessions)

    def member_of(self, call_id: str) -> Address | None:
        dialog = self._dialogs.get(call_id)
        return None if dialog is None else dialog[0]

    # -- requests from Media Server ----------------------------------------------------------
    def _from_upstream(self, request: SipRequest, source: Address, now: float) -> list[RmEvent]:
        call_id = request.call_id
        upstream_branch = request.top_via.branch or ""
        if request.method == "INVITE" and request.to.tag is None:
            ours = self._upstream_tx.get(upstream_branch)
            if ours is not None:  # Media Server's retransmission: same member, same bytes
                tx = self._tx.get(ours)
                self._reply(request, 100, source)
                if tx is not None and not tx.final:
                    self._out.append(Outgoing(tx.forwarded, tx.member))
                return []
            self._reply(request, 100, source)  # §16.2: quench Media Server's retransmissions
            self._session_ids += 1
            tx = _ClientTx("INVITE", call_id, source, source, request=request,
                           session_id=f"{self._session_ids:08X};gvp.rm.datanodes=1", calluuid=_calluuid(request))
            return self._route_invite(tx, now, status_if_none=503)
        if request.method == "ACK" and request.to.tag is not None and call_id not in self._dialogs:
            return []  # the ACK of a non-2xx we sent upstream ourselves: hop by hop, absorbed
        if request.method == "CANCEL":
            return self._cancel(request, source)
        dialog = self._dialogs.get(call_id)
        if dialog is None:
            if request.method != "ACK":
                self._reply(request, 481, source)  # §12.2.2: no dialog known for this Call-ID
            return []
        self._relay(request, source, dialog[0])
        if request.method == "BYE":
            self._by_address[dialog[0]].sessions.discard(call_id)
        return []

    def _cancel(self, request: SipRequest, source: Address) -> list[RmEvent]:
        # §16.10: answer the CANCEL ourselves and cancel the pending branch downstream.
        self._reply(request, 200, source)
        ours = self._upstream_tx.get(request.top_via.branch or "")
        tx = self._tx.get(ours or "")
        if tx is not None and not tx.final and tx.request is not None:
            headers = Headers([("Via", self._via(ours or "")), *[
                (n, v) for n, v in tx.request.headers if header_key(n) in ("from", "to", "call-id", "max-forwards")]])
            headers.add("CSeq", f"{tx.request.cseq.number} CANCEL")
            self._out.append(Outgoing(SipRequest("CANCEL", tx.request.uri, headers).to_bytes(), tx.member))
        return []

    def _route_invite(self, tx: _ClientTx, now: float, *, status_if_none: int) -> list[RmEvent]:
        """Send the session's INVITE to the next live member it has not tried, or give up."""
        assert tx.request is not None and tx.upstream is not None
        member = self._pick(exclude=tx.tried, calluuid=tx.calluuid)
        if member is None:
            self._reply(tx.request, status_if_none, tx.upstream)
            self._upstream_tx.pop(tx.request.top_via.branch or "", None)
            return [PoolExhausted(tx.call_id, status_if_none, now)]
        branch = self._new_branch()
        tx.member = member.address
        tx.tried.append(member.address)
        tx.deadline = now + self.config.invite_timeout_s
        headers = self._forward_headers(tx.request, branch)
        if headers.get(SESSION_HEADER) is None:
            headers.add(SESSION_HEADER, tx.session_id)
        tx.forwarded = SipRequest(tx.request.method, tx.request.uri, headers, tx.request.body).to_bytes()
        self._tx[branch] = tx
        self._upstream_tx[tx.request.top_via.branch or ""] = branch
        self._out.append(Outgoing(tx.forwarded, member.address))
        return []

    def _pick(self, exclude: list[Address], calluuid: str | None = None) -> _Member | None:
        live = [m for m in self.members if m.alive and m.address not in exclude]
        if not live:
            return None
        holder = self._calls.get(calluuid or "")
        if holder is not None and self._by_address[holder] in live:
            return self._by_address[holder]
        if self.config.policy is Policy.LEAST_USED:
            return min(live, key=lambda m: (len(m.sessions), self.members.index(m)))
        count = len(self.members)
        for step in range(count):
            candidate = self.members[(self._cursor + step) % count]
            if candidate in live:
                self._cursor = (self.members.index(candidate) + 1) % count
                return candidate
        return None  # unreachable: `live` is not empty

    # -- requests from a member (a recorder's BYE) --------------------------------------------
    def _from_member(self, request: SipRequest, source: Address) -> list[RmEvent]:
        dialog = self._dialogs.get(request.call_id)
        if dialog is None:
            if request.method != "ACK":
                self._reply(request, 481, source)
            return []
        self._relay(request, source, dialog[1])
        if request.method == "BYE":
            self._by_address[source].sessions.discard(request.call_id)
        return []

    def _relay(self, request: SipRequest, source: Address, destination: Address) -> None:
        branch = self._new_branch()
        data = SipRequest(request.method, request.uri, self._forward_headers(request, branch), request.body).to_bytes()
        if request.method != "ACK":  # ACK has no response to route back (§17.1.1.3)
            self._tx[branch] = _ClientTx(request.method, request.call_id, source, destination)
        self._out.append(Outgoing(data, destination))

    # -- responses ------------------------------------------------------------------------------
    def _on_response(self, response: SipResponse, now: float) -> list[RmEvent]:
        branch = response.top_via.branch or ""
        tx = self._tx.get(branch)
        if tx is None:
            return []  # §16.7 item 3: not ours (or a late retransmission): dropped
        if tx.upstream is None:
            return self._ping_answered(branch, now)
        if response.status < 200 and response.status != 100:
            self._out.append(Outgoing(self._strip_via(response), tx.upstream))
            return []
        if response.status < 200:
            return []
        if tx.method != "INVITE":
            del self._tx[branch]
            self._out.append(Outgoing(self._strip_via(response), tx.upstream))
            return []
        return self._invite_final(branch, tx, response, now)

    def _invite_final(self, branch: str, tx: _ClientTx, response: SipResponse, now: float) -> list[RmEvent]:
        assert tx.request is not None and tx.upstream is not None
        if tx.final:
            if 200 <= response.status < 300:  # §16.7 item 5: 2xx retransmissions go upstream
                self._out.append(Outgoing(self._strip_via(response), tx.upstream))
            else:
                self._ack_non_2xx(branch, tx, response)
            return []
        tx.final = True
        member = self._by_address[tx.member]
        if 200 <= response.status < 300:
            member.sessions.add(tx.call_id)
            self._dialogs[tx.call_id] = (tx.member, tx.upstream)
            if tx.calluuid is not None:
                self._calls[tx.calluuid] = tx.member
            self._out.append(Outgoing(self._strip_via(response), tx.upstream))
            return [SessionRouted(tx.call_id, tx.member, now, tx.session_id)]
        self._ack_non_2xx(branch, tx, response)
        if response.status in self.config.retry_statuses:
            retry = _ClientTx("INVITE", tx.call_id, tx.upstream, tx.member, request=tx.request,
                              tried=tx.tried, session_id=tx.session_id, calluuid=tx.calluuid)
            events: list[RmEvent] = [TriedNext(tx.call_id, tx.member, response.status, now)]
            if self._pick(exclude=tx.tried, calluuid=tx.calluuid) is not None:
                return events + self._route_invite(retry, now, status_if_none=response.status)
            events.append(PoolExhausted(tx.call_id, response.status, now))
        self._upstream_tx.pop(tx.request.top_via.branch or "", None)
        self._out.append(Outgoing(self._strip_via(response), tx.upstream))
        return events if response.status in self.config.retry_statuses else []

    def _ack_non_2xx(self, branch: str, tx: _ClientTx, response: SipResponse) -> None:
        # §17.1.1.3: the ACK of a non-2xx final answer belongs to the client transaction: same
        # branch, Request-URI, From, Call-ID and CSeq number as the INVITE, To of the response.
        assert tx.request is not None
        headers = Headers([("Via", self._via(branch))])
        for name in ("From", "Call-ID"):
            headers.add(name, tx.request.headers.get(name) or "")
        headers.add("To", response.headers.get("To") or "")
        headers.add("CSeq", f"{tx.request.cseq.number} ACK")
        headers.add("Max-Forwards", "70")
        self._out.append(Outgoing(SipRequest("ACK", tx.request.uri, headers).to_bytes(), tx.member))

    # -- OPTIONS pings --------------------------------------------------------------------------
    def _ping(self, member: _Member, now: float) -> None:
        branch = self._new_branch()
        host, port = self.config.address
        target = f"sip:{_uri_host(member.address[0])}:{member.address[1]}"
        headers = Headers([
            ("Via", self._via(branch)), ("Max-Forwards", "70"),
            ("From", f"<sip:rm@{_uri_host(host)}:{port}>;tag=rm-ping"), ("To", f"<{target}>"),
            ("Call-ID", f"rm-ping-{branch}"), ("CSeq", "1 OPTIONS"), ("Accept", "application/sdp"),
        ])
        self._out.append(Outgoing(SipRequest("OPTIONS", SipUri.parse(target), headers).to_bytes(), member.address))
        self._tx[branch] = _ClientTx("OPTIONS", f"rm-ping-{branch}", None, member.address)
        member.ping_branch = branch
        member.ping_deadline = now + self.config.options_timeout_s
        member.next_ping = now + self.config.options_interval_s

    def _ping_answered(self, branch: str, now: float) -> list[RmEvent]:
        tx = self._tx.pop(branch)
        member = self._by_address[tx.member]
        member.ping_branch = member.ping_deadline = None
        # GVP-Scale: an instance that answers the ping is live; any final answer proves it is up
        # (a 503 at capacity still answers, and the INVITE will then try the next one).
        if not member.alive:
            member.alive = True
            return [MemberUp(member.address, now)]
        return []

    # -- message building -----------------------------------------------------------------------
    def _new_branch(self) -> str:
        self._branches += 1
        return f"{_BRANCH_PREFIX}{self._branches}"

    def _via(self, branch: str) -> str:
        host, port = self.config.address
        return f"SIP/2.0/UDP {_uri_host(host)}:{port};branch={branch}"

    def _forward_headers(self, request: SipRequest, branch: str) -> Headers:
        """§16.6: our Via on top, Max-Forwards decremented, everything else as received."""
        items: list[tuple[str, str]] = [("Via", self._via(branch))]
        for name, value in request.headers:
            if header_key(name) == "max-forwards":
                forwards = request.max_forwards
                value = str(max((forwards if forwards is not None else 70) - 1, 0))
            items.append((name, value))
        if request.headers.get("Max-Forwards") is None:
            items.append(("Max-Forwards", "69"))
        return Headers(items)

    @staticmethod
    def _strip_via(response: SipResponse) -> bytes:
        """§16.7 item 3: remove the topmost Via value (ours) and pass the response on."""
        items: list[tuple[str, str]] = []
        removed = False
        for name, value in response.headers:
            if header_key(name) == "via" and not removed:
                removed = True
                rest = split_header_values(value)[1:]
                if rest:
                    items.append((name, ", ".join(rest)))
                continue
            items.append((name, value))
        return SipResponse(response.status, response.reason, Headers(items), response.body).to_bytes()

    def _reply(self, request: SipRequest, status: int, destination: Address) -> None:
        self._out.append(Outgoing(build_response(request, status, to_tag="arec-rm" if status >= 300 else None)
                                  .to_bytes(), destination))


def _calluuid(request: SipRequest) -> str | None:
    """The call a recording INVITE belongs to (GVP-MSRec `calluuid`, case-insensitive, §19.1.4)."""
    return next((v for k, v in request.uri.params if k.lower() == "calluuid" and v), None)


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
