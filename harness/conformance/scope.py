"""What a scenario judges: its own dialogs and the RTP its SDP negotiated, nothing else.

A capture on a shared host holds other processes' traffic too (a profile recorder's capture
keeps all loopback UDP). A scenario's SIP is the datagrams of its own Call-IDs (every Call-ID
its SIPp legs sent or received, byte-exact in their message logs) or of the flows between its
legs' own SIP endpoints and the recorder; its RTP/RTCP is the datagrams to or from an address
and port its SDP offers and answers negotiated, or that the Media Server emulation sent from or
to. Everything else is foreign: ignored, and counted in the evidence.

Pure functions: datagrams in, the scenario's datagrams and the foreign counts out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from harness.capture.model import Datagram, Endpoint, PayloadKind, Transport

__all__ = ["ForeignTraffic", "Scope", "call_id_of", "own_rtp", "own_sip"]

# Lenient Call-ID lookup (RFC 3261 §20.8, compact form "i"): a malformed message the scenario
# sent on purpose still names its Call-ID although it does not parse.
_CALL_ID = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")


@dataclass(slots=True)
class ForeignTraffic:
    """Datagrams of the capture that are not the scenario's (ignored), by payload kind."""

    by_kind: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)  # a few, for the evidence

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def add(self, datagram: Datagram) -> None:
        self.by_kind[datagram.kind.value] += 1
        if len(self.examples) < 5:
            first = datagram.payload.split(b"\r\n", 1)[0][:80].decode("utf-8", "replace")
            self.examples.append(f"#{datagram.index} {datagram.kind.value} {datagram.src[0]}:{datagram.src[1]} -> "
                                 f"{datagram.dst[0]}:{datagram.dst[1]} {first if datagram.kind is PayloadKind.SIP else ''}"
                                 .rstrip())

    def __str__(self) -> str:
        if not self.total:
            return "no foreign traffic in the capture"
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.by_kind.items()))
        return f"{self.total} foreign datagram(s) ignored ({kinds})"


@dataclass(frozen=True, slots=True)
class Scope:
    """The scenario's own SIP: its Call-IDs and its legs' SIP endpoints."""

    call_ids: frozenset[str]
    sip_endpoints: frozenset[Endpoint]  # the SIPp legs' own addresses (top Via sent-by)
    recorder: Endpoint  # port 0: any port of the recorder's host


def call_id_of(payload: bytes) -> str | None:
    head = payload.split(b"\r\n\r\n", 1)[0]
    match = _CALL_ID.search(head)
    return match.group(1).decode("utf-8", "replace") if match else None


def _is_recorder(endpoint: Endpoint, recorder: Endpoint) -> bool:
    return endpoint[0] == recorder[0] and recorder[1] in (0, endpoint[1])


def _own_sip_datagram(d: Datagram, scope: Scope) -> bool:
    if d.src in scope.sip_endpoints or d.dst in scope.sip_endpoints:
        return True
    if d.transport is Transport.TCP:
        # A byte stream cannot be split by Call-ID (a segment may hold part of a message): a
        # TCP flow to or from the recorder's SIP port is the scenario's.
        return _is_recorder(d.src, scope.recorder) or _is_recorder(d.dst, scope.recorder)
    return call_id_of(d.payload) in scope.call_ids


def own_sip(datagrams: Iterable[Datagram], scope: Scope, foreign: ForeignTraffic) -> list[Datagram]:
    """The scenario's SIP datagrams, and every non-SIP datagram (judged by `own_rtp` next);
    foreign SIP is counted in `foreign`."""
    out: list[Datagram] = []
    for d in datagrams:
        if d.kind is PayloadKind.SIP and not _own_sip_datagram(d, scope):
            foreign.add(d)
            continue
        out.append(d)
    return out


def own_rtp(datagrams: Iterable[Datagram], endpoints: Collection[Endpoint], foreign: ForeignTraffic) -> list[Datagram]:
    """SIP (already scoped) plus the RTP/RTCP/other datagrams to or from one of the scenario's
    media `endpoints` (negotiated offer/answer addresses, what the emulation sent from and to;
    RTCP on the port above each, RFC 3550 §11); the rest is counted in `foreign`."""
    media = set(endpoints) | {(host, port + 1) for host, port in endpoints}
    out: list[Datagram] = []
    for d in datagrams:
        if d.kind is PayloadKind.SIP or d.src in media or d.dst in media:
            out.append(d)
        else:
            foreign.add(d)
    return out
