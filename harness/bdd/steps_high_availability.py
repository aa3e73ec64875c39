"""Step bindings for features/13_high_availability.feature: a recorder pool behind the Resource
Manager emulation, and a Media Server failover (docs/genesys-flow.md §4.5; GVP-Scale, GVP-HA).
Thin: `harness.conformance.high_availability` drives, `harness.checks.high_availability` and
the recording validator judge."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_bdd import given, parsers, then, when

from harness.bdd.stepdefs import step_fixtures
from harness.checks.high_availability import (
    crash_recording_readable,
    dead_dialogs_ended,
    failover_gap_marked,
    failover_recording_complete,
    failover_sessions_accepted,
    pool_members_in_rotation,
)
from harness.conformance.high_availability import HaScenario
from harness.conformance.recordings import expected_streams, wait_for_recordings
from harness.conformance.verdict import judge
from harness.recorders.under_test import RecorderUnderTest
from harness.report.attach import attach_json
from harness.validators.recording import recording_not_found, validate_recording


def _udp_only(ha: HaScenario) -> None:
    # The Resource Manager emulation proxies UDP only, and the dead Media Server's port is
    # watched for the recorder's BYE over UDP.
    if ha.members[0].transport != "udp":
        pytest.skip(f"not applicable: the high-availability scenarios run over UDP, the recorder under test "
                    f"uses {ha.members[0].transport}")


@given(parsers.parse("a pool of {size:d} recorders behind the Resource Manager"))
def _pool(ha: HaScenario, size: int) -> None:
    _udp_only(ha)
    if not ha.grow_pool(max(size, ha.pool_size)):
        pytest.skip("not applicable: a pool needs further instances of the recorder under test, which only a "
                    "recorder the harness starts from a command can give")
    ha.start_pool()


@given("a pool of a recorder that does not answer and the recorder under test, behind the Resource Manager")
def _standby_pool(ha: HaScenario) -> None:
    _udp_only(ha)
    ha.add_unanswering_member()
    ha.start_pool()


@given(parsers.parse("{count:d} instances of the recorder under test"))
def _instances(ha: HaScenario, count: int) -> None:
    if not ha.grow_pool(count):
        pytest.skip("not applicable: duplication needs further instances of the recorder under test, which only "
                    "a recorder the harness starts from a command can give")


@when(parsers.parse("Media Server records the call to both recorders, Dest and Dest2, for {seconds:g} seconds"))
def _duplicated(ha: HaScenario, seconds: float) -> None:
    ha.record_duplicated(seconds)


@then("each recorder holds the whole call")
def _each_holds(ha: HaScenario) -> None:
    findings = []
    for member, active, directory in ha.duplicated_recordings():
        if directory is None:
            pytest.skip(f"not applicable: the recordings of {member.name} are not visible to the harness")
        _wait_for(member, directory)
        findings += validate_recording(directory, expected_streams(active, None))
    judge(findings, ["REC-FILES-PRESENT", "REC-STREAM-CHANNEL", "REC-AUDIO-COMPLETE"], "duplicated recordings")


def _wait_for(member: RecorderUnderTest, directory: Path) -> None:
    """A recorder finalises its files after the last BYE: wait for that, never for ever."""
    wait_for_recordings(member, lambda: None, lambda: directory)


@when(parsers.parse("the pool member recording the call is killed after {before:g} seconds and the recording "
                    "starts again {outage:g} seconds later, for {after:g} seconds"))
def _crash(ha: HaScenario, before: float, outage: float, after: float) -> None:
    ha.run_crash(before, outage, after, bound_s=_CRASH_BOUND_S)


# "holds the call up to N seconds before the kill": what the Then step may require at most.
_CRASH_BOUND_S = 2.0


@then(parsers.parse("the recording the killed recorder wrote holds the call up to {seconds:g} seconds before the "
                    "kill"))
def _crash_readable(ha: HaScenario, seconds: float) -> None:
    assert ha.crash is not None
    assert seconds == _CRASH_BOUND_S, f"the scenario computes what is required with a {_CRASH_BOUND_S:g} s bound"
    if ha.crash.victim.recordings is None:
        pytest.skip("not applicable: the killed recorder's files are not visible to the harness")
    assert ha.crash.first_on_victim, "the Resource Manager did not route the call to the pool member it killed"
    streams = ha.crashed_streams()
    attach_json("crashed recording", [{"dn": c.dn, "file": c.file, "segments": c.segments, "required": c.required,
                                       "problem": c.problem} for c in streams])
    judge(crash_recording_readable(streams, calluuid=ha.crash.first.job.call.calluuid),
          ["ARE-HA-CRASH-RECORDING-READABLE"], "recording left by the killed recorder")


@when(parsers.parse("the Resource Manager has pinged the pool for {seconds:g} seconds"))
def _pinged(ha: HaScenario, seconds: float) -> None:
    ha.start_pool().run_for(seconds)


@when(parsers.parse("{count:d} calls are recorded through the Resource Manager for {seconds:g} seconds"))
def _calls(ha: HaScenario, count: int, seconds: float) -> None:
    ha.record_calls(count, seconds)


@when(parsers.parse("the Media Server fails after {before:g} seconds of the call and a new one takes over "
                    "{outage:g} seconds later, for {after:g} seconds"))
def _failover(ha: HaScenario, before: float, outage: float, after: float) -> None:
    _udp_only(ha)
    # The dead sessions are watched for a BYE up to the bound the Then step judges.
    ha.run_failover(before, outage, after, dead_dialog_wait_s=_DEAD_DIALOG_BOUND_S)


# The bound of "ended the dead sessions within N seconds": watched this long at most. A recorder
# needs an RTP timeout shorter than the scenario's bound (the reference recorder: 3 s in the suite).
_DEAD_DIALOG_BOUND_S = 6.0


@then("every pool member stayed in rotation")
def _in_rotation(ha: HaScenario) -> None:
    assert ha.pool is not None
    events = ha.pool.events
    attach_json("Resource Manager events", [{"event": type(e).__name__, **{k: str(getattr(e, k))
                                             for k in e.__slots__}} for e in events])
    names = {(m.host, m.port): m.name for m in ha.members}
    judge(pool_members_in_rotation(events, list(names), name=names), ["ARE-HA-POOL-OPTIONS"], "pool rotation")


@then("each call is recorded completely by the pool member it was routed to")
def _recorded_on_pool(ha: HaScenario) -> None:
    findings = []
    for active in ha.calls:
        place = ha.recording_of(active)
        if place is None:  # no member of the pool took the call (all out of rotation, or refused)
            findings.append(recording_not_found("no pool member established a session of the call",
                                                calluuid=active.job.call.calluuid, expected="recorded on the pool"))
            continue
        member, directory = place
        _wait_for(member, directory)
        findings += validate_recording(directory, expected_streams(active, None))
    judge(findings, ["REC-FILES-PRESENT", "REC-STREAM-CHANNEL", "REC-AUDIO-COMPLETE"], "recorded on the pool")


@then("the recorder accepted the new Media Server's sessions")
def _accepted(ha: HaScenario) -> None:
    assert ha.failover is not None
    judge(failover_sessions_accepted(ha.failover.sessions), ["ARE-HA-FAILOVER-ACCEPTED"], "failover sessions")


@then("the call's recording holds each stream's audio from both Media Servers, with the outage as a gap")
def _failover_recording(ha: HaScenario) -> None:
    assert ha.failover is not None
    audio = ha.failover_audio()
    if audio is None:
        pytest.skip("not applicable: the recorder's files are not visible to the harness")
    attach_json("failover audio", [{"dn": a.dn, "found": sorted(a.found), "before": list(a.before),
                                    "after": list(a.after)} for a in audio])
    judge(failover_recording_complete(audio, calluuid=ha.failover.first.job.call.calluuid),
          ["ARE-HA-FAILOVER-RECORDING"], "recording across the failover")


@then("the outage is a gap in each stream's recording as long as the failover, and marked")
def _failover_gap(ha: HaScenario) -> None:
    assert ha.failover is not None
    gaps = ha.failover_gaps()
    if gaps is None:
        pytest.skip("not applicable: the recorder's files are not visible to the harness")
    attach_json("failover gap", [{"dn": g.dn, "wire_s": g.wire_s, "recorded": g.recorded, "marked": g.marked}
                                 for g in gaps])
    judge(failover_gap_marked(gaps, calluuid=ha.failover.first.job.call.calluuid), ["ARE-HA-FAILOVER-GAP"],
          "gap across the failover")


@then(parsers.parse("the recorder ended the dead sessions within {seconds:g} seconds of the failure"))
def _dead_ended(ha: HaScenario, seconds: float) -> None:
    assert ha.failover is not None
    assert seconds <= _DEAD_DIALOG_BOUND_S, f"the scenario watches the dead sessions {_DEAD_DIALOG_BOUND_S:g} s only"
    judge(dead_dialogs_ended(ha.failover.dead, seconds), ["ARE-HA-DEAD-DIALOG-ENDED"], "dead sessions ended")


__all__ = step_fixtures(globals())
