from __future__ import annotations

from harness.load.verdict import CallOutcome, CallVerdict, PacingStats, classify, pacing_stats

ON_TIME = PacingStats(packets=100, late_p99_ms=1.0, late_max_ms=3.0, send_errors=0)


def _classify(status: tuple[int | None, ...] = (200, 200), failed: tuple[str, ...] = (),
              pacing: PacingStats = ON_TIME) -> CallOutcome:
    return classify(invite_status=status, failed_requirements=failed, pacing=pacing, jitter_window_ms=60.0)


def test_complete_only_when_both_sessions_are_up_and_no_check_failed() -> None:
    assert _classify() is CallOutcome.COMPLETE
    assert _classify(failed=("REC-AUDIO-COMPLETE",)) is CallOutcome.INCOMPLETE
    assert _classify(failed=("REC-STREAM-CHANNEL",)) is CallOutcome.INCOMPLETE
    assert _classify(failed=("REC-FILES-PRESENT", "REC-AUDIO-COMPLETE")) is CallOutcome.MISSING


def test_signalling_failures() -> None:
    assert _classify(status=(200, 503)) is CallOutcome.REFUSED
    assert _classify(status=(200, None)) is CallOutcome.SETUP_FAILED
    assert _classify(status=(486,)) is CallOutcome.SETUP_FAILED


def test_a_late_or_dropping_generator_is_not_blamed_on_the_recorder() -> None:
    late = PacingStats(packets=100, late_p99_ms=5.0, late_max_ms=80.0, send_errors=0)
    dropped = PacingStats(packets=100, late_p99_ms=1.0, late_max_ms=2.0, send_errors=1)
    assert _classify(failed=("REC-AUDIO-COMPLETE",), pacing=late) is CallOutcome.GENERATOR_LATE
    assert _classify(failed=("REC-FILES-PRESENT",), pacing=dropped) is CallOutcome.GENERATOR_LATE
    # Late but nothing lost: the recording is complete, whatever the pacing.
    assert _classify(pacing=late) is CallOutcome.COMPLETE


def test_pacing_stats() -> None:
    stats = pacing_stats([0.001] * 99 + [0.050], 2)
    assert stats == PacingStats(packets=100, late_p99_ms=50.0, late_max_ms=50.0, send_errors=2)
    assert pacing_stats([0.001] * 200 + [0.050], 0).late_p99_ms == 1.0
    assert pacing_stats([-0.002], 0).late_max_ms == 0.0  # early is not late
    assert pacing_stats([], 0) == PacingStats()


def test_verdict_json_round_trip() -> None:
    verdict = CallVerdict("ABC", 10.0, 12.5, CallOutcome.REFUSED, "w1", (3.5,), (200, 503), 30, ON_TIME,
                          ("REC-AUDIO-COMPLETE",), ("INVITE 7002: 503",))
    data = verdict.to_json()
    assert data["outcome"] == "refused"
    assert CallVerdict.from_json(data) == verdict
