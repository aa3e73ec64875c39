"""What the SDP bodies of a capture tell the RTP analysis: each receiving address's clock and
telephone-event payload types (`learn_formats`), as Wireshark learns them.

Used by the scan's one pass (`harness.offline.scan`) and, when the RTP statistics run in a
second process, by that process from the SIP records it receives anyway
(`harness.offline.rtp_worker`), so the reading process never parses SDP.
"""

from __future__ import annotations

from typing import Protocol

from harness.capture.model import Endpoint
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sdp import parse_sdp

__all__ = ["FormatLearner", "learn_formats"]


class FormatLearner(Protocol):
    """What `learn_formats` tells: an `RtpAnalyzer`."""

    def learn_format(self, endpoint: Endpoint, clock_rate: int, telephone_event_pts: frozenset[int], *,
                     since_index: int = 0) -> None: ...


def learn_formats(payload: bytes, analyzer: FormatLearner, index: int) -> None:
    """Tell the RTP analysis what each SDP-described address receives (see `learn_format`)."""
    split = payload.find(b"\r\n\r\n")
    if split < 0 or not payload.startswith(b"v=0", split + 4):
        return
    try:
        sdp = parse_sdp(payload[split + 4:])
    except (RemoteProtocolError, ValueError):
        return  # validate_sip reports the unparsable body (SIP-MESSAGE-WELLFORMED)
    for i, media in enumerate(sdp.media):
        conn = sdp.media_connection(i)
        if media.port == 0 or conn is None:
            continue
        rtpmap = media.rtpmap
        events = frozenset(pt for pt, r in rtpmap.items() if r.encoding.lower() == "telephone-event")
        # Same rule as the SIP validator's NegotiatedStream.clock_rate: first non-event codec.
        clock = next((r.clock_rate for r in rtpmap.values() if r.encoding.lower() != "telephone-event"), 8000)
        analyzer.learn_format((conn.host, media.port), clock, events, since_index=index)
