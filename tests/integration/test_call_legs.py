"""The call's original RTP legs (harness.emulators.call_legs) next to the replicas.

Streams really sent on loopback by the paced sender (original legs from `CallLegs`, replicas
from stamped sources, as the Media Server emulation sends them), written as a capture from the
sender's own log and judged by the replication validator: a faithful replica pairs with its
party's original with nothing lost; a replica with one altered payload is REP-PAYLOAD-FIDELITY.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.capture.model import NegotiatedStream
from harness.conformance.sent_rtp import SentRtp, write_sent_rtp
from harness.emulators.call_legs import STAMP_BITS, CallLegs, StampedSource, stamp
from harness.emulators.sip_server import Side
from harness.media.pacer import PacedSender
from harness.media.rtp_source import PacketKind, RtpStreamSource, Run
from harness.media.timecode import decode_timecode
from harness.protocol.rtp import g711
from harness.recorders.under_test import RecorderUnderTest
from harness.validators.pcap import read_capture
from harness.validators.replication import ReplicationReport, validate_replication

# Sockets, processes or real time: the integration tier (tests/unit/conftest.py guards the unit tier).
pytestmark = pytest.mark.integration

PACKETS = 15  # per stream: 300 ms of audio


def test_stamped_payloads_are_unique_per_slot_and_the_timecode_still_decodes() -> None:
    plain = RtpStreamSource.create(1, "PCMA", rng=3)
    stamped = StampedSource.create(1, "PCMA", rng=3)
    assert len({plain.payload(n) for n in range(200)}) < 10  # the bare time code repeats
    assert len({stamped.payload(n) for n in range(200)}) == 200
    assert stamped.packet(5)[:12] == plain.packet(5)[:12]  # same header: only the payload differs
    track = decode_timecode(g711.decode("PCMA", b"".join(stamped.payload(n) for n in range(60))), streams=[1])
    assert track.counters_of(1) == (0, 1, 2, 3, 4, 5)
    assert track.partial == () and track.undecodable == ()


def test_stamp_refuses_a_payload_too_short_for_it() -> None:
    with pytest.raises(ValueError, match="cannot carry"):
        stamp(bytes(STAMP_BITS - 1), 1)


def test_capture_filter_adds_the_extra_ports_apart_from_the_recorders_host() -> None:
    recorder = RecorderUnderTest("r", "127.0.0.2", 5070, "udp", None, (20000, 20200))
    assert recorder.capture_filter == "host 127.0.0.2 and (port 5070 or (udp and portrange 20000-20200))"
    with_legs = RecorderUnderTest("r", "127.0.0.2", 5070, "udp", None, (20000, 20200), extra_ports=(41000, 41002))
    assert with_legs.capture_filter == ("(host 127.0.0.2 and (port 5070 or (udp and portrange 20000-20200))) "
                                        "or (udp and (port 41000 or port 41002))")


@pytest.fixture
def recorder_sinks() -> Iterator[dict[Side, socket.socket]]:
    """The recorder's two ports (one per replica), on loopback."""
    sinks = {side: socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for side in (Side.CUSTOMER, Side.AGENT)}
    for sock in sinks.values():
        sock.bind(("127.0.0.1", 0))
    yield sinks
    for sock in sinks.values():
        sock.close()


def _payloads_received(sock: socket.socket) -> set[bytes]:
    sock.setblocking(False)
    got: set[bytes] = set()
    while True:
        try:
            got.add(sock.recv(2048)[12:])
        except BlockingIOError:
            return got


