"""Time-coded RTP for many calls at once: each slot's payload encoded once per process, and the
calls' streams on one paced sender (`LocalMedia`, the `CallMedia` a load call uses).

The time code of stream index i at slot n is the same in every call (it identifies the 20 ms
of audio, not the call), so every call's stream 0 carries the same payload bytes at slot n.
Encoding them per packet (time-code synthesis and G.711, ~0.1 ms) is what limits one Python
sender to a few thousand packets/s; cached, a packet costs only its header (SSRC, sequence
number, timestamp: `RtpStreamSource`'s own header template).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from harness.media.pacer import PacedSender
from harness.media.rtp_source import RtpStreamSource
from harness.protocol.rtp.packet import pack_fixed_header
from harness.protocol.rtp.seqnum import SEQ_MOD, TS_MOD

__all__ = ["CachedTimecodeSource", "CallMedia", "LocalMedia", "Played", "StreamPlan", "warm_up"]


@dataclass(frozen=True, slots=True)
class CachedTimecodeSource(RtpStreamSource):
    """`RtpStreamSource` whose payloads come from a per-process cache (bounded: slots x streams
    x codecs of the longest call, 160 bytes each: 4 s calls, 2 streams = 64 KB)."""

    _cache: ClassVar[dict[tuple[int, str, int, int], bytes]] = {}

    def payload(self, n: int) -> bytes:
        key = (self.stream_index, self.codec, self.ptime_ms, n)
        data = self._cache.get(key)
        if data is None:
            data = RtpStreamSource.payload(self, n)
            self._cache[key] = data
        return data

    def timed_media(self, count: int) -> Iterator[tuple[float, bytes]]:
        """`timed([Run(PacketKind.MEDIA, count)])` byte for byte (contiguous sequence numbers,
        marker on the first packet, RFC 3551 §4.1), without an `RtpPacket` and a header template
        copy per packet: building packets was 37 % of a 1,000-stream sender's time (cProfile)."""
        spp = self.samples_per_packet
        ptime_s = self.ptime_ms / 1000.0
        pt, ssrc, seq0, ts0 = self.payload_type, self.ssrc, self.initial_seq, self.initial_timestamp
        payload = self.payload
        for n in range(count):
            header = pack_fixed_header(pt, (seq0 + n) % SEQ_MOD, (ts0 + n * spp) % TS_MOD, ssrc, marker=n == 0)
            yield n * ptime_s, header + payload(n)


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """One replicated stream of a call: from the local RTP port offered in the SDP to the port
    the recorder answered, `packets` 20 ms packets of time-code stream `stream_index`."""

    port: int
    destination: tuple[str, int]
    stream_index: int
    codec: str
    packets: int

    def to_json(self) -> dict[str, object]:
        return {"port": self.port, "destination": list(self.destination), "stream_index": self.stream_index,
                "codec": self.codec, "packets": self.packets}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamPlan:
        host, port = data["destination"]
        return cls(int(data["port"]), (str(host), int(port)), int(data["stream_index"]), str(data["codec"]),
                   int(data["packets"]))


@dataclass(frozen=True, slots=True)
class Played:
    """What the sender did with one stream: each packet's lateness (seconds past its deadline),
    how many sendto() calls failed (ENOBUFS...), how many datagrams went out."""

    lateness_s: tuple[float, ...]
    errors: int
    sent: int

    def to_json(self) -> dict[str, object]:
        return {"lateness_s": [round(x, 6) for x in self.lateness_s], "errors": self.errors, "sent": self.sent}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Played:
        return cls(tuple(float(x) for x in data["lateness_s"]), int(data["errors"]), int(data["sent"]))


class CallMedia(Protocol):
    """Where a load call's RTP comes from: in this process (`LocalMedia`), or in a worker's media
    process (`harness.load.media_process`), whose own interpreter paces every call's packets."""

    def open(self, host: str) -> int:
        """Bind a UDP socket on `host` (port 0) for one stream; its port goes into the offer."""

    def play(self, plans: Sequence[StreamPlan]) -> list[Played]:
        """Send the streams at once, each from its opened port; return when all are sent."""

    def close(self, port: int) -> None:
        """Close an opened port (after the call's BYE)."""


class LocalMedia:
    """`CallMedia` on a `PacedSender` of this process (thread-safe)."""

    def __init__(self, pacer: PacedSender) -> None:
        self.pacer = pacer
        self._socks: dict[int, socket.socket] = {}
        self._lock = threading.Lock()

    def open(self, host: str) -> int:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, 0))
        port = int(sock.getsockname()[1])
        with self._lock:
            self._socks[port] = sock
        return port

    def start(self, plans: Sequence[StreamPlan]) -> list[int]:
        """Add the streams to the sender (starting now); their stream ids."""
        with self._lock:
            socks = [self._socks[plan.port] for plan in plans]
        sids: list[int] = []
        try:
            for plan, sock in zip(plans, socks, strict=True):
                source = CachedTimecodeSource.create(plan.stream_index, plan.codec)
                assert isinstance(source, CachedTimecodeSource)
                sids.append(self.pacer.add_stream(source.timed_media(plan.packets), plan.destination, sock=sock))
        except Exception:
            self.collect(sids)
            raise
        return sids

    def done(self, sids: Sequence[int]) -> bool:
        return all(self.pacer.is_done(s) for s in sids)

    def collect(self, sids: Sequence[int]) -> list[Played]:
        """Forget the streams (a load worker's sender lives for the whole run) and say how they went."""
        played = []
        for sid in sids:
            log = self.pacer.discard(sid)
            errors = sum(1 for r in log if r.error is not None)
            played.append(Played(tuple(r.lateness for r in log), errors, len(log) - errors))
        return played

    def play(self, plans: Sequence[StreamPlan]) -> list[Played]:
        sids = self.start(plans)
        while not self.done(sids):
            time.sleep(0.05)
        return self.collect(sids)

    def close(self, port: int) -> None:
        with self._lock:
            sock = self._socks.pop(port, None)
        if sock is not None:
            sock.close()


def warm_up(call_length_s: float, codec: str = "PCMU") -> None:
    """Encode a whole call's payloads once, so the first calls' packets do not wait for tone
    tables and encoding (measured: the first calls of a fresh worker went out 0.76 s late)."""
    packets = int(round(call_length_s * 50))
    for stream in (0, 1):
        source = CachedTimecodeSource.create(stream, codec)
        for n in range(packets):
            source.payload(n)
