"""SIPp -trace_msg log -> exact messages (fixture: a real SIPp 3.6.1 single-session leg)."""

from pathlib import Path

from harness.protocol.sip.message import SipRequest, SipResponse, parse_message
from harness.sipp.trace import parse_message_log

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sipp" / "messages_single_session.log"


def test_real_log_gives_exact_parseable_messages_in_order() -> None:
    messages = parse_message_log(FIXTURE.read_bytes())
    assert len(messages) >= 5
    first = parse_message(messages[0].payload)
    assert isinstance(first, SipRequest) and first.method == "INVITE" and messages[0].sent
    assert first.content_length == len(first.body)
    kinds = [parse_message(m.payload) for m in messages]
    assert any(isinstance(k, SipResponse) and k.status == 200 for k in kinds)
    assert any(isinstance(k, SipRequest) and k.method == "BYE" for k in kinds)
    times = [m.time for m in messages]
    assert times == sorted(times) and all(m.transport == "udp" for m in messages)


def test_truncated_log_keeps_whole_messages_only() -> None:
    data = FIXTURE.read_bytes()
    whole = parse_message_log(data)
    last_start = data.rindex(whole[-1].payload)
    cut = parse_message_log(data[: last_start + len(whole[-1].payload) - 10])
    assert len(cut) == len(whole) - 1
    # 3PCC twin traffic ("TCP control message") is not SIP on the wire and is not returned.
    assert b"TCP control message" in data and all(b"X-Arec-Event" not in m.payload for m in whole)
    assert parse_message_log(b"garbage without headers") == []
