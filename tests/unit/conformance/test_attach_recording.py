"""The recording's evidence in the report: one player for the audio (no second copy of the WAVs),
SIPp's statistics reduced to the counters that say something."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import allure_commons
import numpy as np
import pytest
import soundfile

from harness.conformance.verdict import _attach_recording, sipp_stat_summary


@dataclass
class _Listener:
    data: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)

    @allure_commons.hookimpl
    def attach_data(self, body: Any, name: Any, attachment_type: Any, extension: Any) -> None:
        self.data.append({"body": body, "name": name, "type": attachment_type})

    @allure_commons.hookimpl
    def attach_file(self, source: Any, name: Any, attachment_type: Any, extension: Any) -> None:
        self.files.append({"source": source, "name": name, "type": attachment_type})


@pytest.fixture
def listener() -> Iterator[_Listener]:
    plugin = _Listener()
    allure_commons.plugin_manager.register(plugin)
    try:
        yield plugin
    finally:
        allure_commons.plugin_manager.unregister(plugin)


def _reference_layout(directory: Path) -> Path:
    directory.mkdir(parents=True)
    tone = (np.sin(np.arange(8000) * 0.3) * 8000).astype(np.int16)
    soundfile.write(directory / "stream-1-5551234.wav", tone, 8000, subtype="PCM_16")
    soundfile.write(directory / "stream-2-7001.wav", tone, 8000, subtype="PCM_16")
    soundfile.write(directory / "call-stereo.wav", np.stack([tone, tone], axis=1), 8000, subtype="PCM_16")
    (directory / "recording.json").write_text(json.dumps({"channels": [
        {"index": 0, "stream": 0, "dn": "5551234"}, {"index": 1, "stream": 1, "dn": "7001"}]}))
    return directory


def test_the_recording_is_attached_once_as_one_player(listener: _Listener, tmp_path: Path) -> None:
    directory = _reference_layout(tmp_path / "CALL" / "REC")
    _attach_recording(directory, [])
    assert listener.files == []  # the PCM WAVs are not attached a second time
    players = [d for d in listener.data if d["name"] == "recording (playable)"]
    [player] = players
    assert player["body"].count("<audio controls") == 1 and 'src="data:audio/ogg;base64,' in player["body"]
    total_audio = sum(len(d["body"]) for d in listener.data if d["name"] == "recording (playable)")
    wav_bytes = sum(p.stat().st_size for p in directory.glob("*.wav"))
    assert total_audio < wav_bytes / 10
    assert {d["name"] for d in listener.data} >= {"recording.json", "recording (playable)"}


STAT_CSV = ("StartTime;ElapsedTime(C);OutgoingCall(C);SuccessfulCall(C);FailedCall(C);CallLength(C);\n"
            "2026-12-03\t18:14:17;00:00:00;0;0;0;00:00:00:000000;\n"
            "2026-12-03\t18:14:17;00:00:02;1;1;0;00:00:02:168000;\n")


def test_sipp_statistics_keep_the_last_periods_non_zero_counters() -> None:
    summary = sipp_stat_summary(STAT_CSV)
    assert summary.splitlines() == ["last of 2 periods, non-zero counters:", "StartTime: 2026-12-03\t18:14:17",
                                    "ElapsedTime(C): 00:00:02", "OutgoingCall(C): 1", "SuccessfulCall(C): 1",
                                    "CallLength(C): 00:00:02:168000"]
    assert "FailedCall" not in summary


def test_text_that_is_not_the_statistics_csv_is_kept_as_it_is() -> None:
    assert sipp_stat_summary("one line only") == "one line only"
    assert sipp_stat_summary("a;b\n1;2;3\n") == "a;b\n1;2;3\n"
