"""Media Server failover (GVP-HA): a dead session ends on an RTP timeout with the recorder's BYE,
and the new Media Server's sessions with the same parameters are accepted, not duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.protocol.sip.message import SipRequest, parse_message
from tests.unit.recorder_core.helpers import Driver, recording_uri, render, rtp_packet


@pytest.fixture
def driver(tmp_path: Path) -> Driver:
    return Driver(tmp_path / "rec", rtp_timeout_s=1.0)


def _requests(driver: Driver) -> list[SipRequest]:
    return [m for m in (parse_message(o.data) for o in driver.core.data_to_send()) if isinstance(m, SipRequest)]


def test_a_session_whose_rtp_stopped_is_ended_with_a_bye_in_its_dialog(driver: Driver) -> None:
    leg = driver.open_leg("dead-1", recording_uri("7001"))
    driver.rtp(leg.ports[0], [rtp_packet(n, n * 160) for n in range(10)])
    driver.advance(0.5)
    assert driver.core.active_sessions == 1 and _requests(driver) == []
    driver.advance(1.0)
    (bye,) = _requests(driver)
    assert bye.method == "BYE" and bye.call_id == "dead-1"
    assert bye.from_.tag == leg.to_tag  # RFC 3261 §12.2.1.1: our tag is the From tag now
    assert str(bye.uri) == "sip:mcp@127.0.0.1:5070"  # the INVITE's Contact (remote target)
    assert driver.core.active_sessions == 0
    # The dialog is gone: the dead Media Server's BYE, if it ever came, is answered 481.
    assert driver.final(driver.in_dialog("bye.sip", leg)).status == 481


def test_a_paused_session_is_not_timed_out(driver: Driver) -> None:
    leg = driver.open_leg("paused-1", recording_uri("7001"))
    assert driver.reinvite(leg, "reinvite_inactive.sip").status == 200
    driver.advance(3.0)
    assert _requests(driver) == [] and driver.core.active_sessions == 1


def test_no_timeout_configured_keeps_a_silent_session(tmp_path: Path) -> None:
    driver = Driver(tmp_path / "rec", rtp_timeout_s=None)
    driver.open_leg("silent-1", recording_uri("7001"))
    driver.advance(40.0)
    assert driver.core.active_sessions == 1


def test_the_failover_session_with_the_same_parameters_is_accepted_while_the_dead_one_lingers(
        driver: Driver) -> None:
    first = driver.open_leg("ms1-leg", recording_uri("7001", record_id="R1"))
    # Same calluuid, record id and dn, from the new Media Server: a new Call-ID (a new dialog).
    ok = driver.final(render("invite_pcmu.sip", uri=recording_uri("7001", record_id="R1"), call_id="ms2-leg",
                             cseq=1, to_tag=""))
    assert ok.status == 200
    assert driver.core.active_sessions == 2
    assert first.call_id != "ms2-leg"


def test_a_session_offered_inactive_from_the_start_is_not_timed_out(driver: Driver) -> None:
    # RFC 3264 §6.1: an inactive stream carries no media, so its silence is not a dead peer.
    ok = driver.final(render("reinvite_inactive.sip", uri=recording_uri("7001"), call_id="inactive-1", cseq=1,
                             to_tag=""))
    assert ok.status == 200 and b"a=inactive" in ok.body
    driver.advance(3.0)
    assert _requests(driver) == [] and driver.core.active_sessions == 1


def test_the_failover_outage_is_marked_as_a_gap_in_the_recording(driver: Driver) -> None:
    # GVP-HA: the new Media Server's stream of the DN starts after the outage; recording.json
    # names that silence as a gap (start/end from t0, reason), the length of the outage.
    first = driver.open_leg("ms1-gap", recording_uri("7001", record_id="R2"))
    driver.rtp(first.ports[0], [rtp_packet(n, n * 160) for n in range(10)])  # ends at +0.2 s
    driver.advance(0.5)
    second = driver.open_leg("ms2-gap", recording_uri("7001", record_id="R2"))
    driver.rtp(second.ports[0], [rtp_packet(n, n * 160, ssrc=0x55) for n in range(5)])
    driver.advance(0.3)  # the storage work runs
    (doc,) = driver.documents()
    (gap,) = doc["gaps"]
    assert gap["dn"] == "7001" and gap["reason"] == "media-server-failover"
    assert gap["call_id"] == "ms2-gap" and gap["previous_call_id"] == "ms1-gap"
    assert gap["duration"] == pytest.approx(0.5, abs=1e-3)
    assert gap["end"] - gap["start"] == pytest.approx(gap["duration"], abs=1e-5)


def test_a_first_session_of_a_dn_marks_no_gap(driver: Driver) -> None:
    leg = driver.open_leg("only-1", recording_uri("7001", record_id="R3"))
    driver.rtp(leg.ports[0], [rtp_packet(n, n * 160) for n in range(10)])
    (doc,) = driver.documents()
    assert doc.get("gaps", []) == []
