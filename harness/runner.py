"""`arec run`: pre-flight checks, the Gherkin suite under pytest, the HTML report, a summary.

Set-up problems are found before any scenario runs and reported as one line with the fix
(exit 2); scenario verdicts come from the validators (exit 1 when a MUST requirement failed).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

from harness.bdd import BINDINGS_DIR
from harness.capture.pcap_capture import capture_available
from harness.exitcodes import EXIT_MUST_FAILED, EXIT_OK, EXIT_SETUP, SetupError
from harness.media.impairments import parse_impairments
from harness.recorders.profile import load_profile, program_found
from harness.recorders.under_test import parse_sip_target
from harness.report.allure_html import ALLURE_MISSING_HINT, allure_available
from harness.report.build import build_report
from harness.report.run_metadata import base_metadata
from harness.sipp.command import sipp_available
from harness.sipp.leg import Scenario, SippLeg, Transport
from harness.sipp.process import SippStartError, run_options

BINDINGS = BINDINGS_DIR
RECORDER_ANSWER_TIMEOUT_S = 3.0


def preflight(args: argparse.Namespace) -> list[str]:
    """Problems that would make every scenario fail for a reason that is not the recorder's."""
    notes: list[str] = []
    missing = sipp_available()
    if missing:
        raise SetupError(missing)
    if args.features and not Path(args.features).exists():
        raise SetupError(f"--features {args.features}: no such file or directory")
    if args.recorder_profile:
        check_profile_up_front(args.recorder_profile)
    if args.recorder:
        host, port, transport = parse_sip_target(args.recorder)
        if args.recordings and not Path(args.recordings).is_dir():
            raise SetupError(f"--recordings {args.recordings}: not a directory")
        check_recorder_answers(host, port, transport)
    ok, why = capture_available()
    if not ok:
        notes.append(f"capture: tcpdump cannot capture here ({why}); using the synthetic capture rebuilt "
                     "from the emulators' own logs (run as root for a real loopback capture)")
    return notes


def check_profile_up_front(path: str) -> None:
    """What can be checked before any scenario: the profile itself (load_profile), the
    command's program, and a recorder that is already running answering OPTIONS."""
    profile = load_profile(path)
    if profile.process is None:
        check_recorder_answers(profile.host, profile.port, profile.transport)
        return
    try:
        program = shlex.split(profile.process.command)[0]
    except (ValueError, IndexError):
        raise SetupError(f"recorder profile {profile.path}: [process] command: cannot be split into words") from None
    if "{" not in program and not program_found(profile, program):
        raise SetupError(f"recorder profile {profile.path}: [process] command: {program!r} not found "
                         "(not on PATH, not an executable file)")


def check_recorder_answers(host: str, port: int, transport: str) -> None:
    leg = SippLeg(recorder_host=host, recorder_port=port, record_id="preflight", calluuid="preflight",
                  dn="preflight", record_dn="preflight", scenario=Scenario.OPTIONS, transport=Transport(transport),
                  recv_timeout_ms=int(RECORDER_ANSWER_TIMEOUT_S * 1000))
    with tempfile.TemporaryDirectory(prefix="arec-preflight-") as work:
        try:
            result = run_options(leg, Path(work), timeout=RECORDER_ANSWER_TIMEOUT_S + 2)
        except SippStartError as error:
            raise SetupError(str(error)) from None
    if result.successful_calls < 1:
        raise SetupError(f"the recorder at {host}:{port}/{transport} did not answer OPTIONS with 200 within "
                         f"{RECORDER_ANSWER_TIMEOUT_S:.0f} s: is it running and listening there?")


# The suite waits on real-time calls (a scenario uses ~0.3 of a core): two workers per usable
# CPU keep the cores busy without starving the paced RTP sender; more than four made the
# scenarios themselves slower on a 2-core machine than the parallelism gained.
WORKERS_PER_CPU = 2
MAX_AUTO_WORKERS = 4


def worker_count(requested: str | int | None, *, shared_recorder: bool = False) -> int:
    """`-n`: a number, or "auto" (None too): two per CPU this process may run on (the affinity
    mask, which `taskset` and containers narrow, not `os.cpu_count()`), at most
    MAX_AUTO_WORKERS; one for a single already running recorder, which parallel scenarios
    would share (its capacity and its session count are part of what they judge)."""
    if requested is not None and str(requested) != "auto":
        try:
            value = int(requested)
        except ValueError:
            raise SetupError(f"-n {requested}: give a number of workers or 'auto'") from None
        if value < 0:
            raise SetupError(f"-n {requested}: give a number of workers or 'auto'")
        return value
    if shared_recorder:
        return 1
    return max(1, min(MAX_AUTO_WORKERS, WORKERS_PER_CPU * len(os.sched_getaffinity(0))))


