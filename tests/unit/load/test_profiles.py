from __future__ import annotations

from pathlib import Path

import pytest

from harness.exitcodes import SetupError
from harness.load.profiles import load_target, profile_locator

PROFILE = """name = "running stereo recorder"
[sip]
address = "sip:127.0.0.1:{port}"
[recordings]
directory = "{directory}"
locate = "pattern"
pattern = "{{calluuid}}/call-{{record_id}}.wav"
layout = "stereo"
channels = ["customer", "agent"]
format = "pcm16"
"""


def _profile(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(PROFILE.format(port=port, directory=tmp_path / "rec"))
    return path


def test_a_running_recorder_profile_gives_address_and_locator(tmp_path: Path) -> None:
    path = _profile(tmp_path, 5099)
    assert (load_target(path).host, load_target(path).port) == ("127.0.0.1", 5099)
    locator, root = profile_locator(path, None)
    assert locator is not None and root == tmp_path / "rec" and locator.root == root
    assert locator.spec.layout == "stereo"
    # --recordings overrides where the files are seen from (a worker's mount).
    _, other = profile_locator(path, tmp_path / "mnt")
    assert other == tmp_path / "mnt"


def test_a_profile_with_port_0_and_nothing_to_start_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="port 0"):
        load_target(_profile(tmp_path, 0))


def _with_process(tmp_path: Path, extra: str = "") -> Path:
    path = _profile(tmp_path, 0)
    path.write_text(path.read_text() + f'[process]\ncommand = "python rec.py --listen 127.0.0.1:{{port}}"\n{extra}')
    return path


def test_a_profile_arec_starts_is_taken_with_port_0(tmp_path: Path) -> None:
    # As in `arec run`: arec starts it (once for the load run) on a free port.
    profile = load_target(_with_process(tmp_path))
    assert profile.port == 0 and profile.process is not None


def test_a_namespaced_profile_is_refused(tmp_path: Path) -> None:
    # The load generator sends from 127.0.0.1, which a recorder in a network namespace cannot reach.
    with pytest.raises(SetupError, match="netns"):
        load_target(_with_process(tmp_path, "netns = true\n"))
