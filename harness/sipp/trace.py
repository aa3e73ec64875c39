"""Read SIPp's `-trace_msg` log back into timed messages (the unprivileged capture fallback).

SIPp 3.6 writes each message as::

    ----------------------------------------------- 2026-11-24 02:26:48.417469
    UDP message sent (853 bytes):
    <blank line>
    <exactly 853 bytes>

and ``UDP message received [262] bytes :`` for received ones. The byte count makes the
payload exact (CRLF kept), so a pcap rebuilt from it is judged by the same validators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_HEADER = re.compile(
    rb"-{20,} (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+)\r?\n"
    rb"(UDP|TCP|SCTP|TLS) message (sent|received) (?:\((\d+) bytes\)|\[(\d+)\] bytes) ?:\r?\n\r?\n"
)


@dataclass(frozen=True, slots=True)
class TracedMessage:
    time: float  # epoch seconds (SIPp logs local time)
    transport: str  # "udp" / "tcp"
    sent: bool  # True: SIPp sent it; False: SIPp received it
    payload: bytes


def parse_message_log(data: bytes) -> list[TracedMessage]:
    messages: list[TracedMessage] = []
    for match in _HEADER.finditer(data):
        size = int(match.group(4) or match.group(5))
        start = match.end()
        payload = data[start:start + size]
        if len(payload) != size:
            break  # log cut short (SIPp killed mid-write): keep what is whole
        when = datetime.strptime(match.group(1).decode(), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        messages.append(TracedMessage(when, match.group(2).decode().lower(), match.group(3) == b"sent", payload))
    return messages


def read_message_log(path: Path) -> list[TracedMessage]:
    try:
        return parse_message_log(path.read_bytes())
    except OSError:
        return []
