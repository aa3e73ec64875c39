"""Paced sender: loopback delivery, per-stream stop, destination guard. No timing assertions."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import numpy as np
import pytest
from scapy.layers.rtp import RTP

from harness.media.pacer import DestinationNotAllowed, PacedSender
from harness.media.rtp_source import PacketKind, RtpStreamSource, Run
from harness.media.timecode import SEGMENT_SAMPLES, decode_timecode
from harness.protocol.rtp import g711

# Sockets, processes or real time: the integration tier (tests/unit/conftest.py guards the unit tier).
pytestmark = pytest.mark.integration


def receiver() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return sock


def drain(sock: socket.socket, count: int | None, timeout: float = 10.0) -> list[bytes]:
    """Receive `count` datagrams (or until `timeout` passes quietly when count is None)."""
    out: list[bytes] = []
    sock.settimeout(0.5 if count is None else timeout)
    try:
        while count is None or len(out) < count:
            out.append(sock.recv(2048))
    except TimeoutError:
        pass
    return out


# ----------------------------------------------------------------------------- no sockets


def test_destination_guard_refuses_non_loopback() -> None:
    pacer = PacedSender()
    for host in ("127.0.0.1", "127.255.0.9"):
        pacer.check_destination(host)
    for host in ("10.0.0.1", "192.0.2.1", "0.0.0.0", "255.255.255.255", "::1", "localhost", "example.com"):
        with pytest.raises(DestinationNotAllowed):
            pacer.check_destination(host)
    with pytest.raises(DestinationNotAllowed):
        pacer.add_stream(iter([(0.0, b"x")]), ("192.0.2.1", 4000))  # refused before any socket


def test_explicitly_allowed_destination_passes() -> None:
    pacer = PacedSender(allowed_destinations=["192.0.2.7", "::1"])
    pacer.check_destination("192.0.2.7")
    pacer.check_destination("::1")
    with pytest.raises(DestinationNotAllowed):
        pacer.check_destination("192.0.2.8")


# ----------------------------------------------------------------------------- loopback


@pytest.mark.integration
def test_two_streams_arrive_complete_in_order_and_decodable() -> None:
    sources = [
        RtpStreamSource.create(0, "PCMU", initial_seq=65520, rng=1),
        RtpStreamSource.create(1, "PCMA", initial_timestamp=2**32 - 800, rng=2),
    ]
    sinks = [receiver(), receiver()]
    with PacedSender() as pacer:
        first = pacer.add_stream(sources[0].timed([Run(PacketKind.MEDIA, 50)]), sinks[0].getsockname())
        pacer.start()
        # The second stream starts mid-call, once "the SDP answer gave its port".
        second = pacer.add_stream(sources[1].timed([Run(PacketKind.MEDIA, 50)]), sinks[1].getsockname())
        got = [drain(sinks[0], 50), drain(sinks[1], 50)]
        assert pacer.join(timeout=10)
        logs = [pacer.log(first), pacer.log(second)]
        local = pacer.local_address(first)
    for sock in sinks:
        sock.close()
    for src, datagrams, log in zip(sources, got, logs, strict=True):
        assert len(datagrams) == 50
        assert datagrams == [src.packet(n) for n in range(50)]  # complete, in order, byte-exact
        parsed = [RTP(d) for d in datagrams]
        assert {p.sourcesync for p in parsed} == {src.ssrc}
        assert [p.sequence for p in parsed] == [(src.initial_seq + n) % 65536 for n in range(50)]
        assert [p.timestamp for p in parsed] == [src.timestamp_of(n) for n in range(50)]
        audio = np.concatenate([g711.decode(src.codec, bytes(p.payload)) for p in parsed])
        assert decode_timecode(audio).counters_of(src.stream_index) == tuple(
            range(50 * 160 // SEGMENT_SAMPLES)
        )
        # The evidence log: one record per datagram, seq from the header, deadlines 20 ms apart.
        assert [r.seq for r in log] == [p.sequence for p in parsed]
        assert all(r.error is None for r in log)
        assert np.allclose(np.diff([r.deadline for r in log]), 0.02)
        assert all(r.sent_at >= r.deadline for r in log)
    assert local[0] == "127.0.0.1" and local[1] > 0


@pytest.mark.integration
def test_stop_stream_stops_exactly_that_stream() -> None:
    src_a = RtpStreamSource.create(0, rng=3)
    src_b = RtpStreamSource.create(1, rng=4)
    sink_a, sink_b = receiver(), receiver()
    with PacedSender() as pacer:
        a = pacer.add_stream(src_a.timed([Run(PacketKind.MEDIA, 10_000)]), sink_a.getsockname())
        b = pacer.add_stream(src_b.timed([Run(PacketKind.MEDIA, 60)]), sink_b.getsockname())
        pacer.start()
        assert len(drain(sink_a, 10)) == 10
        pacer.stop_stream(a)
        sent_a = len(pacer.log(a))
        assert pacer.is_done(a)
        assert pacer.join(timeout=10)  # b runs to its end although a was stopped
        assert len(pacer.log(a)) == sent_a  # nothing of a left after stop_stream returned
        assert len(pacer.log(b)) == 60
    rest_a = drain(sink_a, None)
    got_b = drain(sink_b, None)
    sink_a.close()
    sink_b.close()
    assert 10 + len(rest_a) == sent_a < 10_000
    assert got_b == [src_b.packet(n) for n in range(60)]


@pytest.mark.integration
def test_caller_socket_and_late_packets_are_sent_not_dropped() -> None:
    sink = receiver()
    own = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    own.bind(("127.0.0.1", 0))

    def burst() -> Iterator[tuple[float, bytes]]:
        for i in range(5):
            yield (0.0, bytes([i]))  # all due at once: sent back to back, in order

    pacer = PacedSender()
    sid = pacer.add_stream(burst(), sink.getsockname(), sock=own, start_at=time.monotonic() - 1.0)
    pacer.start()
    assert pacer.join(timeout=10)
    pacer.stop()
    got = drain(sink, 5)
    assert got == [bytes([i]) for i in range(5)]
    assert [r.seq for r in pacer.log(sid)] == [None] * 5  # not RTP: no sequence number
    own.sendto(b"still open", sink.getsockname())  # the caller's socket is not closed by stop()
    assert drain(sink, 1) == [b"still open"]
    own.close()
    sink.close()


@pytest.mark.integration
def test_a_bad_item_fails_loudly_instead_of_hanging() -> None:
    sink = receiver()
    pacer = PacedSender()
    pacer.add_stream(iter([(0.0, "not bytes")]), sink.getsockname())  # type: ignore[list-item]
    pacer.start()
    with pytest.raises(RuntimeError, match="thread failed"):
        pacer.join(timeout=10)
    with pytest.raises(RuntimeError):
        pacer.stop()
    sink.close()
