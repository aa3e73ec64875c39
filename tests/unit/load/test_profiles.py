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


def test_a_profile_arec_would_start_per_scenario_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="port 0"):
        load_target(_profile(tmp_path, 0))
