"""Steps of impaired media (features/14_impaired_media.feature, the media side of seed step 7):
the Media Server emulation's per-stream impairments (harness/media/impairments.py) and the
Then step judging what the recording kept of them (harness/checks/impaired_media.py)."""

from __future__ import annotations

import json
from dataclasses import replace

from pytest_bdd import given, parsers, then

from harness.bdd.helpers import recording_findings
from harness.bdd.stepdefs import step_fixtures
from harness.checks.impaired_media import (
    QUIET_REQUIREMENTS,
    TIMELINE_REQUIREMENTS,
    dtmf_in_metadata,
    impaired_recording,
)
from harness.conformance.impaired import impaired_sent, is_impaired
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge
from harness.emulators.sip_server import Side
from harness.media.impairments import parse_impairments
from harness.spec.findings import Finding
from harness.validators.recording import metadata_expected, stream_timecodes

IMPAIRED_REQUIREMENTS = (*TIMELINE_REQUIREMENTS, *QUIET_REQUIREMENTS)
# The Examples' columns, in the step's order, and the knob each one sets ("-": off).
_COLUMNS = ("loss", "burst", "outage", "reorder", "dup", "jitter", "late", "drift", "seqjump", "tsjump", "ssrc",
            "dtx", "dtmf", "ptime", "extras")


def impair_each_stream(run: ScenarioRun, knobs: str) -> None:
    """Both parties' replicas get the impairments of `knobs`; each side its own seed (the spec's
    seed * 2 + stream index), printed in the report's notes so the run can be replayed."""
    spec = parse_impairments(knobs)
    for index, side in enumerate((Side.CUSTOMER, Side.AGENT)):
        run.impairments[side] = replace(spec, seed=spec.seed * 2 + index)
        run.note(f"Media Server impairs the {side.value} stream: {run.impairments[side].describe()}")


@given(parsers.parse("the Media Server impairs each stream: loss {loss}, bursts {burst}, outage {outage}, "
                     "reorder {reorder}, duplicates {dup}, jitter {jitter}, late {late}, drift {drift}, "
                     "seq jump {seqjump}, ts jump {tsjump}, SSRC change {ssrc}, DTX {dtx}, DTMF {dtmf}, "
                     "ptime {ptime}, extras {extras}, seed {seed:d}"))
def _impaired(run: ScenarioRun, loss: str, burst: str, outage: str, reorder: str, dup: str, jitter: str, late: str,
              drift: str, seqjump: str, tsjump: str, ssrc: str, dtx: str, dtmf: str, ptime: str, extras: str,
              seed: int) -> None:
    cells = dict(zip(_COLUMNS, (loss, burst, outage, reorder, dup, jitter, late, drift, seqjump, tsjump, ssrc, dtx,
                                dtmf, ptime, extras), strict=True))
    knobs = [f"{name}={value}" for name, value in cells.items() if value != "-" and name != "extras"]
    knobs += [] if extras == "-" else extras.split("+")
    impair_each_stream(run, ",".join([*knobs, f"seed={seed}"]))


@then("the recording keeps the timeline of what reached the recorder")
def _timeline(run: ScenarioRun) -> None:
    findings: list[Finding] = list(recording_findings(run))  # skips when recordings are not visible
    assert run.active is not None
    streams = [s for s in run.active.streams if is_impaired(s)]
    located = run.located_recording()
    target = located.target if located is not None else run.evidence().recording_dir
    assert target is not None
    timecodes = stream_timecodes(target, run.expected_streams())
    calluuid = run.call.calluuid if run.call is not None else None
    exercised: set[str] = set()
    for stream in streams:
        sent = impaired_sent(stream)
        recorded = timecodes.get(sent.dn)
        for rid in IMPAIRED_REQUIREMENTS:
            if not sent.exercised(rid):
                continue
            exercised.add(rid)
            decoded = recorded.decoded if recorded is not None else ()
            audible = recorded.audible if recorded is not None else ()
            findings += impaired_recording(rid, sent, decoded, audible, calluuid=calluuid)
    judge(findings, list(IMPAIRED_REQUIREMENTS), "impaired media timeline",
          not_exercised=[r for r in IMPAIRED_REQUIREMENTS if r not in exercised])


@then("the recording's metadata notes the DTMF events sent")
def _dtmf_metadata(run: ScenarioRun) -> None:
    findings: list[Finding] = []
    assert run.active is not None
    located = run.located_recording()
    directory = run.evidence().recording_dir
    metadata = None if directory is None else directory / "recording.json"
    reference = located is not None and metadata_expected(located.target) and metadata is not None
    sent = [impaired_sent(s) for s in run.active.streams if is_impaired(s)]
    exercised = reference and any(s.dtmf_sent for s in sent)
    if exercised:
        assert metadata is not None
        doc = json.loads(metadata.read_text()) if metadata.is_file() else {}
        by_dn = {str(s.get("dn")): s for s in doc.get("streams", []) if isinstance(s, dict)}
        calluuid = run.call.calluuid if run.call is not None else None
        for stream in sent:
            noted = (by_dn.get(stream.dn, {}).get("rtp_stats") or {}).get("telephone_events")
            findings += dtmf_in_metadata(stream, noted if isinstance(noted, list) else None, calluuid=calluuid)
    judge(findings, ["REC-DTMF-METADATA"], "DTMF noted in the metadata",
          not_exercised=[] if exercised or not reference else ["REC-DTMF-METADATA"],
          not_applicable=[] if reference else ["REC-DTMF-METADATA"])


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())
