"""Checks on the recorder's SDP answers, initial and re-INVITE alike (RFC 3264 §6.1, §8).

Pure functions: the offer and answer a validator parsed in, findings out. The SIP validator
(`harness.validators.sip`) calls them for the answer of every INVITE it sees, initial or
in-dialog, so a pause re-INVITE is judged like the first offer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from harness.protocol.sdp import Direction, SessionDescription
from harness.spec.catalogue import requirement
from harness.spec.findings import Evidence, Finding

__all__ = ["AnswerContext", "EMITTED_REQUIREMENTS", "AnsweredSession", "check_answer_direction", "check_origin_kept",
           "sessions_answered_with_sdp"]

EMITTED_REQUIREMENTS = ("SDP-ANSWER-RECVONLY", "SDP-ANSWER-INACTIVE", "SDP-ORIGIN-KEPT")

# RFC 3264 §6.1, per offered direction: the answer directions it allows, and the requirement
# that says so. "If a stream is offered as sendonly, the corresponding stream MUST be marked as
# recvonly or inactive in the answer." "If an offered media stream is listed as inactive, it
# MUST be marked as inactive in the answer." (recvonly -> sendonly/inactive, sendrecv -> any:
# no recording session offers those, and a recorder that sends is judged on the RTP.)
_ALLOWED: dict[Direction, tuple[str, frozenset[Direction]]] = {
    Direction.SENDONLY: ("SDP-ANSWER-RECVONLY", frozenset({Direction.RECVONLY, Direction.INACTIVE})),
    Direction.INACTIVE: ("SDP-ANSWER-INACTIVE", frozenset({Direction.INACTIVE})),
    Direction.RECVONLY: ("SDP-ANSWER-INACTIVE", frozenset({Direction.SENDONLY, Direction.INACTIVE})),
}


@dataclass(frozen=True, slots=True)
class AnswerContext:
    """Where the answer was seen (the 2xx carrying it) and which dialog it belongs to."""

    call_id: str
    evidence: Evidence
    reinvite: bool = False

    @property
    def what(self) -> str:
        return f"{'re-INVITE' if self.reinvite else 'INVITE'} answer on {self.call_id}"


def _finding(req_id: str, message: str, context: AnswerContext, observed: str, expected: str,
             stream: str | None = None, line: str | None = None) -> Finding:
    evidence = context.evidence if line is None else replace(context.evidence, header_line=line)
    return Finding(req_id, requirement(req_id).severity, message, evidence, observed, expected,
                   call_id=context.call_id, stream=stream)


def check_answer_direction(offered: Direction, answered: Direction, m_index: int,
                           context: AnswerContext) -> list[Finding]:
    """RFC 3264 §6.1 for one accepted m-line (port != 0); a rejected m-line has no direction."""
    rule = _ALLOWED.get(offered)
    if rule is None:
        return []
    req_id, allowed = rule
    if answered in allowed:
        return []
    expected = " or ".join(sorted(d.value for d in allowed))
    return [_finding(req_id, f"m-line {m_index} answered {answered} to a{'n' if offered is Direction.INACTIVE else ''} "
                     f"{offered} offer ({context.what})", context, answered.value, expected,
                     stream=str(m_index), line=f"a={answered.value}")]


def check_origin_kept(previous: SessionDescription, previous_body: bytes, answer: SessionDescription,
                      answer_body: bytes, context: AnswerContext) -> list[Finding]:
    """RFC 3264 §8 for the recorder's next SDP in a dialog (`previous`: its last one).

    "the "o=" line of the new SDP MUST be identical to that in the previous SDP, except that the
    version in the origin field MUST increment by one from the previous SDP. If the version in
    the origin line does not increment, the SDP MUST be identical to the SDP with that version
    number."
    """
    before, after = previous.origin, answer.origin
    fixed = ("username", "session_id", "net_type", "addr_type", "address")
    changed = [name for name in fixed if getattr(before, name) != getattr(after, name)]
    if changed:
        return [_finding("SDP-ORIGIN-KEPT", f"o= line changed its {', '.join(changed)} ({context.what}): "
                         f"o={before} became o={after}", context, f"o={after}",
                         f"o={before.username} {before.session_id} <version+1> {before.net_type} "
                         f"{before.addr_type} {before.address}", line=f"o={after}")]
    try:
        old_version, new_version = int(before.session_version), int(after.session_version)
    except ValueError:
        return [_finding("SDP-ORIGIN-KEPT", f"o= sess-version is not a number ({context.what})", context,
                         after.session_version, "a number")]
    if new_version == old_version + 1:
        return []
    if new_version == old_version and _same_sdp(previous_body, answer_body):
        return []
    expected = str(old_version + 1)
    if new_version == old_version:
        message = f"SDP changed but o= sess-version stayed {new_version} ({context.what})"
    else:
        message = f"o= sess-version went from {old_version} to {new_version} ({context.what})"
    return [_finding("SDP-ORIGIN-KEPT", message, context, after.session_version, expected)]


def _same_sdp(a: bytes, b: bytes) -> bool:
    """Identical SDP: the same lines (line endings aside)."""
    return a.replace(b"\r\n", b"\n").strip() == b.replace(b"\r\n", b"\n").strip()


class AnsweredSession(Protocol):
    """What this check reads of a recording session (`harness.validators.sip.SipDialogSummary`)."""

    @property
    def call_id(self) -> str: ...
    @property
    def final_status(self) -> int | None: ...
    @property
    def media(self) -> Sequence[object]: ...


def sessions_answered_with_sdp(sessions: Sequence[AnsweredSession], *,
                               calluuid: str | None = None) -> list[Finding]:
    """RFC 3264 §6: every recording session gets an SDP answer (recvonly to a sendonly offer)."""
    if not sessions:
        return [Finding("SDP-ANSWER-RECVONLY", requirement("SDP-ANSWER-RECVONLY").severity,
                        "no recording session for the call in the capture", calluuid=calluuid)]
    return [Finding("SDP-ANSWER-RECVONLY", requirement("SDP-ANSWER-RECVONLY").severity,
                    f"recording session {d.call_id} has no SDP answer (final status {d.final_status or 'none'})",
                    observed="no answer", expected="recvonly answer", call_id=d.call_id, calluuid=calluuid)
            for d in sessions if not d.media]
