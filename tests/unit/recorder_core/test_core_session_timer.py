"""The reference recorder's session timers (RFC 4028): 422 + Min-SE below 90 s, Session-Expires
granted with refresher=uac and Require: timer, refresh by UPDATE, and the session ended when the
refreshes stop (§10: min(32 s, interval/3) before expiry)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.recorder_core.helpers import Driver, Leg, recording_uri, render

URI = recording_uri("7001")


def _with_timer(data: bytes, interval: int) -> bytes:
    return data.replace(b"User-Agent:", b"Supported: timer\r\nSession-Expires: %d;refresher=uac\r\nUser-Agent:"
                        % interval, 1)


def _open(driver: Driver, interval: int) -> Leg:
    ok = driver.final(_with_timer(render("invite_pcmu.sip", uri=URI, call_id="st1", cseq=1, to_tag=""), interval))
    assert ok.status == 200 and ok.headers.get("Session-Expires") == f"{interval};refresher=uac"
    assert "timer" in ok.headers.get_all("Require")
    leg = Leg("st1", URI, ok.to.tag or "", [], 1)
    driver.send(driver.in_dialog("ack.sip", leg, cseq=1))
    return leg


def _end_reason(driver: Driver) -> str | None:
    (doc,) = driver.documents()
    return doc["streams"][0]["end_reason"]


def test_an_interval_below_90_seconds_gets_422_with_min_se(tmp_path: Path) -> None:
    driver = Driver(tmp_path)
    answer = driver.final(_with_timer(render("invite_pcmu.sip", uri=URI, call_id="st0", cseq=1, to_tag=""), 30))
    assert answer.status == 422 and answer.headers.get("Min-SE") == "90"
    assert driver.ports.live == set()  # nothing allocated for a refused session


def test_the_session_ends_when_the_refreshes_stop(tmp_path: Path) -> None:
    driver = Driver(tmp_path)
    _open(driver, 90)
    driver.advance(59.0)
    assert _end_reason(driver) is None
    driver.advance(2.0)  # 90 - min(32, 30) = 60 s after the 200
    assert _end_reason(driver) == "session timer expired"


def test_an_update_refresh_restarts_the_timer(tmp_path: Path) -> None:
    driver = Driver(tmp_path)
    leg = _open(driver, 90)
    driver.advance(50.0)
    update = driver.in_dialog("info.sip", leg).replace(b"INFO", b"UPDATE")
    ok = driver.final(_with_timer(update.replace(b"Content-Length:", b"User-Agent: t\r\nContent-Length:"), 90))
    assert ok.status == 200 and ok.headers.get("Session-Expires") == "90;refresher=uac"
    driver.advance(50.0)
    assert _end_reason(driver) is None  # 100 s after the INVITE, 50 s after the refresh
    driver.advance(11.0)
    assert _end_reason(driver) == "session timer expired"


def test_without_a_session_timer_the_session_stays_until_bye(tmp_path: Path) -> None:
    driver = Driver(tmp_path)
    driver.open_leg("st2", URI)
    driver.advance(400.0)
    assert _end_reason(driver) is None


def test_the_recorder_sends_bye_when_the_refreshes_stop(tmp_path: Path) -> None:
    # RFC 4028 §10: the side not refreshing "SHOULD send a BYE to terminate the session, slightly
    # before the session expiration"; the dialog is then gone (a late BYE gets 481).
    from harness.protocol.sip.message import SipRequest, parse_message

    driver = Driver(tmp_path)
    leg = _open(driver, 90)
    driver.advance(59.0)
    assert driver.core.data_to_send() == []
    driver.advance(2.0)
    (bye,) = [m for m in (parse_message(o.data) for o in driver.core.data_to_send()) if isinstance(m, SipRequest)]
    assert bye.method == "BYE" and bye.call_id == "st1" and bye.from_.tag == leg.to_tag
    assert "Session timer expired" in (bye.headers.get("Reason") or "")
    assert driver.final(driver.in_dialog("bye.sip", leg)).status == 481
