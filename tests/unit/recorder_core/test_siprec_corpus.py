"""The reference recorder as a SIPREC SRS, through its sans-IO core, on the corpus of offers in
tests/fixtures/siprec (SBC styles: +xml and plain rs-metadata, quoted boundary, extra
namespaces, metadata first, LF-only body, no initial metadata; and two it must refuse)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.protocol.sdp import Direction, parse_sdp
from harness.protocol.sip.message import SipResponse
from harness.protocol.siprec.session import SRS_FEATURE_TAG, has_feature_tag
from tests.unit.recorder_core.helpers import Driver

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "siprec"
URI = "sip:srs@127.0.0.1:5060"
ACCEPTED = ["rfc7866_basic.sip", "sbc_rs_metadata_genesys_ext.sip", "metadata_first_extra_namespaces.sip",
            "lf_only_body.sip", "no_initial_metadata.sip"]


def offer(name: str, call_id: str = "rs-1", cseq: int = 1, to_tag: str = "") -> bytes:
    raw = (CORPUS / name).read_bytes()
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep and b"{{" not in body
    text = head.decode().replace("{{URI}}", URI).replace("{{CALL_ID}}", call_id)
    text = text.replace("{{CSEQ}}", str(cseq)).replace("{{TO_TAG}}", to_tag)
    return text.encode() + sep + body


def recording_json(root: Path) -> dict[str, object]:
    files = sorted(root.rglob("recording.json"))
    assert len(files) == 1, files
    data: dict[str, object] = json.loads(files[0].read_text())
    return data


def answer_labels(ok: SipResponse) -> list[tuple[str | None, Direction]]:
    sdp = parse_sdp(ok.body)
    return [(m.label, m.direction(sdp)) for m in sdp.media]


@pytest.mark.parametrize("name", ACCEPTED)
def test_corpus_offer_is_answered_recvonly_per_label_with_srs_tag(tmp_path: Path, name: str) -> None:
    driver = Driver(tmp_path)
    ok = driver.final(offer(name))
    assert ok.status == 200, (ok.status, ok.reason)
    assert has_feature_tag(ok, SRS_FEATURE_TAG)
    labels = [label for label, _ in answer_labels(ok)]
    assert len(labels) == 2 and all(labels), labels
    assert {d for _, d in answer_labels(ok)} == {Direction.RECVONLY}


@pytest.mark.parametrize("name", [n for n in ACCEPTED if n != "no_initial_metadata.sip"])
def test_corpus_metadata_is_kept_in_recording_json(tmp_path: Path, name: str) -> None:
    driver = Driver(tmp_path)
    assert driver.final(offer(name)).status == 200
    doc = recording_json(tmp_path)
    section = doc["siprec"]
    assert isinstance(section, dict)
    assert section["metadata_received"] is True
    participants = {p["aors"][0]: p["sends"] for p in section["participants"]}
    labels = [s["label"] for s in section["streams"]]
    assert participants == {"sip:7001@agents.example.com": [labels[0]],
                            "sip:+15551230000@pstn.example.net": [labels[1]]}
    # Each labelled stream has today's file layout: the label is the stream's DN.
    assert sorted(s["dn"] for s in doc["streams"]) == sorted(labels)  # type: ignore[union-attr]
    # The CallUUID is the communication session's Session-ID (RFC 7989, <sipSessionID>).
    assert doc["calluuid"] == "4b0c11aa3f6e4c3b8d1e2f0a9c8b7d6e"


def test_vendor_extensions_are_ignored_but_listed(tmp_path: Path) -> None:
    driver = Driver(tmp_path)
    assert driver.final(offer("metadata_first_extra_namespaces.sip")).status == 200
    section = recording_json(tmp_path)["siprec"]
    assert isinstance(section, dict)
    assert "{urn:example:callcenter:1}callData" in section["ignored_extensions"]


def test_require_of_an_unknown_extension_gets_420_unsupported(tmp_path: Path) -> None:
    refused = Driver(tmp_path).final(offer("require_unknown_extension.sip"))
    assert refused.status == 420
    assert refused.headers.get("Unsupported") == "x-vendor-magic"


def test_siprec_without_src_feature_tag_is_not_a_recording_session(tmp_path: Path) -> None:
    refused = Driver(tmp_path).final(offer("missing_src_feature_tag.sip"))
    assert refused.status == 403
    assert not list(tmp_path.rglob("recording.json"))


def test_metadata_sent_later_by_reinvite_is_applied(tmp_path: Path) -> None:
    driver = Driver(tmp_path)
    ok = driver.final(offer("no_initial_metadata.sip"))
    assert ok.status == 200
    section = recording_json(tmp_path)["siprec"]
    assert isinstance(section, dict) and section["metadata_received"] is False
    tag = f";tag={ok.to.tag}"
    later = driver.final(offer("rfc7866_basic.sip", cseq=2, to_tag=tag))
    assert later.status == 200 and has_feature_tag(later, SRS_FEATURE_TAG)
    section = recording_json(tmp_path)["siprec"]
    assert isinstance(section, dict) and section["metadata_received"] is True
    assert len(section["participants"]) == 2
