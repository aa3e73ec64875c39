"""Property tests: the decoder never fails with anything but its own error type."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.protocol.tlib import Direction, EventError, Message, TlibDecoder, TlibProtocolError, encode

from .samples import SAMPLES

REQUEST_LINES = [encode(m) for m in SAMPLES[:8]]

chunks = st.lists(st.binary(max_size=300), max_size=12)
# Bytes that look a bit like the protocol, so the fuzzing reaches past the JSON parser.
json_ish = st.lists(
    st.one_of(
        st.sampled_from(
            [b"{", b"}", b"[", b"]", b'"', b":", b",", b"\n", b"\r", b"\\", b"\xff", b"NaN", b"1e999", b"-0",
             b'"message"', b'"ReferenceID"', b'"ThisDN"', b'"RequestPrivateService"', b'"Extensions"', b"null",
             b"true", b"12345678901234567890"]
        ),
        st.sampled_from(REQUEST_LINES),
        st.binary(max_size=8),
    ),
    max_size=40,
).map(b"".join)


def drain(decoder: TlibDecoder, data_chunks: list[bytes]) -> list[Message | EventError]:
    out: list[Message | EventError] = []
    for chunk in data_chunks:
        data = chunk
        while not decoder.closed:
            try:
                out += decoder.feed(data)
                break
            except TlibProtocolError as exc:
                out += exc.decoded
                out.append(exc.event)
                data = b""
    return out


@settings(max_examples=300, deadline=None)
@given(chunks)
def test_arbitrary_bytes_only_raise_protocol_error(data_chunks: list[bytes]) -> None:
    for direction in Direction:
        drain(TlibDecoder(direction, max_line_length=256), data_chunks)


@settings(max_examples=300, deadline=None)
@given(json_ish, st.integers(min_value=1, max_value=64))
def test_json_like_bytes_any_chunking(data: bytes, step: int) -> None:
    whole = drain(TlibDecoder(Direction.REQUESTS), [data])
    pieces = drain(TlibDecoder(Direction.REQUESTS), [data[i : i + step] for i in range(0, len(data), step)])
    # Chunking must not change what is decoded.
    assert whole == pieces


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(REQUEST_LINES), min_size=1, max_size=10), st.binary(max_size=50))
def test_valid_lines_survive_garbage_between_them(lines: list[bytes], garbage: bytes) -> None:
    garbage = garbage.replace(b"\n", b"")
    data = b"".join(garbage + b"\n" + line for line in lines)
    decoded = [m for m in drain(TlibDecoder(Direction.REQUESTS), [data]) if not isinstance(m, EventError)]
    # A garbage line can never swallow the valid line after it.
    assert decoded[-len(lines):] == [SAMPLES[REQUEST_LINES.index(line)] for line in lines]
