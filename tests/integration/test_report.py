"""The compliance report end to end: matrix files, Allure history, evidence pictures, the quality gate."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.netutil import free_port
from harness.recorders.launcher import rtp_range
from harness.report.allure_html import embedded_files, external_urls
from harness.report.build import HISTORY, MATRIX_HTML, MATRIX_SVG, build_report

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _arec(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ), check=False)


def _write_result(results: Path, name: str, status: str, judged: dict[str, str], tags: list[str]) -> None:
    labels = [{"name": "feature", "value": "06 - feature"}, *({"name": "tag", "value": t} for t in tags),
              *({"name": "arec.requirement", "value": f"{k}: {v}"} for k, v in judged.items())]
    step = {"name": "Given something", "status": "passed",
            "parameters": [{"name": "run", "value": "ScenarioRun(" + "x" * 5000 + ")"}, {"name": "dn", "value": "'7001'"}]}
    data = {"uuid": name, "historyId": name, "testCaseId": name, "name": name, "fullName": f"f:{name}",
            "status": status, "labels": labels, "steps": [step], "start": 1_700_000_000_000,
            "stop": 1_700_000_001_000}
    (results / f"{name}-result.json").write_text(json.dumps(data), encoding="utf-8")


def test_report_has_the_matrix_metadata_and_a_history_entry_per_generation(tmp_path: Path) -> None:
    results = tmp_path / "allure-results"
    results.mkdir()
    _write_result(results, "options", "passed", {"SIP-OPTIONS-200": "passed"}, ["SIP-OPTIONS-200"])
    _write_result(results, "sdp", "failed", {"SDP-ANSWER-RECVONLY": "failed"}, ["SDP-ANSWER-RECVONLY"])
    built = build_report(tmp_path, {"arec version": "9.9.9", "recorder": "unit double"})
    data = json.loads(built.compliance_json.read_text(encoding="utf-8"))
    assert data["verdict"] == "NOT COMPLIANT" and data["failed_must"] == ["SDP-ANSWER-RECVONLY"]
    assert data["metadata"]["arec version"] == "9.9.9" and data["metadata"]["codecs"] == "-"
    assert "| SIP-OPTIONS-200 | MUST | ✅ passed | live and offline |" in built.compliance_md.read_text(encoding="utf-8")
    html = built.report.html.read_text(encoding="utf-8")
    assert external_urls(html) == []
    assert "googletagmanager" not in html
    files = embedded_files(html)
    # The matrix is a global attachment of the report; verdict and metadata are on its first page.
    attachments = json.loads(files["widgets/globals.json"])["attachments"]
    assert sorted(a["name"] for a in attachments) == sorted([MATRIX_SVG, MATRIX_HTML])
    for attachment in attachments:
        assert b"NOT COMPLIANT" in files[f"data/attachments/{attachment['id']}{attachment['ext']}"]
    assert b"NOT COMPLIANT" in files["widgets/variables.json"]
    assert b"9.9.9" in files["widgets/allure_environment.json"]
    # Fixture objects are gone from step parameters; Gherkin values stay.
    step = json.loads((results / "options-result.json").read_text())["steps"][0]
    assert step["parameters"] == [{"name": "dn", "value": "'7001'"}]
    assert "arec\\ version=9.9.9" in (results / "environment.properties").read_text()

    history = tmp_path / HISTORY
    assert len(history.read_text().splitlines()) == 1
    build_report(tmp_path, {"arec version": "9.9.9"})  # the next run, same report dir
    entries = [json.loads(line) for line in history.read_text().splitlines()]
    assert len(entries) == 2 and entries[0]["uuid"] != entries[1]["uuid"]
    # `arec report` regenerates without pretending to be a third run, reusing the stored metadata.
    rebuilt = build_report(tmp_path, None, append_history=False)
    assert len(history.read_text().splitlines()) == 2
    assert json.loads(rebuilt.compliance_json.read_text())["metadata"]["arec version"] == "9.9.9"


@contextlib.contextmanager
def _faulty_recorder(tmp_path: Path, fault: str) -> Iterator[tuple[int, Path]]:
    port, recordings = free_port(), tmp_path / "recordings"
    recordings.mkdir()
    rtp_low, _ = rtp_range(port)  # the managed recorders' scheme
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.faulty_recorder", "--fault", fault, "--listen", f"127.0.0.1:{port}",
         "--recordings", str(recordings), "--rtp-ports", f"{rtp_low}-{rtp_low + 199}"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # start-up; `arec run` pre-flight then waits for the OPTIONS answer itself
        yield port, recordings
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_failing_must_requirement_fails_the_gate_and_the_matrix_names_it(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    with _faulty_recorder(tmp_path, "sendrecv") as (port, recordings):
        result = _arec("run", "--recorder", f"sip:127.0.0.1:{port}", "--recordings", str(recordings),
                       "-k", "recorder_accepts_the_recording_sessions and two-session-PCMU",
                       "--report-dir", str(reports))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "MUST requirements failed: " in result.stdout and "SDP-ANSWER-RECVONLY" in result.stdout
    data = json.loads((reports / "compliance.json").read_text(encoding="utf-8"))
    assert "SDP-ANSWER-RECVONLY" in data["failed_must"]
    rows = {r["id"]: r for step in data["steps"] for r in step["requirements"]}
    assert rows["SDP-ANSWER-RECVONLY"]["outcome"] == "failed"
    assert rows["SDP-ANSWER-RECVONLY"]["scenarios"][0]["verdict"] == "failed"
    assert data["metadata"]["recorder"] == f"already running at sip:127.0.0.1:{port}"
    assert (reports / "junit.xml").exists() and (reports / "compliance.md").exists()


def test_scenario_evidence_has_a_recording_picture_and_playable_audio(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = _arec("run", "-k", "either_order and customer and two_invites", "--report-dir", str(reports))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    [scenario] = [json.loads(p.read_text()) for p in (reports / "allure-results").glob("*-result.json")]
    attachments = {a["name"]: reports / "allure-results" / a["source"] for a in scenario["attachments"]}
    picture = attachments["recording picture (time-code per channel)"].read_text()
    assert picture.startswith("<svg") and "DN 7001" in picture and "DN 5551234" in picture
    assert "segment missing" in picture  # the legend; a complete recording has no missing mark:
    assert "<title>segment missing" not in picture and "<title>segment recorded" in picture
    playable = attachments["recording (playable)"].read_text()
    assert playable.count('src="data:audio/ogg;base64,') == 1  # the stereo file; it carries both DNs
    assert playable.count("heard in call-stereo.wav") == 2  # the mono files are listed, not embedded again
    matrix = json.loads((reports / "compliance.json").read_text())
    assert matrix["verdict"].startswith("PARTIAL") and matrix["metadata"]["codecs"] == "PCMU"
