"""Old import path of the profile recorder launcher: it lives in `harness.recorders.launcher`."""

from __future__ import annotations

from harness.recorders.launcher import RUN_SCOPED, ProfileRecorder, recorder_for, sip_ping

__all__ = ["RUN_SCOPED", "ProfileRecorder", "recorder_for", "sip_ping"]
