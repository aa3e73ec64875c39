"""The Genesys ARE recording Request-URI (GVP-MSRec, docs/genesys-flow.md §4.2)."""

import pytest

from harness.protocol.errors import RemoteProtocolError
from harness.protocol.genesys import RecordingTarget, build_recording_uri, parse_recording_uri
from harness.protocol.sip.uri import SipUri

CALLUUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"


def test_two_session_uri_from_the_genesys_example() -> None:
    uri = SipUri.parse(f"sip:record=0A1B2C3D4E5F@rec1.example:5060;calluuid={CALLUUID};dn=7001;recordDN=7001")
    target = parse_recording_uri(uri)
    assert target == RecordingTarget("0A1B2C3D4E5F", CALLUUID, "7001", "7001", None, ())
    assert not target.single_session


def test_single_session_uri_has_other_dn() -> None:
    uri = SipUri.parse(f"sip:record=X1@rec;calluuid={CALLUUID};dn=7001;otherDN=5551234;recordDN=7001")
    target = parse_recording_uri(uri)
    assert target.other_dn == "5551234" and target.single_session


def test_parameter_names_are_case_insensitive_rfc3261_19_1_4() -> None:
    uri = SipUri.parse(f"sip:record=X1@rec;CallUUID={CALLUUID};DN=7001;RECORDDN=7001;gvp-tenant-id=5")
    target = parse_recording_uri(uri)
    assert (target.calluuid, target.dn, target.record_dn) == (CALLUUID, "7001", "7001")
    assert target.extra == (("gvp-tenant-id", "5"),)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("sip:alice@rec;calluuid=A;dn=1", 404),  # not a recording target
        ("sip:record=@rec;calluuid=A;dn=1", 400),  # empty id
        ("sip:record=X@rec;dn=1", 400),  # no calluuid: the sessions could not be correlated
        ("sip:record=X@rec;calluuid=A", 400),  # no dn: the stream could not be labelled
    ],
)
def test_non_recording_uris_are_rejected_with_the_right_status(text: str, status: int) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        parse_recording_uri(SipUri.parse(text))
    assert caught.value.status == status


def test_build_round_trips_through_the_parser() -> None:
    target = RecordingTarget("0A1B", CALLUUID, "7001", "5551234", "7002")
    uri = build_recording_uri(target, "127.0.0.1", 5070)
    text = str(uri)
    assert text.startswith("sip:record=0A1B@127.0.0.1:5070;calluuid=")
    assert parse_recording_uri(SipUri.parse(text)) == target
