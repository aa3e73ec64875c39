"""multipart/mixed bodies (RFC 2046 §5.1) as SIPREC carries them (RFC 7866 §9.1, RFC 5621).

A recording-session INVITE carries `multipart/mixed; boundary=...` with an `application/sdp`
part and an `application/rs-metadata+xml` part (Content-Disposition: recording-session), in
either order. Real SRCs differ from the RFC examples: some write LF-only line ends inside the
body, some quote the boundary, some put the metadata first. The parser is tolerant of those
(RFC 4566 §5 asks the same tolerance of SDP parsers); the builder always writes CRLF.

RFC 2046 §5.1.1: a boundary delimiter starts a line, and the line end before it belongs to the
delimiter, not to the part before it, so a part's body excludes the line end before the next
delimiter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from harness.protocol.errors import RemoteProtocolError

__all__ = ["BodyPart", "MultipartError", "boundary_of", "build_multipart", "parse_multipart"]

# RFC 2046 §5.1.1: boundary := 0*69<bchars> bcharsnospace
_BCHARS: Final = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


class MultipartError(RemoteProtocolError):
    """A body that is not usable multipart/mixed: 400, the request cannot be understood."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 400, "Bad Request")


@dataclass(frozen=True, slots=True)
class BodyPart:
    """One body part: its MIME headers as received (names kept) and its octets."""

    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def content_type(self) -> str:
        """media-type only, lower-cased; RFC 2046 §5.1: a part without one is text/plain."""
        value = self.header("Content-Type")
        return "text/plain" if value is None else value.split(";", 1)[0].strip(" \t").lower()

    @property
    def disposition(self) -> str | None:
        """Content-Disposition type, lower-cased (RFC 7866 §11.3: `recording-session`)."""
        value = self.header("Content-Disposition")
        return None if value is None else value.split(";", 1)[0].strip(" \t").lower()


def boundary_of(content_type: str) -> str:
    """The `boundary` parameter of a multipart Content-Type value (quoted or not)."""
    params = content_type.split(";")[1:]
    for param in params:
        name, _, value = param.partition("=")
        if name.strip(" \t").lower() == "boundary":
            value = value.strip(" \t")
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if not _BCHARS.fullmatch(value):
                raise MultipartError(f"invalid multipart boundary {value!r}")
            return value
    raise MultipartError("multipart Content-Type without boundary parameter")


def _parse_part(raw: bytes) -> BodyPart:
    # Part headers end at the first empty line (CRLF CRLF, or LF LF from a tolerant writer).
    match = re.search(rb"\r?\n\r?\n", raw)
    if raw.startswith((b"\r\n", b"\n")):
        head, body = b"", raw[2 if raw.startswith(b"\r\n") else 1:]
    elif match is None:
        head, body = raw, b""
    else:
        head, body = raw[:match.start()], raw[match.end():]
    headers: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n", head):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip().decode('utf-8', 'replace')}")  # folded (RFC 5322 §2.2.3)
            continue
        raw_name, sep, raw_value = line.partition(b":")
        if not sep or not raw_name.strip():
            raise MultipartError(f"malformed body-part header line {line[:80]!r}")
        headers.append((raw_name.strip().decode("ascii", "replace"), raw_value.strip().decode("utf-8", "replace")))
    return BodyPart(tuple(headers), body)


def parse_multipart(body: bytes, content_type: str) -> tuple[BodyPart, ...]:
    """The body parts of `body`, whose Content-Type header value is `content_type`.

    The preamble and epilogue are ignored (RFC 2046 §5.1.1); a missing close delimiter is
    tolerated when at least one part was complete (some SRCs stop after the last part)."""
    boundary = re.escape(boundary_of(content_type).encode("ascii"))
    delimiter = re.compile(rb"(?:\r?\n|\A)--" + boundary + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    marks = list(delimiter.finditer(body))
    if not marks:
        raise MultipartError("multipart body without its boundary delimiter")
    parts: list[BodyPart] = []
    for current, following in zip(marks, marks[1:], strict=False):
        if current.group(1):
            break  # close delimiter: the rest is epilogue
        parts.append(_parse_part(body[current.end():following.start()]))
    else:
        last = marks[-1]
        if not last.group(1) and body[last.end():].strip():
            parts.append(_parse_part(body[last.end():]))  # no close delimiter: tolerated
    if not parts:
        raise MultipartError("multipart body without a body part")
    return tuple(parts)


def build_multipart(parts: Sequence[BodyPart], boundary: str) -> tuple[bytes, str]:
    """(body, Content-Type value) for `parts`, CRLF throughout (RFC 2046 §5.1.1)."""
    if not _BCHARS.fullmatch(boundary):
        raise ValueError(f"invalid multipart boundary {boundary!r}")
    token = boundary.encode("ascii")
    out = bytearray()
    for part in parts:
        if token in part.body:
            raise ValueError("boundary occurs inside a body part")
        out += b"--" + token + b"\r\n"
        for name, value in part.headers:
            out += f"{name}: {value}\r\n".encode()
        out += b"\r\n" + part.body + b"\r\n"
    out += b"--" + token + b"--\r\n"
    return bytes(out), f"multipart/mixed;boundary={boundary}"
