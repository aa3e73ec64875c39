"""`RecorderCore` driven in memory: ARE recording sessions (GVP-MSRec, docs/genesys-flow.md §2/§4), no sockets.

Time is `now` arithmetic on a manual clock; RTP ports come from a fake allocator that records
releases; recordings go to a temporary root and are checked through ``recording.json``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.protocol.sdp import parse_sdp
from harness.protocol.sip.transaction import TimerConfig
from tests.unit.recorder_core.helpers import (
    CALLUUID,
    RM,
    T0,
    Driver,
    FakePorts,
    recording_uri,
    render,
    rtp_packet,
)


@pytest.fixture
def driver(tmp_path: Path) -> Driver:
    return Driver(tmp_path / "rec")


def _talk(driver: Driver, port: int, count: int, *, first_seq: int = 100, first_ts: int = 16000) -> None:
    driver.rtp(port, [rtp_packet(first_seq + n, first_ts + 160 * n) for n in range(count)])


# -- correlation by calluuid (ARE-01, ARE-02) ---------------------------------------------------
def test_two_sessions_with_the_same_record_id_make_one_recording(driver: Driver) -> None:
    a = driver.open_leg("leg-a", recording_uri("5551234"))
    b = driver.open_leg("leg-b", recording_uri("7001"))
    _talk(driver, a.ports[0], 10)
    _talk(driver, b.ports[0], 10)
    assert driver.bye(a).status == 200
    assert driver.bye(b).status == 200
    (doc,) = driver.documents()
    assert (doc["calluuid"], doc["record_id"], doc["complete"]) == (CALLUUID, "0A1B2C3D", True)
    assert [(c["index"], c["dn"]) for c in doc["channels"]] == [(0, "5551234"), (1, "7001")]
    assert doc["call_ids"] == ["leg-a", "leg-b"]
    assert [s["rtp_stats"]["packets"] for s in doc["streams"]] == [10, 10]
    assert [s["end_reason"] for s in doc["streams"]] == ["BYE", "BYE"]


def test_two_sessions_with_different_record_ids_are_joined_and_a_restart_is_a_new_recording(
    driver: Driver,
) -> None:
    # Whether both per-party sessions share one `record=` id is not published (docs/genesys-flow.md §10):
    # the core joins the second party's session to the open recording of the same calluuid.
    a = driver.open_leg("leg-a", recording_uri("5551234", record_id="REC-A"))
    b = driver.open_leg("leg-b", recording_uri("7001", record_id="REC-B"))
    driver.advance(0.5)
    driver.bye(a)
    driver.bye(b)
    (first,) = driver.documents()
    assert first["record_id"] == "REC-A" and first["complete"] is True
    assert {c["dn"] for c in first["channels"]} == {"5551234", "7001"}
    assert not (driver.root / CALLUUID / "REC-B").exists()

    # Stop, then start again (T-Lib GSIP_RECORD_STOP/START): a new id -> a second recording.
    driver.advance(1.0)
    restart_at = driver.now
    c = driver.open_leg("leg-c", recording_uri("5551234", record_id="REC-C"))
    d = driver.open_leg("leg-d", recording_uri("7001", record_id="REC-D"))
    driver.bye(c)
    driver.bye(d)
    docs = driver.documents()
    assert [doc["record_id"] for doc in docs] == ["REC-A", "REC-C"]
    assert all(doc["complete"] for doc in docs)
    assert docs[1]["call_ids"] == ["leg-c", "leg-d"] and docs[1]["t0"] == restart_at


def test_sessions_of_different_calls_are_not_joined(driver: Driver) -> None:
    driver.open_leg("leg-a", recording_uri("5551234"))
    driver.open_leg("leg-x", recording_uri("7001", calluuid="OTHERCALLUUID0000000000000000000"))
    docs = driver.documents()
    assert sorted(doc["calluuid"] for doc in docs) == sorted([CALLUUID, "OTHERCALLUUID0000000000000000000"])


def test_single_session_with_two_m_lines_is_one_recording_with_dn_and_other_dn(driver: Driver) -> None:
    leg = driver.open_leg("single", recording_uri("5551234", other_dn="7001"), "invite_two_m_lines.sip")
    assert len(leg.ports) == 2 and 0 not in leg.ports and leg.ports[0] != leg.ports[1]
    _talk(driver, leg.ports[0], 5)
    _talk(driver, leg.ports[1], 7, first_seq=9000)
    driver.bye(leg)
    (doc,) = driver.documents()
    assert [(c["index"], c["dn"]) for c in doc["channels"]] == [(0, "5551234"), (1, "7001")]
    assert [s["rtp_stats"]["packets"] for s in doc["streams"]] == [5, 7]
    assert doc["complete"] is True


def test_answer_is_recvonly_on_the_allocated_port(driver: Driver) -> None:
    ok = driver.final(render("invite_pcma.sip", uri=recording_uri("7001"), call_id="c1", cseq=1, to_tag=""))
    assert ok.status == 200 and ok.content_type == "application/sdp"
    (media,) = parse_sdp(ok.body).media
    answer = parse_sdp(ok.body)
    assert media.port == driver.ports.allocated[0]
    assert media.direction(answer) == "recvonly"
    assert media.formats[0] == "8"  # PCMA as offered
    assert ok.headers.get("Contact") == "<sip:recorder@127.0.0.1:5060>"


# -- pause / resume by re-INVITE (ARE-07, SRS-07) --------------------------------------------------
def test_reinvite_inactive_pauses_and_sendonly_resumes(driver: Driver) -> None:
    leg = driver.open_leg("leg-a", recording_uri("7001"))
    _talk(driver, leg.ports[0], 50)  # 1 s
    paused = driver.reinvite(leg, "reinvite_inactive.sip")
    assert paused.status == 200
    (media,) = parse_sdp(paused.body).media
    assert media.port == leg.ports[0]  # RFC 3264 §8: the stream keeps its port
    assert media.direction(parse_sdp(paused.body)) == "inactive"
    pause_start = driver.now - T0
    _talk(driver, leg.ports[0], 50, first_seq=150, first_ts=16000 + 160 * 50)  # sent while paused
    resumed = driver.reinvite(leg, "reinvite_sendonly.sip")
    assert resumed.status == 200
    assert parse_sdp(resumed.body).media[0].direction(parse_sdp(resumed.body)) == "recvonly"
    pause_end = driver.now - T0
    _talk(driver, leg.ports[0], 25, first_seq=200, first_ts=16000 + 160 * 100)
    driver.bye(leg)
    (doc,) = driver.documents()
    (stream,) = doc["streams"]
    (pause,) = stream["pauses"]
    assert pause["start"] == pytest.approx(pause_start, abs=1e-5) and pause["end"] == pytest.approx(pause_end, abs=1e-5)
    assert pause["end"] - pause["start"] == pytest.approx(1.0, abs=1e-5)
    assert stream["rtp_stats"]["packets"] == 125  # statistics still count what arrived while paused


def test_second_inactive_reinvite_does_not_open_a_second_pause(driver: Driver) -> None:
    leg = driver.open_leg("leg-a", recording_uri("7001"))
    driver.reinvite(leg, "reinvite_inactive.sip")
    driver.advance(0.3)
    assert driver.reinvite(leg, "reinvite_inactive.sip").status == 200
    driver.advance(0.3)
    driver.reinvite(leg, "reinvite_sendonly.sip")
    driver.bye(leg)
    (doc,) = driver.documents()
    (pause,) = doc["streams"][0]["pauses"]
    assert pause["end"] - pause["start"] == pytest.approx(0.6, abs=1e-5)


# -- ending (ARE-11) -------------------------------------------------------------------------------
def test_bye_gets_200_and_the_recording_completes_after_the_last_bye(driver: Driver) -> None:
    a = driver.open_leg("leg-a", recording_uri("5551234"))
    b = driver.open_leg("leg-b", recording_uri("7001"))
    driver.advance(2.0)  # past a checkpoint: recording.json exists, not complete
    assert driver.bye(b).status == 200  # either order (ARE-11)
    driver.advance(1.5)
    (doc,) = driver.documents()
    assert doc["complete"] is False
    assert [s["ended_at"] is not None for s in doc["streams"]] == [False, True]
    bye_at = driver.now - T0
    bye_ok = driver.bye(a, settle=False)
    assert bye_ok.status == 200 and bye_ok.cseq.method == "BYE"
    driver.settle()  # RTP queued behind the BYE is still taken for `bye_grace_s`
    (doc,) = driver.documents()
    assert doc["complete"] is True and doc["stop"] >= bye_at
    assert doc["streams"][0]["ended_at"] == pytest.approx(bye_at, abs=1e-5)
    assert driver.core.active_sessions == 0


def test_ports_are_released_after_bye(driver: Driver) -> None:
    a = driver.open_leg("leg-a", recording_uri("5551234"))
    single = driver.open_leg("single", recording_uri("5551234", other_dn="7001", calluuid="C2"),
                             "invite_two_m_lines.sip")
    assert driver.ports.live == {*a.ports, *single.ports}
    driver.bye(a)
    assert driver.ports.live == set(single.ports)
    driver.bye(single)
    assert driver.ports.live == set() and driver.ports.bad_releases == []
    # RTP after the BYE is not routed to the old stream any more.
    driver.core.receive_rtp(a.ports[0], rtp_packet(1, 1), ("127.0.0.1", 40000), driver.now)
    assert driver.core.counters["rtp_unknown_port"] == 1


def test_no_ack_for_the_2xx_ends_the_session_after_64_t1(driver: Driver) -> None:
    leg = driver.open_leg("lost-ack", recording_uri("7001"), ack=False)
    assert driver.core.active_sessions == 1
    sixty_four_t1 = TimerConfig().sixty_four_t1
    driver.advance(1.0)
    retransmitted = driver.responses()
    # §13.3.1.4: the 2xx is retransmitted (T1, 2*T1, ...) until the ACK comes.
    assert retransmitted and all(r.status == 200 for r in retransmitted)
    driver.advance(sixty_four_t1 - 2.0)
    assert driver.core.active_sessions == 1
    retransmitted += driver.responses()
    driver.advance(2.0)
    retransmitted += driver.responses()
    # Intervals T1, 2*T1, 4*T1 ... capped at T2 = 4 s: resent at 0.5 1.5 3.5 7.5 ... 27.5 31.5 s,
    # ten times before 64*T1 = 32 s.
    assert len(retransmitted) == 10 and all(r.status == 200 for r in retransmitted)
    assert driver.core.active_sessions == 0
    assert driver.ports.live == set() and driver.ports.released == leg.ports
    (doc,) = driver.documents()
    assert doc["complete"] is True
    assert doc["streams"][0]["end_reason"] == "ack_timeout"
    # The dialog is gone: a late BYE gets 481 (§12.2.2).
    assert driver.bye(leg).status == 481


# -- rejections ------------------------------------------------------------------------------------
def test_capacity_gives_503_with_retry_after(tmp_path: Path) -> None:
    driver = Driver(tmp_path / "rec", capacity=1)
    driver.open_leg("first", recording_uri("5551234"))
    busy = driver.final(render("invite_pcmu.sip", uri=recording_uri("7001"), call_id="second", cseq=1, to_tag=""))
    assert (busy.status, busy.headers.get("Retry-After")) == (503, "30")
    assert driver.core.counters["rejected_503"] == 1
    assert len(driver.ports.allocated) == 1  # no port taken for the refused session


def test_exhausted_rtp_port_range_gives_503_and_releases_what_it_took(tmp_path: Path) -> None:
    driver = Driver(tmp_path / "rec", ports=FakePorts(limit=1))
    data = render("invite_two_m_lines.sip", uri=recording_uri("5551234", other_dn="7001"), call_id="c", cseq=1,
                  to_tag="")
    busy = driver.final(data)
    assert busy.status == 503 and busy.headers.get("Retry-After") == "30"
    assert driver.ports.live == set() and driver.ports.bad_releases == []
    assert driver.core.active_sessions == 0


def test_g729_only_offer_gets_488(driver: Driver) -> None:
    reply = driver.final(render("invite_g729_only.sip", uri=recording_uri("7001"), call_id="g", cseq=1, to_tag=""))
    assert reply.status == 488
    assert driver.ports.live == set() and driver.core.active_sessions == 0


def test_g711_at_a_clock_other_than_8000_gets_488(driver: Driver) -> None:
    data = render("invite_pcmu.sip", uri=recording_uri("7001"), call_id="w", cseq=1, to_tag="")
    reply = driver.final(data.replace(b"PCMU/8000", b"PCMU/16000"))
    assert reply.status == 488
    assert driver.ports.live == set() and driver.ports.allocated == driver.ports.released


def test_non_record_uri_gets_404(driver: Driver) -> None:
    uri = "sip:recorder@127.0.0.1:5060;calluuid=X;dn=1"
    reply = driver.final(render("invite_pcmu.sip", uri=uri, call_id="n", cseq=1, to_tag=""))
    assert reply.status == 404
    assert driver.ports.allocated == []


def test_missing_calluuid_gets_400(driver: Driver) -> None:
    reply = driver.final(render("invite_pcmu.sip", uri=recording_uri("7001", calluuid=None), call_id="m", cseq=1,
                                to_tag=""))
    assert reply.status == 400 and "calluuid" in reply.reason.lower()
    assert driver.documents() == []


def test_body_that_is_not_sdp_gets_415_with_accept(driver: Driver) -> None:
    reply = driver.final(render("invite_text_body.sip", uri=recording_uri("7001"), call_id="t", cseq=1, to_tag=""))
    assert reply.status == 415
    assert reply.headers.get("Accept") == "application/sdp"  # §21.4.13 / §8.2.3: list what we accept


def test_second_invite_with_the_call_id_of_a_live_session_gets_482(driver: Driver) -> None:
    driver.open_leg("leg-a", recording_uri("5551234"))
    again = render("invite_pcmu.sip", uri=recording_uri("5551234"), call_id="leg-a", cseq=7, to_tag="")
    assert driver.final(again).status == 482
    assert driver.core.active_sessions == 1 and len(driver.ports.live) == 1


def test_call_id_reused_while_the_calls_recording_is_open_adds_a_stream(driver: Driver) -> None:
    # Found by the property test: the stream key (Call-ID + m-line) collided and the store's
    # ValueError escaped the core, leaving the INVITE unanswered and its port bound.
    a = driver.open_leg("leg-a", recording_uri("5551234"))
    b = driver.open_leg("leg-b", recording_uri("7001"))
    driver.bye(a)
    # A new transaction (new branch and CSeq): the old one is a retransmission (RFC 6026 §8.7).
    again = driver.open_leg("leg-a", recording_uri("5551234"), cseq=5)
    driver.bye(b)
    driver.bye(again)
    (doc,) = driver.documents()
    assert [s["call_id"] for s in doc["streams"]] == ["leg-a", "leg-b", "leg-a"]
    assert len({s["key"] for s in doc["streams"]}) == 3 and doc["complete"] is True
    assert driver.ports.live == set() and driver.ports.bad_releases == []


def test_options_gets_200_with_allow(driver: Driver) -> None:
    reply = driver.final(render("options.sip", cseq=1), source=RM)
    assert reply.status == 200
    allow = {m.strip() for m in (reply.headers.get("Allow") or "").split(",")}
    assert {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"} <= allow
    assert reply.headers.get("Accept") == "application/sdp"
    assert driver.core.active_sessions == 0


def test_info_in_dialog_gets_200(driver: Driver) -> None:
    leg = driver.open_leg("leg-a", recording_uri("7001"))
    assert driver.final(driver.in_dialog("info.sip", leg)).status == 200


def test_invite_retransmission_gets_the_same_answer_and_no_second_session(driver: Driver) -> None:
    data = render("invite_pcmu.sip", uri=recording_uri("7001"), call_id="r", cseq=1, to_tag="")
    first = driver.final(data)
    again = [r for r in driver.send(data) if r.status >= 200]
    assert [r.status for r in again] == [200] and again[0].body == first.body
    assert driver.core.active_sessions == 1 and len(driver.ports.allocated) == 1


# -- RTP -------------------------------------------------------------------------------------------
def test_rtp_on_an_unknown_port_is_counted(driver: Driver) -> None:
    driver.core.receive_rtp(12345, rtp_packet(1, 160), ("127.0.0.1", 40000), driver.now)
    assert driver.core.counters["rtp_unknown_port"] == 1


@pytest.mark.parametrize(
    "data",
    [b"", b"\x80", b"\x80\x00\x00\x01\x00\x00", bytes(12), b"\x40" + bytes(20), b"\xbf" + bytes(11)],
    ids=["empty", "1-byte", "short-header", "version-0", "version-1", "csrc-overrun"],
)
def test_malformed_rtp_is_counted_not_raised(driver: Driver, data: bytes) -> None:
    leg = driver.open_leg("leg-a", recording_uri("7001"))
    driver.core.receive_rtp(leg.ports[0], data, ("127.0.0.1", 40000), driver.now)
    assert driver.core.counters["bad_rtp"] == 1
    _talk(driver, leg.ports[0], 3)
    driver.bye(leg)
    (doc,) = driver.documents()
    stats = doc["streams"][0]["rtp_stats"]
    assert stats["rtp_parse_errors"] == 1 and stats["packets"] == 3


def test_telephone_event_and_comfort_noise_are_not_audio(driver: Driver) -> None:
    leg = driver.open_leg("leg-a", recording_uri("7001"))
    port = leg.ports[0]
    driver.rtp(port, [rtp_packet(1, 160), rtp_packet(2, 320, pt=101, payload=b"\x01\x0a\x00\xa0"),
                      rtp_packet(3, 480, pt=13, payload=b"\x40")])
    driver.bye(leg)
    (doc,) = driver.documents()
    stream = doc["streams"][0]
    assert stream["rtp_stats"]["non_audio_packets"] == 1  # PT 101; CN (13) is silence, not counted
    assert stream["packets_written"] == 1


def test_close_finishes_every_recording_and_releases_every_port(driver: Driver) -> None:
    driver.open_leg("leg-a", recording_uri("5551234"))
    driver.open_leg("single", recording_uri("1", other_dn="2", calluuid="C2"), "invite_two_m_lines.sip")
    driver.core.close(driver.now + 1)
    driver.run_storage()  # the core hands out the closing; the adapter's storage thread does it
    assert driver.ports.live == set() and driver.ports.bad_releases == []
    docs = driver.documents()
    assert len(docs) == 2 and all(doc["complete"] for doc in docs)
    assert {s["end_reason"] for doc in docs for s in doc["streams"]} == {"recorder shutdown"}
