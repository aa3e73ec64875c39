"""The recorder's answers to the edge cases of seed step 6 (a probe each, SIPp edge_*_uac.xml):
an offer with no codec in common, CANCEL before the final response, a malformed request, one
session more than the recorder's capacity. Evidence: the final statuses of the probe's
transactions in the capture, in capture order (plain values)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.checks._finding import violation
from harness.spec.findings import Finding

__all__ = ["beyond_capacity", "cancel_before_answer", "codec_accepted_or_488", "malformed_request", "no_common_codec",
           "status_text"]


def status_text(status: int | None) -> str:
    return "none" if status is None else str(status)


def no_common_codec(final_status: int | None, audio_ports: Sequence[int], codec: str, *,
                    call_id: str | None = None) -> list[Finding]:
    """An offer whose only codec the recorder cannot know.

    RFC 3264 §6: "If the answerer has no media formats in common for a particular offered
    stream, the answerer MUST reject that media stream by setting the port to zero." RFC 3261
    §21.4.26: 488 Not Acceptable Here is the response when nothing in the offer is acceptable.
    So accepting the stream (a 2xx with a non-zero audio port) is the MUST failure
    (SIP-NO-CODEC-488); a 2xx that rejects the stream with port 0, or another refusal than 488,
    is allowed but not what the Media Server expects (SIP-NO-CODEC-488-PREFERRED, a warning)."""
    status = status_text(final_status)
    if final_status == 488:
        return []
    if final_status is None:
        return [violation("SIP-NO-CODEC-488", f"an offer whose only codec is {codec} got no final response",
                          observed="no final response", expected="488 (or a 2xx rejecting the stream with port 0)",
                          call_id=call_id)]
    if 200 <= final_status < 300:
        accepted = [p for p in audio_ports if p != 0]
        if accepted or not audio_ports:
            return [violation("SIP-NO-CODEC-488", f"an offer whose only codec is {codec} was accepted "
                              f"(answered {status} with audio port {accepted[0] if accepted else 'missing'})",
                              observed=f"{status}, m=audio {accepted[0] if accepted else '?'}",
                              expected="488, or the stream rejected with port 0", call_id=call_id)]
        return [violation("SIP-NO-CODEC-488-PREFERRED", f"an offer whose only codec is {codec} was answered "
                          f"{status} with the stream rejected (m=audio 0) instead of 488",
                          observed=f"{status}, m=audio 0", expected="488", call_id=call_id)]
    return [violation("SIP-NO-CODEC-488-PREFERRED", f"an offer whose only codec is {codec} was refused with "
                      f"{status} instead of 488", observed=status, expected="488", call_id=call_id)]


def codec_accepted_or_488(final_status: int | None, answered: Sequence[tuple[int, frozenset[int]]], codec: str,
                          payload_type: int, *, call_id: str | None = None) -> list[Finding]:
    """An offer of a codec a recorder may or may not implement (G.729, RFC 3551 §4.5.6, static
    PT 18): either answer is conformant, accepting it (a 2xx whose audio m-line keeps only that
    payload type, RFC 3264 §6.1 "MUST be one of the formats in the offer") or refusing it with 488
    (RFC 3261 §21.4.26), as is a 2xx rejecting the stream with port 0 (RFC 3264 §6). `answered`:
    (port, payload types) of each answered audio m-line. Judgement: any other refusal (or none)
    leaves the Media Server guessing, so it fails too."""
    status = status_text(final_status)
    if final_status == 488:
        return []
    if final_status is not None and 200 <= final_status < 300 and answered:
        wrong = [(port, pts) for port, pts in answered if port != 0 and pts != frozenset({payload_type})]
        if not wrong:
            return []
        port, pts = wrong[0]
        return [violation("SDP-CODEC-ACCEPT-OR-488", f"an offer of {codec} only (PT {payload_type}) was answered "
                          f"{status} with m=audio {port} formats {sorted(pts)}", observed=f"PT {sorted(pts)}",
                          expected=f"PT {payload_type} only, or 488", call_id=call_id)]
    got = "no final response" if final_status is None else status
    return [violation("SDP-CODEC-ACCEPT-OR-488", f"an offer of {codec} only got {got}",
                      observed=got, expected=f"2xx with {codec}, or 488", call_id=call_id)]


def cancel_before_answer(cancel_seen: bool, cancel_status: int | None, invite_status: int | None, *,
                         call_id: str | None = None) -> list[Finding]:
    """RFC 3261 §9.2: a CANCEL of a pending INVITE is answered 200 and the INVITE 487.
    (Whether the CANCEL came in time is the caller's evidence: once the UAS has sent a final
    response "the CANCEL request has no effect", that case is not applicable.)"""
    if not cancel_seen:
        return [violation("SIP-CANCEL-487", "no CANCEL in the capture: the INVITE got no final response",
                          observed="no CANCEL", expected="CANCEL answered 200, INVITE 487", call_id=call_id)]
    if cancel_status != 200 or invite_status != 487:
        return [violation("SIP-CANCEL-487", "CANCEL before the final response not honoured",
                          observed=f"CANCEL {status_text(cancel_status)}, INVITE {status_text(invite_status)}",
                          expected="CANCEL 200, INVITE 487", call_id=call_id)]
    return []


def malformed_request(malformed_status: int | None, ping_status: int | None, invite_status: int | None,
                      bye_status: int | None, *, call_id: str | None = None) -> list[Finding]:
    """RFC 3261 §18.3: for a request whose body is shorter than its Content-Length "the element
    SHOULD generate a 400": accepting it (2xx) is the MUST failure (SIP-MALFORMED-400), dropping it
    or another error status a warning (SIP-MALFORMED-ANSWERED-400). "Keeps serving": the requests
    after it (an OPTIONS ping, an INVITE, its BYE when the INVITE was accepted) are still answered;
    whether those answers are the right ones is judged by the steps about those requests."""
    findings: list[Finding] = []
    if malformed_status is not None and 200 <= malformed_status < 300:
        findings.append(violation("SIP-MALFORMED-400", "an OPTIONS whose Content-Length exceeds its body "
                                  "(RFC 3261 §18.3) was accepted", observed=str(malformed_status), expected="400",
                                  call_id=call_id))
    elif malformed_status != 400:
        findings.append(violation("SIP-MALFORMED-ANSWERED-400", "an OPTIONS whose Content-Length exceeds its body "
                                  "(RFC 3261 §18.3) was not answered 400",
                                  observed="no answer (dropped)" if malformed_status is None else str(malformed_status),
                                  expected="400", call_id=call_id))
    bye_answered = invite_status is not None and (invite_status != 200 or bye_status is not None)
    if ping_status is None or invite_status is None or not bye_answered:
        findings.append(violation("SIP-MALFORMED-400", "the recorder stopped answering after the malformed request",
                                  observed=f"OPTIONS {status_text(ping_status)}, INVITE {status_text(invite_status)}, "
                                  f"BYE {status_text(bye_status)}",
                                  expected="a final response to the OPTIONS, the INVITE and (if set up) the BYE",
                                  call_id=call_id))
    return findings


def beyond_capacity(statuses: Mapping[str, int | None], capacity: int) -> list[Finding]:
    """`capacity + 1` simultaneous INVITEs (Call-ID -> final status). RFC 3261 §21.5.4 (GVP-Scale:
    Resource Manager then tries the next recorder): a recorder at capacity answers 503. No answer
    leaves the Media Server waiting for timer B (32 s); 2xx beyond the declared capacity, or a
    refusal below it, means capacity was not where declared."""
    findings: list[Finding] = []
    accepted = [c for c, s in statuses.items() if s is not None and 200 <= s < 300]
    silent = [c for c, s in statuses.items() if s is None]
    other = {c: s for c, s in statuses.items() if s is not None and not 200 <= s < 300 and s != 503}
    findings += [violation("SIP-CAPACITY-503", f"INVITE {c} beyond capacity {capacity} got no final response "
                           "(dropped silently)", observed="no final response", expected="503 Service Unavailable",
                           call_id=c) for c in silent]
    findings += [violation("SIP-CAPACITY-503", f"INVITE {c} at capacity {capacity} refused with {s}", observed=str(s),
                           expected="503 Service Unavailable", call_id=c) for c, s in other.items()]
    if len(accepted) != capacity:
        findings.append(violation("SIP-CAPACITY-503", f"{len(accepted)} of {len(statuses)} simultaneous sessions "
                                  f"accepted, the declared capacity is {capacity}",
                                  observed=f"{len(accepted)} x 2xx", expected=f"{capacity} x 2xx, 1 x 503"))
    return findings
