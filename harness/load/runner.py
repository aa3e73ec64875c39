"""`arec load`: start the recorder, run Locust in its own processes, write the capacity report.

Locust (and so gevent's monkey-patching) runs only in child processes (`python -m locust -f
harness/load/locustfile.py`); this process stays free of gevent. It starts the reference
recorder once for the whole run (capacity above the ramp's top), hands Locust the recorder and
the ramp as custom arguments (Locust forwards them from the master to its workers), reads the
verdicts the master wrote, and writes `load.json` and `load.html`. Exit codes: 0, 1 when the
share of complete recordings is below `--gate-complete`, 2 on a set-up problem.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.exitcodes import EXIT_SETUP, SetupError
from harness.load.arguments import add_arguments
from harness.load.plan import plan_ramp
from harness.load.report import build_report, render_html
from harness.load.verdict import CallVerdict
from harness.recorders.launcher import REFERENCE_COMMAND, ManagedRecorder, sip_ping
from harness.recorders.under_test import parse_sip_target

__all__ = ["LOCUSTFILE", "add_arguments", "load_from_cli", "read_verdicts", "reference_command"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
EXIT_GATE = 1
# Room the RTP port range needs per session (RTP port, plus the odd RTCP port it skips).
_PORTS_PER_SESSION = 2


def reference_command(capacity: int, rtp_low: int, rtp_high: int) -> str:
    """The reference recorder's command for a load run: capacity above the ramp, a port range
    wide enough, and no T-Lib link (a load run drives no T-Server)."""
    command = re.sub(r"--capacity \S+", f"--capacity {capacity}", REFERENCE_COMMAND)
    command = re.sub(r"--tlib \S+ --tlib-config \S+ ?", "", command)
    return command.replace("{rtp_low}-{rtp_high}", f"{rtp_low}-{rtp_high}")


@dataclass(frozen=True, slots=True)
class _Target:
    name: str
    address: str  # HOST:PORT
    recordings: Path | None
    profile: Path | None = None


@contextlib.contextmanager
def _recorder(args: argparse.Namespace, report_dir: Path) -> Iterator[_Target]:
    recordings = Path(args.recordings).resolve() if args.recordings else None
    if args.recorder:
        host, port, transport = parse_sip_target(args.recorder)
        if transport != "udp":
            raise SetupError("arec load places calls over UDP only")
        if recordings is not None and not recordings.is_dir():
            raise SetupError(f"--recordings {args.recordings}: not a directory")
        if sip_ping(host, port, transport, 3.0) is None:
            raise SetupError(f"--recorder {args.recorder}: no answer to OPTIONS (is the recorder running?)")
        yield _Target(args.recorder, f"{host}:{port}", recordings)
        return
    if args.recorder_profile:
        from harness.load.profiles import profile_recorder

        path = Path(args.recorder_profile).resolve()
        with profile_recorder(path, report_dir / "recorder") as running:
            # --recordings overrides the profile's directory (a recorder already running elsewhere).
            yield _Target(running.name, f"{running.host}:{running.port}", recordings or running.recordings, path)
        return
    sessions = 2 * args.calls
    capacity = sessions + max(4, sessions // 10)
    low = 30000
    high = min(65534, low + _PORTS_PER_SESSION * capacity + 200)
    directory = (recordings or report_dir / "recordings").resolve()
    recorder = ManagedRecorder(reference_command(capacity, low, high), directory,
                               log_path=report_dir / "recorder.log", name="reference recorder")
    with recorder.running() as running:
        yield _Target(f"reference recorder (--capacity {capacity})", f"{running.host}:{running.port}", directory)


def _udp_sndbuf_errors() -> int | None:
    """UDP SndbufErrors of this host (Linux /proc/net/snmp): datagrams the kernel dropped on send."""
    try:
        lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
    except OSError:
        return None
    if len(lines) < 2 or "SndbufErrors" not in lines[0]:
        return None
    return int(lines[1][lines[0].index("SndbufErrors")])


def read_verdicts(path: Path) -> tuple[float | None, list[CallVerdict]]:
    """The master's JSON-lines file: the start time and every verdict (bad lines skipped)."""
    t0: float | None = None
    verdicts: list[CallVerdict] = []
    if not path.exists():
        return None, []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("type") == "start" and t0 is None:
            t0 = float(record["t0"])
        elif record.get("type") == "verdict":
            verdicts.append(CallVerdict.from_json(record["verdict"]))
    return t0, verdicts


