"""The call's own RTP legs, next to the replicated ones (replication fidelity, REP-PAYLOAD-FIDELITY).

In a real Genesys call each party's RTP flows between the customer's gateway and the agent's
phone (through Media Server when it replicates), and Media Server copies each party's stream to
the recorder (ARE step 6). A capture that holds both the original legs and the replicas lets
`harness.validators.replication` check that the replica carries the original payload, per
stream, with the delay and loss measured.

Here two harness-owned loopback sockets play the endpoints: the customer's gateway sends the
customer's audio to the agent's phone, the phone sends the agent's audio back (symmetric RTP,
RFC 4961: each endpoint sends from the port it receives on; nothing reads them, they are
sinks). Each original leg carries the same time-coded audio as its replica, slot for slot, on
the Media Server emulation's pacer at the same pace, with its own SSRC, sequence numbers and
timestamps as a real endpoint would have (RFC 3550 §5.1, §8.1: drawn at random per source).
Only the replica goes to the recorder.

Why a *stamp*: the replication validator pairs streams by payload bytes and ignores a payload
its own stream repeats within the window (silence, a constant tone). The time code is a tone per
20 ms symbol from a 5-tone alphabet, so its payloads repeat every few packets and would
identify nothing. `StampedSource` makes every packet's payload unique: bit k of the slot number
(mod 2**16, i.e. unique over 21 minutes) flips the least significant bit of payload octet k,
k < 16 — one G.711 quantisation step on the first 2 ms of the symbol, which the time-code
decoder trims anyway (it reads symbols on windows trimmed by 16 samples at both ends). Replica
and original use the same stamped source type, so they carry the same bytes for the same slot.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from harness.emulators.sip_server import Side
from harness.media.pacer import PacedSender
from harness.media.rtp_source import PacketKind, RtpStreamSource, Run

__all__ = ["STAMP_BITS", "CallLegs", "OriginalLeg", "SentPacket", "StampedSource", "stamp"]

STAMP_BITS = 16
_MAX_PACKETS = 50 * 3600  # open-ended, like the replica's schedule: the call ends when it is stopped

# (wall-clock send time, source, destination, RTP bytes): as `harness.conformance.sent_rtp.SentRtp`.
SentPacket = tuple[float, tuple[str, int], tuple[str, int], bytes]


def stamp(payload: bytes, slot: int) -> bytes:
    """`payload` with bit k of `slot` (mod 2**STAMP_BITS) XORed into the LSB of octet k."""
    if len(payload) < STAMP_BITS:
        raise ValueError(f"payload of {len(payload)} octets cannot carry a {STAMP_BITS}-bit stamp")
    out = bytearray(payload)
    for k in range(STAMP_BITS):
        out[k] ^= (slot >> k) & 1
    return bytes(out)


@dataclass(frozen=True, slots=True)
class StampedSource(RtpStreamSource):
    """An `RtpStreamSource` whose time-code payloads are unique per slot (see the module docstring)."""

    def payload(self, n: int) -> bytes:
        # Explicit base call: zero-argument super() does not work in a slots dataclass.
        return stamp(RtpStreamSource.payload(self, n), n)


@dataclass(slots=True)
class OriginalLeg:
    """One party's original stream: from its endpoint to the other party's."""

    side: Side
    source: RtpStreamSource
    src: tuple[str, int]
    dst: tuple[str, int]
    pacer_id: int
    stopped: bool = False


def _bind(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    return sock


@dataclass(slots=True)
class CallLegs:
    """The customer's gateway and the agent's phone: two UDP sockets bound at construction, so
    their ports can go into the capture filter before the call starts."""

    address: str = "127.0.0.1"
    legs: list[OriginalLeg] = field(default_factory=list)
    gateway: socket.socket = field(init=False)
    phone: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.gateway = _bind(self.address)
        try:
            self.phone = _bind(self.address)
        except OSError:
            self.gateway.close()
            raise

    @property
    def ports(self) -> tuple[int, int]:
        """(gateway port, phone port): what the capture must include."""
        return int(self.gateway.getsockname()[1]), int(self.phone.getsockname()[1])

    def endpoints(self, side: Side) -> tuple[socket.socket, tuple[str, int], tuple[str, int]]:
        """(sending socket, its address, destination) of `side`'s original stream: the customer
        talks from the gateway to the phone, the agent from the phone to the gateway."""
        gateway, phone = ((self.address, port) for port in self.ports)
        if side is Side.CUSTOMER:
            return self.gateway, gateway, phone
        return self.phone, phone, gateway

    def leg(self, side: Side) -> OriginalLeg | None:
        return next((leg for leg in self.legs if leg.side is side), None)

    def start(self, pacer: PacedSender, replica: RtpStreamSource, side: Side, *,
              start_at: float | None = None) -> OriginalLeg:
        """Send `side`'s original stream from now on: slot n carries the payload `replica`
        carries in slot n, at the same offset from `start_at` (pacer clock; default now). Give
        the replica the same `start_at` and add it after this, so at each deadline the original
        goes out first. A side already talking keeps its stream (one call, one original leg per
        party)."""
        running = self.leg(side)
        if running is not None:
            return running
        # Same source type, stream and codec: the same payload bytes per slot; its own
        # SSRC / sequence / timestamp drawn at random (RFC 3550 §5.1).
        source = type(replica).create(replica.stream_index, replica.codec, payload_type=replica.payload_type,
                                      ptime_ms=replica.ptime_ms)
        sock, src, dst = self.endpoints(side)
        pacer_id = pacer.add_stream(source.timed([Run(PacketKind.MEDIA, _MAX_PACKETS)]), dst, sock=sock,
                                   start_at=start_at)
        leg = OriginalLeg(side, source, src, dst, pacer_id)
        self.legs.append(leg)
        return leg

    def stop(self, pacer: PacedSender, side: Side) -> None:
        leg = self.leg(side)
        if leg is not None and not leg.stopped:
            pacer.stop_stream(leg.pacer_id)
            leg.stopped = True

    def sent(self, pacer: PacedSender) -> list[SentPacket]:
        """Every original packet really sent, rebuilt byte for byte from the pacer's log: slot =
        index in the log (one MEDIA run from slot 0), marker on the first packet only."""
        out: list[SentPacket] = []
        for leg in self.legs:
            for record in pacer.log(leg.pacer_id):
                if record.error is None:
                    packet = leg.source.packet(record.index, seq=record.seq, marker=record.index == 0)
                    out.append((record.sent_at + pacer.wall_offset, leg.src, leg.dst, packet))
        return out

    def close(self) -> None:
        self.gateway.close()
        self.phone.close()
