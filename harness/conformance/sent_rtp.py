"""What the Media Server emulation really sent, rebuilt packet for packet from the pacer's logs:
the sender side of `harness.validators.delivery` and the RTP of the unprivileged capture."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.capture.synthetic import SyntheticCapture
from harness.emulators.media_server import MediaServerEmulation, ReplicatedStream
from harness.emulators.runtime_control import RuntimeControl
from harness.media.rtp_source import RtpStreamSource

__all__ = ["SentRtp", "sent_rtp", "stream_pieces", "write_sent_rtp"]

# One RTP packet as sent: (wall-clock send time, source, destination, RTP bytes).
SentRtp = tuple[float, tuple[str, int], tuple[str, int], bytes]


def sent_rtp(media_server: MediaServerEmulation | None, control: RuntimeControl | None) -> list[SentRtp]:
    """Every RTP packet the Media Server emulation really sent: (wall time, src, dst, bytes)."""
    if media_server is None:
        return []
    offset = media_server.pacer.wall_offset
    replicas = [(sent_at + offset, (media_server.local_address, port), stream.destination, packet)
                for stream in (s for active in media_server.recordings for s in active.streams)
                if stream.destination is not None
                for sent_at, port, packet in _stream_sent(media_server, control, stream)]
    # The call's original legs too (harness-owned endpoints, not sent to the recorder).
    originals = media_server.call_legs.sent(media_server.pacer) if media_server.call_legs is not None else []
    return replicas + originals


def _stream_sent(media_server: MediaServerEmulation, control: RuntimeControl | None,
                 stream: ReplicatedStream) -> list[tuple[float, int, bytes]]:
    """Every RTP packet a stream really sent, rebuilt byte for byte, with its send time and
    source port (a mid-call change, harness.emulators.midcall, gives later pieces another
    RTP source and socket: each piece is rebuilt with its own).

    A stream is a sequence of pacer streams (*pieces*): one while nothing was paused, more
    after run-time control (harness/emulators/runtime_control.py). Each pacer log counts its
    own packets from 0, so a packet is found from its piece: time-code slot = the piece's
    first slot + the index in its log, sequence number = the one the pacer logged as sent;
    silence pieces carry codec silence; the first packet of a time-code piece has the
    marker (a new talkspurt after a gap, RFC 3551 §4.1), as the control sends them.
    """
    out: list[tuple[float, int, bytes]] = []
    if stream.wire and stream.pacer_id is not None and not stream.previous_logs:
        # Impaired media: the datagrams were built by harness.media.impairments and kept in
        # order; pacer log record k is wire[k] (lost packets were never handed over).
        return [(sent.sent_at, stream.local_port, stream.wire[sent.index].data)
                for sent in media_server.pacer.log(stream.pacer_id) if sent.error is None]
    origins = _piece_origins(control, stream)
    for i, (pacer_id, first_slot, silence) in enumerate(stream_pieces(control, stream)):
        source, port = origins[i] if i < len(origins) else (stream.source, stream.local_port)
        for k, sent in enumerate(media_server.pacer.log(pacer_id)):
            if sent.error is not None:
                continue
            slot = first_slot + sent.index
            if silence:
                packet = source.silence_packet(slot, seq=sent.seq, marker=False)
            else:
                packet = source.packet(slot, seq=sent.seq, marker=k == 0)
            out.append((sent.sent_at, port, packet))
    return out


def _piece_origins(control: RuntimeControl | None, stream: ReplicatedStream) -> list[tuple[RtpStreamSource, int]]:
    """(RTP source, local port) of each piece of a controlled stream, in order."""
    if control is None or id(stream) not in {id(s) for active in control.history for s in active.streams}:
        return []
    return [(p.source or stream.source, stream.local_port if p.local_port is None else p.local_port)
            for p in control.pieces(stream)]


def stream_pieces(control: RuntimeControl | None, stream: ReplicatedStream) -> list[tuple[int, int, bool]]:
    """(pacer stream id, first slot, silence) of each piece of a stream, in order."""
    if control is not None:
        with_pieces = {id(s) for active in control.history for s in active.streams}
        if id(stream) in with_pieces:
            pieces = control.pieces(stream)
            if pieces:
                return [(p.pacer_id, p.first_slot, p.silence) for p in pieces]
    # Never controlled: the Media Server's own single pacer stream from slot 0.
    pacer_id = stream.pacer_id
    if pacer_id is None:
        return []
    return [(pacer_id, 0, False)]


def write_sent_rtp(path: Path, packets: Iterable[SentRtp]) -> Path:
    """A pcap of sent RTP packets (any order; written in time order), as the sender saw them."""
    with SyntheticCapture(path, "the Media Server emulation's sender log") as capture:
        for when, src, dst, packet in sorted(packets, key=lambda r: r[0]):
            capture.record(src, dst, packet, when, "udp")
    return path
