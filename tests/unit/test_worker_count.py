"""`arec run -n`: a number is taken as it is; auto gives two workers per usable CPU (at most 4),
one when a single running recorder is shared."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.exitcodes import SetupError
from harness.runner import MAX_AUTO_WORKERS, pytest_command, worker_count


def test_a_number_is_taken_as_it_is() -> None:
    assert worker_count("3") == 3 and worker_count(0) == 0 and worker_count("1", shared_recorder=True) == 1


@pytest.mark.parametrize("cpus, expected", [({0}, 2), ({0, 1}, 4), (set(range(8)), MAX_AUTO_WORKERS)])
def test_auto_follows_the_cpu_affinity_not_the_cpu_count(monkeypatch: pytest.MonkeyPatch, cpus: set[int],
                                                          expected: int) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: cpus)
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert worker_count("auto") == worker_count(None) == expected
    assert worker_count("auto", shared_recorder=True) == 1


def test_nonsense_is_a_setup_error() -> None:
    with pytest.raises(SetupError, match="-n many"):
        worker_count("many")
    with pytest.raises(SetupError):
        worker_count("-2")


def _args(**overrides: object) -> argparse.Namespace:
    values: dict[str, object] = {"workers": "auto", "keyword": None, "recorder": None, "recordings": None,
                                 "recorder_profile": None}
    values.update(overrides)
    return argparse.Namespace(**values)


def test_the_pytest_command_gets_the_worker_count(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    command = pytest_command(_args(), tmp_path / "r", tmp_path / "j.xml")
    assert command[command.index("-n") + 1] == "4"
    assert "-n" not in pytest_command(_args(workers="1"), tmp_path / "r", tmp_path / "j.xml")
    assert "-n" not in pytest_command(_args(recorder="sip:127.0.0.1:5060"), tmp_path / "r", tmp_path / "j.xml")


def test_the_pool_size_reaches_pytest_only_when_not_the_default(tmp_path: Path) -> None:
    command = pytest_command(_args(pool_size=3), tmp_path / "r", tmp_path / "j.xml")
    assert command[command.index("--arec-pool-size") + 1] == "3"
    assert "--arec-pool-size" not in pytest_command(_args(), tmp_path / "r", tmp_path / "j.xml")
def test_impair_reaches_pytest_and_a_bad_knob_is_a_setup_error(tmp_path: Path) -> None:
    command = pytest_command(_args(impair="loss=0.02,seed=7"), tmp_path / "r", tmp_path / "j.xml")
    assert command[command.index("--arec-impair") + 1] == "loss=0.02,seed=7"
    assert "--arec-impair" not in pytest_command(_args(), tmp_path / "r", tmp_path / "j.xml")
    with pytest.raises(SetupError, match="--impair 'loss=7'"):
        pytest_command(_args(impair="loss=7"), tmp_path / "r", tmp_path / "j.xml")
