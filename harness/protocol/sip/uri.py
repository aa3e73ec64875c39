"""SIP / SIPS / tel URI codec (RFC 3261 §19.1, grammar §25.1; tel per RFC 3966 §3, loosely).

The parser is strict about the §25.1 character classes (so a bad URI gets a 400 instead of
being silently "fixed") and keeps every component in its *wire* (escaped) form, so that
`str(SipUri.parse(x))` reproduces `x` (the scheme aside, which is lower-cased). Comparison
helpers (`param`, `has_param`, `unescape`) apply the §19.1.4 rules: parameter names are
case-insensitive and `%HH` escapes are equivalent to the character they encode.

Genesys recording Request-URIs put `=` into the user part (`sip:record=0A1B@rec;calluuid=..`,
docs/genesys-flow.md §4.2): `=` and `;` are legal there (user-unreserved, RFC 3261 §25.1).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from dataclasses import dataclass

from harness.protocol.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["ForeignUri", "SipUri", "check_host", "unescape"]

# RFC 3261 §25.1 character classes.
_ALPHANUM = "A-Za-z0-9"
_MARK = r"\-_.!~*'()"
_UNRESERVED = _ALPHANUM + _MARK
_ESCAPED = r"%[0-9A-Fa-f]{2}"
# user = 1*( unreserved / escaped / user-unreserved ); user-unreserved = & = + $ , ; ? /
_USER_RE = re.compile(rf"(?:[{_UNRESERVED}&=+$,;?/]|{_ESCAPED})+")
# password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
_PASSWORD_RE = re.compile(rf"(?:[{_UNRESERVED}&=+$,]|{_ESCAPED})*")
# paramchar = param-unreserved / unreserved / escaped; param-unreserved = [ ] / : & + $
_PARAMCHARS_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/:&+$]|{_ESCAPED})+")
# hname = 1*( hnv-unreserved / unreserved / escaped ); hvalue = *( same ); hnv-unreserved = [ ] / ? : + $
_HNAME_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESCAPED})+")
_HVALUE_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESCAPED})*")
# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )  (RFC 3261 §25.1, RFC 3986 §3.1)
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# hostname = *( domainlabel "." ) toplabel [ "." ]; domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}\.?")
_PORT_RE = re.compile(r"[0-9]{1,5}")
# tel: global-number / local-number (RFC 3966 §3): digits, visual separators, hex for local numbers.
_TEL_NUMBER_RE = re.compile(r"\+?[0-9A-Fa-f*#\-.()pPwW]+")

_SUPPORTED_SCHEMES = ("sip", "sips", "tel")
# absoluteURI = scheme ":" ( hier-part / opaque-part ), all uric (§25.1): never whitespace,
# quotes, angle brackets or control characters.
_FOREIGN_BAD_RE = re.compile(r"[\x00-\x20\x7f<>\"]")


def unescape(text: str) -> str:
    """Decode `%HH` escapes (RFC 3261 §19.1.4: an escaped character equals its decoded form).

    Octets that do not form valid UTF-8 are kept as U+FFFD; decoding never raises.
    """
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "%" and _is_hex2(text, i + 1):
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            out += ch.encode("utf-8", "surrogatepass")
            i += 1
    return out.decode("utf-8", "replace")


def _is_hex2(text: str, i: int) -> bool:
    return i + 2 <= len(text) and all(c in "0123456789abcdefABCDEF" for c in text[i : i + 2])


def _bad(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message, 400, "Bad Request")


@functools.lru_cache(maxsize=1024)
def check_host(host: str) -> None:
    """host = hostname / IPv4address / IPv6reference (RFC 3261 §25.1)."""
    if host.startswith("["):
        if not host.endswith("]") or "%" in host:
            raise _bad(f"malformed IPv6 reference {host!r}")
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise _bad(f"malformed IPv6 reference {host!r}") from None
        return
    if not _HOSTNAME_RE.fullmatch(host):
        raise _bad(f"malformed host {host!r}")
    # A dotted quad that is not a valid IPv4 address (e.g. 300.1.1.1) is rejected: the toplabel
    # of a hostname must start with ALPHA, so an all-numeric host can only be an IPv4address.
    labels = host.rstrip(".").split(".")
    if labels[-1][0].isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise _bad(f"malformed host {host!r}") from None


def _split_hostport(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise _bad(f"unterminated IPv6 reference in {text!r}")
        host, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise _bad(f"garbage after IPv6 reference in {text!r}")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_ = text.partition(":")
        port_text = port_text_ if sep else None
    check_host(host)
    port: int | None = None
    if port_text is not None:
        if not _PORT_RE.fullmatch(port_text) or int(port_text) > 65535:
            raise _bad(f"malformed port in {text!r}")
        port = int(port_text)
    return host, port


def _parse_params(text: str, present: bool) -> tuple[tuple[str, str | None], ...]:
    """uri-parameters = *( ";" uri-parameter ); uri-parameter = pname [ "=" pvalue ].

    `present` tells whether a ';' was seen: "sip:h;" has one empty (invalid) parameter.
    """
    if not present:
        return ()
    params: list[tuple[str, str | None]] = []
    for item in text.split(";"):
        name, eq, value = item.partition("=")
        if not _PARAMCHARS_RE.fullmatch(name):
            raise _bad(f"malformed URI parameter {item!r}")
        if eq:
            # pvalue = 1*paramchar: "name=" with an empty value is not in the grammar.
            if not _PARAMCHARS_RE.fullmatch(value):
                raise _bad(f"malformed URI parameter value {item!r}")
            params.append((name, value))
        else:
            params.append((name, None))
    return tuple(params)


def _parse_headers(text: str) -> tuple[tuple[str, str], ...]:
    """headers = "?" header *( "&" header ); header = hname "=" hvalue."""
    out: list[tuple[str, str]] = []
    for item in text.split("&"):
        name, eq, value = item.partition("=")
        if not eq or not _HNAME_RE.fullmatch(name) or not _HVALUE_RE.fullmatch(value):
            raise _bad(f"malformed URI header {item!r}")
        out.append((name, value))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SipUri:
    """A parsed SIP/SIPS (or tel) URI; all text fields hold the escaped wire form.

    For `tel:` URIs `host` holds the telephone number and `user`/`password`/`port` are None.
    """

    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None
    params: tuple[tuple[str, str | None], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # Built-in-code misuse is caught when the value is built (DESIGN §5), not on the wire.
        if self.scheme not in _SUPPORTED_SCHEMES:
            raise LocalProtocolError(f"unsupported URI scheme {self.scheme!r} (use lower case sip/sips/tel)")
        if not self.host:
            raise LocalProtocolError("URI host must not be empty")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise LocalProtocolError(f"port out of range: {self.port}")
        for text in (self.user, self.password, self.host):
            if text is not None and any(c in text for c in " \t\r\n<>\"@"):
                raise LocalProtocolError(f"character not allowed unescaped in a URI: {text!r}")

    # -- parsing ---------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, *, foreign: bool = False) -> SipUri:
        """Parse a URI (memoised, see `_CACHED_URI`); see `_parse`."""
        return _CACHED_URI(text, foreign)

    @classmethod
    def _parse(cls, text: str, foreign: bool = False) -> SipUri:
        """Parse a URI; RemoteProtocolError(400) if malformed, (416) for another scheme (§8.2.2.1).

        With `foreign`, a URI of another scheme is returned as an opaque `ForeignUri` instead:
        header fields such as To, From and Contact may carry any absoluteURI (§20.10, §25.1
        `name-addr`), and 416 is for the Request-URI only (§21.4.17).
        """
        scheme, colon, rest = text.partition(":")
        if not colon or not _SCHEME_RE.fullmatch(scheme):
            raise _bad(f"malformed URI {text!r}")
        scheme = scheme.lower()  # RFC 3261 §19.1.4: scheme is case-insensitive
        if scheme not in _SUPPORTED_SCHEMES and foreign:
            if not rest or _FOREIGN_BAD_RE.search(rest):
                raise _bad(f"malformed URI {text!r}")
            return ForeignUri(scheme, None, None, rest, None)
        if scheme not in _SUPPORTED_SCHEMES:
            # RFC 3261 §8.2.2.1: "If the Request-URI uses a scheme not supported by the UAS, it
            # SHOULD reject the request with a 416 (Unsupported URI Scheme) response."
            raise RemoteProtocolError(f"unsupported URI scheme {scheme!r}", 416, "Unsupported URI Scheme")
        if scheme == "tel":
            return cls._parse_tel(rest, text)
        return cls._parse_sip(scheme, rest, text)

    @classmethod
    def _parse_tel(cls, rest: str, text: str) -> SipUri:
        number, semi, param_text = rest.partition(";")
        if not _TEL_NUMBER_RE.fullmatch(number):
            raise _bad(f"malformed tel URI {text!r}")
        return cls("tel", None, None, number, None, _parse_params(param_text, bool(semi)))

    @classmethod
    def _parse_sip(cls, scheme: str, rest: str, text: str) -> SipUri:
        user: str | None = None
        password: str | None = None
        # '@' is in no character class of user, password, host, params or headers, so the first
        # '@' can only end the userinfo.
        at = rest.find("@")
        if at >= 0:
            userinfo, rest = rest[:at], rest[at + 1 :]
            # user may contain ';' '?' '/' but not ':' -- so the first ':' starts the password.
            user_text, colon, pw_text = userinfo.partition(":")
            if not _USER_RE.fullmatch(user_text):
                raise _bad(f"malformed user part in {text!r}")
            user = user_text
            if colon:
                if not _PASSWORD_RE.fullmatch(pw_text):
                    raise _bad(f"malformed password in {text!r}")
                password = pw_text
        rest, qmark, header_text = rest.partition("?")
        hostport, semi, param_text = rest.partition(";")
        if not hostport:
            raise _bad(f"missing host in {text!r}")
        host, port = _split_hostport(hostport)
        params = _parse_params(param_text, bool(semi))
        headers = _parse_headers(header_text) if qmark else ()
        return cls(scheme, user, password, host, port, params, headers)

    # -- comparison helpers ----------------------------------------------------------------
    def param(self, name: str) -> str | None:
        """Value of URI parameter `name` (unescaped); "" for a flag parameter, None if absent.

        RFC 3261 §19.1.4: parameter names are compared case-insensitively and escaped
        characters equal their decoded form, so param("calluuid") finds `CallUUID=...`.
        """
        wanted = unescape(name).lower()
        for pname, pvalue in self.params:
            if unescape(pname).lower() == wanted:
                return "" if pvalue is None else unescape(pvalue)
        return None

    def has_param(self, name: str) -> bool:
        return self.param(name) is not None

    def with_param(self, name: str, value: str | None = None) -> SipUri:
        """Copy with `name` set (replacing an existing one, case-insensitively) or appended."""
        wanted = name.lower()
        params = list(self.params)
        for i, (pname, _) in enumerate(params):
            if unescape(pname).lower() == wanted:
                params[i] = (pname, value)
                break
        else:
            params.append((name, value))
        return dataclasses.replace(self, params=tuple(params))

    def with_params(self, **kw: str | None) -> SipUri:
        """Copy with each keyword set as a parameter (None = flag parameter such as `lr`)."""
        uri = self
        for name, value in kw.items():
            uri = uri.with_param(name, value)
        return uri

    def without_param(self, name: str) -> SipUri:
        wanted = name.lower()
        return dataclasses.replace(
            self, params=tuple(p for p in self.params if unescape(p[0]).lower() != wanted)
        )

    def replace(self, **changes: object) -> SipUri:
        """dataclasses.replace, validated again by __post_init__."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else unescape(self.user)

    @property
    def transport(self) -> str | None:
        value = self.param("transport")
        return None if value is None else value.lower()

    # -- serialisation ---------------------------------------------------------------------
    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts += [":", self.password]
            parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts += [":", str(self.port)]
        for name, value in self.params:
            parts += [";", name] if value is None else [";", name, "=", value]
        if self.headers:
            parts.append("?")
            parts.append("&".join(f"{n}={v}" for n, v in self.headers))
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class ForeignUri(SipUri):
    """An absoluteURI of a scheme this codec does not interpret (`http:`, `mailto:`, ...).

    Kept verbatim: `host` holds everything after ``scheme:``; user, password and port are
    None. Only `SipUri.parse(..., foreign=True)` builds one (header fields, never the
    Request-URI), so a request is judged by its Request-URI alone (RFC 3261 §21.4.17).
    """

    def __post_init__(self) -> None:
        if not _SCHEME_RE.fullmatch(self.scheme) or self.scheme in _SUPPORTED_SCHEMES:
            raise LocalProtocolError(f"not a foreign URI scheme: {self.scheme!r}")
        if not self.host or _FOREIGN_BAD_RE.search(self.host):
            raise LocalProtocolError(f"character not allowed in a URI: {self.host!r}")

    def __str__(self) -> str:
        return f"{self.scheme}:{self.host}"


# SipUri values are frozen: one parse per distinct URI text (a flood repeats the same hosts and
# URIs; `ipaddress` validation alone was 9 % of an OPTIONS flood's CPU before).
_CACHED_URI = functools.lru_cache(maxsize=4096)(SipUri._parse)
