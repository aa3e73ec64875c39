"""What a recorder must do when a Genesys component fails or a pool is in front of it
(docs/genesys-flow.md §4.5; sources GVP-Scale, GVP-HA, GQM815). Pure: the evidence is the
Resource Manager emulation's events, the recorder's answers to the new Media Server's sessions,
and when the recorder ended the dead ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.checks._finding import violation
from harness.protocol.sip.resource_manager import MemberDown, RmEvent
from harness.spec.findings import Finding

__all__ = ["CrashedStream", "DeadDialog", "FailoverGap", "FailoverSession", "FailoverStreamAudio",
           "GAP_TOLERANCE_S", "failover_gap_marked", "failover_recording_complete", "crash_recording_readable",
           "dead_dialogs_ended", "failover_sessions_accepted", "pool_members_in_rotation"]

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class FailoverSession:
    """One recording session the new Media Server opened, and the recorder's final answer."""

    dn: str
    call_id: str
    status: int | None  # None: no final answer


@dataclass(frozen=True, slots=True)
class DeadDialog:
    """A dialog of the failed Media Server, and when (seconds after the failure) the recorder
    ended it with a BYE; None: it never did while the scenario watched."""

    call_id: str
    ended_after_s: float | None


def pool_members_in_rotation(events: Sequence[RmEvent], members: Sequence[Address], *,
                             name: dict[Address, str] | None = None) -> list[Finding]:
    """GVP-Scale: RM OPTIONS-pings the pool "so that sessions only go to live instances". A
    member that is up but leaves a ping unanswered is taken out of rotation and gets no
    recording: one finding per such member (every member of the scenario is running)."""
    findings: list[Finding] = []
    for member in members:
        downs = [e for e in events if isinstance(e, MemberDown) and e.member == member
                 and e.reason == "OPTIONS unanswered"]
        if downs:
            label = (name or {}).get(member, f"{member[0]}:{member[1]}")
            findings.append(violation("ARE-HA-POOL-OPTIONS",
                                      f"pool member {label} left the Resource Manager's OPTIONS ping unanswered "
                                      f"({len(downs)} time(s)) and was taken out of rotation",
                                      observed="OPTIONS unanswered", expected="200 OK to every ping"))
    return findings


def failover_sessions_accepted(sessions: Sequence[FailoverSession], *, calluuid: str | None = None) -> list[Finding]:
    """GVP-HA: after a Media Server failure "the new Media Server opens a new recording session
    with the same parameters"; the recorder must take it (2xx), although the failed sessions with
    the same calluuid, record id and dn were never ended by BYE: not a duplicate to refuse."""
    findings = [violation("ARE-HA-FAILOVER-ACCEPTED",
                          f"the new Media Server's session for dn {s.dn} was answered "
                          f"{s.status if s.status is not None else 'with no final response'}",
                          observed=str(s.status), expected="2xx", calluuid=calluuid, call_id=s.call_id, stream=s.dn)
                for s in sessions if s.status is None or not 200 <= s.status < 300]
    if not sessions:
        findings.append(violation("ARE-HA-FAILOVER-ACCEPTED", "the new Media Server opened no session",
                                  observed="0 sessions", expected="one per stream", calluuid=calluuid))
    return findings


def dead_dialogs_ended(dead: Sequence[DeadDialog], within_s: float, *, calluuid: str | None = None) -> list[Finding]:
    """GVP-HA: the failed Media Server sends no BYE; its sessions must not stay open on the
    recorder for ever (capacity, a recording never finalised). The recorder ends each by itself
    (an RTP timeout, then BYE, RFC 3261 §15) within `within_s` of the failure."""
    return [violation("ARE-HA-DEAD-DIALOG-ENDED",
                      f"the dead session {d.call_id} was "
                      + ("never ended" if d.ended_after_s is None else f"ended only after {d.ended_after_s:.1f} s"),
                      observed="no BYE" if d.ended_after_s is None else f"BYE after {d.ended_after_s:.1f} s",
                      expected=f"BYE within {within_s:g} s of the failure", calluuid=calluuid, call_id=d.call_id)
            for d in dead if d.ended_after_s is None or d.ended_after_s > within_s]


@dataclass(frozen=True, slots=True)
class CrashedStream:
    """One stream's file as a recorder killed mid-call left it: the time-code segments decoded in
    it (None: no readable file) and the segments sent whole up to the bound before the kill."""

    dn: str
    file: str | None
    segments: tuple[int, ...] | None
    required: int  # segments 0..required-1 must be there
    problem: str | None = None  # why the file could not be read


def crash_recording_readable(streams: Sequence[CrashedStream], *, calluuid: str | None = None) -> list[Finding]:
    """GVP-HA, a recorder failure: the recording restarts on another recorder, so the first part
    is only ever what the killed recorder left on disk. It must be readable and hold the call up
    to a bound before the kill (what a recorder that writes as it goes, checkpointing the WAV
    header, keeps; docs/architecture.md §4: "a crash leaves playable files")."""
    findings: list[Finding] = []
    for s in streams:
        if s.segments is None:
            findings.append(violation("ARE-HA-CRASH-RECORDING-READABLE",
                                      f"after the crash the {s.dn} stream's file is not readable: {s.problem}",
                                      observed="unreadable", expected="a playable file", calluuid=calluuid,
                                      stream=s.dn))
            continue
        missing = sorted(set(range(s.required)) - set(s.segments))
        if missing:
            findings.append(violation("ARE-HA-CRASH-RECORDING-READABLE",
                                      f"after the crash {s.file} holds {len(set(s.segments))} time-code segment(s) of "
                                      f"the {s.dn} stream; segments {missing[0]}..{missing[-1]} sent before the kill "
                                      "are missing", observed=f"{len(set(s.segments))} segments",
                                      expected=f"segments 0..{s.required - 1}", calluuid=calluuid, stream=s.dn))
    return findings


