"""SIP header names and structured header values (RFC 3261 §7.3, §20, grammar §25.1).

* Header names are case-insensitive and have compact forms (§7.3.1, §7.3.3; the full table
  lives in the IANA "Header Fields" registry).
* `split_header_values` splits a comma-separated list (§7.3.1: "multiple header field rows
  with the same field-name MAY be present ... if and only if the entire field-value for that
  header field is defined as a comma-separated list") without breaking quoted strings or
  `<...>` URIs.
* `Via` (§20.42), `NameAddr` (To/From/Contact/Route..., §20.10, §20.20, §20.39) and `CSeq`
  (§20.16) parse strictly: anything outside the §25.1 grammar raises RemoteProtocolError(400).
  Parameter values are kept in their wire form (quoted strings keep their quotes).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass

from harness.protocol.errors import LocalProtocolError, RemoteProtocolError
from harness.protocol.sip.uri import SipUri, check_host

__all__ = [
    "COMPACT_FORMS",
    "CSeq",
    "NameAddr",
    "Via",
    "canonical_name",
    "header_key",
    "is_token",
    "parse_generic_params",
    "split_header_values",
]

Params = tuple[tuple[str, str | None], ...]

# RFC 3261 §7.3.3 plus the compact forms registered later (IANA SIP "Header Fields" registry):
# o Event (RFC 6665), r Refer-To (RFC 3515), u Allow-Events (RFC 6665), x Session-Expires
# (RFC 4028), y Identity (RFC 8224), b Referred-By (RFC 3892), a Accept-Contact, j Reject-Contact,
# d Request-Disposition (RFC 3841), n Identity-Info (RFC 4474).
COMPACT_FORMS: dict[str, str] = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "r": "Refer-To",
    "u": "Allow-Events",
    "x": "Session-Expires",
    "y": "Identity",
    "b": "Referred-By",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
    "n": "Identity-Info",
}

# Canonical spellings that plain Title-Casing would get wrong, plus the common known names.
_KNOWN_NAMES = [
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "Identity",
    "Identity-Info", "In-Reply-To", "Info-Package", "Max-Forwards", "MIME-Version", "Min-Expires",
    "Min-SE", "Organization", "P-Asserted-Identity", "P-Preferred-Identity", "Path", "Priority",
    "Privacy", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck", "Reason",
    "Record-Route", "Recv-Info", "Refer-To", "Referred-By", "Reject-Contact", "Reply-To",
    "Request-Disposition", "Require", "Retry-After", "Route", "RSeq", "Server", "Service-Route",
    "Session-Expires", "SIP-ETag", "SIP-If-Match", "Subject", "Subscription-State", "Supported",
    "Timestamp", "To", "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
    "X-Genesys-CallUUID", "X-Genesys-geo-location",
]
_CANONICAL: dict[str, str] = {n.lower(): n for n in _KNOWN_NAMES}

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")  (§25.1)
_TOKEN_CHARS = "A-Za-z0-9\\-.!%*_+`'~"
_TOKEN_RE = re.compile(f"[{_TOKEN_CHARS}]+")
# gen-value = token / host / quoted-string: token chars plus ':' '[' ']' for (IPv6) hosts.
_GEN_VALUE_RE = re.compile(f"[{_TOKEN_CHARS}:\\[\\]]+")
_WS = " \t"


def is_token(text: str) -> bool:
    return _TOKEN_RE.fullmatch(text) is not None


def canonical_name(name: str) -> str:
    """"call-id" / "i" / "CALL-ID" -> "Call-ID"; unknown names are Title-Cased per dash part."""
    lower = name.strip().lower()
    lower = COMPACT_FORMS.get(lower, lower).lower()
    known = _CANONICAL.get(lower)
    if known is not None:
        return known
    return "-".join(part[:1].upper() + part[1:] for part in lower.split("-"))


@functools.lru_cache(maxsize=1024)
def header_key(name: str) -> str:
    """Lookup key: header names are case-insensitive and compact-aware (§7.3.1, §7.3.3)."""
    lower = name.strip().lower()
    return COMPACT_FORMS[lower].lower() if lower in COMPACT_FORMS else lower


def _bad(message: str, reason: str = "Bad Request") -> RemoteProtocolError:
    return RemoteProtocolError(message, 400, reason)


def scan_quoted_string(text: str, start: int) -> tuple[int, str]:
    """Scan a quoted-string starting at text[start] == '"'; return (index after it, decoded).

    quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE;
    qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII;
    quoted-pair = "\\" (%x00-09 / %x0B-0C / %x0E-7F)      (RFC 3261 §25.1)
    """
    i = start + 1
    out: list[str] = []
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            return i + 1, "".join(out)
        if ch == "\\":
            if i + 1 >= n:
                break
            nxt = text[i + 1]
            if ord(nxt) > 0x7F or nxt in "\r\n":
                raise _bad(f"invalid quoted-pair in {text!r}")
            out.append(nxt)
            i += 2
            continue
        if (ord(ch) < 0x20 and ch != "\t") or ch == "\x7f":
            raise _bad(f"control character in quoted string {text!r}")
        out.append(ch)
        i += 1
    raise _bad(f"unterminated quoted string in {text!r}")


def _quote(text: str) -> str:
    """Serialise `text` as a quoted-string, using quoted-pair for '"', '\\' and controls."""
    out = ['"']
    for ch in text:
        if ch in '"\\' or (ord(ch) < 0x20 and ch != "\t") or ch == "\x7f":
            out.append("\\" + ch)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def parse_generic_params(text: str) -> Params:
    """*( SEMI generic-param ); generic-param = token [ EQUAL gen-value ] (§25.1).

    SEMI and EQUAL allow whitespace on both sides (SWS). Values keep their wire form.
    """
    params: list[tuple[str, str | None]] = []
    i = _skip_ws(text, 0)
    n = len(text)
    while i < n:
        if text[i] != ";":
            raise _bad(f"expected ';' in parameters {text!r}")
        i = _skip_ws(text, i + 1)
        m = _TOKEN_RE.match(text, i)
        if m is None:
            raise _bad(f"malformed parameter name in {text!r}")
        name = m.group()
        i = _skip_ws(text, m.end())
        value: str | None = None
        if i < n and text[i] == "=":
            i = _skip_ws(text, i + 1)
            if i < n and text[i] == '"':
                end, _ = scan_quoted_string(text, i)
                value = text[i:end]
                i = end
            else:
                vm = _GEN_VALUE_RE.match(text, i)
                if vm is None:
                    raise _bad(f"malformed value of parameter {name!r} in {text!r}")
                value = vm.group()
                i = vm.end()
            i = _skip_ws(text, i)
        params.append((name, value))
    return tuple(params)


def _lookup(params: Params, name: str) -> str | None:
    """Parameter value ("" for a flag), names compared case-insensitively (§7.3.1, §20)."""
    wanted = name.lower()
    for pname, pvalue in params:
        if pname.lower() == wanted:
            return "" if pvalue is None else pvalue
    return None


def _set_param(params: Params, name: str, value: str | None) -> Params:
    wanted = name.lower()
    out = list(params)
    for i, (pname, _) in enumerate(out):
        if pname.lower() == wanted:
            out[i] = (pname, value)
            return tuple(out)
    out.append((name, value))
    return tuple(out)


def _params_str(params: Params) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def _check_params(params: Params) -> None:
    """Values built by our own code must be serialisable back into the §25.1 grammar."""
    for name, value in params:
        if not is_token(name):
            raise LocalProtocolError(f"parameter name is not a token: {name!r}")
        if value is None:
            continue
        quoted = len(value) >= 2 and value[0] == '"' and value[-1] == '"'
        if quoted and "\r" not in value and "\n" not in value:
            continue
        if _GEN_VALUE_RE.fullmatch(value) is None:
            raise LocalProtocolError(f"parameter value not allowed: {name}={value!r}")


def split_header_values(value: str) -> list[str]:
    """Split a comma-separated header value, honouring quoted strings and <...> (§7.3.1).

    Elements are stripped of surrounding whitespace. An empty (all-whitespace) value yields
    []; empty elements inside a list ("a,,b") are kept as "" so that strict element parsers
    reject them.
    """
    stripped = value.strip(_WS)
    if not stripped:
        return []
    if "," not in value:
        return [stripped]  # one element: the common case (one Via, one Contact per row)
    out: list[str] = []
    start = 0
    in_quote = False
    in_angle = False
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if in_quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quote = False
        elif in_angle:
            if ch == ">":
                in_angle = False
        elif ch == '"':
            in_quote = True
        elif ch == "<":
            in_angle = True
        elif ch == ",":
            out.append(value[start:i].strip(_WS))
            start = i + 1
        i += 1
    out.append(value[start:].strip(_WS))
    return out


# sent-protocol = protocol-name SLASH protocol-version SLASH transport; SLASH = SWS "/" SWS
_VIA_HEAD_RE = re.compile(
    rf"[{_WS}]*([{_TOKEN_CHARS}]+)[{_WS}]*/[{_WS}]*([{_TOKEN_CHARS}]+)[{_WS}]*/[{_WS}]*([{_TOKEN_CHARS}]+)[{_WS}]+"
)
_SENT_HOST_RE = re.compile(r"\[[0-9A-Fa-f:.]*\]|[A-Za-z0-9\-.]+")


@dataclass(frozen=True, slots=True)
class Via:
    """One Via header field value (RFC 3261 §20.42, grammar §25.1)."""

    protocol: str  # "SIP/2.0"
    transport: str  # upper-cased: "UDP", "TCP", "TLS", "SCTP", ... (case-insensitive, §20.42)
    host: str
    port: int | None
    params: Params = ()

    def __post_init__(self) -> None:
        if not is_token(self.transport):
            raise LocalProtocolError(f"Via transport is not a token: {self.transport!r}")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise LocalProtocolError(f"Via port out of range: {self.port}")
        _check_params(self.params)

    @property
    def branch(self) -> str | None:
        return _lookup(self.params, "branch")

    @property
    def received(self) -> str | None:
        return _lookup(self.params, "received")

    @property
    def rport(self) -> str | None:
        """RFC 3581 §4: "" when present without a value, the port number text otherwise."""
        return _lookup(self.params, "rport")

    def param(self, name: str) -> str | None:
        return _lookup(self.params, name)

    def with_param(self, name: str, value: str | None) -> Via:
        return dataclasses.replace(self, params=_set_param(self.params, name, value))

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse a value (memoised: the value object is immutable, and a flood repeats values)."""
        return _CACHED_VIA(text)

    @classmethod
    def _parse(cls, text: str) -> Via:
        """via-parm = sent-protocol LWS sent-by *( SEMI via-params ); raises 400 if malformed."""
        m = _VIA_HEAD_RE.match(text)
        if m is None:
            raise _bad(f"malformed Via {text!r}", "Malformed Via")
        name, version, transport = m.groups()
        i = m.end()
        hm = _SENT_HOST_RE.match(text, i)
        if hm is None:
            raise _bad(f"malformed Via sent-by {text!r}", "Malformed Via")
        host = hm.group()
        i = _skip_ws(text, hm.end())
        port: int | None = None
        if i < len(text) and text[i] == ":":  # COLON = SWS ":" SWS
            i = _skip_ws(text, i + 1)
            pm = re.compile(r"[0-9]{1,5}").match(text, i)
            if pm is None or int(pm.group()) > 65535:
                raise _bad(f"malformed Via port {text!r}", "Malformed Via")
            port = int(pm.group())
            i = pm.end()
        try:
            check_host(host)
            params = parse_generic_params(text[i:])
        except RemoteProtocolError as exc:
            raise _bad(f"malformed Via {text!r}: {exc}", "Malformed Via") from None
        for pname, pvalue in params:
            # via-branch = "branch" EQUAL token; via-received needs an address (§25.1).
            if pname.lower() in ("branch", "received", "maddr", "ttl") and not pvalue:
                raise _bad(f"Via parameter {pname} needs a value: {text!r}", "Malformed Via")
        return cls(f"{name.upper()}/{version}", transport.upper(), host, port, params)

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{_params_str(self.params)}"


