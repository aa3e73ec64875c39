"""One escape for every untrusted value that reaches a log line or a file (CWE-117, CWE-93).

Peer input is decoded before the recorder sees it (`%0A` in a Request-URI parameter is a
line feed, RFC 3261 §19.1.4), so a value written as it is can forge a log line of its own or
put a NUL into a file. `printable` writes it repr-style instead: backslash, control and other
non-printable characters (C0, DEL, C1, U+2028 ...) become `\\n`, `\\x00`, `\\u2028`, so the
result is one line of printable text from which the original can be read back unambiguously.
"""

from __future__ import annotations

__all__ = ["printable"]

_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(value: object, limit: int = 200) -> str:
    """`value` as one printable line: repr-style escapes, at most `limit` characters of it."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text, cut = text[:limit], len(text) - limit
    else:
        cut = 0
    if not (text.isprintable() and "\\" not in text):
        text = "".join(_escape(c) for c in text)
    return f"{text}...(+{cut} chars)" if cut else text


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    if char.isprintable():
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
