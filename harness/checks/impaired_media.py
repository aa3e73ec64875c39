"""What a recording must keep of impaired RTP (issue 11; catalogue REC-LOSS-SILENCE ... REC-CN-NOT-AUDIO,
RTP-JUMP-RECORDED, RTP-SSRC-CHANGE-RECORDED).

Evidence, all plain values: what reached the network for one stream (`ImpairedStream`: the
segments whose every packet arrived in time, the first segment each kind of impairment
touched, the sample spans where only telephone events or comfort noise were sent), and what
the audio time code found in the recording of that stream (decoded segments with their first
sample, audible spans). Positions are compared *relative* to the earliest clean segment, so a
recording aligned on wall-clock time (silence before the first packet) is judged the same as
one that starts with the first packet.

Rules (RFC 3550 §5.1: the timestamp is the sampling instant, so the distance between two
segments on the recording is the distance at which they were sent):
* timeline ids: every required segment from the first impaired one on is in the recording
  exactly once, at its sent position within the catalogue's `position_samples`;
* quiet ids: no audible audio (1 ms blocks above -50 dBFS) inside a span where only RFC 4733
  events / RFC 3389 comfort noise were sent, with `start_edge_samples` of slack at its start (the
  block straddling the last audio sample before it) and `end_edge_samples` at its end (a
  recorder may place the audio after a sender's gap on its arrival time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.checks._finding import ranges, violation
from harness.spec.catalogue import requirement
from harness.spec.findings import Finding

__all__ = ["QUIET_REQUIREMENTS", "TIMELINE_REQUIREMENTS", "ImpairedStream", "dtmf_in_metadata", "impaired_recording"]

SEGMENT_SAMPLES = 1600  # 200 ms at 8 kHz: one time-code segment (harness/media/timecode.py)

# RTP-SSRC-CHANGE-RECORDED is judged here for every scenario that changes SSRC (feature 14 and
# feature 12's long call): one place for that verdict.
TIMELINE_REQUIREMENTS = ("REC-LOSS-SILENCE", "REC-REORDER-RESTORED", "REC-DUPLICATE-ONCE", "RTP-JUMP-RECORDED",
                         "RTP-SSRC-CHANGE-RECORDED")
QUIET_REQUIREMENTS = ("REC-DTMF-NOT-AUDIO", "REC-CN-NOT-AUDIO")


@dataclass(frozen=True, slots=True)
class ImpairedStream:
    """What reached the network for one stream, in the stream's own sample timeline (slot 0 = 0)."""

    dn: str
    required: frozenset[int]  # segments whose every packet reached the network in time
    first_affected: Mapping[str, int] = field(default_factory=dict)  # timeline id -> first segment
    quiet: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)  # quiet id -> spans
    spec: str = ""  # the impairments, seed included (the run is reproducible from it)
    dtmf_sent: tuple[tuple[str, int], ...] = ()  # RFC 4733 events sent: (digit, final duration)

    def exercised(self, requirement_id: str) -> bool:
        if requirement_id in TIMELINE_REQUIREMENTS:
            first = self.first_affected.get(requirement_id)
            return first is not None and any(s >= first for s in self.required)
        return bool(self.quiet.get(requirement_id))


