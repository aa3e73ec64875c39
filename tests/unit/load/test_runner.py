from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from harness.cli import _build_parser
from harness.load.call import sendonly_offer
from harness.load.runner import _locust_command, read_verdicts, reference_command
from harness.load.verdict import CallOutcome, CallVerdict
from harness.protocol.sdp import Direction, parse_sdp
from tests.doubles.faulty_recorder import FAULTS, DropAbove, _fault


def test_reference_command_has_the_load_capacity_and_no_tlib_link() -> None:
    command = reference_command(44, 30000, 30300)
    assert "--capacity 44" in command and "--capacity 6" not in command
    assert "--rtp-ports 30000-30300" in command
    assert "--tlib" not in command
    assert "{port}" in command and "{dir}" in command  # still filled by the launcher


def test_sendonly_offer() -> None:
    sdp = parse_sdp(sendonly_offer("127.0.0.1", 40002, "PCMA", 7))
    (media,) = sdp.media
    assert (media.port, media.payload_types, media.direction(sdp)) == (40002, (8,), Direction.SENDONLY)
    assert sdp.media_connection(0) is not None and sdp.media_connection(0).host == "127.0.0.1"  # type: ignore[union-attr]


def test_read_verdicts_skips_bad_lines(tmp_path: Path) -> None:
    verdict = CallVerdict("A" * 32, 5.0, 7.0, CallOutcome.COMPLETE)
    path = tmp_path / "verdicts.jsonl"
    path.write_text("\n".join([json.dumps({"type": "start", "t0": 4.0}), "{not json",
                               json.dumps({"type": "verdict", "verdict": verdict.to_json()})]) + "\n")
    assert read_verdicts(path) == (4.0, [verdict])
    assert read_verdicts(tmp_path / "absent") == (None, [])


def _args(*argv: str) -> argparse.Namespace:
    return _build_parser().parse_args(["load", *argv])


def test_locust_command_modes(tmp_path: Path) -> None:
    worker = _locust_command(_args("--worker", "--master-host", "10.0.0.5", "--master-port", "6000"), None, None)
    assert worker[-5:] == ["--worker", "--master-host", "10.0.0.5", "--master-port", "6000"]
    from harness.load.runner import _Target

    target = _Target("ref", "127.0.0.1:5080", tmp_path)
    master = _locust_command(_args("--master", "--expect-workers", "3", "--calls", "50"), target, tmp_path / "v")
    assert "--headless" in master and master[master.index("--expect-workers") + 1] == "3"
    assert master[master.index("--arec-calls") + 1] == "50"
    local = _locust_command(_args("--processes", "2", "--web"), target, tmp_path / "v")
    assert "--headless" not in local and "--autostart" in local and "--processes" in local


def test_drop_above_fault_takes_its_limit() -> None:
    cls = _fault("drop-above=12")
    assert issubclass(cls, DropAbove) and cls.LIMIT == 12
    assert _fault("sendrecv") is FAULTS["sendrecv"]
    for bad in ("drop-above", "drop-above=x", "sendrecv=3", "nope"):
        with pytest.raises(argparse.ArgumentTypeError):
            _fault(bad)
