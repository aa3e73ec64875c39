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
from harness.protocol.sip.message import Headers, SipRequest
from harness.protocol.sip.uri import SipUri

__all__ = ["RTP_TIMEOUT_REASON", "build_bye", "bye_destination"]

RTP_TIMEOUT_REASON = 'SIP;cause=408;text="RTP timeout"'  # RFC 3326


def build_bye(dialog: Dialog, local: tuple[str, int], branch: str, user_agent: str, *,
              reason: str = RTP_TIMEOUT_REASON) -> bytes:
    host, port = local
    sent_by = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    headers = Headers([
        ("Via", f"SIP/2.0/UDP {sent_by};branch=z9hG4bK-arec-bye-{branch}"),
        ("Max-Forwards", "70"),
        ("From", f"<{dialog.local_uri}>;tag={dialog.id.local_tag}"),
        ("To", f"<{dialog.remote_uri}>;tag={dialog.id.remote_tag}" if dialog.id.remote_tag
         else f"<{dialog.remote_uri}>"),
        ("Call-ID", dialog.id.call_id),
        # §12.2.1.1: our first request in the dialog; the peer never sent us a CSeq to follow.
        ("CSeq", "1 BYE"),
        ("Reason", reason),  # RFC 3326: why we end it (RTP timeout, session timer expiry)
        ("User-Agent", user_agent),
    ])
    for route in dialog.route_set:
        headers.add("Route", route)
    return SipRequest("BYE", SipUri.parse(_bare(dialog.remote_target)), headers).to_bytes()


def bye_destination(dialog: Dialog) -> tuple[str, int]:
    """Where the BYE goes: the first Route's host, else the remote target's (§8.1.2)."""
    uri = SipUri.parse(_bare(dialog.route_set[0] if dialog.route_set else dialog.remote_target))
    return uri.host, uri.port or 5060


def _bare(text: str) -> str:
    text = text.strip()
    if "<" in text:
        text = text[text.index("<") + 1:text.index(">")]
    return text
