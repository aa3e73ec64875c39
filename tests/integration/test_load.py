"""`arec load` end to end: a distributed run's verdicts all reach the report, and a recorder that
loses audio past some load is caught at the right step of the ramp.

Short calls (1-1.5 s) and short ramps: each run takes 10-20 s.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.recorders.launcher import ManagedRecorder

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _arec(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", "load", *args]


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    # The example profiles start "python": this test's interpreter (the one with arec's dependencies).
    bin_path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PYTHONPATH": str(REPO) if not path else f"{REPO}{os.pathsep}{path}", "PATH": bin_path}


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _report(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "load.json").read_text())
    return data


def test_distributed_run_every_call_verdict_reaches_the_report(tmp_path: Path) -> None:
    port = _free_tcp_port()
    report_dir = tmp_path / "report"
    # A ramp to 8 concurrent calls (16 streams) in two 5 s steps of 1 s calls: a few dozen calls.
    master = subprocess.Popen(
        _arec("--master", "--expect-workers", "2", "--master-port", str(port), "--calls", "8", "--steps", "2",
              "--duration", "10", "--rate", "10", "--call-length", "1", "--report-dir", str(report_dir),
              "--gate-complete", "100"),
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    workers = [subprocess.Popen(_arec("--worker", "--master-host", "127.0.0.1", "--master-port", str(port)),
                                cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(2)]
    try:
        out, _ = master.communicate(timeout=90)
        for w in workers:
            w.wait(timeout=30)
    finally:
        for proc in (master, *workers):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert master.returncode == 0, out
    assert "calls_up=" in out  # live progress
    report = _report(report_dir)
    calls = report["calls"]
    assert len(calls) >= 24, out
    # Every call the workers placed reached the master's report: one recording directory per
    # call in the recorder's tree, one verdict per call in the report, the same CallUUIDs.
    recorded = {p.name for p in (report_dir / "recordings").iterdir() if p.is_dir()}
    assert {c["calluuid"] for c in calls} == recorded
    assert len({c["calluuid"] for c in calls}) == len(calls) == report["totals"]["calls"]
    assert len({c["worker"] for c in calls}) == 2  # both workers placed calls
    # The reference recorder holds this load: every recording the recorder can be judged on is complete.
    outcomes = report["totals"]["outcomes"]
    assert outcomes["incomplete"] == outcomes["missing"] == outcomes["setup-failed"] == outcomes["refused"] == 0
    assert sum(s["calls"] for s in report["steps"]) == len(calls)
    assert all(s["invite_latency_ms"]["p99"] is not None for s in report["steps"])
    assert "<svg" in (report_dir / "load.html").read_text()


def test_recorder_losing_audio_past_its_load_is_caught_at_the_right_step(tmp_path: Path) -> None:
    # Sessions set up while 4 are already up lose audio: 2 concurrent two-stream calls (4 sessions) are
    # fine, the step at 3 calls is not.
    command = (f"{shlex.quote(sys.executable)} -m tests.doubles.faulty_recorder --fault drop-above=4 "
               "--listen 127.0.0.1:{port} --recordings {dir} --rtp-ports {rtp_low}-{rtp_high} --capacity 50")
    recorder = ManagedRecorder(command, tmp_path / "recordings", name="drop-above=4 recorder",
                               log_path=tmp_path / "recorder.log")
    with recorder.running() as running:
        result = subprocess.run(
            _arec("--recorder", f"sip:127.0.0.1:{running.port}", "--recordings", str(running.recordings),
                  "--calls", "3", "--steps", "3", "--duration", "12", "--rate", "10", "--call-length", "1.5",
                  "--report-dir", str(tmp_path / "report"), "--gate-complete", "100"),
            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 1, result.stdout + result.stderr  # the gate
    report = _report(tmp_path / "report")
    first, second, third = report["steps"]
    assert [s["concurrent_calls"] for s in report["steps"]] == [1, 2, 3]
    assert first["all_complete"] and second["all_complete"], json.dumps(report["steps"], indent=1)
    assert third["outcomes"]["incomplete"] > 0
    assert report["highest_complete_load"] == 2
    assert report["limited_by"] == "recorder"
    lost = [c for c in report["calls"] if c["outcome"] == "incomplete"]
    assert all("REC-AUDIO-COMPLETE" in c["requirement_ids"] for c in lost)
    assert not report["gate"]["passed"]


def test_503s_past_the_recorders_capacity_are_reported_with_retry_after(tmp_path: Path) -> None:
    # --capacity 4 sessions: 2 concurrent calls fit, the step at 3 calls gets 503 + Retry-After.
    command = (f"{shlex.quote(sys.executable)} -m reference_recorder --listen 127.0.0.1:{{port}} "
               "--recordings {dir} --rtp-ports {rtp_low}-{rtp_high} --capacity 4")
    recorder = ManagedRecorder(command, tmp_path / "recordings", log_path=tmp_path / "recorder.log")
    with recorder.running() as running:
        result = subprocess.run(
            _arec("--recorder", f"sip:127.0.0.1:{running.port}", "--recordings", str(running.recordings),
                  "--calls", "3", "--steps", "2", "--duration", "8", "--rate", "10", "--call-length", "1.5",
                  "--report-dir", str(tmp_path / "report")),
            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stdout + result.stderr  # no gate given
    report = _report(tmp_path / "report")
    first, second = report["steps"]
    assert [first["concurrent_calls"], second["concurrent_calls"]] == [2, 3]
    assert first["all_complete"] and first["refused_503"]["count"] == 0
    assert second["refused_503"]["count"] > 0 and second["refused_503"]["retry_after_s"]
    assert report["highest_complete_load"] == 2
    refused = [c for c in report["calls"] if c["outcome"] == "refused"]
    assert refused and all(503 in c["invite_status"] for c in refused)


EXAMPLES = REPO / "examples" / "profiles"


def test_recorder_profile_is_started_for_the_run_and_its_layout_judged(tmp_path: Path) -> None:
    # As in `arec run`: the profile's [process] is started (port 0: a free port), its calls are
    # found by its [recordings] rules (one stereo WAV per call) and judged.
    report_dir = tmp_path / "report"
    result = subprocess.run(
        _arec("--recorder-profile", str(EXAMPLES / "stereo-per-call.toml"), "--calls", "2", "--steps", "1",
              "--duration", "4", "--rate", "10", "--call-length", "1", "--report-dir", str(report_dir),
              "--gate-complete", "100"),
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    report = _report(report_dir)
    assert report["recorder"] == "stereo per call (example)"
    calls = report["calls"]
    assert calls and all(c["outcome"] == "complete" for c in calls), json.dumps(calls, indent=1)
    # The files were judged where the profile puts them ({work_dir}/recordings, one WAV per call).
    files = sorted((report_dir / "recorder" / "recordings").glob("*/call-*.wav"))
    assert {f.parent.name for f in files} == {c["calluuid"] for c in calls}


def test_recorder_profile_with_swapped_channels_fails_the_gate(tmp_path: Path) -> None:
    # The same recorder, but the profile says the agent is in channel 0: every call's recording
    # has the wrong stream in each channel (REC-STREAM-CHANNEL), so none is complete.
    text = (EXAMPLES / "stereo-per-call.toml").read_text(encoding="utf-8")
    broken = text.replace('channels = ["customer", "agent"]', 'channels = ["agent", "customer"]')
    assert broken != text
    profile = tmp_path / "swapped.toml"
    profile.write_text(broken.replace("{profile_dir}/../..", str(REPO)), encoding="utf-8")
    result = subprocess.run(
        _arec("--recorder-profile", str(profile), "--calls", "1", "--steps", "1", "--duration", "3", "--rate", "10",
              "--call-length", "1", "--report-dir", str(tmp_path / "report"), "--gate-complete", "100"),
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    calls = _report(tmp_path / "report")["calls"]
    assert calls and all(c["outcome"] == "incomplete" and "REC-STREAM-CHANNEL" in c["requirement_ids"]
                         for c in calls), json.dumps(calls, indent=1)


def test_a_recorder_that_does_not_answer_is_a_setup_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        silent = s.getsockname()[1]  # bound, never answers
        result = subprocess.run(_arec("--recorder", f"sip:127.0.0.1:{silent}", "--report-dir", str(tmp_path)),
                                cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no answer to OPTIONS" in result.stderr and len(result.stderr.strip().splitlines()) == 1
