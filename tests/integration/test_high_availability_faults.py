"""A recorder that gets high availability wrong fails features/13_high_availability.feature with
the requirement id; the reference recorder passes it (runs the Gherkin scenario in a child pytest
against tests/doubles/faulty_recorder, like tests/integration/test_faulty_recorders.py)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
POOL = "pool_behind_the_resource_manager"
FAILOVER = "after_a_media_server_failover"
CRASH = "recorder_killed"
ALL = f"{POOL} or {FAILOVER} or {CRASH} or hot_standby or stream_duplication"


def _run(keyword: str, tmp_path: Path, fault: str | None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "harness/bdd", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
               "-p", "no:xdist", "-k", keyword, "--basetemp", str(tmp_path / "bt")]
    if fault is not None:
        # The suite's RTP timeout (3 s) as for the reference recorder (harness.recorders.launcher).
        command += ["--arec-recorder-cmd",
                    f"{shlex.quote(sys.executable)} -m tests.doubles.faulty_recorder --fault {fault} "
                    "--listen 127.0.0.1:{port} --recordings {dir} --rtp-ports {rtp_low}-{rtp_high} "
                    "--transport {transport} --rtp-timeout 3"]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize(
    ("fault", "keyword", "requirement"),
    [
        ("options-silent", POOL, "ARE-HA-POOL-OPTIONS"),
        ("reject-failover", FAILOVER, "ARE-HA-FAILOVER-ACCEPTED"),
        ("no-rtp-timeout", FAILOVER, "ARE-HA-DEAD-DIALOG-ENDED"),
        ("no-checkpoint", CRASH, "ARE-HA-CRASH-RECORDING-READABLE"),
        ("drop-failover-audio", FAILOVER, "ARE-HA-FAILOVER-RECORDING"),
        # Duplication driven by GSIP_RECORD_START dest/dest2: each recorder's copy is judged whole.
        ("drop-agent", "stream_duplication", "REC-AUDIO-COMPLETE"),
        ("close-failover-gap", FAILOVER, "ARE-HA-FAILOVER-GAP"),
    ],
)
def test_fault_fails_its_scenario_with_the_requirement_id(tmp_path: Path, fault: str, keyword: str,
                                                          requirement: str) -> None:
    result = _run(keyword, tmp_path, fault)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "1 failed" in output, output[-3000:]
    assert re.search(rf"RequirementViolation: [A-Z0-9, -]*\b{re.escape(requirement)}\b[A-Z0-9, -]* failed:", output), \
        output[-3000:]


def test_the_reference_recorder_passes_every_high_availability_scenario(tmp_path: Path) -> None:
    result = _run(ALL, tmp_path, None)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "5 passed" in output, output[-3000:]