@dataclass(frozen=True, slots=True)
class NameAddr:
    """name-addr / addr-spec with header parameters: To, From, Contact, Route, ... (§20.10).

    `display_name` is the decoded text (quotes and quoted-pairs removed), None when absent.
    """

    display_name: str | None
    uri: SipUri
    params: Params = ()

    def __post_init__(self) -> None:
        if self.display_name is not None and any(c in self.display_name for c in "\r\n"):
            raise LocalProtocolError("display name must not contain CR or LF")
        _check_params(self.params)

    @property
    def tag(self) -> str | None:
        return _lookup(self.params, "tag")

    def param(self, name: str) -> str | None:
        return _lookup(self.params, name)

    def with_tag(self, tag: str) -> NameAddr:
        if not is_token(tag):
            raise LocalProtocolError(f"tag is not a token: {tag!r}")
        return dataclasses.replace(self, params=_set_param(self.params, "tag", tag))

    def with_param(self, name: str, value: str | None) -> NameAddr:
        return dataclasses.replace(self, params=_set_param(self.params, name, value))

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        """Parse a value (memoised: the value object is immutable, and a flood repeats values)."""
        return _CACHED_NAMEADDR(text)

    @classmethod
    def _parse(cls, text: str) -> NameAddr:
        """Parse `[display-name] <uri> *(;param)` or a bare `uri *(;param)`.

        RFC 3261 §20.10: without angle brackets "any semicolon-delimited parameters are
        header-parameters, not URI parameters", and a URI containing a comma, question mark or
        semicolon MUST be enclosed in angle brackets.
        """
        s = text.strip(_WS)
        display: str | None = None
        if s.startswith('"'):
            end, display = scan_quoted_string(s, 0)
            rest = s[end:].lstrip(_WS)
            if not rest.startswith("<"):
                raise _bad(f"quoted display name without <uri> in {text!r}")
        else:
            lt = s.find("<")
            if lt < 0:
                return cls._parse_bare(s, text)
            words = s[:lt].split()
            for word in words:
                # display-name = *(token LWS) / quoted-string: "Bell, Alexander" needs quotes.
                if not is_token(word):
                    raise _bad(f"display name must be tokens or a quoted string: {text!r}")
            display = " ".join(words) if words else None
            rest = s[lt:]
        gt = rest.find(">")
        if gt < 0:
            raise _bad(f"missing '>' in {text!r}")
        inner = rest[1:gt]
        # LAQUOT = SWS "<" and RAQUOT = ">" SWS: no whitespace *inside* the brackets.
        if not inner or inner != inner.strip(" \t"):
            raise _bad(f"whitespace or nothing inside <...> in {text!r}")
        uri = SipUri.parse(inner, foreign=True)
        return cls(display, uri, parse_generic_params(rest[gt + 1 :]))

    @classmethod
    def _parse_bare(cls, s: str, text: str) -> NameAddr:
        semi = s.find(";")
        uri_text = (s if semi < 0 else s[:semi]).rstrip(_WS)
        if any(c in uri_text for c in ",? \t\""):
            raise _bad(f"URI with ',', '?' or spaces must be in <...>: {text!r}")
        uri = SipUri.parse(uri_text, foreign=True)
        return cls(None, uri, parse_generic_params("" if semi < 0 else s[semi:]))

    def __str__(self) -> str:
        # Always the name-addr form: parameters inside <> stay URI parameters (§20.10).
        prefix = "" if self.display_name is None else _quote(self.display_name) + " "
        return f"{prefix}<{self.uri}>{_params_str(self.params)}"


