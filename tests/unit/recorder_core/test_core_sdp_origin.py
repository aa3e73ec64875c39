"""The reference recorder's answers to re-INVITEs keep its o= line (RFC 3264 §8), checked with
the same check the conformance suite applies to any recorder (harness.checks.sdp_answers)."""

from __future__ import annotations

from pathlib import Path

from harness.checks.sdp_answers import AnswerContext, check_origin_kept
from harness.protocol.sdp import parse_sdp
from harness.spec.findings import Evidence
from tests.unit.recorder_core.helpers import Driver, Leg, recording_uri, render


def test_reinvite_answers_keep_the_origin_and_increment_the_version(tmp_path: Path) -> None:
    driver = Driver(tmp_path / "rec")
    driver.open_leg("other", recording_uri("7002"))  # a second session takes the next sess-id
    ok = driver.final(render("invite_pcmu.sip", uri=recording_uri("7001"), call_id="c1", cseq=1, to_tag=""))
    assert ok.status == 200 and ok.to.tag
    leg = Leg("c1", recording_uri("7001"), ok.to.tag, [m.port for m in parse_sdp(ok.body).media])
    driver.send(driver.in_dialog("ack.sip", leg, cseq=1))
    previous = ok.body
    versions = []
    for fixture in ("reinvite_inactive.sip", "reinvite_sendonly.sip", "reinvite_inactive.sip"):
        answer = driver.reinvite(leg, fixture)
        assert answer.status == 200
        context = AnswerContext("c1", Evidence(), reinvite=True)
        assert check_origin_kept(parse_sdp(previous), previous, parse_sdp(answer.body), answer.body, context) == []
        versions.append(parse_sdp(answer.body).origin.session_version)
        assert parse_sdp(answer.body).origin.session_id == parse_sdp(ok.body).origin.session_id
        previous = answer.body
    assert versions == ["2", "3", "4"]
