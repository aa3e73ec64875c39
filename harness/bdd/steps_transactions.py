"""Steps on the recorder's SIP transactions (features/12_long_calls_and_timers.feature): an INVITE
retransmitted over UDP must stay one session (harness.checks.transactions). The probe is a SIPp
scenario (harness/sipp/scenarios/edge_retrans_uac.xml) run like the step-6 edge cases."""

from __future__ import annotations

from pytest_bdd import then, when

from harness.bdd.helpers import not_applicable_unless
from harness.bdd.stepdefs import step_fixtures
from harness.bdd.steps_edge_cases import _edge_events, _edge_offer, _edge_probe
from harness.checks import transactions
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge_result
from harness.protocol.sip.message import SipRequest, SipResponse


@when("the Media Server side retransmits its recording INVITE over UDP after the recorder's 200")
def _retransmit(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    # RFC 3261 §17.1.1.2: only an unreliable transport retransmits requests (Timer A).
    not_applicable_unless(run.recorder.transport == "udp", "INVITE retransmissions happen over UDP only "
                          f"(the recorder listens on {run.recorder.transport})")
    offer = _edge_offer(run, [("audio", "0", "PCMU/8000")])
    edge_calls["retrans"] = _edge_probe(run, "retrans", "edge_retrans_uac", offer)


@then("the recorder answered the retransmission with the same 200 and kept one session")
def _one_session(run: ScenarioRun, edge_calls: dict[str, str]) -> None:
    call_id = edge_calls["retrans"]
    events = _edge_events(run, call_id)
    invites = [e.message for e in events if isinstance(e.message, SipRequest) and e.message.method == "INVITE"]
    first = invites[0] if invites else None
    copies = sum(1 for m in invites if first is not None and m.top_via.branch == first.top_via.branch
                 and m.cseq.number == first.cseq.number)
    finals = [(e.message.status, e.message.to.tag) for e in events
              if isinstance(e.message, SipResponse) and e.message.status >= 200 and e.message.cseq.method == "INVITE"
              and first is not None and e.message.cseq.number == first.cseq.number]
    judge_result(transactions.invite_retransmission(copies, finals, call_id=call_id),
                 ["SIP-INVITE-RETRANS-ONE-SESSION"], "INVITE retransmission matched to its transaction")


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())
