"""The golden captures in `pcaps/`: which scenario makes each, and how `arec validate` output
is reduced to what the expected files keep.

Shared by `scripts/regenerate_pcaps.py` (writes `pcaps/<name>.pcap` and
`pcaps/<name>.expected.json`) and `tests/unit/test_golden_pcaps.py` (compares). What is kept
is what must not change unnoticed: per requirement id and severity the number of findings, the
number of calls, SIP dialogs and RTP streams, and per RTP stream its packet numbers. Message
text, addresses, ports, SSRCs and CallUUIDs are left out: the emulation picks free ports and
random CallUUIDs on each regeneration, and the messages' wording may change.

The JSON is read defensively (`.get` with defaults, two layouts of the findings): the offline
pipeline's output may gain fields.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

REPO: Final = Path(__file__).resolve().parents[1]
PCAPS: Final = REPO / "pcaps"
# Per-stream numbers that a fixed capture fixes (timing-derived ones such as jitter are
# compared as well by the validator's own findings, not here, to keep the files readable).
STREAM_FIELDS: Final = ("payload", "packets", "expected", "lost", "seq_errs", "ssrc_changes", "marker_count")
# ("calls" is left out: the validator counts the calls that have findings there.)
SUMMARY_FIELDS: Final = ("sip_dialogs", "rtp_streams", "rtp_malformed")


@dataclass(frozen=True, slots=True)
class Golden:
    """One golden capture: the Gherkin scenario whose run makes it, and what it must show.

    `keyword`: the pytest `-k` expression selecting exactly one scenario. `fault`: the
    `tests/doubles/faulty_recorder.py` fault of the recorder (None: the reference recorder).
    `must_fail`: requirement ids whose MUST findings the capture is there to show (a
    regeneration that does not show them is refused); every other MUST finding refuses it too.
    `dialogs` / `streams`: how many SIP dialogs and RTP streams the capture must hold.
    """

    name: str
    keyword: str
    shows: str
    dialogs: int
    streams: int
    fault: str | None = None
    must_fail: frozenset[str] = field(default_factory=frozenset)


GOLDEN: Final = (
    Golden("two-session", "recorder_accepts_the_recording_sessions and two-session-PCMU",
           "two recording sessions (one per party, PCMU, 1 s), a=sendonly offers answered a=recvonly, "
           "one RTP stream on each session, BYE on each", dialogs=2, streams=2),
    Golden("single-session", "recorder_accepts_the_recording_sessions and single-session-PCMU",
           "one recording session with two m=audio lines (PCMU, 1 s): both parties' RTP on one dialog",
           dialogs=1, streams=2),
    Golden("pause-rtp-stops", "pause_and_resume_midcall_by_the_requester and recorder-rtp-stops",
           "pause and resume by the recorder over T-Lib; while paused the Media Server sends no RTP "
           "(a 1 s gap in each stream, sequence numbers continue, marker bit after the gap)", dialogs=2, streams=2),
    Golden("pause-silence", "pause_and_resume_midcall_by_the_requester and recorder-silence",
           "pause and resume by the recorder; while paused the Media Server sends codec silence "
           "(no gap in the packets, silent payload)", dialogs=2, streams=2),
    Golden("pause-reinvite", "pause_and_resume_midcall_by_the_requester and recorder-reinvite",
           "pause and resume by the recorder; the Media Server re-INVITEs each session with "
           "a=inactive to pause and a=sendonly to resume", dialogs=2, streams=2),
    Golden("refused-488", "offer_with_no_codec",
           "an offer with no codec the recorder supports, refused with 488 Not Acceptable Here "
           "(INVITE, 100, 488, ACK; no RTP)", dialogs=1, streams=0),
    Golden("faulty-sendrecv", "recorder_accepts_the_recording_sessions and two-session-PCMU",
           "a faulty recorder (tests/doubles/faulty_recorder.py --fault sendrecv) answering the sendonly "
           "offers a=sendrecv: what a MUST violation looks like", dialogs=2, streams=2,
           fault="sendrecv", must_fail=frozenset({"SDP-ANSWER-RECVONLY"})),
)


def _int(value: Any) -> int:  # a port or SSRC, for ordering only
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _severity(finding: Any, default: Any) -> str:
    return str(finding.get("severity", default) if isinstance(finding, Mapping) else default)


def finding_counts(doc: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """{requirement id: {severity: number of findings}} from `arec validate --format json`.

    Reads the per-call layout (``calls[].requirements[] {id, severity, findings[]}``) or a flat
    ``findings`` list of finding objects (``requirement_id``, ``severity``)."""
    counts: Counter[tuple[str, str]] = Counter()
    flat = doc.get("findings")
    if isinstance(flat, list):
        for finding in flat:
            if isinstance(finding, Mapping):
                rid = finding.get("requirement_id") or finding.get("id")
                counts[(str(rid), _severity(finding, None))] += 1
    else:
        for call in doc.get("calls") or []:
            for requirement in (call or {}).get("requirements") or []:
                for finding in requirement.get("findings") or []:
                    counts[(str(requirement.get("id")), _severity(finding, requirement.get("severity")))] += 1
    out: dict[str, dict[str, int]] = {}
    for (rid, severity), n in sorted(counts.items()):
        out.setdefault(rid, {})[severity] = n
    return out


def stream_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The per-stream RTP numbers, in capture order of (source port, destination port): the
    addresses themselves are not kept."""
    rows = [r for r in doc.get("rtp_streams") or [] if isinstance(r, Mapping)]
    rows.sort(key=lambda r: (_int(r.get("src_port")), _int(r.get("dst_port")), _int(r.get("ssrc"))))
    return [{name: row.get(name) for name in STREAM_FIELDS} for row in rows]


def reduce(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What an expected file holds, from one `arec validate --format json` document."""
    summary = doc.get("summary") or {}
    return {
        "error": doc.get("error"),
        "summary": {name: summary.get(name) for name in SUMMARY_FIELDS},
        "findings": finding_counts(doc),
        "rtp_streams": stream_rows(doc),
    }


def refusals(golden: Golden, reduced: Mapping[str, Any]) -> list[str]:
    """Why a freshly made capture cannot become the golden one (empty: it can)."""
    problems = []
    if reduced["error"]:
        problems.append(f"the capture does not read cleanly: {reduced['error']}")
    if reduced["summary"].get("sip_dialogs") != golden.dialogs:
        problems.append(f"{reduced['summary'].get('sip_dialogs')} SIP dialogs, expected {golden.dialogs}")
    if reduced["summary"].get("rtp_streams") != golden.streams:
        problems.append(f"{reduced['summary'].get('rtp_streams')} RTP streams, expected {golden.streams}")
    failing = {rid for rid, by in reduced["findings"].items() if by.get("MUST")}
    if failing != set(golden.must_fail):
        problems.append(f"MUST findings for {sorted(failing)}, expected {sorted(golden.must_fail)}")
    return problems
