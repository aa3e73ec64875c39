"""RTP fixed header, CSRC list, header extension and padding (RFC 3550 §5.1, §5.3.1).

```
 0                   1                   2                   3
 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
|V=2|P|X|  CC   |M|     PT      |       sequence number         |
|                           timestamp                           |
|           synchronization source (SSRC) identifier            |
|            contributing source (CSRC) identifiers  (CC x 32)  |
| defined by profile (16)       |  length (16, in 32-bit words) |   if X
|                        header extension                       |
| payload ...                   | padding ... | padding count   |   if P
```

`RtpPacket.parse` builds a validated object (for SIP-side code and tests); validators that read
100 MB captures use `parse_header_fields`, which slices with one `struct.unpack_from` and builds
no object, or `header_view`, a numpy view of many fixed headers laid back to back (one array
per field, no per-packet work at all). This module is the project's one RTP header codec.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from harness.protocol.errors import LocalProtocolError

__all__ = [
    "FIXED_HEADER_DTYPE",
    "RTP_HEADER_LEN",
    "FixedHeaders",
    "HeaderFields",
    "RtpPacket",
    "RtpParseError",
    "fixed_header",
    "header_view",
    "looks_like_rtcp",
    "parse_header_fields",
    "patch_fixed_header",
]

RTP_HEADER_LEN: Final = 12
_FIXED: Final = struct.Struct("!BBHII")
_EXT: Final = struct.Struct("!HH")

#: (version, padding, extension, marker, payload_type, sequence, timestamp, ssrc,
#:  payload_offset, payload_end) -- payload is data[payload_offset:payload_end].
HeaderFields = tuple[int, bool, bool, bool, int, int, int, int, int, int]


class RtpParseError(ValueError):
    """The bytes are not a well-formed RTP packet; the message names the problem."""


def _payload_bounds(data: bytes | bytearray | memoryview, b0: int) -> tuple[int, int]:
    """Offsets of the payload after CSRCs/extension and before padding; raises on overruns."""
    n = len(data)
    offset = RTP_HEADER_LEN + 4 * (b0 & 0x0F)
    if offset > n:
        raise RtpParseError(f"CSRC list overruns packet: CC={b0 & 0x0F} needs {offset} bytes, have {n}")
    if b0 & 0x10:
        if offset + 4 > n:
            raise RtpParseError(f"header extension overruns packet: needs {offset + 4} bytes, have {n}")
        _profile, words = _EXT.unpack_from(data, offset)
        offset += 4 + 4 * words
        if offset > n:
            raise RtpParseError(
                f"header extension overruns packet: length {words} words needs {offset} bytes, have {n}"
            )
    end = n
    if b0 & 0x20:
        if n == offset:
            raise RtpParseError("padding bit set but no padding count octet")
        count = data[n - 1]
        # RFC 3550 §5.1: "The last octet of the padding contains a count of how many padding
        # octets should be ignored, including itself" -- so 0 is impossible, and it cannot
        # reach back into the header.
        if count == 0:
            raise RtpParseError("padding count is 0 (it includes itself, so must be >= 1)")
        if count > n - offset:
            raise RtpParseError(f"padding overruns packet: count {count} > {n - offset} bytes after header")
        end = n - count
    return offset, end


def parse_header_fields(data: bytes | bytearray | memoryview) -> HeaderFields:
    """Fast header read for capture validators: one unpack, no object, same checks as `parse`."""
    if len(data) < RTP_HEADER_LEN:
        raise RtpParseError(f"too short for an RTP header: {len(data)} bytes < {RTP_HEADER_LEN}")
    b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data)
    if b0 >> 6 != 2:
        raise RtpParseError(f"RTP version {b0 >> 6} != 2")
    start, end = _payload_bounds(data, b0)
    return (2, bool(b0 & 0x20), bool(b0 & 0x10), bool(b1 & 0x80), b1 & 0x7F, seq, ts, ssrc, start, end)


_FIXED_TAIL: Final = struct.Struct("!BHII")


def fixed_header(data: bytes | bytearray | memoryview) -> tuple[bool, int, int, int, int]:
    """(marker, payload type, sequence, timestamp, SSRC) of a packet already known to be RTP
    version 2 with at least the 12-byte fixed header (no bounds walk: see `parse_header_fields`)."""
    b1, seq, ts, ssrc = _FIXED_TAIL.unpack_from(data, 1)
    return b1 > 0x7F, b1 & 0x7F, seq, ts, ssrc


_MARKER_SEQ_TS: Final = struct.Struct("!BHI")


def pack_fixed_header(payload_type: int, sequence: int, timestamp: int, ssrc: int, *, marker: bool = False) -> bytes:
    """A 12-byte version-2 fixed header without padding, extension or CSRC (RFC 3550 §5.1) in one
    struct call: a load sender's per-packet header (tens of thousands a second)."""
    return _FIXED.pack(0x80, (0x80 if marker else 0) | payload_type, sequence, timestamp, ssrc)


def patch_fixed_header(buf: bytearray, *, marker: bool, sequence: int, timestamp: int) -> None:
    """Set M, the sequence number and the timestamp of a fixed header in place (a sender's
    per-packet work on a header template; PT and the other bits of octet 1 are kept)."""
    _MARKER_SEQ_TS.pack_into(buf, 1, (buf[1] & 0x7F) | (0x80 if marker else 0), sequence, timestamp)


#: The 12-byte fixed header as a numpy record (network byte order).
FIXED_HEADER_DTYPE: Final = np.dtype([("b0", "u1"), ("b1", "u1"), ("seq", ">u2"), ("ts", ">u4"), ("ssrc", ">u4")])


