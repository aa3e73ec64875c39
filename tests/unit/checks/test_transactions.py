"""harness.checks.transactions.invite_retransmission: the same 200 to every copy passes; a new
final response, a second dialog or no answer fails; a single copy is not exercised."""

from __future__ import annotations

from harness.checks.transactions import invite_retransmission

RID = "SIP-INVITE-RETRANS-ONE-SESSION"


def test_the_same_200_to_both_copies_passes() -> None:
    result = invite_retransmission(2, [(200, "a1"), (200, "a1")], call_id="c")
    assert result.findings == [] and not result.not_exercised


def test_a_482_after_the_200_is_a_retransmission_answered_as_a_new_request() -> None:
    (finding,) = invite_retransmission(2, [(200, "a1"), (482, "b2")], call_id="c").findings
    assert finding.requirement_id == RID and finding.call_id == "c" and "200 then 482" in finding.message


def test_a_second_to_tag_is_a_second_session() -> None:
    (finding,) = invite_retransmission(2, [(200, "a1"), (200, "b2")]).findings
    assert finding.requirement_id == RID and finding.observed == "2 To tags"


def test_no_final_response_fails_and_one_copy_is_not_exercised() -> None:
    assert [f.requirement_id for f in invite_retransmission(2, []).findings] == [RID]
    result = invite_retransmission(1, [(200, "a1")])
    assert result.findings == [] and result.not_exercised == {RID}
