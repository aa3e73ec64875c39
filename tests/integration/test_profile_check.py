"""`arec profile check` on the example profiles (a recorder double in each shape), a broken
variant that must fail with the right requirement id, and `arec validate --recorder-profile`."""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.exitcodes import SetupError
from harness.profile_check import check_call
from harness.recorders.launcher import ProfileRecorder
from harness.recorders.profile import load_profile
from harness.runner import check_profile_up_front, pytest_command
from harness.validate_cli import validate_capture

# Sockets, processes or real time: the integration tier (tests/unit/conftest.py guards the unit tier).
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "profiles"
# The example commands run "python" from PATH: this interpreter's, as with an active virtualenv.
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def arec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize("name", ["stereo-per-call.toml", "mono-per-stream.toml"])
def test_example_profile_works(name: str) -> None:
    done = arec("profile", "check", str(EXAMPLES / name))
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines[-1] == "arec: profile works"
    assert any(line.startswith("arec: recorder reachable: OPTIONS") for line in lines)
    assert any(line.startswith("arec: answered both recording INVITEs (two-session): 200, 200") for line in lines)
    assert sum("10 of 10 time-code segments sent" in line for line in lines) == 2


def test_wrong_channel_order_fails_with_stream_channel(tmp_path: Path) -> None:
    text = (EXAMPLES / "stereo-per-call.toml").read_text(encoding="utf-8")
    broken = text.replace('channels = ["customer", "agent"]', 'channels = ["agent", "customer"]')
    broken = broken.replace("{profile_dir}/../..", str(REPO))
    assert broken != text
    path = tmp_path / "broken.toml"
    path.write_text(broken, encoding="utf-8")
    done = arec("profile", "check", str(path))
    assert done.returncode == 1, done.stdout + done.stderr
    verdict = next(line for line in done.stdout.splitlines() if "profile does not work" in line)
    assert verdict.startswith("arec: profile does not work: REC-STREAM-CHANNEL: ")


def test_unusable_profile_is_exit_2_one_line(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[sip]\naddress = "sip:127.0.0.1:5060"\nrecordings = 1\n', encoding="utf-8")
    for args in (("profile", "check", str(path)), ("validate", "x.pcap", "--recorder-profile", str(path))):
        done = arec(*args)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and "[sip] recordings: unknown key" in done.stderr


def test_run_preflight_checks_the_profile_and_passes_it_to_pytest(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[sip]\naddress = "sip:127.0.0.1:0"\n[process]\ncommand = "no-such-recorder {port}"\n',
                    encoding="utf-8")
    with pytest.raises(SetupError, match="'no-such-recorder' not found"):
        check_profile_up_front(str(path))
    check_profile_up_front(str(EXAMPLES / "mono-per-stream.toml"))  # python is on PATH
    args = argparse.Namespace(workers="1", keyword=None, recorder=None, recordings=None,
                              recorder_profile=str(EXAMPLES / "mono-per-stream.toml"))
    command = pytest_command(args, tmp_path / "results", tmp_path / "junit.xml")
    assert command[command.index("--arec-profile") + 1] == str(EXAMPLES / "mono-per-stream.toml")


def test_validate_offline_with_the_profile_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Our own traffic only (a loopback capture would also hold parallel tests' calls).
    monkeypatch.setenv("AREC_CAPTURE", "synthetic")
    monkeypatch.setenv("PATH", ENV["PATH"])
    profile = load_profile(EXAMPLES / "stereo-per-call.toml")
    lines: list[str] = []
    with ProfileRecorder(profile, tmp_path / "recorder").running() as recorder:
        check_call(recorder, tmp_path, lines.append)
        recordings = recorder.recordings
    assert recordings is not None and profile.recordings is not None
    capture = tmp_path / "scenario" / "capture.pcap"
    good = validate_capture(capture, recordings, layout=profile.recordings)
    assert len(good.recordings_checked) == 1 and good.recordings_checked[0].endswith(".wav")
    assert [f for f in good.findings if f.requirement_id.startswith("REC-")] == []
    swapped = dataclasses.replace(profile.recordings, channels=("agent", "customer"))
    bad = validate_capture(capture, recordings, layout=swapped)
    assert {f.requirement_id for f in bad.findings if f.requirement_id.startswith("REC-")} == {"REC-STREAM-CHANNEL"}
    done = arec("validate", str(capture), "--recordings", str(recordings), "--recorder-profile",
                str(EXAMPLES / "stereo-per-call.toml"))
    assert "REC-" not in done.stdout and done.returncode in (0, 1), done.stdout + done.stderr
