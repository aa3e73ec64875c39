"""One Media Server -> recorder leg as SIPp runs it: what fills the scenario XML in.

The leg's values (checked when built), the ``-key`` values its scenario reads, the Request-URI
(built by `harness.protocol.genesys`, GVP-MSRec) and the SDP offer (built by
`harness.protocol.sdp`) written to ``offer.sdp`` for SIPp's ``[file name=...]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from harness.protocol.genesys import RecordingTarget, build_recording_uri
from harness.protocol.sdp import Direction, OfferedCodec, OfferedMedia, build_offer

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

# Name of the file the leg scenarios insert with SIPp's [file name="..."] keyword.
OFFER_FILE = "offer.sdp"


class Scenario(StrEnum):
    """Scenario files in ``scenarios/`` (stem = value)."""

    LEG = "are_leg_uac"  # one stream per session (two-session mode)
    SINGLE = "are_single_uac"  # one session, two m=audio lines (single-session mode)
    OPTIONS = "options_uac"  # OPTIONS ping, expects 200 (Resource Manager liveness check, GVP-Scale)
    SIPREC = "siprec_uac"  # one SIPREC recording session (RFC 7866), a labelled m-line per stream

    @property
    def path(self) -> Path:
        return SCENARIO_DIR / f"{self.value}.xml"

    @property
    def uses_twin(self) -> bool:
        """The INVITE scenarios are steered through the 3PCC twin socket."""
        return self is not Scenario.OPTIONS

    @property
    def stream_count(self) -> int:
        return 2 if self in (Scenario.SINGLE, Scenario.SIPREC) else 1


class Transport(StrEnum):
    UDP = "udp"
    TCP = "tcp"

    @property
    def sipp_mode(self) -> str:
        # u1/t1: one socket for the single call (SIPp's -t modes).
        return "u1" if self is Transport.UDP else "t1"


@dataclass(frozen=True, slots=True)
class Codec:
    """One negotiated audio codec (Media Server offers the codec the parties chose, GVP-MSRec)."""

    name: str
    payload_type: int
    clock_rate: int = 8000

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"RTP payload type {self.payload_type} outside 0..127 (RFC 3550 §5.1)")
        if not re.fullmatch(r"[A-Za-z0-9._-]+", self.name):
            raise ValueError(f"codec name {self.name!r} is not an rtpmap encoding name")


PCMU = Codec("PCMU", 0)
PCMA = Codec("PCMA", 8)

# A value substituted into a SIP URI / header by SIPp: keep it a plain token so it can
# neither break the Request-URI (';', '@', '>') nor inject a header (CR/LF).
_TOKEN = re.compile(r"[A-Za-z0-9._~!*'()+%-]+")
_HOST = re.compile(r"[A-Za-z0-9.:\[\]-]+")


def _check_token(name: str, value: str) -> None:
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"{name}={value!r} must be a non-empty URI token (no ';', '@', spaces or CR/LF)")


@dataclass(frozen=True, slots=True)
class SippLeg:
    """Everything one SIPp leg needs; validated when built."""

    recorder_host: str
    recorder_port: int
    record_id: str
    calluuid: str
    dn: str
    record_dn: str
    scenario: Scenario = Scenario.LEG
    other_dn: str | None = None
    transport: Transport = Transport.UDP
    local_ip: str = "127.0.0.1"
    local_port: int = 0  # 0: pick a free port at start
    codec: Codec = PCMU
    telephone_event_pt: int | None = 101
    ptime_ms: int = 20
    media_ip: str = "127.0.0.1"
    media_ports: tuple[int, ...] = (40000,)
    call_id: str | None = None  # None: SIPp's default "<n>-<pid>@<ip>"
    recv_timeout_ms: int = 5000
    uri_host: str | None = None  # host[:port] written in the URI; default recorder_host:port
    # SIPREC (Scenario.SIPREC): the a=label of each m-line (RFC 4574), and the whole initial
    # body when it is more than the SDP (multipart/mixed with the RFC 7865 metadata) and its type.
    labels: tuple[str, ...] = ()
    body: bytes | None = None
    body_type: str = "application/sdp"

    def __post_init__(self) -> None:
        for name in ("record_id", "calluuid", "dn", "record_dn"):
            _check_token(name, getattr(self, name))
        if self.other_dn is not None:
            _check_token("other_dn", self.other_dn)
        if self.call_id is not None and ("%" in self.call_id or not _TOKEN.fullmatch(self.call_id.replace("@", ""))):
            raise ValueError(f"call_id {self.call_id!r}: word[@host] without '%' (it becomes SIPp's -cid_str)")
        for host in (self.recorder_host, self.local_ip, self.media_ip, self.uri_host or "x"):
            if not _HOST.fullmatch(host):
                raise ValueError(f"{host!r} is not a host name or IP address")
        if not 0 < self.recorder_port < 65536 or not 0 <= self.local_port < 65536:
            raise ValueError("ports must be within 1..65535 (local_port 0 = pick a free one)")
        if self.scenario is Scenario.SINGLE and self.other_dn is None:
            raise ValueError("single-session mode needs other_dn (GVP-MSRec: dn=DN1;otherDN=DN2)")
        if self.scenario is not Scenario.SINGLE and self.other_dn is not None:
            raise ValueError("other_dn only exists in single-session mode")
        if self.scenario.uses_twin and len(self.media_ports) != self.scenario.stream_count:
            raise ValueError(f"{self.scenario.value} offers {self.scenario.stream_count} m=audio line(s), "
                             f"got {len(self.media_ports)} media port(s)")
        if any(not 0 < p < 65536 for p in self.media_ports):
            raise ValueError("media ports must be within 1..65535")
        if self.telephone_event_pt is not None and (
            not 96 <= self.telephone_event_pt <= 127 or self.telephone_event_pt == self.codec.payload_type
        ):
            raise ValueError("telephone-event needs a distinct dynamic payload type 96..127 (RFC 4733 §7.1)")
        if self.recv_timeout_ms <= 0 or self.ptime_ms <= 0:
            raise ValueError("recv_timeout_ms and ptime_ms must be positive")
        if self.labels and len(self.labels) != len(self.media_ports):
            raise ValueError("one a=label per m-line")
        for label in self.labels:
            _check_token("label", label)
        if any(c in self.body_type for c in "\r\n"):
            raise ValueError("body_type must be one header value")

    @property
    def uri_hostport(self) -> str:
        return self.uri_host or f"{self.recorder_host}:{self.recorder_port}"

    @property
    def request_uri(self) -> str:
        """The Genesys recording URI the scenario sends (GVP-MSRec), or the recorder's address
        for OPTIONS."""
        if self.scenario is Scenario.OPTIONS:
            return f"sip:{self.uri_hostport}"
        if self.scenario is Scenario.SIPREC:
            return f"sip:srs@{self.uri_hostport}"  # RFC 7866: an SRS is addressed like any UA
        host, port = _split_hostport(self.uri_hostport)
        target = RecordingTarget(self.record_id, self.calluuid, self.dn, self.record_dn, self.other_dn)
        return str(build_recording_uri(target, host, port))

    def offer_sdp(self, version: int = 1, direction: Direction = Direction.SENDONLY) -> bytes:
        """The Media Server's offer, one ``m=audio`` per stream.

        RFC 4566 §5.2: the o= version must grow with every modified offer, so re-INVITEs pass
        a larger ``version``. ``a=sendonly`` because Media Server only sends replicated media;
        ``a=inactive`` is the pause (RFC 3264 §8.4).
        """
        codecs = [OfferedCodec(self.codec.payload_type, self.codec.name, self.codec.clock_rate)]
        if self.telephone_event_pt is not None:
            codecs.append(OfferedCodec(self.telephone_event_pt, "telephone-event", 8000, fmtp="0-15"))
        # The session id only has to be unique per session (RFC 4566 §5.2): derive it from
        # the record id and the dn so the two legs of one call differ.
        session_id = int.from_bytes(f"{self.record_id}/{self.dn}".encode(), "big") % 10**10
        labels = self.labels or (None,) * len(self.media_ports)
        media = [OfferedMedia(port, tuple(codecs), ptime_ms=self.ptime_ms, label=label)
                 for port, label in zip(self.media_ports, labels, strict=True)]
        return build_offer(self.media_ip, media, session_id=session_id, version=version, username="MCP",
                           direction=direction).to_bytes()

    def initial_body(self) -> bytes:
        """What the INVITE carries: the SIPREC multipart body when given, else the SDP offer."""
        return self.body if self.body is not None else self.offer_sdp()

    def sipp_keys(self) -> list[tuple[str, str]]:
        """The ``-key`` values the scenario reads (none collides with a SIPp keyword)."""
        if self.scenario is Scenario.OPTIONS:
            return [("rec_host", self.uri_hostport)]
        if self.scenario is Scenario.SIPREC:
            return [("ruri", self.request_uri), ("rec_host", self.uri_hostport), ("body_type", self.body_type),
                    ("calluuid", self.calluuid)]
        # The Request-URI whole (one builder, harness.protocol.genesys); record_id and rec_host
        # for the To header.
        return [("ruri", self.request_uri), ("record_id", self.record_id), ("rec_host", self.uri_hostport)]




def _split_hostport(hostport: str) -> tuple[str, int | None]:
    """"host", "host:port", "[v6]:port" -> (host, port)."""
    match = re.fullmatch(r"(\[[^\]]+\]|[^:]+)(?::(\d+))?", hostport)
    if match is None:
        return hostport, None  # a bare IPv6 address
    return match.group(1), int(match.group(2)) if match.group(2) else None
