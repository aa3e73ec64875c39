"""Step bindings for replication fidelity (REP-PAYLOAD-FIDELITY, Genesys ARE step 6).

The scenario sends the call's own RTP legs (customer gateway <-> agent phone,
harness.emulators.call_legs) next to the replicas, so the capture holds both; the replication
validator pairs them by payload and measures delay and loss per stream.

How pytest-bdd sees these steps: like every steps_*.py module, this one ends with
`__all__ = step_fixtures(globals())` and harness/bdd/conftest.py star-imports it
(harness/bdd/stepdefs.py explains the mechanism).
"""

from __future__ import annotations

import pytest
from pytest_bdd import given, then

from harness.bdd.stepdefs import step_fixtures
from harness.conformance.run import ScenarioRun
from harness.conformance.verdict import judge
from harness.report.attach import attach_json
from harness.validators.replication import (
    PartyReplica,
    ReplicaPair,
    replicas_match_parties,
    validate_replication,
)


@given("the call's original RTP legs are in the capture")
def _original_legs_in_capture(run: ScenarioRun) -> None:
    # The original legs run on loopback; a recorder in a network namespace is captured on its
    # veth interface, which never sees them (harness.recorders.netns).
    if run.recorder.capture_interface != "lo":
        pytest.skip(f"not applicable: the capture listens on {run.recorder.capture_interface}, "
                    "the call's original legs run on loopback")
    run.original_legs = True


def _row(pair: ReplicaPair) -> dict[str, object]:
    def label(key: tuple[tuple[str, int], tuple[str, int], int]) -> str:
        (s_ip, s_port), (d_ip, d_port), ssrc = key
        return f"{s_ip}:{s_port} -> {d_ip}:{d_port} SSRC 0x{ssrc:08X}"

    return {"original": label(pair.original), "replica": label(pair.replica), "equal": pair.matched,
            "lost": pair.lost, "differing": pair.mismatched, "min_delay_ms": round(pair.min_delay_ms, 3),
            "mean_delay_ms": round(pair.mean_delay_ms, 3), "max_delay_ms": round(pair.max_delay_ms, 3)}


@then("the replicated RTP carries the same payload as the call's original legs")
def _replica_equals_original(run: ScenarioRun) -> None:
    evidence = run.evidence()
    media_server = run.media_server_if_started
    call_legs = media_server.call_legs if media_server is not None else None
    assert run.active is not None and call_legs is not None and call_legs.legs, \
        "the scenario sent no original call leg (Given the call's original RTP legs are in the capture)"
    originals = {(leg.src, leg.dst) for leg in call_legs.legs}
    captured = {(d.src, d.dst) for d in evidence.datagrams}
    # Without the original legs the validator has nothing to compare with and finds nothing:
    # that would be a pass proving nothing, so it is a broken scenario, not a verdict.
    assert originals <= captured, f"the capture ({evidence.capture_method}) misses original legs " \
                                  f"{sorted(originals - captured)}"
    report = validate_replication(evidence.datagrams, evidence.sip.negotiated)
    attach_json("replication fidelity (original -> replica)", [_row(p) for p in report.pairs])
    replicas = []
    for stream in run.active.streams:
        if stream.destination is None or not stream.packets_sent:
            continue
        leg = call_legs.leg(stream.job.side)
        replicas.append(PartyReplica(stream.job.side.value, ((run.recorder.local_address, stream.local_port),
                                                             stream.destination),
                                     (leg.src, leg.dst) if leg is not None else None))
    findings = [*report.findings, *replicas_match_parties(replicas, report.pairs)]
    run.note("replication fidelity: " + "; ".join(
        f"{r['replica']}: {r['equal']} equal, {r['lost']} lost, mean delay {r['mean_delay_ms']} ms"
        for r in map(_row, report.pairs)))
    judge(findings, ["REP-PAYLOAD-FIDELITY"], "replica payload equals the original")


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())
