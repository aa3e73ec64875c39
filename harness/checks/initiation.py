"""Who started the recording (seed steps 1-4): SIP Server's decision on the DN option, the
recorder's own rule (T-Lib GSIP_RECORD_START), a third-party T-Lib client, a routing strategy.

Evidence: the scenario's recording job (what SIP Server decided), the recorder's T-Lib requests
with SIP Server's answers, and the recording sessions of the call the capture shows. The
requirements of the initiation paths are judged here only; which path a scenario uses is the
scenario's fact (`ScenarioRun.initiation_requirement`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.checks._finding import violation
from harness.spec.findings import Finding

__all__ = [
    "INITIATION_PATHS",
    "RecorderStart",
    "initiated_sessions",
    "initiating_dn",
    "no_recording_requirement",
    "recorder_rule_no_match",
    "recorder_rule_started",
    "recorded_once",
    "recording_decision",
    "start_refused",
    "unexpected_sessions",
]

# The initiation paths judged here (a missing recording session is reported against the path
# that should have led to it). The default path, the DN option of SIP Server, leads to the
# session-count requirements of seed step 6, judged by harness.validators.sip.
INITIATION_PATHS = frozenset({"ARE-02-RULE-START", "ARE-03-THIRD-PARTY-START", "ARE-04-ROUTE-RECORD",
                              "ARE-04-ROUTE-DISABLE"})
# A scenario expecting no recording judges the rule that must have decided against it.
_NO_RECORDING = {"ARE-02-RULE-START": "ARE-02-RULE-NO-MATCH", "ARE-04-ROUTE-DISABLE": "ARE-04-ROUTE-DISABLE",
                 "ARE-04-ROUTE-RECORD": "ARE-04-ROUTE-RECORD", "ARE-03-THIRD-PARTY-START": "ARE-03-THIRD-PARTY-START"}
_DN_OPTION = "ARE-01-DN-ALWAYS-RECORD"


def _owned(path: str) -> bool:
    if path in INITIATION_PATHS:
        return True
    if not path.startswith("ARE-06-"):
        raise ValueError(f"{path} is not an initiation path")
    return False


def no_recording_requirement(path: str) -> str:
    """The requirement a scenario expecting *no* recording judges for its initiation path."""
    return _NO_RECORDING[path] if _owned(path) else _DN_OPTION


def recording_decision(decided_dn: str | None, expected_dn: str | None, *, trigger: str | None = None,
                       calluuid: str | None = None) -> list[Finding]:
    """ARE-01 (Genesys ARE step 1, SIP Server `record=true` on the DN): SIP Server records the call
    from the DN with the option, and only then. `expected_dn` None: no recording expected."""
    if expected_dn is None:
        if decided_dn is None:
            return []
        return [violation(_DN_OPTION, "a call between DNs without record=true was recorded",
                          observed=trigger or decided_dn, expected="no recording", calluuid=calluuid)]
    if decided_dn is None:
        return [violation(_DN_OPTION, "SIP Server did not record the call", observed="no recording job",
                          expected=f"recording initiated by DN {expected_dn}", calluuid=calluuid)]
    if decided_dn != expected_dn:
        return [violation(_DN_OPTION, "recording initiated by the wrong DN", observed=decided_dn,
                          expected=expected_dn, calluuid=calluuid)]
    return []


def unexpected_sessions(path: str, answered: int, seen: int, *, calluuid: str | None = None) -> list[Finding]:
    """No recording was to happen on this path: any answered recording session is the failure."""
    if answered == 0:
        return []
    return [violation(no_recording_requirement(path), f"the recorder established {answered} recording session(s) "
                      f"for a call that was not to be recorded ({seen} INVITE(s) seen in the capture)",
                      observed=str(answered), expected="0", calluuid=calluuid)]


def initiated_sessions(path: str, answered: int, seen: int, expected: int, *,
                       calluuid: str | None = None) -> list[Finding]:
    """The path (a rule, a third party, a routing strategy) led to `expected` recording sessions."""
    if not _owned(path) or answered == expected:
        return []
    return [violation(path, f"the recorder established {answered} recording session(s) for the call "
                      f"({seen} INVITE(s) seen in the capture)", observed=str(answered), expected=str(expected),
                      calluuid=calluuid)]


def initiating_dn(path: str, record_dns: Sequence[tuple[str, str | None]], expected_dn: str, *,
                  calluuid: str | None = None) -> list[Finding]:
    """Every recording session of the call names the DN whose request started it as recordDN
    (GVP-MSRec Request-URI `recordDN`). `record_dns`: (dn, recordDN) per session in the capture."""
    if not _owned(path):
        raise ValueError(f"{path}: the initiating DN is judged for the T-Lib and routing paths only")
    if not record_dns:
        return [violation(path, "no recording INVITE for the call in the capture", observed="no INVITE",
                          expected=f"recordDN={expected_dn}", calluuid=calluuid)]
    return [violation(path, f"recording session for DN {dn} names recordDN {record_dn}", observed=record_dn,
                      expected=expected_dn, calluuid=calluuid, stream=dn)
            for dn, record_dn in record_dns if record_dn != expected_dn]


@dataclass(frozen=True, slots=True)
class RecorderStart:
    """One GSIP_RECORD_START the recorder sent for the call, and SIP Server's answer."""

    this_dn: str | None
    answer: str  # the answer's message name: EventACK, EventError, or "no answer"

    @property
    def accepted(self) -> bool:
        return self.answer == "EventACK"


