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
