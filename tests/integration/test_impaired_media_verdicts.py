"""Impaired media (issue 11): each faulty recorder double fails the requirement of its fault on
the feature 14 row that exercises it, and only that row's fault; the reference recorder passes
every row (harness/bdd runs them: `-k impaired_media`). Pattern: test_truthful_verdicts.py."""

from __future__ import annotations

import pytest

from tests.integration.test_truthful_verdicts import _fault_command, _labels, _run, _violation

pytestmark = pytest.mark.integration

# -k is a case-insensitive substring match that also sees the Examples' column names: each row
# is picked by a word of its case no column name contains.
_ROW = "impaired_media_case and "


@pytest.mark.parametrize(("fault", "row", "failed"), [
    ("concatenate", "random", {"REC-LOSS-SILENCE"}),
    ("arrival-order", "reordered", {"REC-REORDER-RESTORED"}),
    ("duplicates-twice", "duplicated", {"REC-DUPLICATE-ONCE"}),
    ("decode-events", "suppressed", {"REC-DTMF-NOT-AUDIO", "REC-CN-NOT-AUDIO"}),
    ("first-ssrc-only", "changed", {"RTP-SSRC-CHANGE-RECORDED"}),
    ("drop-after-seq-jump", "drifting", {"RTP-JUMP-RECORDED"}),
])
def test_a_faulty_recorder_fails_its_impairment(tmp_path, fault: str, row: str, failed: set[str]) -> None:  # type: ignore[no-untyped-def]
    code, output, results = _run(tmp_path, _ROW + row, "--arec-recorder-cmd", _fault_command(fault))
    assert code == 1 and "1 failed" in output, output[-3000:]
    assert failed <= _violation(output), output[-3000:]
    labels = _labels(results[0])
    for rid in failed:
        assert "failed" in labels[rid], labels
    # The row's other impairment ids are not exercised (nothing passed or failed without evidence).
    others = {"REC-LOSS-SILENCE", "REC-REORDER-RESTORED", "REC-DUPLICATE-ONCE", "RTP-JUMP-RECORDED",
              "RTP-SSRC-CHANGE-RECORDED", "REC-DTMF-NOT-AUDIO", "REC-CN-NOT-AUDIO"} - failed
    assert all(labels[rid] == {"not exercised"} for rid in others), labels


def test_dtmf_left_out_of_the_metadata_is_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, output, results = _run(tmp_path, _ROW + "suppressed", "--arec-recorder-cmd",
                                 _fault_command("no-dtmf-metadata"))
    assert code == 0 and "1 passed" in output, output[-3000:]  # SHOULD: warns, does not fail
    labels = _labels(results[0])
    assert labels["REC-DTMF-METADATA"] == {"warning"}, labels
    assert labels["REC-DTMF-NOT-AUDIO"] == {"passed"} and labels["REC-CN-NOT-AUDIO"] == {"passed"}, labels


def test_the_reference_recorder_passes_the_rows_the_doubles_fail(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, output, results = _run(tmp_path, _ROW + "(random or reordered or duplicated or suppressed or changed "
                                 "or drifting)")
    assert code == 0 and "6 passed" in output, output[-3000:]
    for result in results:
        labels = _labels(result)
        assert all(v <= {"passed", "not applicable", "not exercised"} for v in labels.values()), labels
    assert sum(_labels(r).get("REC-DTMF-METADATA") == {"passed"} for r in results) == 1  # the DTMF row


@pytest.mark.parametrize(("fault", "code", "verdict"), [("g729-accept", 0, "passed"), ("g729-as-pcmu", 1, "failed")])
def test_g729_is_judged_either_way(tmp_path, fault: str, code: int, verdict: str) -> None:  # type: ignore[no-untyped-def]
    """The reference recorder refuses G.729 with 488 (the BDD run); a recorder that accepts it
    with G.729 passes too; one answering PCMU to a G.729-only offer fails."""
    got, output, results = _run(tmp_path, "g729", "--arec-recorder-cmd", _fault_command(fault))
    assert got == code, output[-3000:]
    assert _labels(results[0])["SDP-CODEC-ACCEPT-OR-488"] == {verdict}, _labels(results[0])


def test_validate_reports_the_impairments_of_a_capture(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`arec validate --impairments` on the capture of the DTX + DTMF row and of the duplicates
    row: the events, comfort noise and duplicates the emulation sent, with Wireshark's lost
    (negative for duplicates, as Wireshark counts it)."""
    import json
    import subprocess
    import sys

    code, output, _ = _run(tmp_path, _ROW + "(suppressed or duplicated)")
    assert code == 0, output[-3000:]
    rows = []
    for capture in sorted((tmp_path / "bt").rglob("capture.pcap")):
        done = subprocess.run([sys.executable, "-m", "harness.cli", "validate", str(capture), "--impairments",
                               "--format", "json"], capture_output=True, text=True, check=False, timeout=120)
        rows += json.loads(done.stdout)["rtp_impairments"]
    assert len(rows) == 4, rows
    dtmf = [r for r in rows if r["dtmf"]]
    assert len(dtmf) == 2 and all(r["dtmf"] == [{"event": "5", "duration": 2400, "ended": True}] for r in dtmf)
    assert all(r["comfort_noise"] == 4 for r in dtmf)
    dup = [r for r in rows if r["duplicates"]]
    assert len(dup) == 2 and all(r["wireshark_lost"] == -r["duplicates"] for r in dup), dup
