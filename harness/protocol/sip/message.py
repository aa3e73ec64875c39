"""SIP message codec and framing (RFC 3261 §7, §8.2, §18.3, §20, grammar §25).

* `parse_message(data)` parses one UDP datagram (§18.3: with a Content-Length the body is that
  many octets and extra octets are discarded; a datagram ending before the body ends is an
  error -> 400 for a request, dropped for a response; without Content-Length the body is the
  rest of the datagram).
* `StreamFramer` frames a TCP byte stream (§18.3: "In the case of stream-oriented transports
  such as TCP, the Content-Length header field indicates the size of the body... MUST be
  used"), ignores CRLF keep-alives (RFC 5626 §3.5.1; §7.5 "implementations processing SIP
  messages over stream-oriented transports MUST ignore any CRLF appearing before the
  start-line").
* Every error on peer input is a `SipParseError` (a RemoteProtocolError) carrying the status
  RFC 3261 asks for; `.partial` is a best-effort request when enough was readable to answer
  (§8.2: 400/416/505 responses need Via, From, To, Call-ID and CSeq), None when the message
  must be silently dropped (§18.3 / §16.3 style discard).
* Messages keep header names, order and (unfolded) values as received, plus `raw`, the exact
  bytes of the message, as evidence for validators.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from harness.protocol.errors import LocalProtocolError, RemoteProtocolError
from harness.protocol.sip.headers import (
    CSeq,
    NameAddr,
    Via,
    canonical_name,
    header_key,
    is_token,
    split_header_values,
)
from harness.protocol.sip.uri import SipUri

__all__ = [
    "DEFAULT_REASONS",
    "LIST_HEADERS",
    "Headers",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "StreamFramer",
    "build_response",
    "check_require",
    "parse_message",
]

# Header fields whose value is defined as a comma-separated list (RFC 3261 §7.3.1, §20), so that
# repeated rows and one comma-separated row are equivalent. (Not WWW-Authenticate /
# Authorization: their commas separate auth-params, not values.)
LIST_HEADERS: frozenset[str] = frozenset(
    n.lower()
    for n in (
        "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
        "Allow-Events", "Call-Info", "Contact", "Content-Encoding", "Content-Language",
        "Error-Info", "In-Reply-To", "P-Asserted-Identity", "P-Preferred-Identity", "Path",
        "Proxy-Require", "Reason", "Record-Route", "Recv-Info", "Reject-Contact",
        "Request-Disposition", "Require", "Route", "Service-Route", "Supported", "Unsupported",
        "Via", "Warning",
    )
)
# Header fields that may appear at most once (RFC 3261 §7.3.1 + Table 2 of §20).
_SINGLE_HEADERS = ("call-id", "cseq", "from", "to", "max-forwards", "content-type")

# RFC 3261 §21 reason phrases (+ a few later RFCs the recorder may meet).
DEFAULT_REASONS: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated", 200: "OK", 202: "Accepted",
    204: "No Notification", 300: "Multiple Choices", 301: "Moved Permanently",
    302: "Moved Temporarily", 305: "Use Proxy", 380: "Alternative Service", 400: "Bad Request",
    401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
    408: "Request Timeout", 410: "Gone", 412: "Conditional Request Failed",
    413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 417: "Unknown Resource-Priority", 420: "Bad Extension",
    421: "Extension Required", 422: "Session Interval Too Small", 423: "Interval Too Brief",
    428: "Use Identity Header", 429: "Provide Referrer Identity", 430: "Flow Failed",
    433: "Anonymity Disallowed", 436: "Bad Identity-Info", 437: "Unsupported Certificate",
    438: "Invalid Identity Header", 439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded", 469: "Bad Info Package", 470: "Consent Needed",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    494: "Security Agreement Required", 500: "Server Internal Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Server Time-out",
    505: "Version Not Supported", 513: "Message Too Large", 580: "Precondition Failure",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}
_CLASS_REASONS = {1: "Provisional", 2: "Success", 3: "Redirection", 4: "Client Error",
                  5: "Server Error", 6: "Global Failure"}

INTERNAL_ERROR_PREFIX = "internal parser error:"
_CRLF = b"\r\n"
_HEADER_END = b"\r\n\r\n"
_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
_STATUS_RE = re.compile(r"[1-6][0-9][0-9]")
_DIGITS_RE = re.compile(r"[0-9]+")
# Call-ID = word [ "@" word ]; word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" /
# "`" / "'" / "~" / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}")
_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALL_ID_RE = re.compile(rf"{_WORD}(?:@{_WORD})?")
# Reason-Phrase = *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT / SP / HTAB)
_REASON_BAD_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class Headers:
    """Ordered multi-dict of header fields; original names, order and values kept (evidence).

    Lookups are case-insensitive and compact-form aware (RFC 3261 §7.3.1, §7.3.3): `get("i")`,
    `get("CALL-ID")` and `get("Call-ID")` are the same field.
    """

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        self._index: dict[str, list[str]] | None = None
        for name, value in items:
            self.add(name, value)

    @classmethod
    def _trusted(cls, items: list[tuple[str, str]]) -> Headers:
        """Build from already-validated parser output (no re-validation)."""
        h = cls.__new__(cls)
        h._items = items
        h._index = None
        return h

    @staticmethod
    def _check(name: str, value: str) -> None:
        # Header injection guard: our own code must not put CR/LF into a value (§7.3.1 folding
        # is a wire artefact, never part of the value).
        if not is_token(name):
            raise LocalProtocolError(f"header name is not a token: {name!r}")
        if "\r" in value or "\n" in value:
            raise LocalProtocolError(f"CR/LF in value of header {name}")

    def _values(self) -> dict[str, list[str]]:
        """Lookup key → values in row order, built on the first lookup and dropped on any change
        (a parsed message is read dozens of times: one pass over its rows instead of one per get)."""
        index = self._index
        if index is None:
            index = {}
            for n, v in self._items:
                key = header_key(n)
                values = index.get(key)
                if values is None:
                    index[key] = [v]
                else:
                    values.append(v)
            self._index = index
        return index

    def get(self, name: str) -> str | None:
        values = self._values().get(header_key(name))
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        """All values; list-valued headers are comma-split, whether in one row or many."""
        key = header_key(name)
        values = self._values().get(key)
        if not values:
            return []
        if key not in LIST_HEADERS:
            return list(values)
        out: list[str] = []
        for v in values:
            out.extend(split_header_values(v))
        return out

    def count(self, name: str) -> int:
        """Number of header *rows* named `name`."""
        values = self._values().get(header_key(name))
        return len(values) if values else 0

    def add(self, name: str, value: str) -> None:
        self._check(name, value)
        self._items.append((name, value))
        self._index = None

    def set(self, name: str, value: str) -> None:
        """Replace all rows of `name` by one row at the position of the first (or append)."""
        self._check(name, value)
        key = header_key(name)
        out: list[tuple[str, str]] = []
        placed = False
        for n, v in self._items:
            if header_key(n) == key:
                if not placed:
                    out.append((n, value))
                    placed = True
            else:
                out.append((n, v))
        if not placed:
            out.append((name, value))
        self._items = out
        self._index = None

    def remove(self, name: str) -> None:
        key = header_key(name)
        self._items = [(n, v) for n, v in self._items if header_key(n) != key]
        self._index = None

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def copy(self) -> Headers:
        return Headers._trusted(list(self._items))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        # Semantic equality: names compared case-insensitively / compact-aware, order kept.
        if not isinstance(other, Headers):
            return NotImplemented
        return [(header_key(n), v) for n, v in self._items] == [
            (header_key(n), v) for n, v in other._items
        ]

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def _required(headers: Headers, name: str) -> str:
    value = headers.get(name)
    if value is None:
        raise RemoteProtocolError(f"missing {name} header", 400, f"Missing {name}")
    return value


class _MessageMixin:
    """Typed accessors shared by SipRequest and SipResponse (parse on access, never cache)."""

    __slots__ = ()
    headers: Headers
    body: bytes

    @property
    def call_id(self) -> str:
        return _required(self.headers, "Call-ID")

    @property
    def cseq(self) -> CSeq:
        return CSeq.parse(_required(self.headers, "CSeq"))

    @property
    def from_(self) -> NameAddr:
        return NameAddr.parse(_required(self.headers, "From"))

    @property
    def to(self) -> NameAddr:
        return NameAddr.parse(_required(self.headers, "To"))

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(v) for v in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        values = self.headers.get_all("Via")
        if not values:
            raise RemoteProtocolError("missing Via header", 400, "Missing Via")
        return Via.parse(values[0])

    @property
    def contact_is_wildcard(self) -> bool:
        """`Contact: *` (RFC 3261 §10.2.2, REGISTER only)."""
        return self.headers.get_all("Contact") == ["*"]

    @property
    def contacts(self) -> list[NameAddr]:
        """Parsed Contact values; [] for none and for `Contact: *` (see contact_is_wildcard)."""
        values = self.headers.get_all("Contact")
        if values == ["*"]:
            return []
        return [NameAddr.parse(v) for v in values]

    @property
    def content_type_full(self) -> str | None:
        return self.headers.get("Content-Type")

    @property
    def content_type(self) -> str | None:
        """media-type only, lower-cased (§20.15: type/subtype are case-insensitive)."""
        value = self.headers.get("Content-Type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip(" \t").lower()

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        if value is None:
            return None
        value = value.strip(" \t")
        if not _DIGITS_RE.fullmatch(value) or len(value.lstrip("0")) > 12:
            raise RemoteProtocolError(f"bad Content-Length {value!r}", 400, "Bad Content-Length")
        return int(value)

    @property
    def require(self) -> list[str]:
        return [v for v in self.headers.get_all("Require") if v]

    @property
    def supported(self) -> list[str]:
        return [v for v in self.headers.get_all("Supported") if v]

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.get("Max-Forwards")
        if value is None:
            return None
        value = value.strip(" \t")
        if not _DIGITS_RE.fullmatch(value) or len(value.lstrip("0")) > 3:
            raise RemoteProtocolError(f"bad Max-Forwards {value!r}", 400, "Bad Max-Forwards")
        return int(value)

    def _start_line(self) -> str:
        raise NotImplementedError

    def _semantic_key(self) -> tuple[object, ...]:
        # Content-Length is framing derived from the body (§18.3): equality compares the body
        # and ignores Content-Length rows, so parse(to_bytes(m)) == m even when to_bytes() had
        # to add or correct it. `raw` is evidence, not content: never compared.
        rows = [(header_key(n), v) for n, v in self.headers if header_key(n) != "content-length"]
        return (type(self), self._start_line(), rows, self.body)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _MessageMixin):
            return NotImplemented
        return self._semantic_key() == other._semantic_key()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def to_bytes(self) -> bytes:
        """Serialise: start line, headers as stored, Content-Length recomputed, body.

        The first Content-Length row (long or compact name) gets len(body); further rows are
        dropped; one is appended when absent (mandatory on streams, §18.3 / §20.14).
        """
        lines = [self._start_line()]
        length_written = False
        for name, value in self.headers:
            if header_key(name) == "content-length":
                if length_written:
                    continue
                value = str(len(self.body))
                length_written = True
            lines.append(f"{name}: {value}")
        if not length_written:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass(slots=True, eq=False)
class SipRequest(_MessageMixin):
    method: str
    uri: SipUri
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"
    raw: bytes | None = field(default=None, compare=False, repr=False)

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"


@dataclass(slots=True, eq=False)
class SipResponse(_MessageMixin):
    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"
    raw: bytes | None = field(default=None, compare=False, repr=False)

    def _start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"


SipMessage = SipRequest | SipResponse


class SipParseError(RemoteProtocolError):
    """Malformed SIP input. `partial` is set when a response (`status`) can be sent back.

    `preceding` (StreamFramer only) holds the messages framed before the bad one in the same
    `feed()` call, so that none is lost.
    """

    def __init__(
        self,
        message: str,
        status: int = 400,
        reason: str = "Bad Request",
        extra_headers: tuple[tuple[str, str], ...] = (),
        partial: SipRequest | None = None,
    ) -> None:
        super().__init__(message, status, reason, extra_headers)
        self.partial = partial
        self.preceding: list[SipMessage] = []


def _drop(message: str, status: int = 400, reason: str = "Bad Request") -> SipParseError:
    return SipParseError(message, status, reason, partial=None)


# -- header section --------------------------------------------------------------------------
def _split_header_lines(lines: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """message-header = field-name HCOLON field-value CRLF, with §7.3.1 folding undone.

    HCOLON = *( SP / HTAB ) ":" SWS. A continuation line (starting with SP/HT) is joined to the
    previous one with a single SP ("...it is equivalent to a single SP", §7.3.1).

    Returns (header fields, problems): a line that is no header field (a continuation before
    any header, no colon, a bad name) is left out and described in `problems`, so that the
    request can still be answered 400 from the fields that did parse (§8.2, RFC 4475 §3.1.2).
    """
    items: list[tuple[str, str]] = []
    problems: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not items:
                problems.append("header continuation line before any header")
                continue
            name, value = items[-1]
            cont = line.strip(" \t")
            head = value.rstrip(" \t")
            items[-1] = (name, f"{head} {cont}" if head and cont else head + cont)
            continue
        colon = line.find(":")
        if colon <= 0:
            problems.append(f"malformed header line {line[:80]!r}")
            continue
        name = line[:colon].rstrip(" \t")
        if not is_token(name):
            problems.append(f"malformed header name {name[:80]!r}")
            continue
        items.append((name, line[colon + 1 :].strip(" \t")))
    return items, problems


def _decode_head(head: bytes) -> str:
    try:
        # §25: the header part is UTF-8 text (UTF8-NONASCII is allowed in several productions).
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _drop(f"header section is not valid UTF-8 (offset {exc.start})") from None
    return text


def _content_length_value(items: list[tuple[str, str]]) -> int | None:
    """Content-Length = 1*DIGIT (§20.14); several rows must agree. Raises SipParseError(drop)."""
    found: int | None = None
    for name, value in items:
        if header_key(name) != "content-length":
            continue
        v = value.strip(" \t")
        if not _DIGITS_RE.fullmatch(v) or len(v.lstrip("0")) > 12:
            raise _drop(f"bad Content-Length {v[:40]!r}", 400, "Bad Content-Length")
        n = int(v)
        if found is not None and found != n:
            raise _drop("conflicting Content-Length values", 400, "Bad Content-Length")
        found = n
    return found


def _split_start(data: bytes) -> tuple[int, int]:
    """Return (start of start-line after leading CRLFs, index of the CRLFCRLF header end)."""
    start = 0
    while data.startswith(_CRLF, start):
        start += 2
    end = data.find(_HEADER_END, start)
    if end < 0:
        raise _drop("no end of header section (CRLF CRLF) found")
    return start, end


@dataclass(slots=True)
class _Head:
    start_line: str
    items: list[tuple[str, str]]
    problems: list[str] = field(default_factory=list)  # lines that were no header field


def _parse_head(head_bytes: bytes) -> _Head:
    text = _decode_head(head_bytes)
    lines = text.split("\r\n")
    for line in lines:
        if "\r" in line or "\n" in line:
            raise _drop("bare CR or LF in header section")
    items, problems = _split_header_lines(lines[1:])
    return _Head(lines[0], items, problems)


def parse_message(data: bytes, *, lenient_request_uri: bool = False) -> SipMessage:
    """Parse one datagram (RFC 3261 §18.3 framing). Raises SipParseError only.

    `lenient_request_uri` (for a UAS, not for validators judging a peer): a Request-URI
    whose only fault is unescaped non-ASCII text, backslash, comma, ... is accepted with
    those octets percent-encoded (see `_parse_request_uri`).
    """
    try:
        return _parse_datagram(bytes(data), lenient_request_uri)
    except SipParseError:
        raise
    except RemoteProtocolError as exc:  # from a structured header parser
        raise SipParseError(str(exc), exc.status, exc.reason, exc.extra_headers) from None
    except (ValueError, IndexError, LocalProtocolError) as exc:
        # Defence in depth: a bug of ours must not crash a UAS on peer input. The message
        # prefix lets the property tests detect that this path was taken.
        raise _drop(f"{INTERNAL_ERROR_PREFIX} {type(exc).__name__}: {exc}") from None


def _parse_datagram(data: bytes, lenient_uri: bool = False) -> SipMessage:
    start, end = _split_start(data)
    head = _parse_head(data[start:end])
    body_start = end + 4
    is_response = head.start_line[:4].upper() == "SIP/"
    try:
        declared = _content_length_value(head.items)
        length_error: SipParseError | None = None
    except SipParseError as exc:
        if is_response:
            raise
        # A request with a bad Content-Length is still answerable with 400 (§18.3, §20.14):
        # take the rest of the datagram as body and report the error once the partial exists.
        declared, length_error = None, exc
    available = len(data) - body_start
    if is_response:
        return _build_response(head, data, start, body_start, declared, available)
    return _build_request(head, data, start, body_start, declared, available, length_error, lenient_uri)


def _body(
    data: bytes, body_start: int, declared: int | None, available: int
) -> tuple[bytes, int]:
    if declared is None:
        return data[body_start:], len(data)  # §18.3: no Content-Length on UDP -> rest of datagram
    # §18.3: "Any additional bytes in the transport packet beyond the end of the body MUST be
    # discarded."
    return data[body_start : body_start + declared], body_start + min(declared, available)


def _build_response(
    head: _Head, data: bytes, start: int, body_start: int, declared: int | None, available: int
) -> SipResponse:
    # Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF (§7.2). A response that
    # cannot be parsed cannot be answered: it is dropped (partial None).
    parts = head.start_line.split(" ", 2)
    if len(parts) != 3:
        raise _drop(f"malformed status line {head.start_line[:80]!r}")
    version, status_text, reason = parts
    if not _VERSION_RE.fullmatch(version):
        raise _drop(f"malformed SIP version {version[:20]!r}")
    if version.upper() != "SIP/2.0":
        raise _drop(f"unsupported SIP version {version!r}", 505, "Version Not Supported")
    if not _STATUS_RE.fullmatch(status_text):
        raise _drop(f"bad status code {status_text[:20]!r}")
    if _REASON_BAD_RE.search(reason):
        raise _drop("control character in reason phrase")
    headers = Headers._trusted(head.items)
    if head.problems:
        raise _drop(head.problems[0])
    try:
        _check_core_headers(headers)
    except RemoteProtocolError as exc:
        raise _drop(str(exc), exc.status, exc.reason) from None
    if declared is not None and available < declared:
        # §18.3: "If the transport packet ends before the end of the message body ... If the
        # message is a response, it MUST be discarded."
        raise _drop(f"body shorter than Content-Length ({available} < {declared})")
    body, stop = _body(data, body_start, declared, available)
    return SipResponse(int(status_text), reason, headers, body, "SIP/2.0", raw=data[start:stop])


def _build_request(
    head: _Head,
    data: bytes,
    start: int,
    body_start: int,
    declared: int | None,
    available: int,
    length_error: SipParseError | None = None,
    lenient_uri: bool = False,
) -> SipRequest:
    # Request-Line = Method SP Request-URI SP SIP-Version CRLF (§7.1): exactly single SPs, no
    # leading/trailing whitespace (RFC 4475 §3.1.2.8 - §3.1.2.10). A line that still reads as
    # "method ... SIP-version" is answerable (400); a truncated one is not (dropped).
    fields = head.start_line.split()
    if len(fields) < 3 or not is_token(fields[0]) or not fields[-1].upper().startswith("SIP/"):
        raise _drop(f"malformed or truncated request line {head.start_line[:80]!r}")
    parts = head.start_line.split(" ")
    line_ok = len(parts) == 3
    method, version = fields[0], fields[-1]
    uri_text = parts[1] if line_ok else fields[1]
    headers = Headers._trusted(head.items)
    # Without a usable top Via, From, To, Call-ID and CSeq we cannot build any response
    # (§8.2.6.2): drop (partial None). Anything else wrong is answered 400.
    _check_answerable(headers)

    # From here on the request is answerable: build the partial, then check the rest.
    try:
        uri: SipUri = _parse_request_uri(uri_text, lenient_uri)
        uri_error: RemoteProtocolError | None = None
    except RemoteProtocolError as exc:
        uri, uri_error = SipUri("sip", None, None, "invalid.invalid", None), exc
    body, stop = _body(data, body_start, declared, available)
    request = SipRequest(method, uri, headers, body, "SIP/2.0", raw=data[start:stop])

    def fail(message: str, status: int = 400, reason: str = "Bad Request",
             extra: tuple[tuple[str, str], ...] = ()) -> SipParseError:
        return SipParseError(message, status, reason, extra, partial=request)

    if not line_ok:
        raise fail(f"malformed request line {head.start_line[:80]!r} (§7.1: single SP between "
                   "method, Request-URI and version)", 400, "Malformed Request-Line")
    if not _VERSION_RE.fullmatch(version):
        raise fail(f"malformed SIP version {version[:20]!r}")
    if version.upper() != "SIP/2.0":
        # §8.2.2 / §21.5.6: 505 Version Not Supported.
        raise fail(f"unsupported SIP version {version!r}", 505, "Version Not Supported")
    if uri_error is not None:
        reason = "Bad Request-URI" if uri_error.status == 400 else uri_error.reason
        raise fail(f"bad Request-URI: {uri_error}", uri_error.status, reason)
    if uri.headers:
        # §19.1.1 Table 1: the headers component is not allowed in a Request-URI (RFC 4475
        # §3.1.2.11 escruri).
        raise fail("Request-URI must not contain headers", 400, "Bad Request-URI")
    if head.problems:
        raise fail(head.problems[0], 400, "Malformed Header")
    try:
        _check_core_headers(headers)
    except RemoteProtocolError as exc:
        raise fail(str(exc), exc.status, exc.reason) from None
    cseq = CSeq.parse(headers.get("CSeq") or "")
    if cseq.method != method:
        # §8.1.1.5: "The method MUST match that of the request." (ACK and CANCEL carry their
        # own method with the INVITE's number, §17.1.1.3, §9.1.)
        raise fail(f"CSeq method {cseq.method!r} does not match {method!r}", 400, "CSeq Method Mismatch")
    if length_error is not None:
        raise fail(str(length_error), length_error.status, length_error.reason)
    if declared is not None and available < declared:
        # §18.3: "If the message is a request, the element SHOULD generate a 400 response."
        raise fail(f"body shorter than Content-Length ({available} < {declared})", 400,
                   "Content-Length Larger Than Body")
    try:
        request.max_forwards  # noqa: B018  # validated here so a UAS can trust the accessor
        if headers.get_all("Contact") != ["*"]:
            request.contacts  # noqa: B018
    except RemoteProtocolError as exc:
        raise fail(str(exc), exc.status, exc.reason) from None
    return request


# Octets a lenient UAS percent-encodes in a Request-URI before parsing it: non-ASCII text
# (raw UTF-8), backslash, comma, quote and the other characters outside the §25.1 URI
# classes that Media Server or a proxy may pass through unescaped. Whitespace stays an error.
_LENIENT_ESCAPE_RE = re.compile(r'[^\x21-\x7e]|[\\,"{}|^`]')


def _parse_request_uri(text: str, lenient: bool) -> SipUri:
    try:
        return SipUri.parse(text)
    except RemoteProtocolError:
        if not lenient or any(c in text for c in " \t"):
            raise
        # §19.1.4: an escaped octet equals the character it encodes, so escaping what a sender
        # forgot to escape keeps the identifiers it meant (calluuid=ünï€ -> calluuid=%C3%BC...).
        escaped = _LENIENT_ESCAPE_RE.sub(
            lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "surrogatepass")), text)
        if escaped == text:
            raise
        return SipUri.parse(escaped)


def _check_answerable(headers: Headers) -> None:
    """What a response needs (§8.2.6.2): a usable top Via and one From, To, Call-ID, CSeq.

    The UAC matches a response to its request by the top Via's branch and the CSeq method
    (§17.1.3), so the Vias and CSeq must parse, and the Call-ID too (a response that does
    not parse back helps nobody). From and To are copied verbatim ("MUST equal", §8.2.6.2),
    so a malformed From or To (unbalanced quote, unterminated `<`) is still answered 400.
    Raises SipParseError without `partial` (drop) otherwise.
    """
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if headers.get(name) is None:
            raise _drop(f"missing {name} header", 400, f"Missing {name}")
    for key in ("from", "to", "call-id", "cseq"):
        if headers.count(key) > 1:
            # Which of two From (To, Call-ID, CSeq) rows to copy is unknowable: drop.
            raise _drop(f"more than one {canonical_name(key)} header", 400,
                        f"Duplicate {canonical_name(key)}")
    call_id = headers.get("Call-ID") or ""
    if not _CALL_ID_RE.fullmatch(call_id):
        raise _drop(f"malformed Call-ID {call_id[:80]!r}", 400, "Malformed Call-ID")
    try:
        # Every Via value is copied into the response in order (§8.2.6.2): all must parse.
        for via in headers.get_all("Via"):
            Via.parse(via)
        CSeq.parse(headers.get("CSeq") or "")
    except RemoteProtocolError as exc:
        raise _drop(str(exc), exc.status, exc.reason) from None


def _check_core_headers(headers: Headers, method: str | None = None) -> None:
    """Via, From, To, Call-ID, CSeq present (§8.1.1), single where required, parseable."""
    del method  # kept for callers of the old signature
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if headers.get(name) is None:
            raise RemoteProtocolError(f"missing {name} header", 400, f"Missing {name}")
    for key in _SINGLE_HEADERS:
        if headers.count(key) > 1:
            raise RemoteProtocolError(f"more than one {canonical_name(key)} header", 400,
                                      f"Duplicate {canonical_name(key)}")
    call_id = headers.get("Call-ID") or ""
    if not _CALL_ID_RE.fullmatch(call_id):
        raise RemoteProtocolError(f"malformed Call-ID {call_id[:80]!r}", 400, "Malformed Call-ID")
    try:
        CSeq.parse(headers.get("CSeq") or "")
    except RemoteProtocolError as exc:
        raise RemoteProtocolError(str(exc), exc.status, "Malformed CSeq") from None
    for name in ("From", "To"):
        try:
            NameAddr.parse(headers.get(name) or "")
        except RemoteProtocolError as exc:
            raise RemoteProtocolError(str(exc), exc.status, f"Malformed {name}") from None
    for v in headers.get_all("Via"):
        try:
            Via.parse(v)
        except RemoteProtocolError as exc:
            raise RemoteProtocolError(str(exc), exc.status, "Malformed Via") from None


# -- stream framing --------------------------------------------------------------------------
class StreamFramer:
    """Frame SIP messages on a stream transport (RFC 3261 §18.3).

    Content-Length is mandatory (§20.14: "If a stream-based protocol (such as TCP) is used as
    transport, the header field MUST be used"). Leading CRLFs (keep-alive pings, RFC 5626
    §3.5.1) are skipped and counted in `keepalive_crlfs`.

    A *framing* error (no/bad Content-Length, oversize header) raises SipParseError and leaves
    the framer `broken`: the connection must be closed. A message that is framed correctly but
    otherwise malformed raises SipParseError (with `.partial` when answerable) after being
    consumed; the framer stays usable and the rest of the buffer is parsed on the next `feed()`
    (call `feed(b"")` to continue at once). Messages framed earlier in the same call are in
    the error's `.preceding`.
    """

    def __init__(self, *, max_header_bytes: int = 65536, max_body_bytes: int = 16 * 1024 * 1024,
                 lenient_request_uri: bool = False) -> None:
        self._buf = bytearray()
        self._lenient = lenient_request_uri
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.broken = False
        self.keepalive_crlfs = 0

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[SipMessage]:
        if self.broken:
            raise _drop("stream framer is unusable after a framing error; close the connection")
        self._buf += data
        out: list[SipMessage] = []
        while True:
            try:
                msg = self._next()
            except SipParseError as exc:
                exc.preceding = out
                raise
            if msg is None:
                return out
            out.append(msg)

    def _fatal(self, message: str, reason: str = "Bad Request") -> SipParseError:
        self.broken = True
        return _drop(message, 400, reason)

    def _next(self) -> SipMessage | None:
        buf = self._buf
        skip = 0
        while buf.startswith(_CRLF, skip):
            skip += 2
        if skip:
            self.keepalive_crlfs += skip // 2
            del buf[:skip]
        if buf[:1] == b"\r" and len(buf) == 1:
            return None  # half a CRLF: wait
        end = buf.find(_HEADER_END)
        if end < 0:
            if len(buf) > self.max_header_bytes:
                raise self._fatal("header section too large", "Message Too Large")
            return None
        if end > self.max_header_bytes:
            raise self._fatal("header section too large", "Message Too Large")
        try:
            head = _parse_head(bytes(buf[:end]))
            declared = _content_length_value(head.items)
        except SipParseError as exc:
            raise self._fatal(f"cannot frame message: {exc}") from None
        if declared is None:
            raise self._fatal("missing Content-Length on a stream transport", "Missing Content-Length")
        if declared > self.max_body_bytes:
            raise self._fatal("Content-Length too large", "Message Too Large")
        total = end + 4 + declared
        if len(buf) < total:
            return None
        chunk = bytes(buf[:total])
        del buf[:total]
        return parse_message(chunk, lenient_request_uri=self._lenient)


# -- building responses ----------------------------------------------------------------------
def build_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> SipResponse:
    """Build a response per RFC 3261 §8.2.6.2.

    "The From field of the response MUST equal the From header field of the request. The
    Call-ID ... MUST equal ... The CSeq ... MUST equal ... The Via header field values in the
    response MUST equal the Via header field values in the request and MUST maintain the same
    ordering." "If a request contained a To tag in the request, the To header field in the
    response MUST equal that of the request"; otherwise the UAS adds `to_tag` (§8.2.6.2).
    """
    if not 100 <= status <= 699:
        raise LocalProtocolError(f"status code out of range: {status}")
    if reason is None:
        reason = DEFAULT_REASONS.get(status, _CLASS_REASONS[status // 100])
    if _REASON_BAD_RE.search(reason):
        raise LocalProtocolError("control character in reason phrase")
    out = Headers()
    for name, value in request.headers:
        if header_key(name) == "via":
            out.add("Via", value)
    out.add("From", _required(request.headers, "From"))
    to_value = _required(request.headers, "To")
    if to_tag is not None:
        if not is_token(to_tag):
            raise LocalProtocolError(f"To tag is not a token: {to_tag!r}")
        try:
            has_tag = NameAddr.parse(to_value).tag is not None
        except RemoteProtocolError:
            has_tag = True  # unparseable To: copy it unchanged rather than corrupt it further
        if not has_tag:
            to_value = f"{to_value.rstrip(' ')};tag={to_tag}"
    out.add("To", to_value)
    out.add("Call-ID", _required(request.headers, "Call-ID"))
    out.add("CSeq", _required(request.headers, "CSeq"))
    if status == 100:
        # §8.2.6.1: "If there is a Timestamp header field in the request, the UAS MUST copy it
        # into the 100 (Trying) response."
        timestamp = request.headers.get("Timestamp")
        if timestamp is not None:
            out.add("Timestamp", timestamp)
    for name, value in headers:
        out.add(name, value)
    if content_type is not None:
        out.set("Content-Type", content_type)
    out.set("Content-Length", str(len(body)))
    return SipResponse(status, reason, out, body)


def check_require(request: SipRequest, supported: Iterable[str]) -> None:
    """RFC 3261 §8.2.2.3: reject unknown Require option tags with 420 + Unsupported.

    "If a UAS does not understand an option-tag listed in a Require header field, it MUST
    respond by generating a response with status code 420 (Bad Extension). The UAS MUST add an
    Unsupported header field, and list in it those options it does not understand amongst
    those in the Require header field of the request." Not applied to CANCEL (§8.2.2.3, §9.2)
    nor ACK ("Require ... in ACK ... MUST be ignored", §8.2.2.3 via §17).
    """
    if request.method in ("ACK", "CANCEL"):
        return
    # §7.3.1: "Tokens are always case-insensitive" -- option tags are tokens.
    known = {tag.lower() for tag in supported}
    missing: list[str] = []
    for tag in request.require:
        if tag.lower() not in known and tag not in missing:
            missing.append(tag)
    if missing:
        listed = ", ".join(missing)
        raise RemoteProtocolError(
            f"unsupported option tags required: {listed}", 420, "Bad Extension", (("Unsupported", listed),)
        )
