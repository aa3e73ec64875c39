"""harness.checks.sdp_answers: answer direction (RFC 3264 §6.1) and origin line (§8), good and bad."""

from __future__ import annotations

import pytest

from harness.checks.sdp_answers import AnswerContext, check_answer_direction, check_origin_kept
from harness.protocol.sdp import Direction, parse_sdp
from harness.spec.findings import Evidence, Severity

CONTEXT = AnswerContext("call-a@127.0.0.1", Evidence(7, 1000.0, "SIP/2.0 200 OK"), reinvite=True)


def _sdp(origin: str, direction: str) -> bytes:
    return (f"v=0\r\no={origin}\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
            f"m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={direction}\r\n").encode()


@pytest.mark.parametrize(("offered", "answered"), [
    (Direction.SENDONLY, Direction.RECVONLY), (Direction.SENDONLY, Direction.INACTIVE),
    (Direction.INACTIVE, Direction.INACTIVE), (Direction.RECVONLY, Direction.INACTIVE),
    (Direction.SENDRECV, Direction.RECVONLY),
])
def test_allowed_answer_directions_give_no_finding(offered: Direction, answered: Direction) -> None:
    assert check_answer_direction(offered, answered, 0, CONTEXT) == []


@pytest.mark.parametrize(("offered", "answered", "requirement"), [
    (Direction.SENDONLY, Direction.SENDRECV, "SDP-ANSWER-RECVONLY"),
    (Direction.SENDONLY, Direction.SENDONLY, "SDP-ANSWER-RECVONLY"),
    (Direction.INACTIVE, Direction.RECVONLY, "SDP-ANSWER-INACTIVE"),
    (Direction.INACTIVE, Direction.SENDRECV, "SDP-ANSWER-INACTIVE"),
])
def test_forbidden_answer_direction_is_a_must_finding(offered: Direction, answered: Direction,
                                                      requirement: str) -> None:
    (finding,) = check_answer_direction(offered, answered, 1, CONTEXT)
    assert finding.requirement_id == requirement and finding.severity is Severity.MUST
    assert finding.call_id == "call-a@127.0.0.1" and finding.stream == "1"
    assert finding.observed == answered.value and finding.evidence.header_line == f"a={answered.value}"
    assert finding.evidence.packet_index == 7


def test_origin_kept_with_version_plus_one_passes() -> None:
    first, second = _sdp("arec 1 1 IN IP4 127.0.0.2", "recvonly"), _sdp("arec 1 2 IN IP4 127.0.0.2", "inactive")
    assert check_origin_kept(parse_sdp(first), first, parse_sdp(second), second, CONTEXT) == []


def test_same_version_with_identical_sdp_passes() -> None:
    body = _sdp("arec 1 1 IN IP4 127.0.0.2", "recvonly")
    assert check_origin_kept(parse_sdp(body), body, parse_sdp(body), body, CONTEXT) == []


@pytest.mark.parametrize(("second", "direction", "observed"), [
    ("arec 2 1 IN IP4 127.0.0.2", "inactive", "o=arec 2 1 IN IP4 127.0.0.2"),  # new sess-id (the old bug)
    ("other 1 2 IN IP4 127.0.0.2", "inactive", "o=other 1 2 IN IP4 127.0.0.2"),  # new username
    ("arec 1 2 IN IP4 127.0.0.9", "inactive", "o=arec 1 2 IN IP4 127.0.0.9"),  # new address
    ("arec 1 3 IN IP4 127.0.0.2", "inactive", "3"),  # version jumped by two
    ("arec 1 1 IN IP4 127.0.0.2", "inactive", "1"),  # SDP changed, version kept
    ("arec 1 0 IN IP4 127.0.0.2", "inactive", "0"),  # version went down
])
def test_changed_origin_or_version_is_a_must_finding(second: str, direction: str, observed: str) -> None:
    first = _sdp("arec 1 1 IN IP4 127.0.0.2", "recvonly")
    later = _sdp(second, direction)
    (finding,) = check_origin_kept(parse_sdp(first), first, parse_sdp(later), later, CONTEXT)
    assert finding.requirement_id == "SDP-ORIGIN-KEPT" and finding.severity is Severity.MUST
    assert finding.observed == observed and finding.call_id == "call-a@127.0.0.1"
