"""Old import path of the recorder under test and the command-template launcher.

The description of the recorder under test lives in `harness.recorders.under_test`, the one
launcher in `harness.recorders.launcher`, free ports in `harness.netutil`; these re-exports
keep existing imports working until callers move.
"""

from __future__ import annotations

from harness.netutil import free_port
from harness.recorders.launcher import (
    REFERENCE_COMMAND,
    REPO_ROOT,
    ManagedRecorder,
    stop_process,
    watch_output,
)
from harness.recorders.under_test import (
    ALL_PAUSE_PROFILES,
    ALL_SESSION_MODES,
    REFERENCE_CAPABILITIES,
    SIP_ONLY,
    Capabilities,
    RecorderUnderTest,
    parse_sip_target,
)

__all__ = ["ALL_PAUSE_PROFILES", "ALL_SESSION_MODES", "REFERENCE_CAPABILITIES", "REFERENCE_COMMAND", "REPO_ROOT",
           "SIP_ONLY", "Capabilities", "ManagedRecorder", "RecorderUnderTest", "free_port", "parse_sip_target",
           "stop_process", "watch_output"]
