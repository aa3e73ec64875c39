"""`arec` command line: set-up errors are one line and exit 2, quickly; a real run makes a report."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.report.allure_html import external_urls

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _arec(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, check=False)


def _one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr  # one line, no traceback
    assert lines[0].startswith("arec") and "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_missing_sipp_is_one_line_with_the_fix(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("tcpdump",):  # everything but sipp
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    result = _arec("run", "--report-dir", str(tmp_path / "r"), env={"PATH": str(bin_dir)})
    _one_line_error(result, "SIPp not found", "sip-tester")


def test_missing_report_tool_still_gives_results_junit_and_matrix(tmp_path: Path) -> None:
    """A pip-installed arec may have no Node: the verdict must not depend on the HTML tool."""
    report = tmp_path / "r"
    result = _arec("run", "-k", "options_ping", "--report-dir", str(report),
                   env={"AREC_ALLURE": str(tmp_path / "no-allure")}, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert (report / "junit.xml").is_file() and (report / "compliance.json").is_file()
    assert any((report / "allure-results").glob("*-result.json"))
    assert not (report / "html" / "index.html").exists()
    hint = [line for line in result.stdout.splitlines() if "no HTML report" in line]
    assert len(hint) == 1 and "npm ci" in hint[0] and "AREC_ALLURE" in hint[0], result.stdout[-2000:]


def test_report_without_the_report_tool_is_one_line_with_the_fix(tmp_path: Path) -> None:
    report = tmp_path / "r"
    first = _arec("run", "-k", "options_ping", "--report-dir", str(report),
                  env={"AREC_ALLURE": str(tmp_path / "no-allure")}, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    result = _arec("report", "--report-dir", str(report), env={"AREC_ALLURE": str(tmp_path / "no-allure")})
    _one_line_error(result, "report generator is missing", "npm ci")


def test_recorder_that_does_not_answer_is_reported_in_seconds(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        result = _arec("run", "--recorder", f"sip:127.0.0.1:{port}", "--report-dir", str(tmp_path / "r"), timeout=30)
    _one_line_error(result, "did not answer OPTIONS", f"127.0.0.1:{port}")


@pytest.mark.parametrize("target", ["127.0.0.1", "sip:host:notaport", "sip:127.0.0.1:5060;transport=sctp"])
def test_malformed_recorder_address(tmp_path: Path, target: str) -> None:
    _one_line_error(_arec("run", "--recorder", target, "--report-dir", str(tmp_path / "r")), "--recorder")


def test_recorder_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        result = _arec("recorder", "--listen", f"127.0.0.1:{port}", "--recordings", str(tmp_path / "rec"), timeout=30)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert re.search(rf"cannot listen on 127.0.0.1:{port}/udp: .*in use", result.stderr), result.stderr


def test_run_writes_an_offline_report_and_summary(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = _arec("run", "-k", "options_ping or not_set_to_record", "--report-dir", str(reports), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 passed" in result.stdout
    assert re.search(r"06 - .*: 1 passed, 0 failed", result.stdout)
    index = reports / "html" / "index.html"
    html = index.read_text(encoding="utf-8")
    assert external_urls(html) == []
    assert "googletagmanager" not in html
    assert (reports / "junit.xml").exists()
    again = _arec("report", "--report-dir", str(reports))
    assert again.returncode == 0 and "2/2 passed" in again.stdout
