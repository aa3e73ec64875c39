"""Mid-call changes (features/11_midcall_changes.feature): each faulty double fails its scenario
with the mid-call requirement id, as a finding (never a broken scenario), and the reference
recorder passes the same scenarios. Child pytest runs against tests/doubles/faulty_recorder."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

_XFER = "transfer_kept_in_path and agent"
_XFER_CODEC = "transfer_kept_in_path and PCMA"
_HOLD = "held_and_retrieved and {profile}"
_CODEC = "codec_change_by_reinvite and PCMU-PCMA"
_STICKY_ENDS = "started_from_the_started_device and ends"
_CONSULT_ON = "agent_consults and on-the"
_SUPERVISOR = "supervisor_joins_the_call"


def _run(keyword: str, tmp_path: Path, fault: str | None = None) -> tuple[int, str]:
    recorder: list[str] = []
    if fault is not None:
        recorder = ["--arec-recorder-cmd",
                    f"{shlex.quote(sys.executable)} -m tests.doubles.faulty_recorder --fault {fault} "
                    "--listen 127.0.0.1:{port} --recordings {dir} --rtp-ports {rtp_low}-{rtp_high} "
                    "--transport {transport}"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "harness/bdd", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-p", "no:xdist", "-k", keyword, *recorder, "--basetemp", str(tmp_path / "bt")],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("fault", "keyword", "requirement"),
    [
        ("stop-after-reinvite", _XFER, "ARE-07-XFER-KEEPS-RECORDING"),
        ("drop-new-ssrc", _XFER, "ARE-07-XFER-KEEPS-RECORDING"),
        ("ignore-codec-change", _XFER_CODEC, "ARE-07-XFER-KEEPS-RECORDING"),
        ("ignore-codec-change", _CODEC, "ARE-07-CODEC-CHANGE"),
        ("stop-after-reinvite", _HOLD.format(profile="reinvite"), "ARE-07-HOLD-WALL-CLOCK"),
        ("no-gap-fill", _HOLD.format(profile="rtp-stops"), "ARE-07-HOLD-WALL-CLOCK"),
        ("ignore-bye", _STICKY_ENDS, "ARE-10-XFER-STICKY-SIDE"),
        ("merge-by-record-dn", _CONSULT_ON, "ARE-07-CONSULT-SEPARATE"),
        ("drop-third-stream", _SUPERVISOR, "ARE-07-CONFERENCE-SUPERVISOR"),
    ],
)
def test_midcall_fault_fails_its_scenario_with_the_requirement_id(tmp_path: Path, fault: str, keyword: str,
                                                                  requirement: str) -> None:
    code, output = _run(keyword, tmp_path, fault)
    assert "closed the connection" not in output and "SippLegError" not in output, output[-3000:]
    assert code == 1 and "1 failed" in output, output[-3000:]
    assert re.search(rf"RequirementViolation: [A-Z0-9, -]*\b{re.escape(requirement)}\b[A-Z0-9, -]* failed:", output), \
        output[-3000:]


def test_the_reference_recorder_passes_the_scenarios_the_midcall_doubles_fail(tmp_path: Path) -> None:
    keyword = " or ".join(f"({k})" for k in (_XFER, _XFER_CODEC, _CODEC, _STICKY_ENDS, _CONSULT_ON, _SUPERVISOR,
                                               _HOLD.format(profile="reinvite"), _HOLD.format(profile="rtp-stops")))
    code, output = _run(keyword, tmp_path)
    passed = re.search(r"(\d+) passed", output)
    assert code == 0 and passed is not None and int(passed.group(1)) >= 8, output[-3000:]
    assert "failed" not in output and "skipped" not in output and "error" not in output, output[-3000:]


_MULTISITE = "multisite_transfer"
_FOLLOWS = "recorder_follows_the_call_to_the_new_party"


def _tlib_profile(tmp_path: Path, fault: str) -> Path:
    """A T-Lib-client profile running the faulty double (its T-Lib client is the double's)."""
    command = (f"{shlex.quote(sys.executable)} -m tests.doubles.faulty_recorder --fault {fault} "
               "--listen 127.0.0.1:{port} --recordings {recordings} --tlib {tlib} --tlib-config {tlib_config}")
    path = tmp_path / "tlib-double.toml"
    path.write_text(f'name = "{fault}"\n[sip]\naddress = "sip:127.0.0.1:0"\n[process]\ncommand = "{command}"\n'
                    'ready_line = "^ready "\nready_timeout_s = 15\nscope = "scenario"\n[recordings]\n'
                    'directory = "{work_dir}/recordings"\nlayout = "reference"\n[capabilities]\ntlib_client = true\n'
                    'rules_configurable = true\nattached_data_in_metadata = true\n', encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("fault", "keyword", "requirement"),
    [
        # Keys the call by ConnID: the old ConnID's release ends the interaction for it.
        ("conn-id-interaction", _MULTISITE, "ARE-17-MULTISITE-ONE-INTERACTION"),
        # Ends the call at the transferring DN's EventReleased although the target is its DN too.
        ("release-ends-call", _FOLLOWS, "ARE-08-ATTACHED-DATA-UPDATED"),
    ],
)
def test_a_tlib_client_that_loses_the_call_at_a_transfer_fails_it(tmp_path: Path, fault: str, keyword: str,
                                                                   requirement: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "harness/bdd", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-p", "no:xdist", "-k", keyword, "--arec-profile", str(_tlib_profile(tmp_path, fault)),
         "--basetemp", str(tmp_path / "bt")],
        # A profile's process runs in its work directory: `-m tests.doubles...` needs the repository.
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))})
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "1 failed" in output, output[-3000:]
    assert re.search(rf"RequirementViolation: [A-Z0-9, -]*\b{re.escape(requirement)}\b[A-Z0-9, -]* failed:",
                     output), output[-3000:]


def test_the_reference_recorder_follows_the_call_across_both_transfers(tmp_path: Path) -> None:
    code, output = _run(f"{_MULTISITE} or {_FOLLOWS}", tmp_path)
    assert code == 0 and "2 passed" in output, output[-3000:]
    assert "failed" not in output and "skipped" not in output and "error" not in output, output[-3000:]
