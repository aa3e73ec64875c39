"""SIP transactions seen from the recording server: an INVITE retransmission is not a new call.

Over UDP the Media Server's INVITE client transaction retransmits the INVITE until a response
arrives (RFC 3261 §17.1.1.2, Timer A), and a 2xx lost on the way makes it arrive again after
the recorder answered. RFC 3261 §17.2.3 matches a request to its server transaction by the top
Via branch (plus sent-by and method); §17.2.1 (with RFC 6026 §8.7, the Accepted state) has the
transaction absorb the retransmission, and the UAS core answers it with the same 2xx (§13.3.1.4)
- never with a new dialog (a second To tag: a second recording session of the same stream) nor
with a new final response such as 482, which §8.2.2.2 reserves for a *merged* request (same
Call-ID, From tag and CSeq arriving on another branch).

Evidence: how many copies of the INVITE (same branch) reached the recorder, and the recorder's
final responses to that INVITE (same Call-ID and CSeq), in capture order.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.checks._finding import CheckResult, violation

__all__ = ["invite_retransmission"]


def invite_retransmission(copies_received: int, finals: Sequence[tuple[int, str | None]], *,
                          call_id: str | None = None) -> CheckResult:
    """SIP-INVITE-RETRANS-ONE-SESSION: `finals` are (status, To tag) of every final response the
    recorder sent to the INVITE. Fewer than two copies received: not exercised."""
    rid = "SIP-INVITE-RETRANS-ONE-SESSION"
    if copies_received < 2:
        return CheckResult(not_exercised=frozenset({rid}))
    if not finals:
        return CheckResult([violation(rid, f"the INVITE arrived {copies_received} times and was never answered "
                                      "with a final response", "no final response", "one 200 OK, repeated",
                                      call_id=call_id)])
    statuses = [status for status, _tag in finals]
    tags = list(dict.fromkeys(tag for status, tag in finals if 200 <= status < 300))
    findings = []
    if len(set(statuses)) > 1:
        findings.append(violation(
            rid, f"the retransmitted INVITE was answered as a new request: final responses "
            f"{' then '.join(map(str, statuses))} to one INVITE transaction", " ".join(map(str, statuses)),
            f"{statuses[0]} repeated", call_id=call_id))
    if len(tags) > 1:
        findings.append(violation(
            rid, f"the retransmitted INVITE opened a second dialog: 2xx with To tags {', '.join(map(str, tags))}",
            f"{len(tags)} To tags", "one To tag (one session)", call_id=call_id))
    return CheckResult(findings)
