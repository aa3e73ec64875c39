"""harness.checks.long_calls: a stream that crossed a wrap and is not recorded
completely fails RTP-WRAP-RECORDED; a complete one passes; no crossing: not exercised."""

from __future__ import annotations

from harness.checks.long_calls import Crossing, CrossingKind, wraps_recorded
from harness.spec.findings import Evidence, Finding, Severity

SEQ = Crossing("5551234", CrossingKind.SEQ_WRAP, 40, 0.78)
TS = Crossing("5551234", CrossingKind.TS_WRAP, 90, 1.78)
SSRC = Crossing("7001", CrossingKind.SSRC_CHANGE, 85, 1.68)


def _gap(dn: str | None) -> Finding:
    return Finding("REC-AUDIO-COMPLETE", Severity.MUST, "time-code segments missing 4-14", Evidence(file="x.wav"),
                   "4 segments", "segments 0..14", stream=dn)


def test_a_wrapped_stream_recorded_incompletely_fails_rtp_wrap_recorded() -> None:
    result = wraps_recorded([SEQ, TS, SSRC], [_gap("5551234")], calluuid="C")
    (finding,) = result.findings
    assert finding.requirement_id == "RTP-WRAP-RECORDED" and finding.stream == "5551234"
    assert finding.calluuid == "C" and finding.evidence.file == "x.wav"
    assert "packet 40" in finding.message and "timestamp wrap" in finding.message
    assert not result.not_exercised


def test_a_wrapped_stream_recorded_completely_passes() -> None:
    # The other stream's gap is not this stream's (no crossing on DN 7001 of the wrap kind).
    result = wraps_recorded([SEQ, TS, SSRC], [_gap("7001")])
    assert result.findings == [] and not result.not_exercised


def test_no_wrap_in_the_sent_rtp_leaves_rtp_wrap_recorded_not_exercised() -> None:
    result = wraps_recorded([SSRC], [_gap("5551234")])
    assert result.findings == [] and result.not_exercised == {"RTP-WRAP-RECORDED"}


def test_a_missing_recording_counts_against_every_stream_that_crossed() -> None:
    missing = Finding("REC-FILES-PRESENT", Severity.MUST, "no directory", Evidence())
    assert [f.stream for f in wraps_recorded([SEQ, SSRC], [missing]).findings] == ["5551234"]


def test_an_ssrc_change_is_not_judged_here() -> None:
    # RTP-SSRC-CHANGE-RECORDED has one judge (harness.checks.impaired_media.impaired_recording);
    # an SSRC change alone leaves the wrap requirement not exercised, whatever the recording.
    assert wraps_recorded([SSRC], [_gap("7001")]).not_exercised == {"RTP-WRAP-RECORDED"}
