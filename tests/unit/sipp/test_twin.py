"""harness.sipp.twin: SIPp 3PCC twin wire format and the sans-IO leg state."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.protocol.errors import LocalProtocolError, RemoteProtocolError
from harness.sipp.twin import (
    ESC,
    LegState,
    TwinAction,
    TwinDecoder,
    TwinEvent,
    TwinSession,
    answered_leg,
    encode_command,
    parse_twin_message,
    summarize_sdp,
)

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "sipp"
# Bytes SIPp 3.6.1 really sent on the twin socket running scenarios/are_leg_uac.xml:
# answered, reinvite-answered (a=inactive), ended.
FROM_SIPP = (FIX / "twin_from_sipp.bin").read_bytes()


def test_decode_real_sipp_stream() -> None:
    msgs = TwinDecoder().feed(FROM_SIPP)
    assert [m.event for m in msgs] == [TwinEvent.ANSWERED, TwinEvent.REINVITE_ANSWERED, TwinEvent.ENDED]
    call_ids = {m.call_id for m in msgs}
    assert len(call_ids) == 1 and call_ids.pop().endswith("@127.0.0.1")
    # SIPp pads the [len] value ("Content-Length:   124"); the body is exactly that long.
    assert msgs[0].header("content-length") is not None
    assert len(msgs[0].body) == int(msgs[0].header("Content-Length") or -1)
    assert msgs[0].body.startswith(b"v=0\r\n") and msgs[0].body.endswith(b"a=recvonly\r\n")
    assert b"a=inactive" in msgs[1].body
    assert msgs[2].body == b""


def test_decode_byte_by_byte_gives_the_same_messages() -> None:
    dec = TwinDecoder()
    out = []
    for i in range(len(FROM_SIPP)):
        out += dec.feed(FROM_SIPP[i:i + 1])
    assert out == TwinDecoder().feed(FROM_SIPP)
    assert dec.pending == b""


def test_partial_message_waits_for_esc() -> None:
    dec = TwinDecoder()
    assert dec.feed(FROM_SIPP[:40]) == []
    assert dec.pending == FROM_SIPP[:40]


def test_encode_command_exact_bytes() -> None:
    assert encode_command("1-42@127.0.0.1", TwinAction.BYE) == (
        b"Call-ID: 1-42@127.0.0.1\r\nX-Arec-Action: bye\r\nContent-Length: 0\r\n\r\n\x1b")
    data = encode_command("c", TwinAction.REINVITE, b"v=0\r\n")
    assert data == (b"Call-ID: c\r\nX-Arec-Action: reinvite\r\nContent-Type: application/sdp\r\n"
                    b"Content-Length: 5\r\n\r\nv=0\r\n\x1b")
    # What SIPp's recvCmd ereg reads back: our own decoder agrees on the framing.
    (msg,) = TwinDecoder().feed(data)
    assert msg.header("X-Arec-Action") == "reinvite" and msg.body == b"v=0\r\n"


@pytest.mark.parametrize(("call_id", "body"), [("c", b"v=0\x1b"), ("a\r\nb", b""), ("a\x1b", b"")])
def test_encode_command_refuses_framing_breakers(call_id: str, body: bytes) -> None:
    with pytest.raises(LocalProtocolError):
        encode_command(call_id, TwinAction.REINVITE, body)


@pytest.mark.parametrize(("raw", "match"), [
    (b"Call-ID x\r\n\r\n", "without ':'"),
    (b"Call-ID: x\r\nContent-Length: 10\r\n\r\nabc", "shorter"),
    (b"Call-ID: x\r\nContent-Length: ten\r\n\r\n", "Content-Length"),
])
def test_malformed_twin_messages(raw: bytes, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        parse_twin_message(raw)


def test_unknown_event_and_missing_call_id() -> None:
    msg = parse_twin_message(b"X-Arec-Event: exploded\r\n\r\n")
    with pytest.raises(RemoteProtocolError, match="unknown"):
        _ = msg.event
    with pytest.raises(RemoteProtocolError, match="Call-ID"):
        _ = msg.call_id


def test_bare_lf_is_accepted() -> None:
    msg = parse_twin_message(b"Call-ID: x\nX-Arec-Event: ended\n\n")
    assert msg.event is TwinEvent.ENDED and msg.call_id == "x"


# -- the leg state table --------------------------------------------------------------------

def chunks() -> list[bytes]:
    parts = FROM_SIPP.split(ESC)[:-1]
    return [p + ESC for p in parts]


def test_session_happy_path() -> None:
    answered, reinvited, ended = chunks()
    s = TwinSession()
    assert s.state is LegState.WAITING_ANSWER
    with pytest.raises(LocalProtocolError):
        s.bye()  # SIPp would reject (abort the call) a command before its recvCmd
    (msg,) = s.receive(answered)
    assert s.state is LegState.IDLE and s.call_id == msg.call_id
    data = s.reinvite(b"v=0\r\n")
    assert data.startswith(f"Call-ID: {msg.call_id}\r\nX-Arec-Action: reinvite".encode())
    assert s.state is LegState.REINVITING and s.offer_version == 2
    with pytest.raises(LocalProtocolError):
        s.bye()  # not while the re-INVITE transaction runs
    s.receive(reinvited)
    assert s.state is LegState.IDLE
    assert s.bye().endswith(b"X-Arec-Action: bye\r\nContent-Length: 0\r\n\r\n\x1b")
    assert s.state is LegState.BYE_SENT
    s.receive(ended)
    assert s.state is LegState.FINISHED
    s.connection_lost()
    assert s.state is LegState.FINISHED


def test_session_event_out_of_order_is_a_remote_error() -> None:
    _, reinvited, _ = chunks()
    with pytest.raises(RemoteProtocolError, match="reinvite-answered"):
        TwinSession().receive(reinvited)


def test_session_peer_bye_and_lost_connection() -> None:
    answered, _, _ = chunks()
    s = TwinSession()
    s.receive(answered)
    s.receive(b"Call-ID: x\r\nX-Arec-Event: peer-bye\r\nContent-Length: 0\r\n\r\n\x1b")
    assert s.state is LegState.FINISHED
    with pytest.raises(LocalProtocolError):
        s.reinvite(b"v=0\r\n")
    lost = TwinSession()
    lost.receive(answered)
    lost.connection_lost()
    assert lost.state is LegState.FAILED


# -- what the RTP sender needs from the answer ---------------------------------------------

def test_answered_leg_from_real_answer() -> None:
    (msg, *_) = TwinDecoder().feed(FROM_SIPP)
    leg = answered_leg(msg)
    assert leg.connection_ip == "127.0.0.1"
    assert leg.audio_ports == (41000,)
    assert leg.directions == ("recvonly",)
    assert leg.sdp == msg.body and leg.parse_error is None


def test_summarize_sdp_media_level_overrides_and_two_streams() -> None:
    sdp = (b"v=0\r\no=r 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\na=recvonly\r\n"
           b"m=audio 41000 RTP/AVP 0\r\nc=IN IP4 10.0.0.9\r\n"
           b"m=video 0 RTP/AVP 96\r\nc=IN IP4 10.0.0.7\r\na=inactive\r\n"
           b"m=audio 41002 RTP/AVP 0\r\na=inactive\r\n")
    assert summarize_sdp(sdp) == ("10.0.0.9", (41000, 41002), ("recvonly", "inactive"))


def test_summarize_sdp_defaults() -> None:
    sdp = b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"
    assert summarize_sdp(sdp) == ("1.2.3.4", (0,), ("sendrecv",))
    # Read with the one SDP parser: an answer that does not parse (no o=/s=/t=) gives nowhere to
    # send RTP (the SIP validator reports the body).
    assert summarize_sdp(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n") == (None, (), ())
    assert summarize_sdp(b"") == (None, (), ())
    assert summarize_sdp(b"m=audio x RTP/AVP 0\n") == (None, (), ())


def test_sipp_abort_command_fails_the_leg() -> None:
    # SIPp's default "3pcc_abort" message, sent when it aborts a call (LF line ends).
    answered, _, _ = chunks()
    s = TwinSession()
    s.receive(answered)
    s.reinvite(b"v=0\r\n")
    (msg,) = s.receive(b"call-id: 1-5@127.0.0.1\ninternal-cmd: abort_call\n\x1b")
    assert msg.event is TwinEvent.ABORTED
    assert s.state is LegState.FAILED and s.aborted
    with pytest.raises(LocalProtocolError):
        s.bye()


def test_update_and_snapshot_request_in_the_siprec_leg() -> None:
    """siprec_uac.xml: an UPDATE ordered like a re-INVITE (its 200 reported as reinvite-answered),
    and the SRS's snapshot request reported while idle, which leaves the leg idle."""
    answered, _reinvited, _ended = chunks()
    s = TwinSession()
    (msg,) = s.receive(answered)
    snapshot = f"Call-ID: {msg.call_id}\r\nX-Arec-Event: snapshot-requested\r\nContent-Length: 0\r\n\r\n".encode()
    (event,) = s.receive(snapshot + ESC)
    assert event.event is TwinEvent.SNAPSHOT_REQUESTED and s.state is LegState.IDLE
    data = s.update(b"v=0\r\n", "multipart/mixed;boundary=b")
    assert b"X-Arec-Action: update\r\nContent-Type: multipart/mixed;boundary=b\r\n" in data
    assert s.state is LegState.REINVITING and s.offer_version == 2
    with pytest.raises(RemoteProtocolError):
        s.receive(snapshot + ESC)  # the scenario only reports it at its idle point
