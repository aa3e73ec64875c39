"""Every verdict truthful (issue 16 items 1-5): faulty recorder doubles get the right verdict,
conforming recorders (the reference recorder; the profile recorder in both file layouts) stay
passed. Each test runs a few Gherkin scenarios in a child pytest and reads the Allure results
(the `arec.requirement` labels the compliance matrix is built from)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PYTHON = shlex.quote(sys.executable)


def _fault_command(fault: str) -> str:
    return (f"{PYTHON} -m tests.doubles.faulty_recorder --fault {fault} --listen 127.0.0.1:{{port}} "
            "--recordings {dir} --rtp-ports {rtp_low}-{rtp_high} --transport {transport}")


def _profile(tmp_path: Path, shape: str) -> Path:
    """A profile for tests/doubles/profile_recorder.py: stereo per call, or per stream (mono / mixed)."""
    command = (f"{PYTHON} {shlex.quote(str(REPO / 'tests/doubles/profile_recorder.py'))} --shape {shape} "
               "--listen 127.0.0.1:{port} --recordings {recordings} --work {work_dir}")
    if shape == "stereo":
        layout = ('pattern = "{calluuid}/call-{record_id}.wav"\nlayout = "stereo"\nchannels = ["customer", "agent"]\n'
                  'format = "pcm16"\n')
    else:
        layout = 'pattern = "{calluuid}_{dn}_*.wav"\nlayout = "mono-per-stream"\nformat = "mulaw"\n'
    path = tmp_path / f"{shape}.toml"
    path.write_text(f'name = "profile recorder ({shape})"\n[sip]\naddress = "sip:127.0.0.1:0"\n[process]\n'
                    f'command = {json.dumps(command)}\nready_line = "^ready "\nready_timeout_s = 15\nscope = "scenario"\n'
                    f'[recordings]\ndirectory = "{{work_dir}}/recordings"\nlocate = "pattern"\n{layout}settle_s = 2.0\n'
                    '[capabilities]\ntlib_client = false\nrules_configurable = false\nattached_data_in_metadata = false\n'
                    'session_modes = ["two-session", "single-session"]\npause_profiles = ["rtp-stops", "silence", '
                    '"reinvite"]\n', encoding="utf-8")
    return path


def _run(tmp_path: Path, keyword: str, *recorder: str) -> tuple[int, str, list[dict[str, object]]]:
    allure = tmp_path / "allure"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "harness/bdd", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-p", "no:xdist", "-k", keyword, *recorder, "--alluredir", str(allure), "--basetemp", str(tmp_path / "bt")],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    results = [json.loads(p.read_text()) for p in sorted(allure.glob("*-result.json"))]
    return done.returncode, done.stdout + done.stderr, results


def _labels(result: dict[str, object]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for label in result["labels"]:  # type: ignore[attr-defined]
        if label["name"] == "arec.requirement":
            rid, _, verdict = label["value"].partition(": ")
            out.setdefault(rid, set()).add(verdict)
    return out


def _violation(output: str) -> set[str]:
    match = re.search(r"RequirementViolation: ([A-Z0-9, -]+) failed:", output)
    return set(match.group(1).split(", ")) if match else set()


@pytest.mark.parametrize("shape", ["mono", "stereo"])
def test_feature_07_is_judged_for_a_profile_recorder_without_metadata(tmp_path: Path, shape: str) -> None:
    """Item 1. Before: the metadata step skipped the whole scenario, so "07 - Recording starts"
    read 0 passed, 4 not applicable for any profile recorder. After: the scenario passes on the
    steps that judge the files, and only REC-METADATA is not applicable (conforming recorder, both
    file layouts)."""
    code, output, results = _run(tmp_path, "recorded_completely_in_the_right_place and two-session-PCMU-3",
                                 "--arec-profile", str(_profile(tmp_path, shape)))
    assert code == 0 and "1 passed" in output, output[-3000:]
    labels = _labels(results[0])
    assert labels["REC-METADATA"] == {"not applicable"}, labels
    assert labels["REC-AUDIO-COMPLETE"] == {"passed"} and labels["REC-STREAM-CHANNEL"] == {"passed"}, labels


def test_a_recorder_writing_no_metadata_never_passes_rec_metadata(tmp_path: Path) -> None:
    """Item 3. Before: "BYE before any RTP" labelled REC-METADATA passed for a profile recorder
    that writes no metadata at all (the profile recorder double writes none). After: not applicable."""
    code, output, results = _run(tmp_path, "bye_before_any_rtp", "--arec-profile", str(_profile(tmp_path, "mono")))
    assert code == 0, output[-3000:]
    labels = _labels(results[0])
    assert labels["REC-METADATA"] == {"not applicable"} and "passed" not in labels.get("REC-FILES-PRESENT", set()), labels


def test_options_busy_retry_after_is_not_credited_for_a_recorder_never_at_capacity(tmp_path: Path) -> None:
    """Item 3. Before: SIP-OPTIONS-BUSY-RETRY-AFTER "passed" for a recorder answering OPTIONS 200
    (it was never at capacity). After: not exercised; SIP-OPTIONS-200 still passed."""
    code, output, results = _run(tmp_path, "answers_the_resource_managers_options_ping")
    assert code == 0, output[-3000:]
    labels = _labels(results[0])
    assert labels == {"SIP-OPTIONS-200": {"passed"}, "SIP-OPTIONS-BUSY-RETRY-AFTER": {"not exercised"}}, labels


def test_a_mixed_file_in_the_per_stream_layout_fails_files_present_at_the_customer_bye(tmp_path: Path) -> None:
    """Item 2. Before: the step after the customer stream's BYE judged ARE-10-BYE-ENDS-STREAM,
    REC-AUDIO-COMPLETE and REC-STREAM-CHANNEL only, so the missing customer file (one mixed file
    for both streams) was dropped and the step passed. After: REC-FILES-PRESENT is judged there."""
    code, output, results = _run(tmp_path, "bye_on_one_stream_only", "--arec-profile",
                                 str(_profile(tmp_path, "mixed")))
    assert code == 1, output[-3000:]
    assert "REC-FILES-PRESENT" in _violation(output), output[-3000:]
    steps = {s["name"]: s["status"] for s in results[0]["steps"]}  # type: ignore[index]
    assert steps["And the customer stream's recording stops when its BYE arrived"] == "failed", steps
    # The agent's step finds the agent's (mixed) file: its pass is outweighed by the failure.
    assert "failed" in _labels(results[0])["REC-FILES-PRESENT"], _labels(results[0])
    # ... and the agent's file, holding both parties, fails the channel rule in the agent's step.
    assert "failed" in _labels(results[0])["REC-STREAM-CHANNEL"], _labels(results[0])


def test_closing_both_streams_on_the_first_bye_fails_bye_ends_stream(tmp_path: Path) -> None:
    """Item 4. Before: the close-on-first-BYE double failed REC-AUDIO-COMPLETE only, while
    ARE-10-BYE-ENDS-STREAM ("the other stream continues until its own BYE") read passed. After:
    the agent step fails ARE-10-BYE-ENDS-STREAM too."""
    code, output, results = _run(tmp_path, "bye_on_one_stream_only", "--arec-recorder-cmd",
                                 _fault_command("close-on-first-BYE"))
    assert code == 1, output[-3000:]
    assert {"ARE-10-BYE-ENDS-STREAM", "REC-AUDIO-COMPLETE"} <= _violation(output), output[-3000:]
    assert "failed" in _labels(results[0])["ARE-10-BYE-ENDS-STREAM"]


def test_no_gap_fill_under_rtp_stops_fails_the_timeline_not_the_pci_rule(tmp_path: Path) -> None:
    """Item 4. Before: the no-gap-fill double was reported for REC-PAUSE-NO-AUDIO (one segment
    overlapping the pause by a packet counted as paused) and the alignment step, skipped after
    that first failure, never reported ARE-09-PAUSE-RESUME. After: the paused-segment test has a
    one-packet tolerance at each edge, every Then step judges, and the scenario fails once with
    ARE-09-PAUSE-RESUME; both steps are in the report, the failed one failed."""
    code, output, results = _run(tmp_path, "pause_and_resume and desktop-rtp-stops", "--arec-recorder-cmd",
                                 _fault_command("no-gap-fill"))
    assert code == 1 and "1 failed" in output, output[-3000:]
    failed = _violation(output)
    assert "ARE-09-PAUSE-RESUME" in failed and "REC-PAUSE-NO-AUDIO" not in failed, output[-3000:]
    labels = _labels(results[0])
    assert labels["REC-PAUSE-NO-AUDIO"] == {"passed"} and "failed" in labels["ARE-09-PAUSE-RESUME"], labels
    steps = [(s["name"], s["status"]) for s in results[0]["steps"]]  # type: ignore[index]
    assert steps[-1][1] == "failed" and steps[-2][1] == "passed", steps
    assert results[0]["status"] == "failed"


def test_a_200_rejecting_the_unknown_codec_is_a_warning_not_a_must_failure(tmp_path: Path) -> None:
    """Item 5. Before: a 200 with m=audio 0 to an offer whose only codec is unknown failed the MUST
    SIP-NO-CODEC-488. After (RFC 3264 §6 allows rejecting the stream): the scenario passes with
    the SHOULD SIP-NO-CODEC-488-PREFERRED as a warning."""
    code, output, results = _run(tmp_path, "no_codec", "--arec-recorder-cmd", _fault_command("reject-stream-200"))
    assert code == 0 and "1 passed" in output, output[-3000:]
    assert _labels(results[0]) == {"SIP-NO-CODEC-488": {"passed"}, "SIP-NO-CODEC-488-PREFERRED": {"warning"}}


def test_the_reference_recorder_passes_the_scenarios_the_doubles_fail(tmp_path: Path) -> None:
    code, output, results = _run(tmp_path, "bye_on_one_stream_only or (pause_and_resume and desktop-rtp-stops) "
                                           "or no_codec")
    assert code == 0 and "3 passed" in output, output[-3000:]
    for result in results:
        labels = _labels(result)
        assert all(v <= {"passed", "not applicable", "not exercised"} for v in labels.values()), labels
