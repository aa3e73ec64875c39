"""What an impaired stream put on the network, as the recording validators and the impaired-media
checks need it (issue 11): which time-code segments reached the recorder whole and in time,
which each impairment touched first, where only telephone events / comfort noise were sent.

Source of truth: the datagrams the pacer really handed to the kernel (`ReplicatedStream.wire`
indexed by the pacer's send log), so a packet dropped by the loss model, or still held back
(late) when the stream stopped, never counts as sent.
"""

from __future__ import annotations

import math

from harness.checks.impaired_media import ImpairedStream
from harness.emulators.media_server import ReplicatedStream
from harness.media.impairments import WireKind, WirePacket
from harness.media.timecode import SEGMENT_SAMPLES
from harness.protocol.rtp.packet import RtpPacket
from harness.validators.recording import ExpectedStream

__all__ = ["impaired_expected", "impaired_sent", "is_impaired", "sent_wire"]


def is_impaired(stream: ReplicatedStream) -> bool:
    return bool(stream.wire) and stream.impairment is not None


def sent_wire(stream: ReplicatedStream) -> list[WirePacket]:
    """The impaired stream's datagrams that were really sent, in send order."""
    return [stream.wire[r.index] for r in stream.log if r.error is None and r.index < len(stream.wire)]


def _slots_of_segment(segment: int, spp: int) -> range:
    first = segment * SEGMENT_SAMPLES // spp
    last = math.ceil((segment + 1) * SEGMENT_SAMPLES / spp)
    return range(first, last)


def _segment_of_slot(slot: int, spp: int) -> int:
    return slot * spp // SEGMENT_SAMPLES


def _slot_at(seconds: float, ptime: float) -> int:
    return math.ceil(seconds / ptime - 1e-9)


def impaired_expected(stream: ReplicatedStream) -> ExpectedStream:
    """Segments every packet of which was sent (in time) are required; segments only partly
    sent, or straddling a source change (the recorder re-anchors there on arrival time), are
    optional; the expected length runs from the first to the last media packet sent."""
    packets = sent_wire(stream)
    spp = stream.source.samples_per_packet
    media = [p for p in packets if p.kind is WireKind.MEDIA]
    if not media:
        return ExpectedStream(stream=stream.job.stream_index, dn=stream.job.dn, first_segment=0, last_segment=-1,
                              expected_samples=0)
    required = _required(stream, packets)
    first_slot = min(p.slot for p in media)
    last_slot = max(p.slot for p in media)
    last_segment = (last_slot + 1) * spp // SEGMENT_SAMPLES - 1
    first_segment = _segment_of_slot(first_slot, spp)
    optional = frozenset(s for s in range(first_segment, last_segment + 1) if s not in required)
    return ExpectedStream(stream=stream.job.stream_index, dn=stream.job.dn, first_segment=first_segment,
                          last_segment=last_segment, expected_samples=(last_slot + 1 - first_slot) * spp,
                          optional_segments=optional)


def _change_slots(stream: ReplicatedStream) -> dict[int, str]:
    """Slot of each change of the sender's counters -> the requirement that judges it (an SSRC
    change: RTP-SSRC-CHANGE-RECORDED; a sequence / timestamp jump: RTP-JUMP-RECORDED)."""
    spec = stream.impairment
    assert spec is not None
    ptime = stream.source.ptime_ms / 1000.0
    at = [(spec.seqjump[0] if spec.seqjump else None, "RTP-JUMP-RECORDED"),
          (spec.tsjump[0] if spec.tsjump else None, "RTP-JUMP-RECORDED"),
          (spec.ssrc, "RTP-SSRC-CHANGE-RECORDED")]
    return {_slot_at(t, ptime): rid for t, rid in at if t is not None}


def _required(stream: ReplicatedStream, packets: list[WirePacket]) -> set[int]:
    spp = stream.source.samples_per_packet
    delivered = {p.slot for p in packets if p.kind in (WireKind.MEDIA, WireKind.DUPLICATE) and not p.late}
    if not delivered:
        return set()
    changes = {_segment_of_slot(slot, spp) for slot in _change_slots(stream)}
    if stream.source.codec == "G722":
        # ADPCM: the decoder never saw the lost packet, so the one after it decodes wrongly for a
        # while (bench/results/timecode_codecs.json: intact segments lost next to losses).
        changes |= {_segment_of_slot(slot + 1, spp) for slot in range(max(delivered)) if slot not in delivered}
    last = _segment_of_slot(max(delivered), spp)
    return {seg for seg in range(last + 1)
            if seg not in changes and all(slot in delivered for slot in _slots_of_segment(seg, spp))}


