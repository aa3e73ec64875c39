"""`arec validate` lists as exercised exactly what a capture can show, and only requirements the
registry says a capture can judge (harness.checks.registry)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness.checks.registry import offline_requirements
from harness.cli import main

PCAPS = Path(__file__).resolve().parents[3] / "pcaps"
REINVITE_IDS = {"SIP-REINVITE-ANSWERED", "SDP-ORIGIN-KEPT", "SDP-ANSWER-INACTIVE"}


def _exercised(name: str) -> set[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["validate", str(PCAPS / f"{name}.pcap"), "--format", "json"]) in (0, 1)
    doc: dict[str, Any] = json.loads(out.getvalue())
    return {r["id"] for r in doc["requirements"]}


def test_a_capture_with_pause_reinvites_exercises_the_reinvite_requirements() -> None:
    # The golden capture pauses with a=inactive and resumes with a=sendonly (pcaps/README.md).
    assert _exercised("pause-reinvite") >= REINVITE_IDS


@pytest.mark.parametrize("name", ["two-session", "pause-rtp-stops"])
def test_a_capture_without_reinvites_does_not_claim_them(name: str) -> None:
    assert not REINVITE_IDS & _exercised(name)


@pytest.mark.parametrize("name", ["two-session", "single-session", "pause-reinvite", "faulty-sendrecv"])
def test_only_offline_judgeable_requirements_are_listed(name: str) -> None:
    offline = {j.requirement_id for j in offline_requirements()}
    assert _exercised(name) <= offline