def pytest_command(args: argparse.Namespace, results: Path, junit: Path) -> list[str]:
    command = [sys.executable, "-m", "pytest", str(BINDINGS), "-p", "no:cacheprovider", "--strict-markers", "-v", "-rfE",
               "--tb=line", f"--alluredir={results}", "--clean-alluredir", f"--junitxml={junit}",
               "-o", "console_output_style=count"]
    workers = worker_count(getattr(args, "workers", None), shared_recorder=bool(args.recorder))
    if workers > 1:
        command += ["-n", str(workers)]
    if args.keyword:
        command += ["-k", args.keyword]
    if getattr(args, "pool_size", 2) != 2:
        command += ["--arec-pool-size", str(args.pool_size)]
    if getattr(args, "impair", None):
        try:
            parse_impairments(args.impair)
        except ValueError as error:
            raise SetupError(f"--impair {args.impair!r}: {error}") from None
        command += ["--arec-impair", args.impair]
    if args.recorder_profile:
        command += ["--arec-profile", str(Path(args.recorder_profile).resolve())]
    if args.recorder:
        command += ["--arec-recorder", args.recorder]
        if args.recordings:
            command += ["--arec-recordings", str(Path(args.recordings).resolve())]
    return command


def run_suite(args: argparse.Namespace) -> int:
    report_dir = Path(args.report_dir).resolve()
    results, junit = report_dir / "allure-results", report_dir / "junit.xml"
    for note in preflight(args):
        print(f"arec: {note}", file=sys.stderr)
    report_dir.mkdir(parents=True, exist_ok=True)
    command = pytest_command(args, results, junit)
    env = dict(os.environ)
    if args.features:
        env["AREC_FEATURES"] = str(Path(args.features).resolve())
    target = args.recorder or args.recorder_profile or "the reference recorder (one per scenario)"
    print(f"arec: running the conformance suite against {target}", flush=True)
    print(f"arec: {shlex.join(command)}", flush=True)
    # From the report directory: a pytest.ini or conftest.py where the user stands must not
    # change the suite.
    completed = subprocess.run(command, cwd=report_dir, env=env, check=False)
    if completed.returncode not in (0, 1):
        # pytest's own failure (usage error, collection error, no tests): not a verdict.
        raise SetupError(f"the test run itself failed (pytest exit {completed.returncode}); see the output above")
    metadata = base_metadata(args.recorder, args.recorder_profile, datetime.now(UTC).astimezone())
    html = allure_available()
    built = build_report(report_dir, metadata, html=html)
    by_step = summarise(results)
    print("\narec: results per step")
    failed_total = 0
    for step, counts in sorted(by_step.items()):
        failed = counts.get("failed", 0) + counts.get("broken", 0)
        failed_total += failed
        print(f"  {step}: {counts.get('passed', 0)} passed, {failed} failed"
              + (f", {counts['skipped']} not applicable" if counts.get("skipped") else ""))
    matrix = built.matrix
    print(f"\narec: compliance {matrix.verdict}: "
          + ", ".join(f"{n} {outcome}" for outcome, n in matrix.counts().items() if n)
          + f" ({len(matrix.rows)} requirements)")
    if matrix.failed_must:
        print(f"arec: MUST requirements failed: {', '.join(matrix.failed_must)}")
    if built.report is not None:
        print(f"\narec: report {built.report.html}")
    else:
        print(f"\narec: no HTML report: {ALLURE_MISSING_HINT}")
    print(f"arec: compliance {built.compliance_md} ({built.compliance_json.name})\narec: JUnit {junit}")
    # The gate (exit 1): a MUST requirement failed, or a scenario failed or broke without a
    # requirement verdict (the recorder cannot be called compliant then). SHOULD findings only
    # warn: judge() does not fail a step for them, so they reach neither count.
    return EXIT_MUST_FAILED if matrix.failed_must or failed_total or completed.returncode == 1 else EXIT_OK


def summarise(results: Path) -> dict[str, Counter[str]]:
    """Per feature (= seed step): how many scenarios passed / failed / broke / were skipped."""
    by_step: dict[str, Counter[str]] = defaultdict(Counter)
    for path in results.glob("*-result.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        labels = {label["name"]: label["value"] for label in data.get("labels", [])}
        by_step[labels.get("feature", "?")][data.get("status", "unknown")] += 1
    return by_step


__all__ = ["EXIT_SETUP", "run_suite", "preflight", "summarise"]
