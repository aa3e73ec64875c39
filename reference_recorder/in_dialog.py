"""Requests the recorder sends inside a dialog it answered (pure, no I/O): its BYE on an RTP
timeout (`reference_recorder.rtp_timeout`) and, as a SIPREC SRS, the UPDATE asking the SRC for
a metadata snapshot (RFC 7866 §9.2).

RFC 3261 §12.2.1.1: a request within a dialog takes the Request-URI from the remote target,
Route from the route set, From our URI and tag, To the peer's URI and tag, and a local CSeq
that increases with each request we send (the peer never sent us one of ours to follow). The
request goes out once over UDP: this recorder has no client transaction (no retransmission,
RFC 3261 §17.1.2), which loopback delivery makes acceptable for the reference recorder.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.protocol.sip.dialog import Dialog
from harness.protocol.sip.message import Headers, SipRequest
from harness.protocol.sip.uri import SipUri

__all__ = ["build_in_dialog", "destination"]


def build_in_dialog(dialog: Dialog, method: str, local: tuple[str, int], branch: str, user_agent: str, *,
                    cseq: int = 1, headers: Sequence[tuple[str, str]] = (), body: bytes = b"") -> bytes:
    """One request of ours in `dialog` (§12.2.1.1); `headers` go after the core ones."""
    host, port = local
    sent_by = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    out = Headers([
        ("Via", f"SIP/2.0/UDP {sent_by};branch=z9hG4bK-arec-{method.lower()}-{branch}"),
        ("Max-Forwards", "70"),
        ("From", f"<{dialog.local_uri}>;tag={dialog.id.local_tag}"),
        ("To", f"<{dialog.remote_uri}>;tag={dialog.id.remote_tag}" if dialog.id.remote_tag
         else f"<{dialog.remote_uri}>"),
        ("Call-ID", dialog.id.call_id),
        ("CSeq", f"{cseq} {method}"),
        *headers,
        ("User-Agent", user_agent),
    ])
    for route in dialog.route_set:
        out.add("Route", route)
    return SipRequest(method, SipUri.parse(_bare(dialog.remote_target)), out, body).to_bytes()


def destination(dialog: Dialog) -> tuple[str, int]:
    """Where a request in the dialog goes: the first Route's host, else the remote target's (§8.1.2)."""
    uri = SipUri.parse(_bare(dialog.route_set[0] if dialog.route_set else dialog.remote_target))
    return uri.host, uri.port or 5060


def _bare(text: str) -> str:
    text = text.strip()
    if "<" in text:
        text = text[text.index("<") + 1:text.index(">")]
    return text
