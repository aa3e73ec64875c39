"""Media Server emulation without SIPp: legs that never started, refusals, the local address."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.emulators.media_server import ActiveRecording, MediaServerEmulation, _refusal
from harness.emulators.sip_server import RecordingJob, SessionMode, SipServerEmulation
from harness.media.pacer import DestinationNotAllowed
from harness.sipp.leg import PCMU, Scenario

# Sockets, processes or real time: the integration tier (tests/unit/conftest.py guards the unit tier).
pytestmark = pytest.mark.integration


def _job() -> RecordingJob:
    server = SipServerEmulation(mode=SessionMode.TWO_SESSIONS)
    server.configure_dn("7001", record=True)
    job = server.decide_recording(server.place_call("5551234", "7001", "PCMU"))
    assert job is not None
    return job


def _legs_not_started(media: MediaServerEmulation) -> ActiveRecording:
    """The state after the first INVITE failed: every leg built, no SIPp process started."""
    job = _job()
    active = ActiveRecording(job)
    media.recordings.append(active)
    by_dn = {t.dn: t for t in job.targets()}
    for stream_job in job.streams:
        stream = media._new_stream(stream_job, "PCMU")
        active.legs.append(media._new_leg(by_dn[stream_job.dn], [stream], PCMU, Scenario.LEG))
    return active


def test_close_skips_legs_whose_sipp_never_started(tmp_path: Path) -> None:
    media = MediaServerEmulation(("127.0.0.1", 5060), tmp_path)
    active = _legs_not_started(media)
    media.close()  # used to raise RuntimeError("not started") from SippProcess.terminate
    assert [leg.result for leg in active.legs] == [None, None]
    assert all(stream.sock.fileno() == -1 for stream in active.streams)  # sockets closed


def test_legs_and_rtp_sockets_use_the_local_address(tmp_path: Path) -> None:
    media = MediaServerEmulation(("127.0.0.2", 5060), tmp_path, local_address="127.0.0.3")
    active = _legs_not_started(media)
    try:
        for leg in active.legs:
            sipp = leg.process.leg
            assert (sipp.local_ip, sipp.media_ip) == ("127.0.0.3", "127.0.0.3")
            assert sipp.call_id is not None and sipp.call_id.endswith("@127.0.0.3")
            assert b"c=IN IP4 127.0.0.3" in sipp.offer_sdp()
        assert {s.sock.getsockname()[0] for s in active.streams} == {"127.0.0.3"}
    finally:
        media.close()


def test_rtp_may_go_to_the_recorders_own_address_and_nowhere_else(tmp_path: Path) -> None:
    media = MediaServerEmulation(("10.213.0.2", 5060), tmp_path, local_address="10.213.0.1")
    media.pacer.check_destination("10.213.0.2")  # the namespace recorder: allowed
    media.pacer.check_destination("127.0.0.1")
    with pytest.raises(DestinationNotAllowed):
        media.pacer.check_destination("10.213.0.6")  # another namespace's recorder


def _message_log(path: Path, *messages: tuple[str, bytes]) -> None:
    out = b""
    for direction, payload in messages:
        size = f"({len(payload)} bytes)" if direction == "sent" else f"[{len(payload)}] bytes"
        out += (f"----------------------------------------------- 2026-11-24 03:57:39.693572\n"
                f"UDP message {direction} {size} :\n\n").encode() + payload + b"\n\n"
    path.write_bytes(out)


_INVITE = (b"INVITE sip:record=A@10.213.0.2:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.213.0.1:5070;branch=z9hG4bK-1\r\n"
           b"From: <sip:mcp@10.213.0.1>;tag=1\r\nTo: <sip:record=A@10.213.0.2:5060>\r\nCall-ID: c1\r\n"
           b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


def _response(status: str, method: str = "INVITE") -> bytes:
    return (f"SIP/2.0 {status}\r\nVia: SIP/2.0/UDP 10.213.0.1:5070;branch=z9hG4bK-1\r\n"
            f"From: <sip:mcp@10.213.0.1>;tag=1\r\nTo: <sip:record=A@10.213.0.2:5060>;tag=2\r\nCall-ID: c1\r\n"
            f"CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n").encode()


def test_refusal_is_the_final_non_2xx_answer_to_the_invite(tmp_path: Path) -> None:
    media = MediaServerEmulation(("127.0.0.1", 5060), tmp_path)
    leg = _legs_not_started(media).legs[0]
    try:
        leg.process.work_dir.mkdir(parents=True)
        _message_log(leg.process.traces.message_log, ("sent", _INVITE), ("received", _response("100 Trying")),
                     ("received", _response("404 Not Found")))
        assert _refusal(leg.process) == "404 Not Found"
    finally:
        media.close()


def test_no_refusal_when_the_recorder_never_answered(tmp_path: Path) -> None:
    media = MediaServerEmulation(("127.0.0.1", 5060), tmp_path)
    leg = _legs_not_started(media).legs[0]
    try:
        leg.process.work_dir.mkdir(parents=True)
        _message_log(leg.process.traces.message_log, ("sent", _INVITE), ("received", _response("100 Trying")))
        assert _refusal(leg.process) is None
    finally:
        media.close()


def test_an_invite_the_recorder_never_answered_is_a_verdict_not_a_broken_scenario(tmp_path: Path) -> None:
    """SIPp's message log shows the INVITE went out: the missing answer is the recorder's failure
    (judged from the capture, SIP-DIALOG-ESTABLISHED); no log line of a sent INVITE: SIPp itself
    failed, the scenario cannot be played."""
    from harness.emulators.media_server import _invite_sent

    media = MediaServerEmulation(("127.0.0.1", 5060), tmp_path)
    try:
        leg = _legs_not_started(media).legs[0]
        log = leg.process.traces.message_log
        log.parent.mkdir(parents=True, exist_ok=True)
        assert not _invite_sent(leg.process)
        invite = b"INVITE sip:record=1@127.0.0.1:5060 SIP/2.0\r\nContent-Length: 0\r\n\r\n"
        log.write_bytes(b"----------------------------------------------- 2026-12-03 10:00:00.000000\n"
                        b"UDP message sent (%d bytes):\n\n" % len(invite) + invite)
        assert _invite_sent(leg.process)
    finally:
        media.close()