def impaired_sent(stream: ReplicatedStream) -> ImpairedStream:
    """The evidence of harness.checks.impaired_media for one stream."""
    spec = stream.impairment
    assert spec is not None
    packets = sent_wire(stream)
    spp = stream.source.samples_per_packet
    media = [p for p in packets if p.kind is WireKind.MEDIA]
    first: dict[str, int] = {}

    def touch(rid: str, slot: int) -> None:
        seg = _segment_of_slot(slot, spp)
        first[rid] = min(first.get(rid, seg), seg)

    sent_slots = {p.slot for p in media if not p.late}
    if media:
        dtx_or_dtmf = _event_span_slots(stream)
        for slot in range(min(p.slot for p in media), max(p.slot for p in media) + 1):
            if slot not in sent_slots and slot not in dtx_or_dtmf:
                touch("REC-LOSS-SILENCE", slot)  # lost, in an outage, or late
    newest = -1
    for p in media:
        if p.slot < newest and not p.late:
            touch("REC-REORDER-RESTORED", p.slot)
        newest = max(newest, p.slot)
    for p in packets:
        if p.kind is WireKind.DUPLICATE:
            touch("REC-DUPLICATE-ONCE", p.slot)
    for slot, rid in _change_slots(stream).items():
        if media and slot <= max(p.slot for p in media):
            touch(rid, slot)
    # DTX / DTMF: where the sender sent no audio at all, and events stood for it.
    quiet = {"REC-DTMF-NOT-AUDIO": _quiet_spans(stream, packets, WireKind.DTMF),
             "REC-CN-NOT-AUDIO": _quiet_spans(stream, packets, WireKind.COMFORT_NOISE)}
    return ImpairedStream(stream.job.dn, frozenset(_required(stream, packets)), first,
                          {k: v for k, v in quiet.items() if v}, spec=spec.describe(), dtmf_sent=_dtmf_sent(packets))


def _dtmf_sent(packets: list[WirePacket]) -> tuple[tuple[str, int], ...]:
    """(digit, final duration) of each RFC 4733 event whose end packet was sent."""
    digits = "0123456789*#ABCD"
    events: dict[bytes, tuple[str, int]] = {}
    for p in packets:
        if p.kind is not WireKind.DTMF:
            continue
        parsed = RtpPacket.parse(p.data)
        payload = parsed.payload
        if payload[1] & 0x80:
            key = parsed.timestamp.to_bytes(4, "big")
            events[key] = (digits[payload[0]] if payload[0] < 16 else str(payload[0]),
                           int.from_bytes(payload[2:4], "big"))
    return tuple(events.values())


def _event_span_slots(stream: ReplicatedStream) -> set[int]:
    """Slots the sender itself left without audio (DTX, a DTMF event): not losses."""
    spec = stream.impairment
    assert spec is not None
    ptime = stream.source.ptime_ms / 1000.0
    out: set[int] = set()
    for span in (spec.dtx, (spec.dtmf[0], spec.dtmf[1]) if spec.dtmf else None):
        if span is not None:
            out.update(range(_slot_at(span[0], ptime), _slot_at(span[0] + span[1], ptime)))
    return out


def _quiet_spans(stream: ReplicatedStream, packets: list[WirePacket], kind: WireKind) -> tuple[tuple[int, int], ...]:
    """[start, end) samples of the stream timeline where the sender sent `kind` events and no audio."""
    spec = stream.impairment
    assert spec is not None
    if not any(p.kind is kind for p in packets):
        return ()
    span = spec.dtx if kind is WireKind.COMFORT_NOISE else (spec.dtmf[0], spec.dtmf[1]) if spec.dtmf else None
    if span is None:
        return ()
    ptime = stream.source.ptime_ms / 1000.0
    spp = stream.source.samples_per_packet
    return ((_slot_at(span[0], ptime) * spp, _slot_at(span[0] + span[1], ptime) * spp),)
