"""The evidence a scenario's Then steps judge: the capture read once, scoped to the scenario,
its gaps cross-checked against SIPp's own logs, and the SIP and RTP validators run on it.

`gather_evidence` is called after the call (the capture stopped); `fill_synthetic` builds the
unprivileged capture from the emulators' own logs instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.capture.model import Datagram, Endpoint
from harness.capture.pcap_capture import CaptureStats
from harness.capture.synthetic import SyntheticCapture
from harness.conformance.capture_loss import LegLog, RecoveredMessage, excuse_capture_loss, recover_sip
from harness.conformance.scope import ForeignTraffic, Scope, call_id_of, own_rtp, own_sip
from harness.conformance.sent_rtp import SentRtp
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.message import parse_message
from harness.sipp.trace import TracedMessage, read_message_log
from harness.spec.findings import Finding
from harness.validators.pcap import PcapReadError, read_capture
from harness.validators.rtp import RtpReport, validate_rtp
from harness.validators.sip import ExpectedMode, SipReport, validate_sip

__all__ = ["Evidence", "fill_synthetic", "gather_evidence", "sipp_logs"]


@dataclass(slots=True)
class Evidence:
    """Everything the Then steps judge; computed once, after the call."""

    pcap: Path
    capture_method: str
    datagrams: list[Datagram]  # the scenario's own (see harness.conformance.scope)
    sip: SipReport
    rtp: RtpReport
    read_error: str | None = None
    recording_findings: list[Finding] = field(default_factory=list)
    recording_dir: Path | None = None
    # With a real capture: the RTP the Media Server emulation sent, as a pcap (the sender side
    # of `harness.validators.delivery`); None when the capture itself is rebuilt from it.
    sent_pcap: Path | None = None
    # tcpdump's counters when it stopped (None: no tcpdump capture, or not printed).
    capture_stats: CaptureStats | None = None
    # SIP messages SIPp logged that the capture lacks, put back into the SIP evidence.
    recovered_sip: list[RecoveredMessage] = field(default_factory=list)
    # Datagrams of other processes on the host, ignored.
    foreign: ForeignTraffic = field(default_factory=ForeignTraffic)

    @property
    def capture_dropped(self) -> int | None:
        """Packets the capture lost ("dropped by kernel"); None: unknown."""
        return self.capture_stats.dropped_by_kernel if self.capture_stats is not None else None

    def capture_loss_summary(self) -> str:
        """One paragraph for the report: what the capture lost and what was done about it."""
        lines = []
        if self.capture_stats is not None:
            stats = self.capture_stats
            lines.append(f"tcpdump: {stats.captured} captured, {stats.received_by_filter} received by filter, "
                         f"{stats.dropped_by_kernel} dropped by kernel")
        lines += [f"recovered: {m}" for m in self.recovered_sip]
        lines.append(str(self.foreign))
        lines += [f"  e.g. {example}" for example in self.foreign.examples]
        return "\n".join(lines)


def _sent_by(messages: Sequence[TracedMessage]) -> Endpoint | None:
    """The leg's own address: the sent-by of the top Via of the first message it sent."""
    for m in messages:
        if m.sent:
            try:
                via = parse_message(m.payload).vias[0]
            except (RemoteProtocolError, IndexError):
                continue
            return via.host, via.port or 5060
    return None


def sipp_logs(sipp_dir: Path) -> list[tuple[Endpoint, list[TracedMessage]]]:
    """Every SIPp leg's message log under `sipp_dir`, with the leg's own address."""
    out = []
    for log in sorted(sipp_dir.rglob("messages.log")):
        messages = read_message_log(log)
        local = _sent_by(messages)
        if local is not None:
            out.append((local, messages))
    return out


def fill_synthetic(capture: SyntheticCapture, sipp_dir: Path, recorder: Endpoint, sent: Iterable[SentRtp]) -> None:
    """Without CAP_NET_RAW: rebuild the traffic from what our own emulators logged.

    SIP comes byte-exact from each SIPp leg's message log; RTP from the paced sender's log
    (what was sent, when). What the recorder sent on its own (e.g. media on a recvonly
    stream) cannot be seen this way: the report names the capture method for that reason.
    """
    records: list[tuple[float, Endpoint, Endpoint, bytes, str]] = []
    for local, messages in sipp_logs(sipp_dir):
        for m in messages:
            src, dst = (local, recorder) if m.sent else (recorder, local)
            records.append((m.time, src, dst, m.payload, m.transport))
    records.extend((when, src, dst, packet, "udp") for when, src, dst, packet in sent)
    for when, src, dst, payload, transport in sorted(records, key=lambda r: r[0]):
        capture.record(src, dst, payload, when, transport)


def _peer_in_capture(local: Endpoint, datagrams: Sequence[Datagram], default: Endpoint) -> Endpoint:
    """Where the leg's SIP went in the capture (the recorder, or the dest a T-Lib request named)."""
    return next((d.dst for d in datagrams if d.src == local), default)


def gather_evidence(pcap: Path, method: str, *, recorder: Endpoint, mode: ExpectedMode, sipp_dir: Path,
                    sent: Sequence[SentRtp], capture_stats: CaptureStats | None = None,
                    sent_pcap: Path | None = None) -> Evidence:
    """Read the capture, keep the scenario's own traffic, put back the SIP the capture lost
    (SIPp logged it), validate SIP and RTP, and excuse the RTP missing from the capture alone."""
    datagrams: list[Datagram] = []
    read_error = None
    try:
        datagrams.extend(read_capture(pcap))
    except PcapReadError as error:
        read_error = str(error)
    logs = sipp_logs(sipp_dir)
    recovered: list[RecoveredMessage] = []
    if method == "tcpdump":
        # (The synthetic capture is SIPp's logs already.)
        leg_logs = [LegLog(local, _peer_in_capture(local, datagrams, recorder), messages) for local, messages in logs]
        datagrams, recovered = recover_sip(datagrams, leg_logs)
    # Every Call-ID any leg logged, also of a leg whose own address cannot be read (a probe
    # that sends a malformed Via on purpose).
    all_messages = [m for log in sorted(sipp_dir.rglob("messages.log")) for m in read_message_log(log)]
    scope = Scope(call_ids=frozenset(cid for m in all_messages if (cid := call_id_of(m.payload)) is not None),
                  sip_endpoints=frozenset(local for local, _ in logs), recorder=recorder)
    foreign = ForeignTraffic()
    own = own_sip(datagrams, scope, foreign)
    sip = validate_sip(own, recorder=recorder, mode=mode)
    endpoints = {e for s in sip.negotiated for e in (s.offer_endpoint, s.answer_endpoint) if e is not None}
    endpoints |= {e for _, src, dst, _ in sent for e in (src, dst)}
    own = own_rtp(own, endpoints, foreign)
    rtp = validate_rtp(own, sip.negotiated)
    dropped = capture_stats.dropped_by_kernel if capture_stats is not None else None
    if dropped and not any(s.summary.sequence_errors for s in rtp.streams):
        # Only plain loss can be the capture's; duplicates and reordering are not.
        lost = sum(s.summary.lost for s in rtp.streams)
        rtp = replace(rtp, findings=excuse_capture_loss(rtp.findings, "RTP-SEQ-CONTINUITY", lost, dropped))
    return Evidence(pcap, method, own, sip, rtp, read_error, sent_pcap=sent_pcap, capture_stats=capture_stats,
                    recovered_sip=recovered, foreign=foreign)
