import dataclasses

import pytest

from harness.spec.catalogue import UnknownRequirement, load_catalogue, requirement
from harness.spec.findings import Evidence, Finding, Severity


def test_catalogue_loads_with_unique_ids_and_valid_steps() -> None:
    catalogue = load_catalogue()
    assert len(catalogue) >= 20
    for req in catalogue.values():
        assert req.id == req.id.strip().upper()
        assert 1 <= req.step <= 10
        assert req.statement and req.source


def test_unknown_requirement_is_an_error() -> None:
    with pytest.raises(UnknownRequirement):
        requirement("NOT-A-REQUIREMENT")


def test_finding_serialises_with_severity_value() -> None:
    finding = Finding(
        "SDP-ANSWER-RECVONLY", Severity.MUST, "answer is sendrecv",
        Evidence(packet_index=3, header_line="a=sendrecv"), observed="sendrecv", expected="recvonly",
    )
    data = finding.to_json()
    assert data["severity"] == "MUST"
    assert data["evidence"]["packet_index"] == 3
    assert "SDP-ANSWER-RECVONLY" in str(finding) and "recvonly" in str(finding)
    # Written out field by field (no deep copy): the same dict, in the same order, as asdict's.
    expected = dataclasses.asdict(finding)
    expected["severity"] = "MUST"
    assert list(data.items()) == list(expected.items())


def test_requirements_about_the_emulated_flow_say_so() -> None:
    # A requirement judged on arec's own SIP Server / Media Server emulation passes whatever the
    # recorder does; the report must not present it as the recorder's achievement.
    catalogue = load_catalogue()
    emulated = {r.id for r in catalogue.values() if r.judged_on != "recorder"}
    assert {"ARE-01-DN-ALWAYS-RECORD", "ARE-05-MEDIA-CONTROL-PER-PARTY"} <= emulated
    assert "not on the recorder" in catalogue["ARE-01-DN-ALWAYS-RECORD"].display_statement
    assert catalogue["SDP-ANSWER-RECVONLY"].display_statement == catalogue["SDP-ANSWER-RECVONLY"].statement