_CSEQ_RE = re.compile(rf"[{_WS}]*([0-9]+)[{_WS}]+([{_TOKEN_CHARS}]+)[{_WS}]*")


@dataclass(frozen=True, slots=True)
class CSeq:
    """CSeq = 1*DIGIT LWS Method (RFC 3261 §20.16); the number MUST be < 2**31 (§8.1.1.5)."""

    number: int
    method: str

    def __post_init__(self) -> None:
        if not 0 <= self.number < 2**31:
            raise LocalProtocolError(f"CSeq number out of range: {self.number}")
        if not is_token(self.method):
            raise LocalProtocolError(f"CSeq method is not a token: {self.method!r}")

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse a value (memoised: the value object is immutable, and a flood repeats values)."""
        return _CACHED_CSEQ(text)

    @classmethod
    def _parse(cls, text: str) -> CSeq:
        m = _CSEQ_RE.fullmatch(text)
        if m is None:
            raise _bad(f"malformed CSeq {text!r}", "Malformed CSeq")
        digits = m.group(1).lstrip("0") or "0"
        # §8.1.1.5: "The sequence number value MUST be expressible as a 32-bit unsigned integer
        # and MUST be less than 2**31." (checked on length first: int() of a huge string is slow)
        if len(digits) > 10 or int(digits) >= 2**31:
            raise _bad(f"CSeq number too large in {text!r}", "Malformed CSeq")
        return cls(int(digits), m.group(2))

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


# One parse per distinct header value: Via / NameAddr / CSeq are frozen, so sharing a parsed
# value is safe, and a message's From, To, Via are read several times on the way through the
# UAS (measured with py-spy under an OPTIONS flood: half the time was re-parsing them).
_CACHED_VIA = functools.lru_cache(maxsize=4096)(Via._parse)
_CACHED_NAMEADDR = functools.lru_cache(maxsize=4096)(NameAddr._parse)
_CACHED_CSEQ = functools.lru_cache(maxsize=4096)(CSeq._parse)
