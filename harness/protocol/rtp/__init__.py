"""RTP core (RFC 3550): packet codec, sequence/timestamp wrap arithmetic, receive statistics.

G.711 lives in `harness.protocol.rtp.g711` and is not re-exported here, so that importing the
packet codec does not pull in numpy.
"""

from harness.protocol.rtp.packet import RtpPacket, RtpParseError, looks_like_rtcp, parse_header_fields
from harness.protocol.rtp.seqnum import (
    ExtendedSequence,
    ExtendedTimestamp,
    seq_distance,
    seq_newer,
    ts_distance,
    ts_newer,
)
from harness.protocol.rtp.stats import ReceptionReport, RtpStreamStats, RtpStreamSummary

__all__ = [
    "ExtendedSequence",
    "ExtendedTimestamp",
    "ReceptionReport",
    "RtpPacket",
    "RtpParseError",
    "RtpStreamStats",
    "RtpStreamSummary",
    "looks_like_rtcp",
    "parse_header_fields",
    "seq_distance",
    "seq_newer",
    "ts_distance",
    "ts_newer",
]
