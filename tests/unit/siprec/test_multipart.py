"""multipart/mixed codec (RFC 2046 §5.1) as SIPREC uses it (RFC 7866 §9.1)."""

from __future__ import annotations

import pytest

from harness.protocol.siprec.multipart import (
    BodyPart,
    MultipartError,
    boundary_of,
    build_multipart,
    parse_multipart,
)

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
META = b'<?xml version="1.0"?>\r\n<recording xmlns="urn:ietf:params:xml:ns:recording:1"/>\r\n'


def _parts() -> list[BodyPart]:
    return [BodyPart((("Content-Type", "application/sdp"),), SDP),
            BodyPart((("Content-Type", "application/rs-metadata+xml"),
                      ("Content-Disposition", "recording-session")), META)]


def test_round_trip_keeps_part_bytes_and_order() -> None:
    body, ctype = build_multipart(_parts(), "foobar")
    assert ctype == "multipart/mixed;boundary=foobar"
    parts = parse_multipart(body, ctype)
    assert [p.body for p in parts] == [SDP, META]
    assert [p.content_type for p in parts] == ["application/sdp", "application/rs-metadata+xml"]
    assert parts[1].disposition == "recording-session"


def test_lf_only_body_with_preamble_epilogue_and_quoted_boundary() -> None:
    body = (b"preamble to ignore\n--b 1\ncontent-type: Application/SDP\n\nv=0\nm=audio 1 RTP/AVP 0\n\n"
            b"--b 1\nContent-Type: application/rs-metadata\n\n<recording/>\n--b 1--\nepilogue\n")
    parts = parse_multipart(body, 'multipart/mixed; boundary="b 1"')
    assert [p.content_type for p in parts] == ["application/sdp", "application/rs-metadata"]
    assert parts[0].body == b"v=0\nm=audio 1 RTP/AVP 0\n"
    assert parts[1].body == b"<recording/>"


def test_missing_close_delimiter_is_tolerated() -> None:
    parts = parse_multipart(b"--x\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n", "multipart/mixed;boundary=x")
    assert parts[0].body == b"v=0\r\n"


def test_folded_part_header_is_unfolded() -> None:
    body = b"--x\r\nContent-Type: application/rs-metadata+xml;\r\n charset=utf-8\r\n\r\n<a/>\r\n--x--\r\n"
    part = parse_multipart(body, "multipart/mixed;boundary=x")[0]
    assert part.content_type == "application/rs-metadata+xml"
    assert part.header("content-type") == "application/rs-metadata+xml; charset=utf-8"


@pytest.mark.parametrize(("body", "ctype"), [
    (b"--x\r\n\r\n", "multipart/mixed"),  # no boundary parameter
    (b"no delimiter here", "multipart/mixed;boundary=x"),
    (b"--x--\r\n", "multipart/mixed;boundary=x"),  # close delimiter only: no part
    (b"--x\r\nbroken header line\r\n\r\nbody\r\n--x--", "multipart/mixed;boundary=x"),
    (b"--x\r\n", "multipart/mixed;boundary=" + "b" * 71),  # boundary longer than 70
])
def test_unusable_bodies_are_400(body: bytes, ctype: str) -> None:
    with pytest.raises(MultipartError) as caught:
        parse_multipart(body, ctype)
    assert caught.value.status == 400


def test_truncated_body_loses_only_the_cut_part() -> None:
    body, ctype = build_multipart(_parts(), "foobar")
    cut = body[: body.index(b"--foobar", 5) + 3]  # second delimiter cut in the middle
    parts = parse_multipart(cut, ctype)
    assert len(parts) == 1 and parts[0].content_type == "application/sdp"


def test_builder_refuses_a_boundary_inside_a_part() -> None:
    with pytest.raises(ValueError, match="inside"):
        build_multipart([BodyPart((), b"--foobar")], "foobar")


def test_boundary_of_reads_quoted_and_plain() -> None:
    assert boundary_of('multipart/mixed;boundary="a b"') == "a b"
    assert boundary_of("multipart/mixed; charset=x; BOUNDARY=zz") == "zz"
