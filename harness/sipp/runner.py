"""Run one Media Server -> recorder leg as a real SIPp process (Genesys ARE step 6).

Genesys GVP Media Server opens one recording session per replicated RTP stream (or one
session with two ``m=audio`` lines in single-session mode) towards the recorder, with the
call context in the Request-URI (GVP-MSRec)::

    sip:record=<id>@<recorder>;calluuid=<CallUUID>;dn=<DN>;recordDN=<DN>
    sip:record=<id>@<recorder>;calluuid=<CallUUID>;dn=DN1;otherDN=DN2;recordDN=DN1

Each leg here is a SIPp 3.6 UAC running a scenario kept in ``scenarios/`` and filled in per
call with ``-key`` values and an ``offer.sdp`` file in the leg's work directory. SIPp carries
the signalling only; RTP comes from arec's own sender. Run-time control (re-INVITE for
pause/resume, BYE at a moment chosen by the test) goes through SIPp's 3PCC twin socket,
driven by :class:`harness.sipp.twin.SippControl`.

The concerns live in their own modules; this one keeps the names callers import:

* `harness.sipp.leg` - the leg's values and what fills its scenario XML (keys, Request-URI, offer);
* `harness.sipp.command` - the SIPp command line (pure);
* `harness.sipp.process` - running the process (ports, start, wait, terminate; the OPTIONS ping);
* `harness.sipp.results` - reading its exit code, statistics and error log back.

SIPp's exit code is EVIDENCE for the report, never the verdict: validators judge the capture.
"""

from __future__ import annotations

from harness.netutil import free_port
from harness.sipp.command import SIPP_MISSING, TracePaths, build_command, sipp_available
from harness.sipp.leg import OFFER_FILE, PCMA, PCMU, SCENARIO_DIR, Codec, Scenario, SippLeg, Transport
from harness.sipp.process import _SIPP_MEDIA_RANGE, SippProcess, SippStartError, run_options, sipp_media_port
from harness.sipp.results import (
    EXIT_CODES,
    SippResult,
    explain_exit,
    parse_error_log,
    parse_stat_csv,
    significant_errors,
)

__all__ = [
    "EXIT_CODES", "OFFER_FILE", "PCMA", "PCMU", "SCENARIO_DIR", "SIPP_MISSING", "_SIPP_MEDIA_RANGE", "Codec",
    "Scenario", "SippLeg", "SippProcess", "SippResult", "SippStartError", "TracePaths", "Transport",
    "build_command", "explain_exit", "free_port", "parse_error_log", "parse_stat_csv", "run_options",
    "significant_errors", "sipp_available", "sipp_media_port",
]
