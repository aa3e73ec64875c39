"""Where each replicated stream's RTP, as really sent, wrapped or changed SSRC: the evidence of
the long-call checks (harness.checks.long_calls), read from the Media Server emulation's sent
packets (harness.conformance.sent_rtp) with the one wrap arithmetic (harness.protocol.rtp.seqnum)."""

from __future__ import annotations

from collections.abc import Sequence

from harness.checks.impaired_media import SEGMENT_SAMPLES, ImpairedStream
from harness.checks.long_calls import Crossing, CrossingKind
from harness.conformance.sent_rtp import SentRtp
from harness.emulators.media_server import ActiveRecording
from harness.protocol.rtp.packet import fixed_header
from harness.protocol.rtp.seqnum import seq_wrapped, ts_wrapped

__all__ = ["ssrc_change_sent", "stream_crossings"]


def stream_crossings(active: ActiveRecording, sent: Sequence[SentRtp]) -> list[Crossing]:
    """Every sequence-number wrap, timestamp wrap and SSRC change in each stream's sent RTP, in
    send order (a wrap is judged within one SSRC: a new SSRC starts new counters)."""
    crossings: list[Crossing] = []
    for stream in active.streams:
        if stream.destination is None:
            continue
        packets = sorted((t, data) for t, src, dst, data in sent
                         if src[1] == stream.local_port and dst == stream.destination)
        previous: tuple[int, int, int] | None = None
        first_time = packets[0][0] if packets else 0.0
        for index, (when, data) in enumerate(packets):
            _marker, _pt, seq, ts, ssrc = fixed_header(data)
            if previous is not None:
                p_seq, p_ts, p_ssrc = previous
                kinds = []
                if ssrc != p_ssrc:
                    kinds.append(CrossingKind.SSRC_CHANGE)
                else:
                    if seq_wrapped(p_seq, seq):
                        kinds.append(CrossingKind.SEQ_WRAP)
                    if ts_wrapped(p_ts, ts):
                        kinds.append(CrossingKind.TS_WRAP)
                crossings.extend(Crossing(stream.job.dn, kind, index, when - first_time) for kind in kinds)
            previous = (seq, ts, ssrc)
    return crossings


def ssrc_change_sent(active: ActiveRecording, sent: Sequence[SentRtp],
                     crossings: Sequence[Crossing]) -> list[ImpairedStream]:
    """The evidence of RTP-SSRC-CHANGE-RECORDED (harness.checks.impaired_media, the one place of
    that verdict) for each stream whose SSRC changed in a long call: every full time-code segment
    it sent is required, but the one the change falls in (a recorder may snap the new source
    onto its timeline within a packet, as feature 14 allows); the first affected segment is the
    one of the first packet of the new SSRC. The stream's RTP is unimpaired (every packet sent)."""
    out: list[ImpairedStream] = []
    for stream in active.streams:
        own = [c for c in crossings if c.dn == stream.job.dn and c.kind is CrossingKind.SSRC_CHANGE]
        if not own or stream.destination is None:
            continue
        spp = stream.source.samples_per_packet
        count = sum(1 for _t, src, dst, _d in sent if src[1] == stream.local_port and dst == stream.destination)
        changed = {c.packet * spp // SEGMENT_SAMPLES for c in own}
        required = frozenset(seg for seg in range(count * spp // SEGMENT_SAMPLES) if seg not in changed)
        spec = ", ".join(c.describe() for c in own)
        out.append(ImpairedStream(stream.job.dn, required, {"RTP-SSRC-CHANGE-RECORDED": min(changed)}, spec=spec))
    return out
