"""The mid-call checks (harness/checks/midcall.py): a bad input gives the right finding, a good
input none (transfer kept in path, hold, codec change, sticky side)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.checks import midcall
from harness.checks.midcall import ChangeFact
from harness.spec.findings import Finding, Severity

_RMS = 5792.6
_ANSWERED = [ChangeFact("7001", "transfer", answered=True)]
_GAP = Finding("REC-AUDIO-COMPLETE", Severity.MUST, "segments missing 6-9", stream="7001")
_OTHER = Finding("REC-PAUSE-NO-AUDIO", Severity.MUST, "REC-AUDIO-COMPLETE in the text only", stream="7001")

CHECKS: list[tuple[Callable[..., list[Finding]], str]] = [
    (midcall.transfer_kept_recording, "ARE-07-XFER-KEEPS-RECORDING"),
    (midcall.hold_kept_timeline, "ARE-07-HOLD-WALL-CLOCK"),
    (midcall.codec_change_decoded, "ARE-07-CODEC-CHANGE"),
]


def _ids(findings: list[Finding]) -> list[str]:
    return [f.requirement_id for f in findings]


@pytest.mark.parametrize(("check", "requirement_id"), CHECKS)
def test_a_complete_recording_after_an_answered_change_passes(check: Callable[..., list[Finding]],
                                                              requirement_id: str) -> None:
    assert check([_OTHER], _ANSWERED, calluuid="U1") == []


@pytest.mark.parametrize(("check", "requirement_id"), CHECKS)
def test_missing_or_misplaced_audio_after_the_change_fails_once_per_stream(check: Callable[..., list[Finding]],
                                                                           requirement_id: str) -> None:
    files = Finding("REC-FILES-PRESENT", Severity.MUST, "no file for DN 5551234", stream="5551234")
    found = check([_GAP, _GAP, files], _ANSWERED, calluuid="U1")
    assert _ids(found) == [requirement_id, requirement_id]
    assert {f.stream for f in found} == {"7001", "5551234"} and all(f.calluuid == "U1" for f in found)


@pytest.mark.parametrize(("check", "requirement_id"), CHECKS)
def test_an_unanswered_reinvite_fails_the_change_even_with_a_complete_recording(
        check: Callable[..., list[Finding]], requirement_id: str) -> None:
    found = check([], [ChangeFact("7001", "transfer", answered=False)])
    assert _ids(found) == [requirement_id] and found[0].stream == "7001"


@pytest.mark.parametrize(("check", "requirement_id"), CHECKS)
def test_no_change_made_is_no_pass(check: Callable[..., list[Finding]], requirement_id: str) -> None:
    assert _ids(check([], [])) == [requirement_id]


def test_a_codec_change_decoded_with_the_old_law_fails_on_the_level() -> None:
    # A-law decoded as µ-law: the time code still decodes, ~10 dB too loud.
    levels = {"7001": [(4, _RMS), (5, _RMS * 1.02), (6, _RMS * 3.4), (7, _RMS * 3.4)], "5551234": [(4, _RMS)]}
    found = midcall.codec_change_decoded([], _ANSWERED, levels=levels, expected_rms=_RMS)
    assert _ids(found) == ["ARE-07-CODEC-CHANGE"] and found[0].stream == "7001"
    assert "segment 6" in found[0].message and found[0].observed == "+10.6 dB"
    assert midcall.codec_change_decoded([], _ANSWERED, levels={"7001": [(4, _RMS / 1.5)]}, expected_rms=_RMS) == []
    assert _ids(midcall.transfer_kept_recording([], _ANSWERED, levels={"7001": [(1, 0.0)]},
                                                expected_rms=_RMS)) == ["ARE-07-XFER-KEEPS-RECORDING"]


def test_sticky_side_the_recording_ended_by_the_transfer() -> None:
    assert midcall.sticky_side_followed([_OTHER], []) == []
    up = midcall.sticky_side_followed([], ["arec-1@127.0.0.1"], calluuid="U1")
    assert _ids(up) == ["ARE-10-XFER-STICKY-SIDE"] and up[0].call_id == "arec-1@127.0.0.1"
    unfinished = Finding("ARE-10-FILES-FINALISED", Severity.MUST, "recording.json is not marked complete")
    assert _ids(midcall.sticky_side_followed([unfinished], [])) == ["ARE-10-XFER-STICKY-SIDE"]


def test_consultation_recorded_separately_or_not_at_all() -> None:
    assert midcall.consultation_recorded([_OTHER], [], record_consult=True, consult_calluuid="C2", calluuid="U1") == []
    assert midcall.consultation_recorded([], None, record_consult=False, calluuid="U1") == []
    missing = midcall.consultation_recorded([], None, record_consult=True, calluuid="U1")
    assert _ids(missing) == ["ARE-07-CONSULT-SEPARATE"]
    same = midcall.consultation_recorded([], [], record_consult=True, consult_calluuid="U1", calluuid="U1")
    assert _ids(same) == ["ARE-07-CONSULT-SEPARATE"]
    no_dir = Finding("REC-FILES-PRESENT", Severity.MUST, "recording directory does not exist")
    broken = midcall.consultation_recorded([], [no_dir], record_consult=True, consult_calluuid="C2", calluuid="U1")
    assert _ids(broken) == ["ARE-07-CONSULT-SEPARATE"] and broken[0].calluuid == "C2"
    mixed = midcall.consultation_recorded([_GAP], None, record_consult=False, calluuid="U1")
    assert _ids(mixed) == ["ARE-07-CONSULT-SEPARATE"] and mixed[0].calluuid == "U1"


def test_supervisor_stream_recorded() -> None:
    assert midcall.supervisor_stream_recorded([_OTHER], "7100", answered=True) == []
    refused = midcall.supervisor_stream_recorded([], "7100", answered=False, calluuid="U1")
    assert _ids(refused) == ["ARE-07-CONFERENCE-SUPERVISOR"] and refused[0].stream == "7100"
    silent = Finding("REC-AUDIO-COMPLETE", Severity.MUST, "holds silence only", stream="7100")
    assert _ids(midcall.supervisor_stream_recorded([silent], "7100", answered=True)) == ["ARE-07-CONFERENCE-SUPERVISOR"]


def test_multisite_one_interaction_passes_one_complete_recording_with_the_new_data() -> None:
    assert midcall.multisite_one_interaction([_OTHER], ["r1"], [], {"Site": "B"}, "Site", "B", calluuid="U1") == []


@pytest.mark.parametrize(("recordings", "starts", "data", "findings"), [
    (["r1", "r2"], [], {"Site": "B"}, []),  # split into two recordings
    ([], [], {"Site": "B"}, []),  # nothing recorded
    (["r1"], ["c2"], {"Site": "B"}, []),  # a second start under the new ConnID
    (["r1"], [], {"Site": "A"}, []),  # the data attached under the new ConnID lost
    (["r1"], [], {"Site": "B"}, [_GAP]),  # audio lost across the transfer
])
def test_multisite_one_interaction_fails_a_split_or_lossy_interaction(recordings: list[str], starts: list[str],
                                                                      data: dict[str, object],
                                                                      findings: list[Finding]) -> None:
    found = midcall.multisite_one_interaction(findings, recordings, starts, data, "Site", "B", calluuid="U1",
                                              conn_id="c2")
    assert _ids(found) == ["ARE-17-MULTISITE-ONE-INTERACTION"] and found[0].calluuid == "U1"