def recorder_rule_started(starts: Sequence[RecorderStart], dn: str, *, conn_id: str | None = None,
                          calluuid: str | None = None) -> list[Finding]:
    """ARE-02 (Genesys ARE step 2): the recorder's rule matched the established call, so the
    recorder asked SIP Server (TRequestPrivateService GSIP_RECORD_START) on behalf of `dn`."""
    accepted = [s for s in starts if s.accepted]
    if not accepted:
        return [violation("ARE-02-RULE-START", "the recorder's rule matched the established call, but no "
                          "GSIP_RECORD_START of the recorder was accepted",
                          observed=", ".join(f"ThisDN={s.this_dn}: {s.answer}" for s in starts) or "no request",
                          expected=f"GSIP_RECORD_START ThisDN={dn} ConnID={conn_id}", calluuid=calluuid)]
    if accepted[0].this_dn != dn:
        return [violation("ARE-02-RULE-START", "the recorder asked to record on behalf of another DN",
                          observed=accepted[0].this_dn, expected=dn, calluuid=calluuid)]
    return []


def recorder_rule_no_match(starts: Sequence[RecorderStart], *, calluuid: str | None = None) -> list[Finding]:
    """A call the recorder's rule does not select gets no GSIP_RECORD_START from it."""
    return [violation("ARE-02-RULE-NO-MATCH", "the recorder asked to record a call its rule does not select",
                      observed=f"GSIP_RECORD_START ThisDN={s.this_dn}", expected="no request", calluuid=calluuid)
            for s in starts]


def recorded_once(triggers: Sequence[str], *, calluuid: str | None = None) -> list[Finding]:
    """A recorder's start of an already recorded call must not give a second recording."""
    if len(triggers) == 1:
        return []
    return [violation("ARE-02-START-REFUSED", "the call was not recorded exactly once",
                      observed=", ".join(triggers) or "no recording", expected="the DN option's recording only",
                      calluuid=calluuid)]


def start_refused(starts: Sequence[RecorderStart], still_answers_options: bool, *, options_summary: str | None = None,
                  calluuid: str | None = None) -> list[Finding]:
    """SIP Server refuses the recorder's start of an already recorded call with EventError and the
    recorder keeps serving (it still answers OPTIONS)."""
    findings = [violation("ARE-02-START-REFUSED", "SIP Server did not refuse the recorder's start of an already "
                          "recorded call", observed=s.answer, expected="EventError", calluuid=calluuid)
                for s in starts if s.answer != "EventError"]
    if not still_answers_options:
        findings.append(violation("ARE-02-START-REFUSED", "after the EventError the recorder no longer answers "
                                  "OPTIONS", observed=options_summary, calluuid=calluuid))
    return findings
