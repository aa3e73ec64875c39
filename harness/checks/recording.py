"""What the recording must show about the run-time control and the end of the call (seed steps
9 and 10), beyond the per-file checks of `harness.validators.recording`: the timeline kept
across a pause, a new recording after stop/start, a consistent recording when BYE came before
any RTP. Evidence: the recording validator's findings (by their fields, never their text) and
the scenario's facts (record ids, whether the sessions were set up)."""

from __future__ import annotations

from collections.abc import Sequence

from harness.checks._finding import violation
from harness.spec.findings import Finding

__all__ = ["bye_before_rtp", "pause_resume_timeline", "stop_start"]


def pause_resume_timeline(recording_findings: Sequence[Finding], profile: str, *,
                          calluuid: str | None = None) -> list[Finding]:
    """Genesys ARE step 9 (GIR pads paused periods with silence): after pause and resume the
    recording stays aligned with wall-clock time and holds every segment sent outside the pause.
    A recording whose time-code segments are missing or misplaced, or whose duration is not the
    wall-clock one (REC-AUDIO-COMPLETE of a stream), did not keep the timeline: one finding per
    stream."""
    by_stream: dict[str | None, Finding] = {}
    for finding in recording_findings:
        if finding.requirement_id == "REC-AUDIO-COMPLETE":
            by_stream.setdefault(finding.stream, finding)
    return [violation("ARE-09-PAUSE-RESUME", f"after pause/resume ({profile}) the recording is not complete and "
                      f"aligned: {gap.message}", observed=gap.observed, expected=gap.expected, evidence=gap.evidence,
                      calluuid=calluuid, stream=stream)
            for stream, gap in by_stream.items()]


def stop_start(record_ids: Sequence[str], *, calluuid: str | None = None) -> list[Finding]:
    """Genesys ARE step 9: stop then start gives a second recording, with its own record id."""
    if len(record_ids) == 2 and len(set(record_ids)) == 2:
        return []
    return [violation("ARE-09-STOP-START", "stop then start did not give two recordings",
                      observed=",".join(record_ids), expected="two distinct record ids", calluuid=calluuid)]


def bye_before_rtp(sessions_established: int, *, calluuid: str | None = None) -> list[Finding]:
    """Genesys ARE step 10, BYE before any RTP: the sessions were set up (then ended); what the
    recording must then be is judged by the recording validator (finalised, no audio)."""
    if sessions_established:
        return []
    return [violation("ARE-10-BYE-BEFORE-RTP", "no recording session of the call was established",
                      observed="no 2xx to the recording INVITEs", expected="sessions set up, then BYE",
                      calluuid=calluuid)]
