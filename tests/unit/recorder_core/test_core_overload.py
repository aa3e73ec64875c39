"""Overload: functional facts only (the rates are measured by bench/bench_recorder_overload.py).

Every INVITE beyond capacity gets one 503 with Retry-After and leaves no state behind;
OPTIONS pings are answered without state; ACK-timeout dialogs are reclaimed from every table.
Before: each 503 and each OPTIONS 200 kept a server transaction for 64*T1 = 32 s (the 503
retransmitted ten times to a flood that never ACKs), which is what held 200 MB after a flood.
"""

from __future__ import annotations

from pathlib import Path

from harness.protocol.sip.transaction import TimerConfig
from tests.unit.recorder_core.helpers import MS, RM, Driver, recording_uri, render


def _invite(n: int) -> bytes:
    return render("invite_pcmu.sip", uri=recording_uri(f"70{n:02d}"), call_id=f"flood-{n}", cseq=1, to_tag="")


def test_every_invite_of_a_burst_beyond_capacity_gets_one_503_with_retry_after_and_no_state(tmp_path: Path) -> None:
    driver = Driver(tmp_path / "rec", capacity=2)
    driver.open_leg("in-1", recording_uri("5551234"))
    driver.open_leg("in-2", recording_uri("5551235"))
    before = driver.core._ua.debug_sizes()
    for n in range(200):
        responses = driver.send(_invite(n))
        # Exactly one response: no 100 Trying for what is refused at once (§8.2.7 stateless).
        assert [(r.status, r.headers.get("Retry-After")) for r in responses] == [(503, "30")], n
        assert responses[0].to.tag  # §8.2.6.2
    assert driver.core.counters["rejected_503"] == 200
    assert driver.core._ua.debug_sizes() == before  # no transaction, timer or dialog per 503
    assert len(driver.ports.allocated) == 2 and driver.core.active_sessions == 2
    # A retransmitted INVITE is answered again, with the same To tag (§8.2.7).
    again = driver.send(_invite(7))
    first = driver.send(_invite(7))
    assert again[0].to.tag == first[0].to.tag and again[0].status == 503
    driver.advance(40.0)
    assert driver.responses() == []  # a stateless 503 is never retransmitted


def test_options_is_answered_without_keeping_a_transaction(tmp_path: Path) -> None:
    driver = Driver(tmp_path / "rec")
    before = driver.core._ua.debug_sizes()
    for n in range(1, 301):
        (ok,) = driver.send(render("options.sip", cseq=n), RM)
        assert ok.status == 200 and ok.headers.get("Allow") and ok.headers.get("Accept") == "application/sdp"
    assert driver.core._ua.debug_sizes() == before


def test_ack_timeout_dialogs_are_reclaimed_from_every_table(tmp_path: Path) -> None:
    driver = Driver(tmp_path / "rec", capacity=50)
    for n in range(50):
        ok = driver.final(_invite(n))  # accepted, never ACKed (a flood does not ACK)
        assert ok.status == 200
    assert driver.core.active_sessions == 50
    driver.advance(TimerConfig().sixty_four_t1 + driver.core.config.bye_grace_s + 1.0)
    driver.responses()
    assert driver.core.active_sessions == 0 and driver.ports.live == set()
    assert driver.core._streams_by_port == {}
    sizes = driver.core._ua.debug_sizes()
    assert sizes["dialogs"] == sizes["transactions"] == sizes["handles"] == sizes["armed"] == 0, sizes
    assert driver.store.open_recordings == []
    assert all(doc["complete"] for doc in driver.documents())
    # Capacity is free again.
    assert driver.final(_invite(99)).status == 200


def test_a_flood_source_is_not_answered_100_trying_when_refused(tmp_path: Path) -> None:
    driver = Driver(tmp_path / "rec", capacity=0)
    assert [r.status for r in driver.send(_invite(1), MS)] == [503]


def test_a_flood_of_bad_requests_does_not_become_a_log_flood(tmp_path: Path) -> None:
    driver = Driver(tmp_path / "rec")
    bad = render("options.sip", cseq=1).replace(b"Max-Forwards: 70", b"Max-Forwards: many")
    for _ in range(1000):  # 1000 malformed requests within one second: each still answered 400
        assert [r.status for r in driver.send(bad, RM)] == [400]
    assert driver.core.counters["bad_sip"] == 1000
    assert 1 <= len(driver.log_lines) <= 25  # a burst of lines, not one per datagram
    driver.now += 10.0  # later, the next bad request is logged with the count held back
    driver.send(bad, RM)
    assert "similar lines suppressed" in driver.log_lines[-1]
    held_back = int(driver.log_lines[-1].rsplit("(", 1)[1].split()[0])
    assert len(driver.log_lines) - 1 + held_back == 1000