def _locust_command(args: argparse.Namespace, target: _Target | None, verdicts: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--exit-code-on-error", "0", "--only-summary",
           "--loglevel", "WARNING"]
    if args.worker:
        return [*cmd, "--worker", "--master-host", args.master_host, "--master-port", str(args.master_port)]
    assert target is not None and verdicts is not None
    cmd += ["--arec-recorder", target.address, "--arec-recordings", str(target.recordings or ""),
            "--arec-profile", str(target.profile or ""), "--arec-call-length", str(args.call_length),
            "--arec-calls", str(args.calls), "--arec-rate", str(args.rate), "--arec-duration", str(args.duration),
            "--arec-steps", str(args.steps), "--arec-jitter-window-ms", str(args.jitter_window_ms),
            "--arec-verdicts", str(verdicts),
            # Let a call in progress finish (and be judged) when the ramp ends.
            "--stop-timeout", str(int(args.call_length + 15))]
    # --web: the run starts by itself; the UI stays up 10 s after it ends, then arec writes its report.
    cmd += ["--autostart", "--autoquit", "10", "--web-host", "127.0.0.1"] if args.web else ["--headless"]
    if args.master:
        cmd += ["--master", "--master-bind-host", "*", "--master-bind-port", str(args.master_port),
                "--expect-workers", str(args.expect_workers)]
    elif args.processes != 1:
        cmd += ["--processes", str(args.processes)]
    return cmd


def _child_env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root if not path else f"{root}{os.pathsep}{path}", "PYTHONUNBUFFERED": "1"}


def _run_locust(cmd: Sequence[str]) -> int:
    proc = subprocess.Popen(list(cmd), env=_child_env())
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait()


def load_from_cli(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("locust") is None:
        raise SetupError("arec load needs Locust: pip install 'arec[load]' (or pip install locust)")
    if args.worker:
        return _run_locust(_locust_command(args, None, None))
    plan = plan_ramp(args.calls, args.duration, args.steps)  # ValueError on bad numbers: below
    report_dir = Path(args.report_dir).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    verdicts_path = report_dir / "verdicts.jsonl"
    verdicts_path.unlink(missing_ok=True)
    drops_before = _udp_sndbuf_errors()
    with _recorder(args, report_dir) as target:
        print(f"arec load: {target.name} at {target.address}; ramp "
              f"{' -> '.join(str(s.calls) for s in plan)} concurrent calls over {args.duration:g} s", flush=True)
        code = _run_locust(_locust_command(args, target, verdicts_path))
    drops_after = _udp_sndbuf_errors()
    t0, verdicts = read_verdicts(verdicts_path)
    if t0 is None:
        raise SetupError(f"Locust exited ({code}) before the run started; no verdicts in {verdicts_path}")
    settings: dict[str, Any] = {k: getattr(args, k) for k in (
        "calls", "rate", "duration", "steps", "call_length", "jitter_window_ms", "processes", "master",
        "expect_workers")}
    settings["locust_exit_code"] = code
    report = build_report(plan, verdicts, t0=t0, settings=settings, recorder=target.name,
                          gate_complete_pct=args.gate_complete,
                          kernel_send_drops=None if drops_before is None or drops_after is None
                          else drops_after - drops_before)
    (report_dir / "load.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (report_dir / "load.html").write_text(render_html(report), encoding="utf-8")
    totals = report["totals"]
    print(f"arec load: {totals['calls']} calls, {totals['outcomes']}, complete {totals['complete_pct']} %; "
          f"highest load with every recording complete: {report['highest_complete_load']} "
          f"(limited by {report['limited_by']}); report: {report_dir / 'load.html'}", flush=True)
    if not report["gate"]["passed"]:
        print(f"arec load: gate failed: {totals['complete_pct']} % complete < {args.gate_complete} %",
              file=sys.stderr)
        return EXIT_GATE
    return 0


def _main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - `arec load` is the entry point
    parser = argparse.ArgumentParser(prog="arec load")
    add_arguments(parser)
    try:
        return load_from_cli(parser.parse_args(argv))
    except (SetupError, ValueError) as error:
        print(f"arec load: {error}", file=sys.stderr)
        return EXIT_SETUP
