"""The recording judgement as a load worker's judge process runs it (JSON lines over a pipe)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.load.call import JudgeRequest, judge

pytestmark = pytest.mark.integration  # starts the judge process

REPO = Path(__file__).resolve().parents[3]


def _request(root: Path) -> JudgeRequest:
    return JudgeRequest(str(root), "", "C" * 32, "R1", ("7001", "7002"), ("a@x", "b@x"), (100, 100), 2.0, 0.2)


def test_request_round_trip(tmp_path: Path) -> None:
    request = _request(tmp_path)
    assert JudgeRequest.from_json(json.loads(json.dumps(request.to_json()))) == request


def test_a_call_without_files_is_judged_missing(tmp_path: Path) -> None:
    ids, reasons = judge(_request(tmp_path))
    assert "REC-FILES-PRESENT" in ids
    assert any("recording.json" in r for r in reasons)


def test_the_judge_process_answers_each_request_by_id(tmp_path: Path) -> None:
    lines = [json.dumps({"id": n, "request": _request(tmp_path).to_json()}) for n in (7, 8)] + ["not json"]
    out = subprocess.run([sys.executable, "-m", "harness.load.judge"], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, timeout=60, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    replies = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in replies] == [7, 8, None]
    assert all("REC-FILES-PRESENT" in r["requirement_ids"] for r in replies)
    assert "judge failed" in replies[2]["reasons"][0]
