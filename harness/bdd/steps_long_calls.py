"""Steps of a long call compressed into seconds (features/12_long_calls_and_timers.feature): RTP
counters started just before their wrap, an SSRC change mid-stream, and the recording judged
across each (harness.checks.long_calls). The soak scenario (tag @soak) uses the same steps."""

from __future__ import annotations

from pytest_bdd import given, parsers, then

from harness.bdd.helpers import recording_findings
from harness.bdd.stepdefs import step_fixtures
from harness.checks import long_calls
from harness.checks._finding import CheckResult
from harness.checks.impaired_media import impaired_recording
from harness.conformance.long_call import ssrc_change_sent, stream_crossings
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge, judge_result
from harness.media.long_call import LongCallPlan
from harness.validators.recording import stream_timecodes

# The agent's stream wraps / changes SSRC this many packets (0.5 s) after the customer's: two
# distinct instants, so a recorder losing one party at the other's wrap is seen too.
STAGGER_PACKETS = 25
_RECORDING_IDS = ["REC-AUDIO-COMPLETE", "REC-FILES-PRESENT", "REC-STREAM-CHANNEL"]


@given(parsers.parse("the Media Server starts each stream's RTP sequence number {seq:d} packets and its RTP "
                     "timestamp {ts:d} packets before they wrap"))
def _near_wrap(run: ScenarioRun, seq: int, ts: int) -> None:
    run.rtp_source_factory = LongCallPlan(seq_packets=seq, ts_packets=ts, stagger=STAGGER_PACKETS).source
    run.note(f"RTP counters start near the wrap: sequence number {seq}, timestamp {ts} packets before it "
             f"(agent stream {STAGGER_PACKETS} packets later)")


@given(parsers.parse("the Media Server changes each stream's SSRC after {packets:d} packets, keeping its ports"))
def _ssrc_change(run: ScenarioRun, packets: int) -> None:
    run.rtp_source_factory = LongCallPlan(ssrc_change_at=packets, stagger=STAGGER_PACKETS).source
    run.note(f"each stream changes SSRC (new sequence number and timestamp spaces) after {packets} packets "
             f"(agent stream {STAGGER_PACKETS} packets later)")


def _crossings(run: ScenarioRun) -> list[long_calls.Crossing]:
    assert run.active is not None, "no recording was set up"
    return stream_crossings(run.active, run.sent_rtp())


def _calluuid(run: ScenarioRun) -> str | None:
    return run.call.calluuid if run.call is not None else None


@then("each stream's recording is complete across its sequence-number and timestamp wraps")
def _across_wraps(run: ScenarioRun) -> None:
    findings = recording_findings(run)
    result = long_calls.wraps_recorded(_crossings(run), findings, calluuid=_calluuid(run))
    judge_result(result + CheckResult.of(findings), ["RTP-WRAP-RECORDED", *_RECORDING_IDS],
                 "recorded across the wraps")


@then("the capture shows each stream's SSRC change")
def _ssrc_seen(run: ScenarioRun) -> None:
    # RTP-SSRC-CHANGE is an observation (INFO): a capture without one did not exercise it.
    findings = run.evidence().rtp.findings
    seen = any(f.requirement_id == "RTP-SSRC-CHANGE" for f in findings)
    judge(findings, ["RTP-SSRC-CHANGE"], "SSRC change observed", not_exercised=[] if seen else ["RTP-SSRC-CHANGE"])


@then("each stream's recording is complete across its SSRC change")
def _across_ssrc_change(run: ScenarioRun) -> None:
    # RTP-SSRC-CHANGE-RECORDED has one judge for every scenario that changes SSRC (feature 14's
    # "changed source" row too): the time code of each stream, segment by segment after the change.
    findings = list(recording_findings(run))
    assert run.active is not None
    located = run.located_recording()
    target = located.target if located is not None else run.evidence().recording_dir
    assert target is not None
    timecodes = stream_timecodes(target, run.expected_streams())
    evidence = ssrc_change_sent(run.active, run.sent_rtp(), _crossings(run))
    judged = list(findings)
    for sent in evidence:
        recorded = timecodes.get(sent.dn)
        judged += impaired_recording("RTP-SSRC-CHANGE-RECORDED", sent, recorded.decoded if recorded else (),
                                     recorded.audible if recorded else (), calluuid=_calluuid(run))
    judge(judged, ["RTP-SSRC-CHANGE-RECORDED", *_RECORDING_IDS], "recorded across the SSRC change",
          not_exercised=[] if evidence else ["RTP-SSRC-CHANGE-RECORDED"])


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())
