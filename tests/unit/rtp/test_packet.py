"""RTP packet codec (RFC 3550 §5.1, §5.3.1): round trips, truncation, every error path."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.protocol.errors import LocalProtocolError
from harness.protocol.rtp.packet import RtpPacket, RtpParseError, looks_like_rtcp, parse_header_fields

# V=2 P=0 X=0 CC=0 | M=1 PT=0 | seq 0x1234 | ts 0xDEADBEEF | ssrc 0x01020304 | payload 0xFF*4
SIMPLE = bytes.fromhex("80 80 1234 DEADBEEF 01020304") + b"\xff" * 4
# CC=2, X=1 (profile 0xBEDE, 1 word), P=1 (3 padding octets), PT=8
FULL = (
    bytes.fromhex("B2 08 0001 00000010 AABBCCDD")
    + bytes.fromhex("00000001 00000002")
    + bytes.fromhex("BEDE 0001 10FF0000")
    + b"\xd5" * 5
    + b"\x00\x00\x03"
)


def test_parse_simple() -> None:
    p = RtpPacket.parse(SIMPLE)
    assert (p.version, p.padding, p.extension, p.marker) == (2, False, False, True)
    assert (p.payload_type, p.sequence, p.timestamp, p.ssrc) == (0, 0x1234, 0xDEADBEEF, 0x01020304)
    assert p.payload == b"\xff" * 4 and p.csrcs == () and p.extension_profile is None
    assert p.to_bytes() == SIMPLE


def test_parse_csrc_extension_padding() -> None:
    p = RtpPacket.parse(FULL)
    assert p.csrcs == (1, 2)
    assert p.extension and p.extension_profile == 0xBEDE and p.extension_data == bytes.fromhex("10FF0000")
    assert p.padding and p.padding_length == 3
    assert p.payload == b"\xd5" * 5
    assert p.header_length == 12 + 8 + 8
    assert p.to_bytes() == FULL


def test_fast_header_fields_agree_with_parse() -> None:
    fields = parse_header_fields(FULL)
    assert fields == (2, True, True, False, 8, 1, 16, 0xAABBCCDD, 28, len(FULL) - 3)
    assert FULL[fields[8] : fields[9]] == RtpPacket.parse(FULL).payload
    assert parse_header_fields(memoryview(SIMPLE))[5] == 0x1234


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (SIMPLE[:11], "too short"),
        (b"\x40" + SIMPLE[1:], "version 1"),
        (b"\x00" + SIMPLE[1:], "version 0"),
        (b"\x83" + SIMPLE[1:], "CSRC list overruns"),  # CC=3 needs 24 bytes, have 16
        (b"\x90" + SIMPLE[1:12], "header extension overruns"),  # X=1 but no ext header
        (b"\x90" + SIMPLE[1:12] + b"\xbe\xde\x00\x02\x00\x00\x00\x00", "header extension overruns"),
        (b"\xa0" + SIMPLE[1:12], "no padding count"),
        (b"\xa0" + SIMPLE[1:-1] + b"\x00", "padding count is 0"),
        (b"\xa0" + SIMPLE[1:-1] + b"\x06", "padding overruns"),
    ],
)
def test_parse_errors_name_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(RtpParseError, match=message):
        RtpPacket.parse(data)
    with pytest.raises(ValueError, match=message):  # RtpParseError is a ValueError
        parse_header_fields(data)


def test_every_truncation_of_full_packet_fails_or_reparses_consistently() -> None:
    """Cutting the packet anywhere must give a clean RtpParseError, never IndexError/struct.error."""
    for n in range(len(FULL)):
        try:
            p = RtpPacket.parse(FULL[:n])
        except RtpParseError:
            continue
        assert p.to_bytes() == FULL[:n] or p.padding  # only the padding octet may be re-derived


def test_padding_only_packet_is_allowed() -> None:
    data = b"\xa0" + SIMPLE[1:12] + b"\x00\x00\x00\x04"
    p = RtpPacket.parse(data)
    assert p.payload == b"" and p.padding_length == 4 and p.to_bytes() == data


def test_build_validation_is_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="payload_type"):
        RtpPacket(payload_type=128, sequence=0, timestamp=0, ssrc=0)
    with pytest.raises(LocalProtocolError, match="sequence"):
        RtpPacket(payload_type=0, sequence=65536, timestamp=0, ssrc=0)
    with pytest.raises(LocalProtocolError, match="extension flag"):
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, extension=True)
    with pytest.raises(LocalProtocolError, match="multiple of 4"):
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, extension=True, extension_profile=1, extension_data=b"x")
    with pytest.raises(LocalProtocolError, match="padding flag"):
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, padding_length=2)
    with pytest.raises(LocalProtocolError, match="CSRCs"):
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, csrcs=tuple(range(16)))


def test_looks_like_rtcp() -> None:
    assert looks_like_rtcp(bytes([0x80, 200]) + b"\x00" * 6)  # SR
    assert looks_like_rtcp(bytes([0x81, 201]) + b"\x00" * 6)  # RR
    assert not looks_like_rtcp(SIMPLE)  # marker + PT 0 = 0x80
    assert not looks_like_rtcp(bytes([0x80, 0x08]))
    assert not looks_like_rtcp(b"\x80")


packets = st.builds(
    lambda pt, m, seq, ts, ssrc, csrcs, ext, payload, pad: RtpPacket(
        payload_type=pt,
        marker=m,
        sequence=seq,
        timestamp=ts,
        ssrc=ssrc,
        csrcs=tuple(csrcs),
        extension=ext is not None,
        extension_profile=None if ext is None else ext[0],
        extension_data=b"" if ext is None else ext[1],
        payload=payload,
        padding=pad > 0,
        padding_length=pad,
    ),
    st.integers(0, 127),
    st.booleans(),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.lists(st.integers(0, 0xFFFFFFFF), max_size=15),
    st.none() | st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=12).map(lambda b: b + bytes(-len(b) % 4))),
    st.binary(max_size=64),
    st.integers(0, 255),
)


@given(packets)
def test_round_trip_property(p: RtpPacket) -> None:
    wire = p.to_bytes()
    assert RtpPacket.parse(wire) == p
    assert parse_header_fields(wire)[5:8] == (p.sequence, p.timestamp, p.ssrc)
    assert struct.unpack_from("!H", wire, 2)[0] == p.sequence
