"""JSON-lines codec: round trips against the wire fixture, and every way a line can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.protocol.errors import LocalProtocolError, RemoteProtocolError
from harness.protocol.tlib import (
    EVENT_TYPES,
    MAX_LINE_LENGTH,
    MESSAGE_TYPES,
    REQUEST_TYPES,
    Direction,
    ErrorCode,
    EventRinging,
    Request,
    RequestRegisterAddress,
    TlibDecoder,
    TlibProtocolError,
    decode_line,
    encode,
)

from .samples import SAMPLES

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "tlib" / "messages.jsonl"
LINES = FIXTURE.read_bytes().splitlines(keepends=True)


def direction_of(line: bytes) -> Direction:
    return Direction.REQUESTS if json.loads(line)["message"] in REQUEST_TYPES else Direction.EVENTS


def test_fixture_covers_every_message_type() -> None:
    names = {json.loads(line)["message"] for line in LINES}
    assert names == set(MESSAGE_TYPES)


@pytest.mark.parametrize("index", range(len(SAMPLES)), ids=[m.MESSAGE for m in SAMPLES])
def test_round_trip(index: int) -> None:
    line, message = LINES[index], SAMPLES[index]
    assert encode(message) == line
    decoded = decode_line(line.rstrip(b"\n"), direction_of(line))
    assert decoded == message
    assert type(decoded) is type(message)
    assert encode(decoded) == line


def test_decoder_whole_fixture_one_byte_at_a_time() -> None:
    requests = TlibDecoder(Direction.REQUESTS)
    events = TlibDecoder(Direction.EVENTS)
    got = []
    for line in LINES:
        decoder = requests if direction_of(line) is Direction.REQUESTS else events
        for i in range(len(line)):
            got += decoder.feed(line[i : i + 1])
    assert got == SAMPLES


def test_crlf_and_blank_lines_tolerated() -> None:
    decoder = TlibDecoder(Direction.REQUESTS)
    data = b"\r\n\n" + LINES[0].rstrip(b"\n") + b"\r\n   \n" + LINES[1]
    assert decoder.feed(data) == SAMPLES[:2]
    assert decoder.pending_bytes == 0


def test_encode_is_one_line_even_with_newlines_in_values() -> None:
    msg = EventRinging(this_dn="1\n2", conn_id="c", call_uuid="u\u2028")
    line = encode(msg)
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert decode_line(line[:-1], Direction.EVENTS) == msg


def test_encode_refuses_message_over_limit() -> None:
    with pytest.raises(LocalProtocolError):
        encode(RequestRegisterAddress(reference_id=1, this_dn="x" * 100), max_line_length=50)


def error_of(line: bytes, direction: Direction = Direction.REQUESTS) -> TlibProtocolError:
    with pytest.raises(TlibProtocolError) as info:
        decode_line(line, direction)
    assert isinstance(info.value, RemoteProtocolError)
    return info.value


@pytest.mark.parametrize(
    ("line", "code", "ref"),
    [
        (b"{not json", ErrorCode.TERR_MALFORMED, 0),
        (b'{"message":"RequestRegisterAddress","ReferenceID":5,"ThisDN":"7001"', ErrorCode.TERR_MALFORMED, 0),
        (b"[1,2,3]", ErrorCode.TERR_MALFORMED, 0),
        (b'"RequestRegisterAddress"', ErrorCode.TERR_MALFORMED, 0),
        (b'{"message":"RequestRegisterAddress","ReferenceID":NaN,"ThisDN":"1"}', ErrorCode.TERR_MALFORMED, 0),
        (b'{"message":"RequestQueryCall","ReferenceID":1,"ReferenceID":2,"ThisDN":"1","ConnID":"c"}',
         ErrorCode.TERR_MALFORMED, 0),
        (b"\xef\xbb\xbf{}", ErrorCode.TERR_MALFORMED, 0),  # UTF-8 BOM is not JSON text
        (b'{"message":"RequestRegisterAddress","ReferenceID":9,"ThisDN":"\xff\xfe"}', ErrorCode.TERR_MALFORMED, 0),
        (b"[" * 100_000, ErrorCode.TERR_MALFORMED, 0),
        (b'{"ReferenceID":4,"ThisDN":"1"}', ErrorCode.TERR_NO_ATTR, 4),
        (b'{"message":17,"ReferenceID":4}', ErrorCode.TERR_INVALID_ATTR, 4),
        (b'{"message":"RequestMakeCall","ReferenceID":12}', ErrorCode.TERR_UNKNOWN_MESSAGE, 12),
        (b'{"message":"EventACK","ReferenceID":12}', ErrorCode.TERR_UNEXPECTED_MESSAGE, 12),
        (b'{"message":"RequestRegisterAddress","ReferenceID":7}', ErrorCode.TERR_NO_ATTR, 7),
        (b'{"message":"RequestRegisterAddress","ThisDN":"7001"}', ErrorCode.TERR_NO_ATTR, 0),
        (b'{"message":"RequestRegisterAddress","ReferenceID":"7","ThisDN":"7001"}', ErrorCode.TERR_INVALID_ATTR, 0),
        (b'{"message":"RequestRegisterAddress","ReferenceID":true,"ThisDN":"7001"}', ErrorCode.TERR_INVALID_ATTR, 0),
        (b'{"message":"RequestRegisterAddress","ReferenceID":1.5,"ThisDN":"7001"}', ErrorCode.TERR_INVALID_ATTR, 0),
        (b'{"message":"RequestRegisterAddress","ReferenceID":0,"ThisDN":"7001"}', ErrorCode.TERR_INVALID_ATTR, 0),
        (b'{"message":"RequestRegisterAddress","ReferenceID":-3,"ThisDN":"7001"}', ErrorCode.TERR_INVALID_ATTR, 0),
        (b'{"message":"RequestRegisterAddress","ReferenceID":4294967296,"ThisDN":"7001"}',
         ErrorCode.TERR_INVALID_ATTR, 0),
        (b'{"message":"RequestRegisterAddress","ReferenceID":8,"ThisDN":7001}', ErrorCode.TERR_INVALID_ATTR, 8),
        (b'{"message":"RequestRegisterAddress","ReferenceID":8,"ThisDN":""}', ErrorCode.TERR_INVALID_ATTR, 8),
        (b'{"message":"RequestRegisterAddress","ReferenceID":8,"ThisDN":"1","ThisDn":"2"}',
         ErrorCode.TERR_UNKNOWN_ATTR, 8),
        (b'{"message":"RequestPrivateService","ReferenceID":9,"ThisDN":"1","ConnID":"c"}', ErrorCode.TERR_NO_ATTR, 9),
        (b'{"message":"RequestPrivateService","ReferenceID":9,"PrivateMsgID":"3013","ThisDN":"1","ConnID":"c"}',
         ErrorCode.TERR_INVALID_ATTR, 9),
        (b'{"message":"RequestPrivateService","ReferenceID":9,"PrivateMsgID":3013,"ThisDN":"1","ConnID":"c",'
         b'"Extensions":{"record":"both"}}', ErrorCode.TERR_INVALID_ATTR, 9),
        (b'{"message":"RequestPrivateService","ReferenceID":9,"PrivateMsgID":3013,"ThisDN":"1","ConnID":"c",'
         b'"Extensions":{"id":42}}', ErrorCode.TERR_INVALID_ATTR, 9),
        (b'{"message":"RequestPrivateService","ReferenceID":9,"PrivateMsgID":3013,"ThisDN":"1","ConnID":"c",'
         b'"Extensions":["record","source"]}', ErrorCode.TERR_INVALID_ATTR, 9),
        (b'{"message":"RequestRouteCall","ReferenceID":10,"ThisDN":"5000","ConnID":"c","OtherDN":"1",'
         b'"Extensions":{"record":"disable_both"}}', ErrorCode.TERR_INVALID_ATTR, 10),
        (b'{"message":"RequestAttachUserData","ReferenceID":11,"ThisDN":"1","ConnID":"c","UserData":{"a":{"b":1}}}',
         ErrorCode.TERR_INVALID_ATTR, 11),
        (b'{"message":"RequestAttachUserData","ReferenceID":11,"ThisDN":"1","ConnID":"c","UserData":{"a":null}}',
         ErrorCode.TERR_INVALID_ATTR, 11),
        (b'{"message":"RequestAttachUserData","ReferenceID":11,"ThisDN":"1","ConnID":"c","UserData":{"":"x"}}',
         ErrorCode.TERR_INVALID_ATTR, 11),
        (b'{"message":"RequestDeleteUserData","ReferenceID":11,"ThisDN":"1","ConnID":"c"}', ErrorCode.TERR_NO_ATTR, 11),
    ],
)
def test_bad_line_gives_event_error(line: bytes, code: ErrorCode, ref: int) -> None:
    err = error_of(line)
    assert err.event.error_code == code, err.event.error_message
    assert err.event.reference_id == ref
    assert err.event.error_message
    assert not err.fatal


def test_event_decoding_is_lenient_about_new_attributes() -> None:
    line = b'{"message":"EventRegistered","ReferenceID":1,"ThisDN":"7001","AddressType":"DN"}'
    assert decode_line(line, Direction.EVENTS) == SAMPLES[8]
    assert TlibDecoder(Direction.EVENTS).feed(line + b"\n") == [SAMPLES[8]]
    with pytest.raises(TlibProtocolError):
        decode_line(line, Direction.EVENTS, strict=True)


def test_request_sent_to_client_is_unexpected() -> None:
    err = error_of(LINES[0].rstrip(b"\n"), Direction.EVENTS)
    assert err.event.error_code == ErrorCode.TERR_UNEXPECTED_MESSAGE
    assert err.event.reference_id == 1


def test_decoder_keeps_going_after_a_bad_line() -> None:
    decoder = TlibDecoder(Direction.REQUESTS)
    data = LINES[0] + b"garbage\n" + LINES[1] + b'{"message":"Nope","ReferenceID":77}\n' + LINES[2]
    with pytest.raises(TlibProtocolError) as first:
        decoder.feed(data)
    assert first.value.decoded == (SAMPLES[0],)
    assert first.value.event.error_code == ErrorCode.TERR_MALFORMED
    with pytest.raises(TlibProtocolError) as second:
        decoder.feed(b"")
    assert second.value.decoded == (SAMPLES[1],)
    assert second.value.event.reference_id == 77
    assert decoder.feed(b"") == [SAMPLES[2]]
    assert decoder.pending_bytes == 0


def test_huge_line_without_newline_is_fatal_as_soon_as_it_passes_the_limit() -> None:
    decoder = TlibDecoder(Direction.REQUESTS, max_line_length=1000)
    assert decoder.feed(b"{" + b" " * 999) == []
    with pytest.raises(TlibProtocolError) as info:
        decoder.feed(b" ")
    assert info.value.fatal
    assert info.value.event.error_code == ErrorCode.TERR_MSG_TOO_LONG
    assert decoder.closed and decoder.pending_bytes == 0
    with pytest.raises(LocalProtocolError):
        decoder.feed(LINES[0])


def test_huge_line_in_one_chunk_keeps_messages_before_it() -> None:
    decoder = TlibDecoder(Direction.REQUESTS)
    big = b'{"message":"RequestRegisterAddress","ReferenceID":3,"ThisDN":"' + b"9" * MAX_LINE_LENGTH + b'"}\n'
    with pytest.raises(TlibProtocolError) as info:
        decoder.feed(LINES[0] + big + LINES[1])
    assert info.value.fatal
    assert info.value.decoded == (SAMPLES[0],)


def test_line_exactly_at_limit_is_accepted() -> None:
    line = LINES[0].rstrip(b"\n")
    decoder = TlibDecoder(Direction.REQUESTS, max_line_length=len(line))
    assert decoder.feed(line + b"\n") == [SAMPLES[0]]
    decoder = TlibDecoder(Direction.REQUESTS, max_line_length=len(line) - 1)
    with pytest.raises(TlibProtocolError) as info:
        decoder.feed(line + b"\n")
    assert info.value.fatal


@pytest.mark.parametrize("cut", [1, 10, 30, -2])
def test_truncated_line_waits_then_fails_when_terminated(cut: int) -> None:
    line = LINES[2].rstrip(b"\n")
    decoder = TlibDecoder(Direction.REQUESTS)
    assert decoder.feed(line[:cut]) == []
    assert decoder.pending_bytes == len(line[:cut])
    with pytest.raises(TlibProtocolError) as info:
        decoder.feed(b"\n")
    assert info.value.event.error_code == ErrorCode.TERR_MALFORMED


def test_every_type_is_a_request_or_an_event() -> None:
    assert set(REQUEST_TYPES).isdisjoint(EVENT_TYPES)
    assert all(issubclass(cls, Request) for cls in REQUEST_TYPES.values())


DOC = Path(__file__).resolve().parents[3] / "docs" / "tlib-emulation.md"


def test_spec_examples_are_canonical_or_the_documented_error() -> None:
    import re

    examples = re.findall(r"^([<>]) (\{.*\})$", DOC.read_text(encoding="utf-8"), re.M)
    assert len(examples) >= 10
    errors = []
    for marker, line in examples:
        direction = Direction.REQUESTS if marker == ">" else Direction.EVENTS
        try:
            message = decode_line(line.encode(), direction)
        except TlibProtocolError as exc:
            errors.append(exc.event.error_code)
            continue
        assert encode(message) == line.encode() + b"\n"
    assert errors == [ErrorCode.TERR_NO_ATTR]  # the one deliberately bad example
