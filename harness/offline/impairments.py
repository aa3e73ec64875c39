"""`arec validate --impairments`: the impairments a foreign capture's RTP shows, per flow (issue 11).

A second, opt-in pass over the capture (the default validation pass is left as fast as it is):
every RTP datagram goes to `harness.protocol.rtp.impairments_seen` per (source, destination),
and each row is joined with the Wireshark numbers the main pass already computed
(`harness.protocol.rtp.stats`, checked against `tshark -z rtp,streams`): lost, sequence errors,
max delta, mean / max jitter. Duplicates, reordering, SSRCs, comfort noise and RFC 4733 events
are counted here (Wireshark's RTP analysis has no column for them; its RTP Event dissector shows
the same event code and duration).
"""

from __future__ import annotations

from pathlib import Path

from harness.capture.model import Endpoint, PayloadKind
from harness.offline.result import ValidationResult
from harness.offline.rows import table_rows
from harness.protocol.rtp.impairments_seen import ImpairmentCounter
from harness.protocol.rtp.packet import RtpPacket, RtpParseError
from harness.validators.pcap import PcapReadError, read_capture

__all__ = ["impairment_rows", "impairments_text"]

_WIRESHARK = ("lost", "lost_pct", "seq_errs", "max_delta_ms", "mean_jitter_ms", "max_jitter_ms")


def impairment_rows(capture: str | Path, result: ValidationResult) -> list[dict[str, object]]:
    """One row per RTP flow (source -> destination), in first-seen order."""
    event_pts = {s.answer_endpoint: s.telephone_event_pts for s in result.sip.negotiated
                 if s.answer_endpoint is not None}
    counters: dict[tuple[Endpoint, Endpoint], ImpairmentCounter] = {}
    try:
        for datagram in read_capture(capture):
            if datagram.kind is not PayloadKind.RTP:
                continue
            try:
                packet = RtpPacket.parse(datagram.payload)
            except RtpParseError:
                continue
            key = (datagram.src, datagram.dst)
            if key not in counters:
                counters[key] = ImpairmentCounter(frozenset(event_pts.get(datagram.dst, frozenset())))
            counters[key].add(packet.ssrc, packet.sequence, packet.timestamp, packet.payload_type, packet.payload)
    except PcapReadError:
        pass  # what was readable is reported; the main pass already said where the file breaks
    wireshark = {((r["src_addr"], r["src_port"]), (r["dst_addr"], r["dst_port"])): r for r in table_rows(result.rtp)}
    rows: list[dict[str, object]] = []
    for (src, dst), counter in counters.items():
        seen = counter.result()
        ws = wireshark.get((src, dst), {})
        rows.append({
            "stream": f"{src[0]}:{src[1]} -> {dst[0]}:{dst[1]}", "packets": seen.packets,
            **{f"wireshark_{k}": ws.get(k) for k in _WIRESHARK},
            "duplicates": seen.duplicates, "reordered": seen.reordered, "ssrcs": len(seen.ssrcs),
            "comfort_noise": seen.comfort_noise,
            "dtmf": [{"event": e.name, "duration": e.duration, "ended": e.ended} for e in seen.events],
        })
    return rows


def _n(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def impairments_text(rows: list[dict[str, object]]) -> str:
    lines = ["RTP impairments (lost, seq errors, max delta, jitter: Wireshark's numbers)"]
    if not rows:
        lines.append("  no RTP")
    for r in rows:
        dtmf = r["dtmf"]
        assert isinstance(dtmf, list)
        events = ", ".join(f"{e['event']} ({e['duration']} ts{'' if e['ended'] else ', no end'})" for e in dtmf)
        lines.append(f"  {r['stream']}: {r['packets']} packets, lost {r['wireshark_lost']} "
                     f"({_n(r['wireshark_lost_pct'])}%), seq errors {r['wireshark_seq_errs']}, "
                     f"duplicates {r['duplicates']}, reordered {r['reordered']}, max delta "
                     f"{_n(r['wireshark_max_delta_ms'])} ms, jitter mean/max {_n(r['wireshark_mean_jitter_ms'])}/"
                     f"{_n(r['wireshark_max_jitter_ms'])} ms, SSRCs {r['ssrcs']}, comfort noise {r['comfort_noise']}, "
                     f"DTMF {events or 'none'}")
    return "\n".join(lines) + "\n"
