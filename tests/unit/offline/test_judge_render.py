"""`judge` over plain evidence, and the renderers' wording on clean and incomplete captures."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

from harness.offline import render_json, render_junit, render_text
from harness.offline.judge import OfflineEvidence, judge
from harness.validators.replication import ReplicationReport
from harness.validators.rtp import RtpAnalyzer
from harness.validators.sip import SipReport


def _evidence(**kw: object) -> OfflineEvidence:
    return OfflineEvidence(Path("c.pcap"), SipReport([], {}), RtpAnalyzer().finish(), ReplicationReport([], []),
                           False, **kw)  # type: ignore[arg-type]


def test_clean_empty_capture_says_so(tmp_path: Path) -> None:
    result = judge(_evidence())
    assert result.exit_code == 0 and result.exercised == []
    text = render_text(result)
    assert "No findings." in text and "0 finding(s)" in text and "INCOMPLETE" not in text
    assert json.loads(render_json(result))["summary"]["complete"] is True


def test_unreadable_capture_is_never_rendered_clean(tmp_path: Path) -> None:
    error = "c.pcap: truncated record header (3 of 16 bytes) at byte offset 100"
    result = judge(_evidence(read_error=error, recordings=tmp_path))
    assert result.exit_code == 2 and result.recordings_checked == []  # recordings not judged on a cut capture
    text = render_text(result)
    assert "0 finding(s)" not in text and "No findings." not in text
    assert text.count("INCOMPLETE") == 3 and error in text
    doc = json.loads(render_json(result))
    assert doc["error"] == error and doc["summary"]["complete"] is False
    errors = [c for c in ElementTree.fromstring(render_junit(result)).iter("testcase") if c.find("error") is not None]
    assert [c.get("name") for c in errors] == ["capture-readable"]
