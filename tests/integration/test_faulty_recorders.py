"""A deliberately broken recorder makes the matching scenarios fail, naming the requirement.

Runs the Gherkin suite (a few scenarios) in a child pytest against tests/doubles/faulty_recorder.
"""

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


def _run_suite(fault: str, keyword: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    command = (f"{shlex.quote(sys.executable)} -m tests.doubles.faulty_recorder --fault {fault} "
               "--listen 127.0.0.1:{port} --recordings {dir} --rtp-ports {rtp_low}-{rtp_high} --transport {transport}")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "harness/bdd", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-k", keyword, "--arec-recorder-cmd", command, "--basetemp", str(tmp_path / "bt")],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.mark.parametrize(
    ("fault", "keyword", "requirement"),
    [
        ("sendrecv", "recorder_accepts_the_recording_sessions and two-session-PCMU", "SDP-ANSWER-RECVONLY"),
        ("swap-channels", "either_order and customer", "REC-STREAM-CHANNEL"),
        ("drop-agent", "recorded_completely_in_the_right_place and two-session-PCMU-3", "REC-AUDIO-COMPLETE"),
        ("drop-agent", "pause_and_resume and desktop-rtp-stops", "ARE-09-PAUSE-RESUME"),
        ("swap-channels", "starts_recording_of_an_established_call and supervisor", "REC-STREAM-CHANNEL"),
    ],
)
def test_fault_fails_its_scenario_with_the_requirement_id(tmp_path: Path, fault: str, keyword: str,
                                                          requirement: str) -> None:
    result = _run_suite(fault, keyword, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "1 failed" in output, output[-3000:]
    # "RequirementViolation: ID1, ID2 failed:" names every MUST id that failed in the step.
    assert re.search(rf"RequirementViolation: [A-Z0-9, -]*\b{re.escape(requirement)}\b[A-Z0-9, -]* failed:", output), \
        output[-3000:]


# Step 6 edge cases (features/06_session_edge_cases.feature): a fault fails its scenario, and a
# recorder that answers slowly lets the CANCEL scenario be judged (the reference recorder answers
# at once, so the CANCEL always loses the race there and the scenario is not applicable).
@pytest.mark.parametrize(
    ("fault", "keyword", "requirement"),
    [
        ("accept-video", "audio_and_video_offer", "SDP-VIDEO-REFUSED-PORT0"),
        ("ignore-cancel", "cancel_before_the_final_answer", "SIP-CANCEL-487"),
        ("accept-malformed", "malformed_request", "SIP-MALFORMED-400"),
    ],
)
def test_edge_case_fault_fails_its_scenario(tmp_path: Path, fault: str, keyword: str, requirement: str) -> None:
    test_fault_fails_its_scenario_with_the_requirement_id(tmp_path, fault, keyword, requirement)


def test_a_recorder_that_drops_invites_at_capacity_gets_the_capacity_warning(tmp_path: Path) -> None:
    """SIP-CAPACITY-503 is a SHOULD: the scenario passes with a *warning* verdict, which is the
    `arec.requirement` label the compliance matrix reads. The capacity reaches the run the way
    a user gives it: `[capabilities] capacity` in a recorder profile (a command-line recorder
    gets no capabilities)."""
    capacity = 2
    profile = tmp_path / "drop-at-capacity.toml"
    command = (f"env PYTHONPATH={shlex.quote(str(REPO))} {shlex.quote(sys.executable)} -m tests.doubles.faulty_recorder "
               f"--fault drop-at-capacity --capacity {capacity} --listen 127.0.0.1:{{port}} --recordings {{work_dir}}/rec")
    profile.write_text(f'name = "drop at capacity"\n[sip]\naddress = "sip:127.0.0.1:0"\n[process]\n'
                       f'command = {json.dumps(command)}\nready_line = "^ready "\n'
                       f"[capabilities]\ncapacity = {capacity}\n", encoding="utf-8")
    allure_dir = tmp_path / "allure"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "harness/bdd", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-k", "capacity_is_refused_with_503", "--arec-profile", str(profile), "--alluredir", str(allure_dir),
         "--basetemp", str(tmp_path / "bt")],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "1 passed" in output, output[-3000:]
    labels = [label["value"] for path in allure_dir.glob("*-result.json")
              for label in json.loads(path.read_text())["labels"] if label["name"] == "arec.requirement"]
    assert labels == ["SIP-CAPACITY-503: warning"], (labels, output[-3000:])
    findings = [json.loads(path.read_text()) for path in allure_dir.glob("*-attachment.json")]
    assert any("dropped silently" in f.get("message", "") for item in findings if isinstance(item, list)
               for f in item), findings


def test_a_cancel_that_wins_the_race_is_judged_and_passes(tmp_path: Path) -> None:
    result = _run_suite("slow-answer", "cancel_before_the_final_answer", tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "1 passed" in output and "skipped" not in output, output[-3000:]


# Mid-call re-INVITEs (features/09_runtime_control.feature, pause profile reinvite): each fault
# fails the pause scenario with its requirement id, as a finding, never as a broken scenario
# (an emulator error that closes the T-Lib client: "the T-Server closed the connection").
@pytest.mark.parametrize(
    ("fault", "requirement"),
    [
        ("ignore-reinvite", "SIP-REINVITE-ANSWERED"),
        ("inactive-answered-recvonly", "SDP-ANSWER-INACTIVE"),
        ("new-origin-on-reinvite", "SDP-ORIGIN-KEPT"),
    ],
)
def test_reinvite_fault_fails_the_pause_scenario_not_the_emulation(tmp_path: Path, fault: str,
                                                                    requirement: str) -> None:
    result = _run_suite(fault, "pause_and_resume and desktop-reinvite", tmp_path)
    output = result.stdout + result.stderr
    assert "closed the connection" not in output and "SippLegError" not in output, output[-3000:]
    assert " error" not in output.splitlines()[-1], output[-3000:]
    assert result.returncode == 1 and "1 failed" in output, output[-3000:]
    assert re.search(rf"RequirementViolation: [A-Z0-9, -]*\b{re.escape(requirement)}\b[A-Z0-9, -]* failed:", output), \
        output[-3000:]
