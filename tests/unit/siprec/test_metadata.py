"""RFC 7865 metadata: parse, build, partial updates, foreign namespaces ignored."""

from __future__ import annotations

import pytest

from harness.protocol.siprec.metadata import (
    Association,
    CommunicationSession,
    MetadataError,
    Participant,
    RecordingMetadata,
    Stream,
    apply_update,
    build_metadata,
    parse_metadata,
)

BASE = RecordingMetadata(
    "complete",
    (CommunicationSession("cs1", ("4b0c11aa3f6e4c3b8d1e2f0a9c8b7d6e",), "2026-12-04T01:00:00Z"),),
    (Participant("pA", ("sip:7001@agents.example.com",), ("Agent",)), Participant("pC", ("sip:cust@example.net",))),
    (Stream("s1", "cs1", "1"), Stream("s2", "cs1", "2")),
    (Association("pA", ("s1",), ("s2",)), Association("pC", ("s2",), ("s1",))),
)


def test_build_then_parse_is_identity() -> None:
    assert parse_metadata(build_metadata(BASE)) == BASE
    assert BASE.label_senders() == {"1": ("pA",), "2": ("pC",)}


def test_foreign_elements_are_skipped_and_listed() -> None:
    doc = build_metadata(BASE, extensions={"pA": {"{urn:ietf:params:xml:ns:Genesys}GenesysUUID": "4BOK"},
                                           "cs1": {"{urn:example:cc}queue": "Sales"}})
    parsed = parse_metadata(doc)
    assert parsed == BASE
    assert set(parsed.extensions) == {"{urn:ietf:params:xml:ns:Genesys}GenesysUUID", "{urn:example:cc}queue"}


def test_hold_partial_update_leaves_the_held_party_receiving_only() -> None:
    hold = RecordingMetadata("partial", associations=(Association("pC", (), ("s1",)),))
    after = apply_update(BASE, hold)
    assert after.datamode == "complete"
    assert after.label_senders() == {"1": ("pA",), "2": ()}
    assert after.participants == BASE.participants


def test_transfer_partial_update_replaces_a_participant() -> None:
    transfer = RecordingMetadata(
        "partial", participants=(Participant("pB", ("sip:7002@agents.example.com",)),),
        associations=(Association("pA", disassociate_time="2026-12-04T01:00:02Z"), Association("pB", ("s1",), ("s2",))))
    after = apply_update(BASE, transfer)
    assert after.label_senders() == {"1": ("pB",), "2": ("pC",)}
    left = next(a for a in after.associations if a.participant_id == "pA")
    assert not left.active and left.send == ("s1",)


def test_complete_update_replaces() -> None:
    fresh = RecordingMetadata("complete", streams=(Stream("s9", None, "9"),))
    assert apply_update(BASE, fresh) == fresh


@pytest.mark.parametrize("doc", [
    b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'><datamode>complete",  # not well-formed
    b"<recording xmlns='urn:example:other'/>",  # wrong namespace
    b"<recording/>",  # no namespace
    b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'><datamode>some</datamode></recording>",
    b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'><stream><label>1</label></stream></recording>",
    b"<!DOCTYPE r [<!ENTITY a 'aaaa'>]><recording xmlns='urn:ietf:params:xml:ns:recording:1'/>",
])
def test_unusable_documents_are_400(doc: bytes) -> None:
    with pytest.raises(MetadataError) as caught:
        parse_metadata(doc)
    assert caught.value.status == 400


def test_missing_datamode_means_complete() -> None:
    assert parse_metadata(b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'/>").datamode == "complete"
