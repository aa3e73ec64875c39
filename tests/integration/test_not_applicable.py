"""A scenario the recorder under test cannot take part in is reported *not applicable* (skipped
with that reason), never passed: here a SIP-only recorder against seed steps 2 and 9."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# The reference recorder without --tlib: a recorder given as a command gets SIP-only capabilities.
SIP_ONLY_COMMAND = (f"{shlex.quote(sys.executable)} -m reference_recorder --listen 127.0.0.1:{{port}} "
                    "--recordings {dir} --rtp-ports {rtp_low}-{rtp_high} --transport {transport}")


def test_tlib_scenarios_are_not_applicable_to_a_sip_only_recorder(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    selected = "rule_selecting_the_agent_dn or (pause_and_resume and recorder-silence)"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(ROOT / "harness/bdd"),
         "-k", selected, "--arec-recorder-cmd", SIP_ONLY_COMMAND, f"--junitxml={junit}",
         f"--basetemp={tmp_path / 'base'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    cases = ET.parse(junit).getroot().iter("testcase")
    verdicts = {case.get("name", ""): [(child.tag, child.get("message", "")) for child in case] for case in cases}
    assert len(verdicts) == 2, verdicts
    for name, children in verdicts.items():
        assert [tag for tag, _ in children] == ["skipped"], (name, children)
        assert "not applicable: the recorder is not a T-Lib client" in children[0][1], (name, children)


def test_a_tlib_capable_profile_recorder_takes_part_in_the_tlib_scenarios(tmp_path: Path) -> None:
    """The other side of the rule: a profile declaring a T-Lib client (examples/profiles/tlib-client.toml,
    the reference recorder given {tlib} and {tlib_config}) is judged on seed steps 2 and 8, not skipped."""
    junit = tmp_path / "junit.xml"
    selected = "rule_selecting_the_agent_dn or attaches_while_the_recording_runs"
    env_path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(ROOT / "harness/bdd"),
         "-k", selected, "--arec-profile", str(ROOT / "examples/profiles/tlib-client.toml"), f"--junitxml={junit}",
         f"--basetemp={tmp_path / 'base'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "PATH": env_path})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert len(cases) >= 2, [c.get("name") for c in cases]
    for case in cases:
        assert [child.tag for child in case if child.tag in ("skipped", "failure", "error")] == [], case.get("name")
