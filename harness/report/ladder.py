"""SIP ladder (sequence) diagram rendered as a standalone SVG document.

The ladder shows the Active Recording Ecosystem message flow of one scenario: one column
(lifeline) per participant, one arrow per SIP / T-Lib message, and one summarised *band* per
RTP stream instead of one arrow per packet (a 5 s call at 50 pps would otherwise draw 250
arrows). Labels are relative times ("+0.123 s") and the request line or status line
(RFC 3261 §7.1 Request-Line, §7.2 Status-Line).

The SVG is embedded in an offline Allure report, so it must be self-contained: no external
references, no scripts, no web fonts (generic ``monospace`` only). Every piece of text comes
from the network and is XML-escaped; characters that XML 1.0 forbids even when escaped
(control characters such as NUL or ESC, lone surrogates) are shown as ``\\xNN`` escapes.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Final, Literal

from harness.protocol.sip.message import SipParseError, SipRequest, parse_message

__all__ = [
    "LadderKind",
    "LadderMessage",
    "Participant",
    "ladder_from_sip",
    "render_ladder",
    "rtp_summary_message",
]

LadderKind = Literal["sip", "rtp-summary", "tlib", "note"]
_KINDS: Final[frozenset[str]] = frozenset({"sip", "rtp-summary", "tlib", "note"})

DEFAULT_MAX_ARROWS: Final = 400

# Layout, in SVG user units (pixels). 12 px monospace is ~7.2 px per character.
_FONT_SIZE: Final = 12
_CHAR_W: Final = 7.2
_TIME_MARGIN: Final = 96.0  # left column holding "+12.345 s"
_TOP: Final = 12.0
_HEADER_H: Final = 40.0
_ROW_H: Final = 30.0
_MIN_GAP: Final = 180.0
_MAX_GAP: Final = 460.0
_SELF_LOOP_W: Final = 36.0
_MAX_LABEL_CHARS: Final = 120

_COLOURS: Final[dict[str, str]] = {
    "sip": "#1f3b73",
    "tlib": "#6a1b9a",
    "rtp-summary": "#2e7d32",
    "note": "#8d6e00",
}
_FAILED: Final = "#d32f2f"

# XML 1.0 §2.2 Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
# Anything else cannot appear in a well-formed document, not even as a character reference.
_NOT_XML_CHAR: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class LadderMessage:
    """One row of the ladder.

    ``src`` / ``dst`` are "ip:port" addresses (``[v6]:port`` for IPv6). ``detail`` becomes the
    SVG ``<title>`` tooltip (e.g. the first lines of the SIP message). ``failed`` draws the row
    red, for rows a finding points at. A ``note`` is drawn over ``src`` (and up to ``dst`` when
    it names another column).
    """

    time: float
    src: str
    dst: str
    label: str
    detail: str | None = None
    kind: LadderKind = "sip"
    failed: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {sorted(_KINDS)}, not {self.kind!r}")
        if not self.src:
            raise ValueError("src must name a participant address")
        if self.time != self.time:  # NaN would poison the relative times and the sort
            raise ValueError("time must not be NaN")


@dataclass(frozen=True, slots=True)
class Participant:
    """A named column. ``aliases`` are further addresses drawn in the same column (e.g. the
    recorder's RTP ports next to its SIP port)."""

    address: str
    name: str
    aliases: tuple[str, ...] = ()


def rtp_summary_message(
    time: float,
    src: str,
    dst: str,
    *,
    payload: str,
    packets: int,
    duration: float,
    ssrc: int | None = None,
    detail: str | None = None,
    failed: bool = False,
) -> LadderMessage:
    """The band standing for a whole RTP stream: "RTP PCMU 250 pkts 5.0 s"."""
    label = f"RTP {payload} {packets} pkts {duration:.1f} s"
    if ssrc is not None:
        label += f" SSRC 0x{ssrc & 0xFFFFFFFF:08X}"
    return LadderMessage(time, src, dst, label, detail, "rtp-summary", failed)


def format_address(addr: tuple[str, int]) -> str:
    """ "ip:port", with brackets around IPv6 literals (RFC 3986 §3.2.2 style)."""
    host, port = addr
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def ladder_from_sip(
    messages: Iterable[tuple[float, tuple[str, int], tuple[str, int], bytes]],
    *,
    failed: Collection[int] = (),
    detail_lines: int = 12,
) -> list[LadderMessage]:
    """Build ladder rows from captured SIP datagrams ``(time, src, dst, payload)``.

    ``failed`` holds indexes (into ``messages``) that a finding points at. A payload the SIP
    parser rejects is still drawn -- as "unparseable (N bytes)" in red -- because a missing
    arrow would hide exactly the evidence the reader is looking for.
    """
    rows: list[LadderMessage] = []
    for index, (time, src, dst, data) in enumerate(messages):
        detail = _first_lines(data, detail_lines)
        bad = index in failed
        try:
            label = _sip_label(data)
        except SipParseError as exc:
            rows.append(
                LadderMessage(
                    time,
                    format_address(src),
                    format_address(dst),
                    f"unparseable ({len(data)} bytes)",
                    f"{exc}\n\n{detail}" if detail else str(exc),
                    "sip",
                    True,
                )
            )
            continue
        rows.append(LadderMessage(time, format_address(src), format_address(dst), label, detail, "sip", bad))
    return rows


def _sip_label(data: bytes) -> str:
    message = parse_message(data)
    if isinstance(message, SipRequest):
        # RFC 3261 §7.1: Request-Line = Method SP Request-URI SP SIP-Version
        return f"{message.method} {message.uri}"
    label = f"{message.status} {message.reason}"
    # The CSeq method tells which transaction a response answers (RFC 3261 §8.1.3.5,
    # §17.1.3 matching): "200 OK (INVITE)" vs "200 OK (BYE)". A response without a usable
    # CSeq still gets an arrow.
    with contextlib.suppress(SipParseError):
        label += f" ({message.cseq.method})"
    return label


def _first_lines(data: bytes, count: int) -> str:
    text = data.decode("utf-8", errors="replace")
    lines = text.replace("\r\n", "\n").split("\n")
    shown = lines[:count]
    if len(lines) > count:
        shown.append(f"... ({len(lines) - count} more lines)")
    return "\n".join(shown).rstrip("\n")


# ----------------------------------------------------------------------------- rendering


def render_ladder(
    messages: Sequence[LadderMessage],
    participants: Sequence[Participant] | None = None,
    *,
    max_arrows: int = DEFAULT_MAX_ARROWS,
    title: str = "SIP ladder",
) -> str:
    """Render ``messages`` as a standalone SVG document (a ``str``).

    Rows are ordered by time (stable, so equal timestamps keep capture order); columns follow
    first appearance in that order, then any named participant that never appears (a silent
    recorder is itself evidence). At most ``max_arrows`` rows are drawn, then "... N more".
    """
    if max_arrows < 1:
        raise ValueError("max_arrows must be at least 1")
    ordered = sorted(messages, key=lambda m: m.time)
    shown = ordered[:max_arrows]
    hidden = len(ordered) - len(shown)

    columns, column_of = _columns(ordered, participants or ())
    names = {p.address: p.name for p in participants or ()}
    gap = _column_gap(shown, column_of)

    n_cols = max(len(columns), 1)
    width = _TIME_MARGIN + n_cols * gap + _SELF_LOOP_W + 20
    lifeline_top = _TOP + _HEADER_H
    first_row_y = lifeline_top + _ROW_H
    n_rows = len(shown) + (1 if hidden else 0)
    height = first_row_y + max(n_rows, 1) * _ROW_H + 10
    t0 = ordered[0].time if ordered else 0.0

    def col_x(address: str) -> float:
        return _TIME_MARGIN + (column_of[address] + 0.5) * gap

    out: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="monospace" font-size="{_FONT_SIZE}">',
        f"<title>{_text(title)}</title>",
        f'<rect class="background" x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]

    # Participant headers and lifelines.
    for index, address in enumerate(columns):
        x = _TIME_MARGIN + (index + 0.5) * gap
        box_w = gap - 20
        chars = int(box_w / _CHAR_W)
        name = names.get(address, address)
        out.append(f'<g class="participant" data-address="{_attr(address)}">')
        out.append(f"<title>{_text(name)} ({_text(address)})</title>")
        out.append(
            f'<rect x="{x - box_w / 2:.1f}" y="{_TOP:.1f}" width="{box_w:.1f}" height="{_HEADER_H - 4:.1f}" '
            'rx="4" fill="#eef2f8" stroke="#1f3b73"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{_TOP + 15:.1f}" text-anchor="middle" font-weight="bold">'
            f"{_text(_fit(name, chars))}</text>"
        )
        out.append(
            f'<text x="{x:.1f}" y="{_TOP + 30:.1f}" text-anchor="middle" fill="#555555">'
            f"{_text(_fit(address, chars))}</text>"
        )
        out.append(
            f'<line x1="{x:.1f}" y1="{lifeline_top:.1f}" x2="{x:.1f}" y2="{height - 6:.1f}" '
            'stroke="#9e9e9e" stroke-dasharray="4 4"/>'
        )
        out.append("</g>")

    for row, message in enumerate(shown):
        y = first_row_y + row * _ROW_H
        out.append(_row(message, row, y, t0, col_x, gap))

    if hidden:
        y = first_row_y + len(shown) * _ROW_H
        out.append(
            f'<text class="more" x="{_TIME_MARGIN:.1f}" y="{y:.1f}" fill="#555555">'
            f"... {hidden} more message{'s' if hidden != 1 else ''} not shown</text>"
        )
    if not ordered:
        out.append(f'<text class="empty" x="{_TIME_MARGIN:.1f}" y="{first_row_y:.1f}">no messages</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _columns(
    ordered: Sequence[LadderMessage], participants: Sequence[Participant]
) -> tuple[list[str], dict[str, int]]:
    """Column addresses in first-appearance order, and address (or alias) -> column index."""
    canonical: dict[str, str] = {}
    for p in participants:
        canonical.setdefault(p.address, p.address)
        for alias in p.aliases:
            canonical.setdefault(alias, p.address)
    columns: list[str] = []
    column_of: dict[str, int] = {}

    def add(address: str) -> None:
        if not address or address in column_of:
            return
        main = canonical.get(address, address)
        if main not in column_of:
            column_of[main] = len(columns)
            columns.append(main)
        column_of[address] = column_of[main]

    for message in ordered:
        add(message.src)
        add(message.dst)
    for p in participants:
        add(p.address)
        for alias in p.aliases:
            add(alias)
    return columns, column_of


def _column_gap(shown: Sequence[LadderMessage], column_of: dict[str, int]) -> float:
    """Wide enough that most labels fit over the span of their arrow, within sane bounds."""
    need = _MIN_GAP
    for m in shown:
        span = abs(column_of[m.src] - column_of[m.dst]) if m.dst in column_of else 0
        chars = min(len(m.label), _MAX_LABEL_CHARS)
        need = max(need, (chars * _CHAR_W + 24) / max(span, 1))
    return min(need, _MAX_GAP)


def _row(
    message: LadderMessage,
    row: int,
    y: float,
    t0: float,
    col_x: Callable[[str], float],
    gap: float,
) -> str:
    colour = _FAILED if message.failed else _COLOURS[message.kind]
    classes = f"msg {message.kind}" + (" failed" if message.failed else "")
    x1 = col_x(message.src)
    x2 = col_x(message.dst) if message.dst else x1
    parts = [f'<g class="{classes}" data-index="{row}">']
    # Tooltip: the detail, or at least the full label (the drawn one may be truncated).
    parts.append(f"<title>{_text(message.detail or message.label)}</title>")
    rel = message.time - t0
    parts.append(
        f'<text class="time" x="{_TIME_MARGIN - 8:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="#555555">'
        f"+{rel:.3f} s</text>"
    )
    weight = ' font-weight="bold"' if message.failed else ""

    if message.kind == "note":
        left, right = min(x1, x2) - gap * 0.4, max(x1, x2) + gap * 0.4
        chars = int((right - left - 8) / _CHAR_W)
        parts.append(
            f'<rect x="{left:.1f}" y="{y - 11:.1f}" width="{right - left:.1f}" height="18" '
            f'fill="#fff8d6" stroke="{colour}"/>'
        )
        parts.append(
            f'<text x="{(left + right) / 2:.1f}" y="{y + 2:.1f}" text-anchor="middle" fill="{colour}"{weight}>'
            f"{_text(_fit(message.label, chars))}</text>"
        )
    elif x1 == x2:
        # A message to itself (same column, e.g. leg A to an alias of leg A): a small loop.
        r = x1 + _SELF_LOOP_W / 2
        parts.append(
            f'<path d="M{x1:.1f} {y - 6:.1f} H{r:.1f} V{y + 6:.1f} H{x1 + 6:.1f}" fill="none" '
            f'stroke="{colour}" stroke-width="1.5"/>'
        )
        parts.append(_arrowhead(x1, y + 6, -1, colour))
        chars = int((gap / 2 - _SELF_LOOP_W / 2 - 8) / _CHAR_W)
        parts.append(
            f'<text x="{r + 4:.1f}" y="{y + 4:.1f}" fill="{colour}"{weight}>'
            f"{_text(_fit(message.label, max(chars, 8)))}</text>"
        )
    else:
        direction = 1 if x2 > x1 else -1
        chars = int((abs(x2 - x1) - 12) / _CHAR_W)
        if message.kind == "rtp-summary":
            # A band, not an arrow per packet: the whole stream in one row.
            parts.append(
                f'<rect x="{min(x1, x2 - direction * 10):.1f}" y="{y - 5:.1f}" width="{abs(x2 - x1) - 10:.1f}" height="10" '
                f'fill="{colour}" fill-opacity="0.25" stroke="{colour}"/>'
            )
            parts.append(_arrowhead(x2, y, direction, colour, size=10))
        else:
            dash = ' stroke-dasharray="6 3"' if message.kind == "tlib" else ""
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{x2 - direction * 8:.1f}" y2="{y:.1f}" '
                f'stroke="{colour}" stroke-width="1.5"{dash}/>'
            )
            parts.append(_arrowhead(x2, y, direction, colour))
        parts.append(
            f'<text x="{(x1 + x2) / 2:.1f}" y="{y - 8:.1f}" text-anchor="middle" fill="{colour}"{weight}>'
            f"{_text(_fit(message.label, chars))}</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def _arrowhead(x: float, y: float, direction: int, colour: str, size: float = 8) -> str:
    back = x - direction * size
    return (
        f'<polygon points="{x:.1f},{y:.1f} {back:.1f},{y - size / 2:.1f} {back:.1f},{y + size / 2:.1f}" '
        f'fill="{colour}"/>'
    )


def _fit(text: str, chars: int) -> str:
    """One line, at most ``chars`` characters (the full text stays in the tooltip)."""
    line = " ".join(text.split())
    chars = max(chars, 4)
    return line if len(line) <= chars else line[: chars - 1] + "\u2026"


def _clean(text: str) -> str:
    return _NOT_XML_CHAR.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _text(text: str) -> str:
    return escape(_clean(text), quote=False)


def _attr(text: str) -> str:
    return escape(_clean(text), quote=True)
