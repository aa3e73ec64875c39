"""What the recording must show after a mid-call change (docs/genesys-flow.md §3.5, GVP-Xfer,
RFC 3264 §8): a transfer kept in path, a hold / retrieve of one party, a codec change, and a
transfer that ends the recording (the "sticky" side).

Evidence: the recording validator's findings (by their fields, never their text), judged
against what the Media Server emulation sent (the time code of every stream, with only the
re-INVITE's own gap left out), and the facts of each change: did its re-INVITE get a 2xx?
A change whose re-INVITE was not answered leaves the recording with nothing to continue: that
is the recorder's failure of the change's requirement too, not a pass on the shorter audio.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.checks._finding import violation
from harness.spec.findings import Finding

__all__ = ["LEVEL_TOLERANCE_DB", "ChangeFact", "SegmentLevels", "codec_change_decoded", "consultation_recorded", "supervisor_stream_recorded", "hold_kept_timeline", "multisite_one_interaction", "sticky_side_followed",
           "transfer_kept_recording"]


def _incomplete(finding: Finding, *, finalised: bool = False) -> bool:
    """A recording validator's finding that says a stream's audio is not all there, in order, on
    wall-clock time (segments missing, misplaced, decoded as garbage; files or channels absent);
    `finalised`: an unfinished file too. (Literal ids in the comparison: these findings are the
    validator's, only read here.)"""
    return (finding.requirement_id in ("REC-AUDIO-COMPLETE", "REC-FILES-PRESENT", "REC-STREAM-CHANNEL")
            or (finalised and finding.requirement_id == "ARE-10-FILES-FINALISED"))


@dataclass(frozen=True, slots=True)
class ChangeFact:
    """One mid-call change of one stream: its DN, what changed, whether its re-INVITE got a 2xx."""

    dn: str
    what: str
    answered: bool


# How far a decoded segment's level may be from the time code's own: a recorder's gain stage is
# allowed, the ~10 dB of a G.711 law decoded as the other is not (harness/conformance/segment_levels.py).
LEVEL_TOLERANCE_DB = 6.0

# (segment counter, RMS) of each decoded segment, by DN; a DN absent: no per-stream file to read.
SegmentLevels = Mapping[str, Sequence[tuple[int, float]]]


def _levels(requirement_id: str, what: str, levels: SegmentLevels, expected_rms: float,
            calluuid: str | None) -> list[Finding]:
    out = []
    for dn, segments in levels.items():
        off = [(segment, rms) for segment, rms in segments
               if rms <= 0 or abs(20 * math.log10(rms / expected_rms)) > LEVEL_TOLERANCE_DB]
        if off:
            first, rms = off[0]
            level = f"{20 * math.log10(rms / expected_rms):+.1f} dB" if rms > 0 else "silent"
            out.append(violation(requirement_id, f"across the {what}, {len(off)} segment(s) of DN {dn} are at the "
                                 f"wrong level (first: segment {first}, {level}): decoded with another codec "
                                 "than the one negotiated for them", observed=level,
                                 expected=f"the time code's level ± {LEVEL_TOLERANCE_DB:g} dB", calluuid=calluuid,
                                 stream=dn))
    return out


def _continuity(requirement_id: str, what: str, recording_findings: Sequence[Finding],
                changes: Sequence[ChangeFact], calluuid: str | None, levels: SegmentLevels | None = None,
                expected_rms: float = 0.0) -> list[Finding]:
    if not changes:
        return [violation(requirement_id, f"no {what} took place: nothing to judge", observed="no change",
                          expected=what, calluuid=calluuid)]
    out = [violation(requirement_id, f"the re-INVITE of the {change.what} (DN {change.dn}) got no 2xx: the "
                     "recording cannot go on with the new media", observed="re-INVITE not answered 2xx",
                     expected="200 OK, then the stream recorded on", calluuid=calluuid, stream=change.dn)
           for change in changes if not change.answered]
    by_stream: dict[str | None, Finding] = {}
    for finding in recording_findings:
        if _incomplete(finding):
            by_stream.setdefault(finding.stream, finding)
    out += [violation(requirement_id, f"across the {what} the recording is not complete and on wall-clock time: "
                      f"{gap.message}", observed=gap.observed, expected=gap.expected, evidence=gap.evidence,
                      calluuid=calluuid, stream=stream)
            for stream, gap in by_stream.items()]
    if levels and expected_rms > 0:
        out += _levels(requirement_id, what, levels, expected_rms, calluuid)
    return out


def transfer_kept_recording(recording_findings: Sequence[Finding], changes: Sequence[ChangeFact], *,
                            levels: SegmentLevels | None = None, expected_rms: float = 0.0,
                            calluuid: str | None = None) -> list[Finding]:
    """GVP-Xfer (docs/genesys-flow.md §3.5): a transfer kept in path keeps the recording sessions
    and renegotiates the media by re-INVITE (new SSRC, source port, possibly codec). The
    recorder answers it and records on into the same recording: every time-code segment sent
    before and after the re-INVITE is in the call's recording, in order, at its wall-clock
    place (only the re-INVITE's own gap may be missing), each part at the time code's level
    (`levels`, when the transfer changed the codec: see `codec_change_decoded`)."""
    return _continuity("ARE-07-XFER-KEEPS-RECORDING", "transfer kept in path", recording_findings, changes,
                       calluuid, levels, expected_rms)


def hold_kept_timeline(recording_findings: Sequence[Finding], changes: Sequence[ChangeFact], *,
                       calluuid: str | None = None) -> list[Finding]:
    """A party held and retrieved (its RTP stops, or silence flows, or a re-INVITE a=inactive then
    a=sendonly) is not a recording pause: the held party's channel stays on wall-clock time
    (the hold is silence of its length) and holds every segment sent before and after it."""
    return _continuity("ARE-07-HOLD-WALL-CLOCK", "hold and retrieve", recording_findings, changes, calluuid)


def codec_change_decoded(recording_findings: Sequence[Finding], changes: Sequence[ChangeFact], *,
                         levels: SegmentLevels | None = None, expected_rms: float = 0.0,
                         calluuid: str | None = None) -> list[Finding]:
    """RFC 3264 §8: a re-INVITE may change the codec; the payload type in the RTP follows the new
    answer (RFC 3550 §5.1). Each part of the recording is decoded with the codec negotiated for
    it: µ-law decoded as A-law carries no readable time code; A-law decoded as µ-law does, but
    ~10 dB too loud, so every decoded segment's level (`levels`, RMS by DN) must be the time
    code's own (`expected_rms`) within LEVEL_TOLERANCE_DB."""
    return _continuity("ARE-07-CODEC-CHANGE", "codec change", recording_findings, changes, calluuid, levels,
                       expected_rms)


def sticky_side_followed(recording_findings: Sequence[Finding], sessions_up_after: Sequence[str], *,
                         calluuid: str | None = None) -> list[Finding]:
    """docs/genesys-flow.md §3.5 (GVP-Xfer): a recording started from the device that transfers
    away ends: SIP Server has Media Server send BYE on the recording sessions. The recorder
    follows: each session ends at its BYE (`sessions_up_after`: Call-IDs of sessions still not
    ended afterwards) and the recording is finalised with the audio up to the transfer."""
    out = [violation("ARE-10-XFER-STICKY-SIDE", f"recording session {call_id} did not end at the BYE of the "
                     "transfer", observed="no 200 to the BYE", expected="BYE answered 200", calluuid=calluuid,
                     call_id=call_id) for call_id in sessions_up_after]
    by_stream: dict[str | None, Finding] = {}
    for finding in recording_findings:
        if _incomplete(finding, finalised=True):
            by_stream.setdefault(finding.stream, finding)
    out += [violation("ARE-10-XFER-STICKY-SIDE", f"the recording ended by the transfer is not the call up to it, "
                      f"finalised: {gap.message}", observed=gap.observed, expected=gap.expected,
                      evidence=gap.evidence, calluuid=calluuid, stream=stream)
            for stream, gap in by_stream.items()]
    return out


def consultation_recorded(main_findings: Sequence[Finding], consult_findings: Sequence[Finding] | None, *,
                          record_consult: bool, consult_calluuid: str | None = None,
                          calluuid: str | None = None) -> list[Finding]:
    """docs/genesys-flow.md §3.5 (GIR-Flows "Consultations"; the `record-consult-calls` option
    UNCONFIRMED): with consultation recording on, the consultation is a call of its own and the
    recorder keeps it a recording of its own, under its own CallUUID and complete
    (`consult_findings`: the recording validator's findings on it; None: no recording of it was
    looked for); on or off, the call's own recording stays complete, none of the consultation
    mixed into it (`main_findings`)."""
    out: list[Finding] = []
    if record_consult:
        if consult_findings is None or (consult_calluuid is not None and consult_calluuid == calluuid):
            out.append(violation("ARE-07-CONSULT-SEPARATE", "the consultation has no recording of its own",
                                 observed="none", expected="a recording under the consultation's CallUUID",
                                 calluuid=consult_calluuid))
        else:
            first = next((f for f in consult_findings if _incomplete(f, finalised=True)), None)
            if first is not None:
                out.append(violation("ARE-07-CONSULT-SEPARATE", "the consultation's own recording is not complete: "
                                     f"{first.message}", observed=first.observed, expected=first.expected,
                                     evidence=first.evidence, calluuid=consult_calluuid, stream=first.stream))
    first = next((f for f in main_findings if _incomplete(f, finalised=True)), None)
    if first is not None:
        out.append(violation("ARE-07-CONSULT-SEPARATE", "around the consultation the call's own recording is not "
                             f"complete: {first.message}", observed=first.observed, expected=first.expected,
                             evidence=first.evidence, calluuid=calluuid, stream=first.stream))
    return out


def supervisor_stream_recorded(recording_findings: Sequence[Finding], supervisor_dn: str, answered: bool, *,
                               calluuid: str | None = None) -> list[Finding]:
    """GIR-Flows (docs/genesys-flow.md §3.5): a conference with a supervisor is recorded with "a
    separate supervisor stream": Media Server opens one more recording session of the call
    (same calluuid and record id, the supervisor's dn). The recorder answers it and records the
    supervisor's stream into the call's recording, from its join on, the parties' streams
    unaffected."""
    out = []
    if not answered:
        out.append(violation("ARE-07-CONFERENCE-SUPERVISOR", f"the supervisor's recording session (DN {supervisor_dn}) "
                             "was not answered 2xx", observed="no 2xx", expected="200 OK", calluuid=calluuid,
                             stream=supervisor_dn))
    by_stream: dict[str | None, Finding] = {}
    for finding in recording_findings:
        if _incomplete(finding):
            by_stream.setdefault(finding.stream, finding)
    out += [violation("ARE-07-CONFERENCE-SUPERVISOR", f"with the supervisor joined, the call's recording is not "
                      f"complete: {gap.message}", observed=gap.observed, expected=gap.expected, evidence=gap.evidence,
                      calluuid=calluuid, stream=stream)
            for stream, gap in by_stream.items()]
    return out


def multisite_one_interaction(recording_findings: Sequence[Finding], recordings: Sequence[str],
                              second_starts: Sequence[str], attached_data: Mapping[str, object] | None,
                              key: str, value: str, *, calluuid: str | None = None,
                              conn_id: str | None = None) -> list[Finding]:
    """ARE-17 (GVP-Xfer; docs/genesys-flow.md §3.5): "ConnIDs differ per T-Server instance; the
    CallUUID is the common identifier kept across sites and transfers". Across a multi-site
    transfer the recorder keeps one interaction: one recording of the CallUUID (`recordings`:
    the record ids found for it), no GSIP_RECORD_START of its own for the call's new ConnID
    (`second_starts`: the ConnIDs it asked for after the transfer), the data attached under the
    new ConnID (`key`=`value`) in that recording's metadata (`attached_data`; None: no metadata
    to read), and the recording complete across the transfer."""
    out: list[Finding] = []
    if len(recordings) != 1:
        out.append(violation("ARE-17-MULTISITE-ONE-INTERACTION", f"the call has {len(recordings)} recording(s) under "
                             f"its CallUUID across the multi-site transfer", observed=", ".join(recordings) or "none",
                             expected="one recording", calluuid=calluuid))
    out += [violation("ARE-17-MULTISITE-ONE-INTERACTION", f"the recorder asked SIP Server to record the call again "
                      f"under its new ConnID {started}: the interaction is the CallUUID's, already recorded",
                      observed=f"GSIP_RECORD_START on {started}", expected="no second start", calluuid=calluuid)
            for started in second_starts]
    if attached_data is not None and attached_data.get(key) != value:
        out.append(violation("ARE-17-MULTISITE-ONE-INTERACTION", f"the data attached under the new ConnID "
                             f"{conn_id} is not in the recording's metadata", observed=repr(attached_data.get(key)),
                             expected=f"{key}={value}", calluuid=calluuid))
    first = next((f for f in recording_findings if _incomplete(f, finalised=True)), None)
    if first is not None:
        out.append(violation("ARE-17-MULTISITE-ONE-INTERACTION", "across the multi-site transfer the recording is "
                             f"not complete: {first.message}", observed=first.observed, expected=first.expected,
                             evidence=first.evidence, calluuid=calluuid, stream=first.stream))
    return out
