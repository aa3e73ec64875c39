"""The shared data model of a capture as the validators see it (docs/architecture.md §2, §4).

A capture is read once (`harness.validators.pcap`) into a stream of `Datagram` values: one
transport payload with where and when it was seen. Each validator (SIP, RTP, recording) turns
the part it understands into `harness.spec.findings.Finding` values.

Packet indexes are 1-based frame numbers, the same number Wireshark shows in its "No." column,
so a finding's evidence can be looked up in Wireshark directly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# (IP address as text, port). IPv6 addresses use their compressed text form.
Endpoint = tuple[str, int]


class Transport(enum.Enum):
    UDP = "UDP"
    TCP = "TCP"


class PayloadKind(enum.Enum):
    """What a payload was classified as (see `pcap.PayloadClassifier` for the rules)."""

    SIP = "SIP"
    RTP = "RTP"
    RTCP = "RTCP"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True)
class Datagram:
    """One transport payload from a capture.

    For UDP it is one datagram (IPv4/IPv6 fragments already reassembled). For TCP it is the
    next *in-order* piece of one direction's byte stream; `stream_gap` is True when bytes are
    missing before it (a hole the capture never filled), so a consumer framing SIP over TCP
    must resynchronise instead of gluing unrelated bytes together.
    """

    index: int  # 1-based frame number (last fragment / segment that completed it)
    timestamp: float  # capture time, seconds since the epoch
    src: Endpoint
    dst: Endpoint
    transport: Transport
    payload: bytes
    kind: PayloadKind = PayloadKind.OTHER
    stream_gap: bool = False

    @property
    def flow(self) -> tuple[Endpoint, Endpoint, Transport]:
        return (self.src, self.dst, self.transport)


@dataclass(frozen=True, slots=True)
class NegotiatedStream:
    """One m-line of an offer/answer exchange on a recording session (RFC 3264 §6).

    Produced by the SIP validator from the INVITE offer and the 2xx answer, consumed by the RTP
    validator. `offer_endpoint` is where the offerer (Media Server) would receive, `answer_endpoint`
    where the recorder receives the replicated stream (port 0: refused).
    """

    call_id: str
    media_index: int
    kind: str  # "audio", "video", ...
    offer_endpoint: Endpoint | None
    answer_endpoint: Endpoint | None
    offer_direction: str  # sendonly / recvonly / sendrecv / inactive (RFC 4566 §6)
    answer_direction: str
    payload_types: frozenset[int]  # formats of the answer (those the recorder agreed to receive)
    clock_rate: int = 8000  # of the first audio codec of the answer
    telephone_event_pts: frozenset[int] = frozenset()
    answer_index: int | None = None  # packet index of the 2xx carrying the answer (evidence)
    answer_timestamp: float | None = None
