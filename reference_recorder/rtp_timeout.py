"""Ending a recording session whose RTP stopped: the BYE the recorder sends (pure, no I/O).

A Media Server that fails dies without a BYE (GVP-HA: "the new Media Server opens a new
recording session with the same parameters"); the dead session's dialog would stay open on the
recorder forever, holding capacity and keeping the recording from being finalised. So a
confirmed session from which no RTP arrived for `rtp_timeout_s` (and none of whose streams is
paused by an inactive re-INVITE, when silence is expected: RFC 3264 §6.1) is ended by the
recorder with a BYE in the dialog (RFC 3261 §15: "either the caller or callee" may end it).

The BYE is built from the dialog state the UAS core kept (§12.2.1.1): Request-URI the remote
target, Route the route set, From our URI and tag, To the peer's, a new CSeq. It goes out once
over UDP: the peer is presumed dead, so a missing 200 changes nothing; the session ends here.
"""

from __future__ import annotations

from harness.protocol.sip.dialog import Dialog
from reference_recorder.in_dialog import build_in_dialog, destination

__all__ = ["RTP_TIMEOUT_REASON", "build_bye", "bye_destination"]

RTP_TIMEOUT_REASON = 'SIP;cause=408;text="RTP timeout"'  # RFC 3326


def build_bye(dialog: Dialog, local: tuple[str, int], branch: str, user_agent: str, cseq: int = 1, *,
              reason: str = RTP_TIMEOUT_REASON) -> bytes:
    # §12.2.1.1: CSeq 1 unless we sent a request in the dialog before (a snapshot request).
    return build_in_dialog(dialog, "BYE", local, branch, user_agent, cseq=cseq,
                           headers=[("Reason", reason)])  # RFC 3326: why (RTP timeout, session timer expiry)


def bye_destination(dialog: Dialog) -> tuple[str, int]:
    """Where the BYE goes: the first Route's host, else the remote target's (§8.1.2)."""
    return destination(dialog)