def _send_call(tmp_path: Path, sinks: dict[Side, socket.socket], *, corrupt_slot: int | None = None
               ) -> tuple[ReplicationReport, CallLegs, dict[Side, tuple[str, int]], dict[Side, set[bytes]]]:
    """Both parties' originals and replicas really sent; the capture rebuilt from the sender's log
    (as the run's synthetic capture and sent.pcap are). `corrupt_slot`: the customer replica's
    packet of that slot goes into the capture with one payload octet changed. Also returns the
    payloads each party's endpoint received from the other (the original legs on the wire)."""
    legs = CallLegs()
    pacer = PacedSender()
    replicas: dict[Side, tuple[int, RtpStreamSource, socket.socket]] = {}
    try:
        pacer.start()
        for index, side in enumerate((Side.CUSTOMER, Side.AGENT)):
            source = StampedSource.create(index, "PCMU", rng=index + 1)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            start = time.monotonic()
            legs.start(pacer, source, side, start_at=start)
            pacer_id = pacer.add_stream(source.timed([Run(PacketKind.MEDIA, PACKETS)]),
                                        sinks[side].getsockname(), sock=sock, start_at=start)
            replicas[side] = (pacer_id, source, sock)
        deadline = time.monotonic() + 10.0
        while not all(pacer.is_done(pid) for pid, _, _ in replicas.values()) and time.monotonic() < deadline:
            time.sleep(0.02)
        for side in replicas:
            legs.stop(pacer, side)
    finally:
        pacer.stop()
    # The customer talks to the agent's phone, the agent to the customer's gateway.
    heard = {Side.CUSTOMER: _payloads_received(legs.phone), Side.AGENT: _payloads_received(legs.gateway)}
    records: list[SentRtp] = list(legs.sent(pacer))
    addresses: dict[Side, tuple[str, int]] = {}
    for side, (pacer_id, source, sock) in replicas.items():
        src = ("127.0.0.1", int(sock.getsockname()[1]))
        addresses[side] = sinks[side].getsockname()
        for record in pacer.log(pacer_id):
            packet = source.packet(record.index, seq=record.seq, marker=record.index == 0)
            if side is Side.CUSTOMER and record.index == corrupt_slot:
                packet = packet[:-1] + bytes([packet[-1] ^ 0xFF])
            records.append((record.sent_at + pacer.wall_offset + 0.0002, src, addresses[side], packet))
        sock.close()
    negotiated = tuple(NegotiatedStream(
        call_id="call@127.0.0.1", media_index=i, kind="audio", offer_endpoint=None, answer_endpoint=addresses[side],
        offer_direction="sendonly", answer_direction="recvonly", payload_types=frozenset({0}))
        for i, side in enumerate(addresses))
    pcap = write_sent_rtp(tmp_path / "capture.pcap", records)
    report = validate_replication(read_capture(pcap), negotiated)
    legs.close()
    return report, legs, addresses, heard


def test_original_legs_pair_with_their_replicas_with_nothing_lost(
        tmp_path: Path, recorder_sinks: dict[Side, socket.socket]) -> None:
    report, legs, replicas, heard = _send_call(tmp_path, recorder_sinks)
    assert report.findings == []
    by_replica = {p.replica[:2]: p for p in report.pairs}
    assert len(by_replica) == 2
    for side in (Side.CUSTOMER, Side.AGENT):
        leg = legs.leg(side)
        assert leg is not None
        (pair,) = [p for p in report.pairs if p.replica[1] == replicas[side]]
        # The party's own original (gateway -> phone for the customer, back for the agent),
        # with its own SSRC, every replica packet equal to one of it.
        assert pair.original[:2] == (leg.src, leg.dst)
        assert pair.original[2] == leg.source.ssrc != pair.replica[2]
        assert (pair.matched, pair.lost, pair.mismatched) == (PACKETS, 0, 0)
        # On the wire: the other party's endpoint got every payload of the original stream.
        assert {leg.source.payload(n) for n in range(PACKETS)} <= heard[side]
    customer, agent = legs.leg(Side.CUSTOMER), legs.leg(Side.AGENT)
    assert customer is not None and agent is not None
    assert customer.dst == agent.src and agent.dst == customer.src  # symmetric RTP between two endpoints


def test_a_replica_with_one_altered_payload_is_rep_payload_fidelity(
        tmp_path: Path, recorder_sinks: dict[Side, socket.socket]) -> None:
    report, _legs, replicas, _heard = _send_call(tmp_path, recorder_sinks, corrupt_slot=7)
    assert [f.requirement_id for f in report.findings] == ["REP-PAYLOAD-FIDELITY"]
    (pair,) = [p for p in report.pairs if p.replica[1] == replicas[Side.CUSTOMER]]
    assert (pair.matched, pair.lost, pair.mismatched) == (PACKETS - 1, 1, 1)
    assert "1 original payload(s) missing, 1 replica payload(s) differing" in report.findings[0].message
