"""A packet the capture lost is not the recorder's fault (tcpdump drops under load).

Two sources tell the capture's gaps from the recorder's:

* tcpdump's own counters at the end of the capture ("N packets dropped by kernel",
  `harness.capture.pcap_capture.CaptureStats`): how many packets the capture lost;
* SIPp's message log (`-trace_msg`, `harness.sipp.trace`): every SIP message each Media Server
  leg really sent and received, byte for byte. A message SIPp logged that the capture lacks
  (e.g. a 200 OK SIPp received and ACKed) was lost by the capture, not by the recorder: it is
  put back into the SIP evidence, marked, so SIP-DIALOG-ESTABLISHED judges what happened.

RTP has no second log on the recorder's side: when the capture dropped packets, missing RTP
up to that count is not blamed on the recorder (`excuse_capture_loss`); the finding stays as an
observation that says why.

Pure functions: datagrams, logs and counts in, datagrams and findings out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from harness.capture.model import Datagram, Endpoint, PayloadKind, Transport
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.headers import Via
from harness.protocol.sip.message import SipMessage, SipParseError, parse_message
from harness.sipp.trace import TracedMessage
from harness.spec.findings import Finding, Severity

__all__ = ["LegLog", "RecoveredMessage", "excuse_capture_loss", "recover_sip"]

# Datagram index of a message put back from SIPp's log: it has no frame in the capture.
NOT_IN_CAPTURE = 0

_MessageKey = tuple[Endpoint, Endpoint, str, str, str, str]


@dataclass(frozen=True, slots=True)
class LegLog:
    """One SIPp leg's message log with the two ends it talked between."""

    local: Endpoint  # the leg's own address (top Via sent-by)
    remote: Endpoint  # the recorder (where it sent its requests)
    messages: Sequence[TracedMessage]


@dataclass(frozen=True, slots=True)
class RecoveredMessage:
    """A SIP message SIPp logged that the capture does not hold."""

    timestamp: float
    src: Endpoint
    dst: Endpoint
    start_line: str
    call_id: str

    def __str__(self) -> str:
        return (f"{self.start_line} ({self.call_id}) {self.src[0]}:{self.src[1]} -> {self.dst[0]}:{self.dst[1]}: "
                "in SIPp's message log, not in the capture")


def _key(src: Endpoint, dst: Endpoint, message: SipMessage) -> _MessageKey | None:
    """What identifies one transmission of a message (retransmissions share it, and are counted)."""
    raw = message.raw or b""
    try:
        vias = message.headers.get_all("Via")
        branch = (Via.parse(vias[0]).branch or "") if vias else ""
        cseq = message.cseq
        call_id = message.call_id
    except (RemoteProtocolError, ValueError):
        return None
    return (src, dst, raw.split(b"\r\n", 1)[0].decode("utf-8", "replace"), call_id,
            f"{cseq.number} {cseq.method}", branch)


def _parse(payload: bytes) -> SipMessage | None:
    try:
        return parse_message(payload)
    except (SipParseError, RemoteProtocolError):
        return None


def recover_sip(datagrams: Sequence[Datagram], logs: Iterable[LegLog]) -> tuple[list[Datagram], list[RecoveredMessage]]:
    """The capture's datagrams plus every UDP SIP message SIPp logged that the capture lacks
    (as many copies as are missing: retransmissions count), in time order.

    Only UDP: over TCP the kernel retransmits a lost segment and tcpdump sees the copy, and a
    message spliced into a byte stream would break the framing of the bytes around it.
    """
    seen: Counter[_MessageKey] = Counter()
    for d in datagrams:
        if d.kind is PayloadKind.SIP and d.transport is Transport.UDP:
            message = _parse(d.payload)
            key = _key(d.src, d.dst, message) if message is not None else None
            if key is not None:
                seen[key] += 1
    added: list[Datagram] = []
    recovered: list[RecoveredMessage] = []
    for log in logs:
        for traced in log.messages:
            if traced.transport != "udp":
                continue
            message = _parse(traced.payload)
            src, dst = (log.local, log.remote) if traced.sent else (log.remote, log.local)
            key = _key(src, dst, message) if message is not None else None
            if message is None or key is None:
                continue
            if seen[key] > 0:
                seen[key] -= 1
                continue
            added.append(Datagram(NOT_IN_CAPTURE, traced.time, src, dst, Transport.UDP, traced.payload,
                                  PayloadKind.SIP))
            recovered.append(RecoveredMessage(traced.time, src, dst, key[2], key[3]))
    if not added:
        return list(datagrams), []
    merged = sorted([*datagrams, *added], key=lambda d: d.timestamp)  # stable: capture order kept
    return merged, recovered


def excuse_capture_loss(findings: Iterable[Finding], requirement_id: str, missing: int,
                        dropped: int | None) -> list[Finding]:
    """Findings for `requirement_id` about `missing` packets absent from the capture, judged
    against the capture's own loss (`dropped`: tcpdump's "dropped by kernel", None: unknown).

    When the capture lost at least as many packets as are missing, the capture alone cannot
    show that the recorder's side lost any: each such MUST/SHOULD finding becomes an INFO
    observation saying so. When more are missing than the capture lost, the finding stands and
    says how many of them the capture's loss may explain.
    """
    out: list[Finding] = []
    for finding in findings:
        if finding.requirement_id != requirement_id or finding.severity is Severity.INFO or not dropped:
            out.append(finding)
        elif missing <= dropped:
            out.append(replace(finding, severity=Severity.INFO,
                               message=f"not blamed on the recorder: the capture dropped {dropped} packet(s) "
                                       f"(tcpdump: dropped by kernel), {missing} are missing from it; "
                                       f"{finding.message}"))
        else:
            out.append(replace(finding, message=f"{finding.message} (the capture dropped {dropped} packet(s): "
                                                f"at least {missing - dropped} missing packet(s) are not explained "
                                                "by capture loss)"))
    return out
