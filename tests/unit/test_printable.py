"""`printable`: untrusted values reach logs and files as one printable line (CWE-117)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.protocol.printable import printable


def test_line_breaks_nul_and_backslash_are_escaped() -> None:
    forged = "X\n2026-12-03 00:00:00,000 ERROR FORGED\r\x00\\"
    assert printable(forged) == "X\\n2026-12-03 00:00:00,000 ERROR FORGED\\r\\x00\\\\"


def test_printable_text_is_unchanged() -> None:
    assert printable("4BOKLLA3VH66JF112M1CC9VHKS14F0KP") == "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"
    assert printable("ünï€-x") == "ünï€-x"  # printable non-ASCII stays readable


def test_unicode_line_separators_and_c1_controls_are_escaped() -> None:
    assert printable("a\u2028b\x85c\x7f") == "a\\u2028b\\x85c\\x7f"


def test_long_values_are_cut() -> None:
    assert printable("a" * 250, limit=10) == "aaaaaaaaaa...(+240 chars)"


@given(st.text(max_size=300))
def test_result_is_always_one_printable_line(text: str) -> None:
    out = printable(text, limit=400)
    assert out.isprintable() and "\n" not in out and "\r" not in out and "\x00" not in out


@given(st.text(max_size=50), st.text(max_size=50))
def test_escaping_is_injective(a: str, b: str) -> None:
    if a != b:
        assert printable(a) != printable(b)