def impaired_recording(requirement_id: str, sent: ImpairedStream, decoded: Sequence[tuple[int, int]],
                       audible: Sequence[tuple[int, int]], *, calluuid: str | None = None) -> list[Finding]:
    """Judge one requirement for one stream. `decoded`: (segment, first sample) of each segment of
    this stream's time code found in its recording; `audible`: [start, end) sample spans of the
    recording above the silence threshold."""
    if not sent.exercised(requirement_id):
        return []
    tolerance = requirement(requirement_id).tolerance
    clean = sorted((seg, start) for seg, start in decoded if seg in sent.required)
    if not clean:
        return [violation(requirement_id, f"DN {sent.dn}: none of the {len(sent.required)} segments that reached "
                          f"the recorder is in the recording ({sent.spec})", observed="no segment",
                          expected=f"{len(sent.required)} segments", calluuid=calluuid, stream=sent.dn)]
    first = sent.first_affected.get(requirement_id)
    before = [c for c in clean if first is None or c[0] < first]
    ref_seg, ref_start = (before or clean)[0]
    offset = ref_start - ref_seg * SEGMENT_SAMPLES
    if requirement_id in QUIET_REQUIREMENTS:
        edges = (int(tolerance.get("start_edge_samples", 16)), int(tolerance.get("end_edge_samples", 160)))
        return _quiet(requirement_id, sent, audible, offset, edges, calluuid)
    assert first is not None
    limit = int(tolerance.get("position_samples", 160))
    missing, doubled, moved = [], [], []
    for seg in sorted(s for s in sent.required if s >= first):
        starts = [start for s, start in decoded if s == seg]
        if not starts:
            missing.append(seg)
        elif len(starts) > 1:
            doubled.append(seg)
        elif abs(starts[0] - seg * SEGMENT_SAMPLES - offset) > limit:
            moved.append((seg, starts[0] - seg * SEGMENT_SAMPLES - offset))
    problems = []
    if missing:
        problems.append(f"missing segments {ranges(missing)}")
    if doubled:
        problems.append(f"segments recorded twice {ranges(doubled)}")
    if moved:
        seg, by = moved[0]
        problems.append(f"{len(moved)} segment(s) off their sent position (segment {seg} by {by:+d} samples, "
                        f"{by / 8:+.1f} ms)")
    if not problems:
        return []
    return [violation(requirement_id, f"DN {sent.dn}: after the first impaired segment ({first}): "
                      + "; ".join(problems) + f" ({sent.spec})",
                      observed="; ".join(problems),
                      expected=f"every segment that reached the recorder once, within ±{limit} samples of its "
                               f"sent position", calluuid=calluuid, stream=sent.dn)]


def dtmf_in_metadata(sent: ImpairedStream, noted: Sequence[Mapping[str, object]] | None, *,
                     calluuid: str | None = None) -> list[Finding]:
    """REC-DTMF-METADATA (SHOULD): every telephone event sent is noted in the recording's metadata
    with its digit (RFC 4733 §3.2 event code) and, within one packet, its final duration.
    `noted`: the events the metadata lists for this stream (None: it has no such list)."""
    if not sent.dtmf_sent:
        return []
    listed = [(str(e.get("event")), e.get("duration")) for e in (noted or [])]
    missing = []
    for digit, duration in sent.dtmf_sent:
        if not any(d == digit and isinstance(n, int) and abs(n - duration) <= 160 for d, n in listed):
            missing.append(f"{digit} ({duration} ts)")
    if not missing:
        return []
    return [violation("REC-DTMF-METADATA", f"DN {sent.dn}: telephone event(s) {', '.join(missing)} sent but not noted "
                      f"in the recording's metadata ({sent.spec})",
                      observed=", ".join(f"{d} ({n} ts)" for d, n in listed) or "no telephone events",
                      expected=", ".join(f"{d} ({n} ts)" for d, n in sent.dtmf_sent), calluuid=calluuid, stream=sent.dn)]


def _quiet(requirement_id: str, sent: ImpairedStream, audible: Sequence[tuple[int, int]], offset: int,
           edges: tuple[int, int], calluuid: str | None) -> list[Finding]:
    what = "telephone events" if requirement_id == "REC-DTMF-NOT-AUDIO" else "comfort noise"
    loud = []
    for start, end in sent.quiet.get(requirement_id, ()):
        lo, hi = start + offset + edges[0], end + offset - edges[1]
        overlap = sum(max(0, min(hi, b) - max(lo, a)) for a, b in audible)
        if overlap > 0:
            loud.append((start, end, overlap))
    if not loud:
        return []
    start, end, overlap = loud[0]
    return [violation(requirement_id, f"DN {sent.dn}: {overlap} audible sample(s) where only {what} was sent "
                      f"(stream samples {start}..{end}): decoded as audio ({sent.spec})",
                      observed=f"{overlap} audible samples", expected="silence", calluuid=calluuid, stream=sent.dn)]

