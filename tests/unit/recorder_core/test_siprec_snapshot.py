"""The reference SRS asks for a metadata snapshot (RFC 7866 §9.2) when a recording session was
set up without metadata and none followed: an UPDATE in the dialog with an
application/rs-metadata-request body; the SRC's 200 and its snapshot (an UPDATE with the
complete metadata) are taken in. Through the sans-IO core with a manual clock."""

from __future__ import annotations

from pathlib import Path

from harness.checks.siprec import snapshot_requested
from harness.protocol.sip.message import SipRequest, build_response, parse_message
from harness.protocol.siprec.session import METADATA_REQUEST_TYPE, SRS_FEATURE_TAG, has_feature_tag
from tests.unit.recorder_core.helpers import Driver, Leg
from tests.unit.recorder_core.test_siprec_corpus import URI, offer, recording_json

WAIT = 3.0  # RecorderConfig.metadata_wait_s


def _requests(driver: Driver) -> list[SipRequest]:
    return [m for m in (parse_message(o.data) for o in driver.core.data_to_send()) if isinstance(m, SipRequest)]


def _confirmed_without_metadata(driver: Driver) -> Leg:
    ok = driver.final(offer("no_initial_metadata.sip"))
    assert ok.status == 200 and ok.to.tag
    leg = Leg("rs-1", URI, ok.to.tag, [], 1)
    assert driver.send(driver.in_dialog("ack.sip", leg, cseq=1)) == []
    return leg


def _as_update(data: bytes) -> bytes:
    """A corpus INVITE turned into an in-dialog UPDATE with the same body (RFC 3311 §5.1)."""
    return data.replace(b"INVITE ", b"UPDATE ", 1).replace(b" INVITE\r\n", b" UPDATE\r\n", 1)


def test_no_metadata_after_the_wait_gets_one_snapshot_request_by_update(tmp_path: Path) -> None:
    driver = Driver(tmp_path)
    leg = _confirmed_without_metadata(driver)
    driver.advance(WAIT - 0.1)
    assert _requests(driver) == []
    driver.advance(0.2)
    (update,) = _requests(driver)
    assert update.method == "UPDATE" and update.call_id == "rs-1"
    assert update.content_type == METADATA_REQUEST_TYPE
    assert update.headers.get("Content-Disposition") == "recording-session"
    assert update.from_.tag == leg.to_tag and update.cseq.number == 1  # RFC 3261 §12.2.1.1
    assert has_feature_tag(update, SRS_FEATURE_TAG)
    assert snapshot_requested([update]) == []  # the check agrees it is a snapshot request
    driver.advance(10.0)
    assert _requests(driver) == []  # asked once
    # The SRC's 200 is taken as the answer to our request, not as a stray response.
    assert driver.send(build_response(update, 200, to_tag="src1").to_bytes(), ("127.0.0.1", 5070)) == []
    assert driver.core.counters["bad_sip"] == 0
    # The snapshot, in its own UPDATE transaction, is applied (RFC 7866 §9.2).
    snapshot = driver.final(_as_update(offer("rfc7866_basic.sip", cseq=2, to_tag=f";tag={leg.to_tag}")))
    assert snapshot.status == 200
    section = recording_json(tmp_path)["siprec"]
    assert isinstance(section, dict)
    assert section["snapshot_requested"] is True and section["snapshot_answer"] == 200
    assert section["metadata_received"] is True and len(section["participants"]) == 2


def test_metadata_before_the_wait_means_no_snapshot_request(tmp_path: Path) -> None:
    driver = Driver(tmp_path)
    leg = _confirmed_without_metadata(driver)
    driver.advance(WAIT / 2)
    assert driver.final(_as_update(offer("rfc7866_basic.sip", cseq=2, to_tag=f";tag={leg.to_tag}"))).status == 200
    driver.advance(WAIT * 2)
    assert _requests(driver) == []
    section = recording_json(tmp_path)["siprec"]
    assert isinstance(section, dict) and section["snapshot_requested"] is False


def test_initial_metadata_means_no_snapshot_request(tmp_path: Path) -> None:
    driver = Driver(tmp_path)
    ok = driver.final(offer("rfc7866_basic.sip"))
    assert driver.send(driver.in_dialog("ack.sip", Leg("rs-1", URI, ok.to.tag or "", [], 1), cseq=1)) == []
    driver.advance(WAIT * 2)
    assert _requests(driver) == []
