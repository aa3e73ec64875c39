"""The @soak scenarios (an hour-long call) run only on demand: --arec-soak or AREC_SOAK=1."""

from __future__ import annotations

from harness.pytest_plugin import soak_enabled


def test_soak_runs_only_when_asked_for() -> None:
    assert not soak_enabled(False, {})
    assert not soak_enabled(False, {"AREC_SOAK": "0"}) and not soak_enabled(False, {"AREC_SOAK": ""})
    assert soak_enabled(True, {}) and soak_enabled(False, {"AREC_SOAK": "1"}) and soak_enabled(False, {"AREC_SOAK": "yes"})