class FixedHeaders(NamedTuple):
    """Fields of many fixed headers, one int64 / bool array per field."""

    marker: npt.NDArray[np.bool_]
    payload_type: npt.NDArray[np.int64]
    sequence: npt.NDArray[np.int64]
    timestamp: npt.NDArray[np.int64]
    ssrc: npt.NDArray[np.int64]


def header_view(headers: bytes | bytearray | memoryview) -> FixedHeaders:
    """Decode fixed headers laid back to back (12 bytes each, RFC 3550 §5.1) in one go.

    The packets must already be known to be RTP version 2 (the capture classifier checks V,
    CSRC count, extension and padding): only M, PT, sequence, timestamp and SSRC are read."""
    if len(headers) % RTP_HEADER_LEN:
        raise RtpParseError(f"{len(headers)} bytes is not a whole number of {RTP_HEADER_LEN}-byte headers")
    rec = np.frombuffer(headers, dtype=FIXED_HEADER_DTYPE)
    b1 = rec["b1"]
    return FixedHeaders(b1 >= 0x80, (b1 & 0x7F).astype(np.int64), rec["seq"].astype(np.int64),
                        rec["ts"].astype(np.int64), rec["ssrc"].astype(np.int64))


def looks_like_rtcp(data: bytes | bytearray | memoryview) -> bool:
    """RFC 5761 §4: on a shared port, second octet 192..223 (RTCP PT 200..204 range) means RTCP."""
    return len(data) >= 2 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpPacket:
    """One RTP packet. Built values are validated; `to_bytes()` emits zero padding octets."""

    version: int = 2
    padding: bool = False
    extension: bool = False
    marker: bool = False
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    csrcs: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension_data: bytes = b""
    payload: bytes = b""
    padding_length: int = 0

    def __post_init__(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise LocalProtocolError(f"invalid RtpPacket: {what}")

        need(0 <= self.version <= 3, f"version {self.version} not 0..3")
        need(0 <= self.payload_type <= 127, f"payload_type {self.payload_type} not 0..127")
        need(0 <= self.sequence <= 0xFFFF, f"sequence {self.sequence} not 16-bit")
        need(0 <= self.timestamp <= 0xFFFFFFFF, f"timestamp {self.timestamp} not 32-bit")
        need(0 <= self.ssrc <= 0xFFFFFFFF, f"ssrc {self.ssrc} not 32-bit")
        need(len(self.csrcs) <= 15, f"{len(self.csrcs)} CSRCs > 15 (CC is 4 bits)")
        need(all(0 <= c <= 0xFFFFFFFF for c in self.csrcs), "CSRC not 32-bit")
        need(self.extension == (self.extension_profile is not None), "extension flag vs extension_profile")
        need(
            self.extension_profile is None or 0 <= self.extension_profile <= 0xFFFF,
            "extension_profile not 16-bit",
        )
        # RFC 3550 §5.3.1: the extension length counts 32-bit words.
        need(len(self.extension_data) % 4 == 0, "extension_data length not a multiple of 4")
        need(len(self.extension_data) // 4 <= 0xFFFF, "extension_data too long")
        need(self.extension or not self.extension_data, "extension_data without extension")
        need(self.padding == (self.padding_length > 0), "padding flag vs padding_length")
        need(0 <= self.padding_length <= 255, f"padding_length {self.padding_length} not 0..255")

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> RtpPacket:
        """Parse one RTP packet; raises `RtpParseError` naming the problem."""
        version, padding, extension, marker, pt, seq, ts, ssrc, start, end = parse_header_fields(data)
        raw = bytes(data)
        cc = raw[0] & 0x0F
        csrcs = struct.unpack_from(f"!{cc}I", raw, RTP_HEADER_LEN) if cc else ()
        ext_profile: int | None = None
        ext_data = b""
        if extension:
            off = RTP_HEADER_LEN + 4 * cc
            ext_profile, words = _EXT.unpack_from(raw, off)
            ext_data = raw[off + 4 : off + 4 + 4 * words]
        return cls(
            version=version,
            padding=padding,
            extension=extension,
            marker=marker,
            payload_type=pt,
            sequence=seq,
            timestamp=ts,
            ssrc=ssrc,
            csrcs=tuple(csrcs),
            extension_profile=ext_profile,
            extension_data=ext_data,
            payload=raw[start:end],
            padding_length=len(raw) - end,
        )

    @property
    def header_length(self) -> int:
        """Bytes before the payload: fixed header, CSRCs and extension."""
        ext = 4 + len(self.extension_data) if self.extension else 0
        return RTP_HEADER_LEN + 4 * len(self.csrcs) + ext

    def to_bytes(self) -> bytes:
        """Wire form. Padding is `padding_length - 1` zero octets followed by the count octet."""
        b0 = (self.version << 6) | (self.padding << 5) | (self.extension << 4) | len(self.csrcs)
        b1 = (self.marker << 7) | self.payload_type
        parts = [_FIXED.pack(b0, b1, self.sequence, self.timestamp, self.ssrc)]
        if self.csrcs:
            parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
        if self.extension_profile is not None:
            parts.append(_EXT.pack(self.extension_profile, len(self.extension_data) // 4))
            parts.append(self.extension_data)
        parts.append(self.payload)
        if self.padding_length:
            parts.append(bytes(self.padding_length - 1) + bytes([self.padding_length]))
        return b"".join(parts)
