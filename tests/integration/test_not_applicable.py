"""A scenario the recorder under test cannot take part in is reported *not applicable* (skipped
with that reason), never passed: here a SIP-only recorder against seed steps 2 and 9."""

from __future__ import annotations

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
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(ROOT / "tests/bdd"),
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
