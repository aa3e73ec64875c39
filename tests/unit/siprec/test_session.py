"""What makes an INVITE a SIPREC recording session, and where its parts are (RFC 7866 §6.2, §9)."""

from __future__ import annotations

import pytest

from harness.protocol.siprec.multipart import BodyPart, MultipartError, build_multipart
from harness.protocol.siprec.session import split_body


def test_parts_are_found_by_type_in_any_order_and_either_metadata_spelling() -> None:
    for meta_type in ("application/rs-metadata+xml", "application/rs-metadata"):
        body, ctype = build_multipart([BodyPart((("Content-Type", meta_type),), b"<recording/>"),
                                       BodyPart((("Content-Type", "application/sdp"),), b"v=0\r\n")], "b")
        found = split_body(ctype, body)
        assert found.sdp == b"v=0\r\n" and found.metadata == b"<recording/>" and found.metadata_type == meta_type
        assert found.multipart and not found.metadata_request


def test_single_bodies_and_the_snapshot_request() -> None:
    assert split_body("application/sdp", b"v=0\r\n").sdp == b"v=0\r\n"
    assert split_body("application/rs-metadata+xml", b"<r/>").metadata == b"<r/>"
    assert split_body("application/rs-metadata-request", b"x").metadata_request
    assert split_body("text/plain", b"x") == split_body(None, b"") == split_body("application/sdp", b"")


def test_an_unusable_multipart_body_is_400() -> None:
    with pytest.raises(MultipartError):
        split_body("multipart/mixed;boundary=zz", b"no delimiter")
