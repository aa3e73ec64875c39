"""Media side of the Media Server emulation: audio time-code, RTP streams (scapy), paced sender,
impaired media (a seeded transform of the packet schedule)."""

from harness.media.impairments import Impairments, WireKind, WirePacket, impair, parse_impairments
from harness.media.pacer import DestinationNotAllowed, PacedSender, SendRecord
from harness.media.rtp_source import PacketKind, RtpPacket, RtpStreamSource, Run
from harness.media.timecode import (
    MAX_SEGMENTS,
    MAX_STREAMS,
    SAMPLE_RATE,
    SEGMENT_SAMPLES,
    SYMBOL_SAMPLES,
    SYMBOLS_PER_SEGMENT,
    DecodedSegment,
    PartialReason,
    PartialSegment,
    Span,
    TimecodeTrack,
    decode_timecode,
    segment_of_sample,
    timecode_samples,
)

__all__ = [
    "MAX_SEGMENTS",
    "MAX_STREAMS",
    "SAMPLE_RATE",
    "SEGMENT_SAMPLES",
    "SYMBOLS_PER_SEGMENT",
    "SYMBOL_SAMPLES",
    "DecodedSegment",
    "DestinationNotAllowed",
    "Impairments",
    "PacedSender",
    "PacketKind",
    "PartialReason",
    "PartialSegment",
    "RtpPacket",
    "RtpStreamSource",
    "Run",
    "SendRecord",
    "Span",
    "TimecodeTrack",
    "WireKind",
    "WirePacket",
    "decode_timecode",
    "impair",
    "parse_impairments",
    "segment_of_sample",
    "timecode_samples",
]
