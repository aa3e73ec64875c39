"""Starting a profile's recorder: readiness, failures as one line, OPTIONS probing."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from harness.exitcodes import SetupError
from harness.netutil import free_port
from harness.profile_check import check_profile
from harness.recorders.launcher import ProfileRecorder, sip_ping
from harness.recorders.profile import load_profile

# Sockets, processes or real time: the integration tier (tests/unit/conftest.py guards the unit tier).
pytestmark = pytest.mark.integration


def profile_file(tmp_path: Path, body: str, port: int = 0) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(f'[sip]\naddress = "sip:127.0.0.1:{port}"\n{body}', encoding="utf-8")
    return path


def test_options_to_a_port_nobody_listens_on_is_no_answer() -> None:
    assert sip_ping("127.0.0.1", free_port(), "udp", timeout_s=0.5) is None
    assert sip_ping("127.0.0.1", free_port(kind=socket.SOCK_STREAM), "tcp", timeout_s=0.5) is None


def test_profile_check_says_the_recorder_is_not_reachable(tmp_path: Path) -> None:
    lines: list[str] = []
    code = check_profile(load_profile(profile_file(tmp_path, "", port=free_port())), lines.append)
    assert code == 1
    assert lines[-2].startswith("profile does not work: recorder not reachable: no answer to OPTIONS")


def test_command_that_exits_is_a_setup_error_naming_the_log(tmp_path: Path) -> None:
    script = tmp_path / "rec.py"
    script.write_text("import sys\nprint('boom')\nsys.exit(3)\n")
    path = profile_file(tmp_path, f'[process]\ncommand = "{sys.executable} {script} {{port}}"\nready_line = "never"\n')
    recorder = ProfileRecorder(load_profile(path), tmp_path / "work", start_attempts=1)
    with pytest.raises(SetupError) as caught, recorder.running():
        pass
    assert "did not start (exited with code 3)" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert b"boom" in (tmp_path / "work" / "recorder.log").read_bytes()


def test_command_never_ready_times_out(tmp_path: Path) -> None:
    command = f"{sys.executable} -c 'import time; time.sleep(30)' {{port}}"
    path = profile_file(tmp_path, f'[process]\ncommand = "{command}"\nready_line = "ready"\nready_timeout_s = 0.5\n')
    recorder = ProfileRecorder(load_profile(path), tmp_path / "work", start_attempts=1)
    with pytest.raises(SetupError, match=r"not ready within 0.5 s"), recorder.running():
        pass


def test_missing_program_is_named(tmp_path: Path) -> None:
    path = profile_file(tmp_path, '[process]\ncommand = "no-such-recorder-binary --port {port}"\n')
    with pytest.raises(SetupError, match="'no-such-recorder-binary' not found"), \
            ProfileRecorder(load_profile(path), tmp_path / "work").running():
        pass
