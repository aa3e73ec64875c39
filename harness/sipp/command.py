"""The SIPp command line for one leg (pure: no process is started here)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.sipp.leg import Scenario, SippLeg

SIPP_MISSING = "SIPp not found: apt-get install sip-tester"


@dataclass(frozen=True, slots=True)
class TracePaths:
    """Where SIPp writes its traces for one leg."""

    work_dir: Path

    @property
    def message_log(self) -> Path:
        return self.work_dir / "messages.log"

    @property
    def error_log(self) -> Path:
        return self.work_dir / "errors.log"

    @property
    def stat_file(self) -> Path:
        return self.work_dir / "stats.csv"

    @property
    def screen_file(self) -> Path:
        return self.work_dir / "screen.log"

    @property
    def stderr_file(self) -> Path:
        return self.work_dir / "stderr.log"


def build_command(
    leg: SippLeg,
    traces: TracePaths,
    *,
    local_port: int,
    media_port: int,
    twin: tuple[str, int] | None = None,
    sipp: str = "sipp",
    scenario_path: Path | None = None,
    calls: int = 1,
) -> list[str]:
    """The SIPp command line for one leg (pure; no process started); `calls` > 1 places that
    many calls of the scenario at once (all open together: the capacity probe)."""
    if calls < 1:
        raise ValueError("calls must be at least 1")
    if leg.scenario.uses_twin and twin is None:
        raise ValueError(f"{leg.scenario.value} needs the 3PCC twin address")
    if not leg.scenario.uses_twin and twin is not None:
        raise ValueError(f"{leg.scenario.value} has no twin commands; SIPp refuses -3pcc without them")
    cmd = [
        sipp,
        f"{leg.recorder_host}:{leg.recorder_port}",
        "-sf", str(scenario_path or leg.scenario.path),
        "-t", leg.transport.sipp_mode,
        "-i", leg.local_ip,
        "-p", str(local_port),
        # SIPp's UDP control socket would otherwise listen on 0.0.0.0:8888+ (tests stay on lo).
        "-ci", leg.local_ip,
        # SIPp always opens its own (unused here) RTP echo sockets, from 6000 up by default:
        # move them to a kernel-chosen port so they cannot take a port a recorder wants.
        "-mi", leg.local_ip,
        "-mp", str(media_port),
        "-m", str(calls),
        "-l", str(calls),
        "-nostdin",
        # Bounds every SIP wait (the 200 to INVITE/re-INVITE/BYE): without it an unanswered
        # INVITE waits for timer B, 64*T1 = 32 s (RFC 3261 §17.1.1.2).
        "-recv_timeout", str(leg.recv_timeout_ms),
        "-trace_msg", "-message_file", str(traces.message_log),
        "-trace_err", "-error_file", str(traces.error_log),
        "-trace_stat", "-stf", str(traces.stat_file),
        "-trace_screen", "-screen_file", str(traces.screen_file),
    ]
    if calls > 1:
        # -r: new calls per second; far above `calls`, so they all start within milliseconds.
        cmd += ["-r", str(max(1000, calls))]
    if leg.call_id is not None:
        cmd += ["-cid_str", leg.call_id]
    if leg.scenario is Scenario.OPTIONS:
        # SIPp's default abort behaviour sends a BYE, which for an OPTIONS answered non-2xx is
        # a request outside any dialog (the recorder rightly answers 481): not our traffic.
        cmd += ["-default_behaviors", "all,-bye"]
    if twin is not None:
        cmd += ["-3pcc", f"{twin[0]}:{twin[1]}"]
    for key, value in leg.sipp_keys():
        cmd += ["-key", key, value]
    return cmd


def sipp_available(sipp: str = "sipp") -> str | None:
    """None when SIPp can be run, else a one-line fix for the user."""
    return None if shutil.which(sipp) else SIPP_MISSING