@dataclass(frozen=True, slots=True)
class FailoverStreamAudio:
    """One stream of a call across a Media Server failover: the time-code segments each Media
    Server sent whole (the new one carries on the call's timeline, so the outage's segments are
    in neither), and the segments found in the recorder's files of that DN (all versions)."""

    dn: str
    found: frozenset[int]
    before: tuple[int, ...]  # sent whole by the failed Media Server
    after: tuple[int, ...]  # sent whole by the new one


def failover_recording_complete(streams: Sequence[FailoverStreamAudio], *,
                                calluuid: str | None = None) -> list[Finding]:
    """GVP-HA: the new Media Server's session continues the call's recording, "stitched or
    versioned": either way the recording of each stream holds the audio of both Media Servers,
    and no audio in the outage ("Lost audio = RM detection time + failover time"), which is a gap,
    not filled with audio of either part."""
    findings: list[Finding] = []
    for s in streams:
        # The outage's segments, less the one each Media Server sent in part at its edge.
        gap = set(range(s.before[-1] + 2 if s.before else 0, s.after[0] - 1 if s.after else 0))
        for label, wanted in (("before the failover", s.before), ("after the failover", s.after)):
            missing = sorted(set(wanted) - s.found)
            if missing:
                findings.append(violation("ARE-HA-FAILOVER-RECORDING",
                                          f"the {s.dn} stream's recording misses segments {missing[0]}..{missing[-1]} "
                                          f"sent {label}", observed=f"{len(set(wanted) & s.found)} of {len(wanted)}",
                                          expected="every segment of both Media Servers", calluuid=calluuid,
                                          stream=s.dn))
        invented = sorted((s.found & gap) - set(s.before) - set(s.after))
        if invented:
            findings.append(violation("ARE-HA-FAILOVER-RECORDING",
                                      f"the {s.dn} stream's recording holds segments {invented} of the outage, which "
                                      "no Media Server sent", observed="audio in the gap", expected="a gap",
                                      calluuid=calluuid, stream=s.dn))
    return findings


# How far the outage in the recording may differ from the outage on the wire. A recorder that
# places each part on its arrival (the reference: rule 1 and the transit correction of rules 2
# and 3 of reference_recorder/timeline.py) is off by the arrival delay of each part's first
# packets: measured up to ~30 ms each under `pytest -n 2` with CPU load (sender jitter
# -5..+28 ms). 0.1 s covers both ends with margin and is a fifth of the shortest outage the
# scenario plays (0.5 s), so a recorder that closes the gap always fails.
GAP_TOLERANCE_S = 0.1


@dataclass(frozen=True, slots=True)
class FailoverGap:
    """One stream across a Media Server failover: the outage on the wire (from the end of the
    failed Media Server's last packet to the new one's first, the emulation's send log), the
    outage in the recording (from the end of the first part's audio to the start of the second's,
    located by their time code on the recording's timeline; None: not located), and the gaps the
    recorder's metadata marks for the DN as (start, end) on that timeline (None: no metadata)."""

    dn: str
    wire_s: float
    recorded: tuple[float, float] | None  # (start, end) of the outage in the recording, seconds
    marked: tuple[tuple[float, float], ...] | None


def failover_gap_marked(streams: Sequence[FailoverGap], *, tolerance_s: float = GAP_TOLERANCE_S,
                        calluuid: str | None = None) -> list[Finding]:
    """GVP-HA: "Lost audio = RM detection time + failover time": the recording keeps wall-clock
    time across the failover, so the gap between the two Media Servers' audio is as long as the
    outage (within `tolerance_s`), not closed by placing the new audio right after the old, and
    it is marked (the reference layout: a recording.json `gaps` entry for the DN with start, end
    and reason, its start and end within `tolerance_s` of the gap found in the audio)."""
    rid = "ARE-HA-FAILOVER-GAP"
    findings: list[Finding] = []
    for s in streams:
        if s.recorded is None:
            findings.append(violation(rid, f"the outage in the {s.dn} stream's recording could not be located "
                                      "(no time code of one of the two Media Servers)", observed="not located",
                                      expected=f"a gap of {s.wire_s:.2f} s", calluuid=calluuid, stream=s.dn))
            continue
        start, end = s.recorded
        if abs((end - start) - s.wire_s) > tolerance_s:
            findings.append(violation(
                rid, f"the {s.dn} stream's recording has a {end - start:.3f} s gap across the failover, the outage "
                f"lasted {s.wire_s:.3f} s: the new Media Server's audio is "
                + ("moved earlier, onto the old audio's end" if end - start < s.wire_s else "moved later"),
                observed=f"gap {end - start:.3f} s", expected=f"{s.wire_s:.3f} s ± {tolerance_s:g} s",
                calluuid=calluuid, stream=s.dn))
        if s.marked is not None and not any(abs(m_start - start) <= tolerance_s and abs(m_end - end) <= tolerance_s
                                             for m_start, m_end in s.marked):
            findings.append(violation(
                rid, f"the {s.dn} stream's {end - start:.3f} s gap ({start:.3f}..{end:.3f} s) is not marked in the "
                f"recording's metadata (gaps marked: {list(s.marked) or 'none'})", observed="not marked",
                expected=f"a gaps entry {start:.3f}..{end:.3f} s ± {tolerance_s:g} s", calluuid=calluuid,
                stream=s.dn))
    return findings
