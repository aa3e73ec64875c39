"""`arec validate CAPTURE [--recordings DIR] [--format text|json|junit]` (docs/architecture.md §1, §4).

Offline judgement of a capture — one `arec` made, or one from a lab where the recording client
was a real Genesys Media Server — and, optionally, of the recordings the recorder wrote.

One pass over the capture (`harness.validators.pcap.iter_capture`): SIP datagrams go to
`validate_sip`, RTP payloads to an `RtpAnalyzer` (the incremental form of `validate_rtp`), so
a 100 MB capture is read once and memory stays flat. SDP bodies seen on the way tell the RTP
analysis each receiving address's clock and telephone-event payload types, as Wireshark learns
them; the payload-type / recvonly / stream-received checks are decided at the end against the
negotiation `validate_sip` extracted. Replication fidelity (`ReplicationAnalyzer`) is fed the
same RTP. Big captures on a 2-CPU machine are read by two processes at once (see
`PARALLEL_MIN_BYTES`, `_SHARE`): same packets, same order per stream, same result.

Calls: SIP dialogs are grouped by the `calluuid` of their recording Request-URI (GVP-MSRec; a
capture without one — not an ARE capture — groups by Call-ID). The leg-count check runs in
the mode a call shows: single-session when an INVITE carries `otherDN`, two-session when two
or more INVITEs share the calluuid, not judged for a lone INVITE without `otherDN`.

Recordings (`--recordings DIR`, reference layout `<DIR>/<calluuid>/<record_id>/recording.json`
+ WAVs): what each stream *sent* cannot be read from packet headers, so the G.711 payload of
each accepted audio stream is decoded (`harness.protocol.rtp.g711`), placed by RTP timestamp,
and its audio time-code decoded (`harness.media.timecode.decode_timecode`): that gives the
stream's time-code alphabet and the first/last segment sent; segments in that range that the
RTP did not carry whole (pause, loss before the capture point) must not be in the file. Streams
without a decodable time-code (real speech) only get the file and metadata checks.

Exit codes (`harness.exitcodes`): 0 no MUST requirement failed, 1 a MUST requirement failed,
2 unusable input: one line on stderr naming the file and byte offset, after the findings read
up to that point have been printed in the chosen format.

`--sent SENT.pcap` (a capture taken on the sending side): what the Media Server sent is compared
with what this capture saw reach the recorder's port (`harness.validators.delivery`), per stream.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from harness.exitcodes import EXIT_MUST_FAILED, EXIT_OK, EXIT_SETUP
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sdp import parse_sdp
from harness.report.tables import rtp_table_text
from harness.spec.catalogue import load_catalogue
from harness.spec.findings import Evidence, Finding, Severity
from harness.validators import sip as sip_validator
from harness.validators.delivery import DeliveryReport, compare_delivery
from harness.validators.model import Datagram, Endpoint, PayloadKind, Transport
from harness.validators.pcap import PcapReadError, iter_capture
from harness.validators.replication import ReplicationAnalyzer, ReplicationReport
from harness.validators.rtp import RtpAnalyzer, RtpReport
from harness.validators.sip import ExpectedMode, SipDialogSummary, SipReport, validate_sip

if TYPE_CHECKING:
    from harness.recorders.locate import RecordingsSpec
    from harness.validators.recording import ExpectedStream

__all__ = [
    "EMITTED_REQUIREMENTS",
    "CallFindings",
    "ValidationResult",
    "delivery_rows",
    "render",
    "replication_rows",
    "render_json",
    "render_junit",
    "render_text",
    "table_rows",
    "validate_capture",
    "validate_from_cli",
]

# Finding ids this module emits itself, besides those of the validators it runs.
# Built by harness.validators.recording (timecode_absent, recording_not_found), the place that
# judges these requirements (harness.checks.registry).
EMITTED_REQUIREMENTS = ("REC-TIMECODE-ABSENT", "REC-FILES-PRESENT")

NO_CALL = "(no call)"  # findings no SIP dialog or negotiated stream can be tied to
FORMATS = ("text", "json", "junit")

_CALL_ID = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")
_RTP_LABEL = re.compile(r"(\S+:\d+) -> (\S+:\d+)")
_CALL_ID_IN_TEXT = re.compile(r"Call-ID (\S+?)[,)]")


# ----------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True)
class CallFindings:
    """The findings of one call (calluuid, "Call-ID <id>" or NO_CALL), by requirement id."""

    call: str
    by_requirement: dict[str, list[Finding]]


@dataclass(frozen=True, slots=True)
class ValidationResult:
    capture: str
    calls: list[CallFindings]
    rtp: RtpReport
    sip: SipReport
    exercised: list[str]  # requirement ids some check ran on, catalogue order
    read_error: str | None = None  # one line: file + byte offset
    recordings_checked: list[str] = field(default_factory=list)
    replication: ReplicationReport = field(default_factory=lambda: ReplicationReport([], []))
    delivery: DeliveryReport | None = None  # with a sender-side capture (`--sent`)

    @property
    def findings(self) -> list[Finding]:
        return [f for call in self.calls for fs in call.by_requirement.values() for f in fs]

    @property
    def failed(self) -> list[str]:
        """Requirement ids with a MUST finding, catalogue order."""
        ids = {f.requirement_id for f in self.findings if f.severity is Severity.MUST}
        return [r for r in self.exercised if r in ids]

    @property
    def exit_code(self) -> int:
        if self.read_error is not None:
            return EXIT_SETUP
        return EXIT_MUST_FAILED if self.failed else EXIT_OK


# ----------------------------------------------------------------------------- the pass


@dataclass(slots=True)
class _PassState:
    sip_call_ids: dict[int, str] = field(default_factory=dict)  # SIP packet index → Call-ID
    read_error: PcapReadError | None = None
    sip_seen: bool = False


def _learn_formats(payload: bytes, analyzer: RtpAnalyzer) -> None:
    """Tell the RTP analysis what each SDP-described address receives (see `learn_format`)."""
    split = payload.find(b"\r\n\r\n")
    if split < 0 or not payload.startswith(b"v=0", split + 4):
        return
    try:
        sdp = parse_sdp(payload[split + 4:])
    except (RemoteProtocolError, ValueError):
        return  # validate_sip reports the unparsable body (SIP-MESSAGE-WELLFORMED)
    for i, media in enumerate(sdp.media):
        conn = sdp.media_connection(i)
        if media.port == 0 or conn is None:
            continue
        rtpmap = media.rtpmap
        events = frozenset(pt for pt, r in rtpmap.items() if r.encoding.lower() == "telephone-event")
        # Same rule as the SIP validator's NegotiatedStream.clock_rate: first non-event codec.
        clock = next((r.clock_rate for r in rtpmap.values() if r.encoding.lower() != "telephone-event"), 8000)
        analyzer.learn_format((conn.host, media.port), clock, events)


def _scan(path: Path, analyzer: RtpAnalyzer, replication: ReplicationAnalyzer, state: _PassState, *,
          feed_rtp: bool = True) -> Iterator[Datagram]:
    """Read the capture once: RTP to the analyzers, SIP datagrams yielded to `validate_sip`.

    `feed_rtp` False: the other process (`_rtp_pass`) computes the RTP statistics, except for the
    streams `_mine` gives this one (a share that balances the two processes' work).
    Never raises for a bad file: the `PcapReadError` is kept in `state` and the iteration ends
    there, so the SIP validator still reports everything before it.
    """
    sip_kind, udp = PayloadKind.SIP, Transport.UDP
    rtp_feed, rep_feed = analyzer.feed, replication.feed

    def both(index: int, timestamp: float, src: Endpoint, dst: Endpoint, payload: bytes) -> None:
        rtp_feed(index, timestamp, src, dst, payload)
        rep_feed(index, timestamp, src, dst, payload)

    def share(index: int, timestamp: float, src: Endpoint, dst: Endpoint, payload: bytes) -> None:
        if dst[1] % _SHARE == 0:
            rtp_feed(index, timestamp, src, dst, payload)
        rep_feed(index, timestamp, src, dst, payload)

    try:
        # RTP over UDP goes straight from the reader to the analyzers (it is most of the file).
        for record in iter_capture(path, both if feed_rtp else share):
            if record[6] is sip_kind:
                state.sip_seen = True
                payload = record[5]
                match = _CALL_ID.search(payload)
                if match is not None:
                    state.sip_call_ids[record[0]] = match.group(1).decode("utf-8", "replace")
                if record[4] is udp:
                    _learn_formats(payload, analyzer)
                yield Datagram(*record)
    except PcapReadError as exc:
        state.read_error = exc


# Split of the RTP statistics between the two processes, by destination port: streams to a
# port divisible by _SHARE are analysed with the SIP (about 1/7 of them: the SIP + replication
# pass costs about 80 % of the RTP pass on the benchmark), the others in the child. A stream's
# packets all go to one analyzer, in capture order, so its numbers do not change.
_SHARE = 7


def _rtp_pass(path: Path, *, all_streams: bool = False) -> RtpAnalyzer:
    """The RTP half of `_scan` on its own (run in a second process for big captures): the same
    packets fed in the same order, and the same SDP learnt before the packets after it. Only
    the streams the SIP pass does not take (see `_SHARE`) unless `all_streams`."""
    analyzer = RtpAnalyzer()
    feed = analyzer.feed

    def child_share(index: int, timestamp: float, src: Endpoint, dst: Endpoint, payload: bytes) -> None:
        if dst[1] % _SHARE:
            feed(index, timestamp, src, dst, payload)

    sip_kind, udp = PayloadKind.SIP, Transport.UDP
    try:
        for record in iter_capture(path, feed if all_streams else child_share):
            if record[6] is sip_kind and record[4] is udp:
                _learn_formats(record[5], analyzer)
    except PcapReadError:
        pass  # the SIP pass reads the same file and reports the error
    return analyzer


# Captures at least this big are read by two processes at once (SIP here, RTP in a fork) when
# the machine has two CPUs: each pass reads the file, and the slower one sets the wall time.
PARALLEL_MIN_BYTES = 8 * 1024 * 1024


def _start_method() -> str | None:
    """How to start the RTP child: "fork" (cheap: nothing to import again) from a process with
    a single thread; from a threaded one (a pytest run, an asyncio executor) "forkserver",
    because a fork copies only the calling thread and any lock another thread held stays locked
    in the child (Python documents fork as unsafe with threads; 3.12 warns). None: neither."""
    methods = multiprocessing.get_all_start_methods()
    if threading.active_count() == 1 and "fork" in methods:
        return "fork"
    return "forkserver" if "forkserver" in methods else None


def _rtp_in_child(path: Path, parallel: bool | None) -> Future[RtpAnalyzer] | None:
    if parallel is None:
        try:
            parallel = (os.cpu_count() or 1) >= 2 and path.stat().st_size >= PARALLEL_MIN_BYTES
        except OSError:
            parallel = False
    method = _start_method() if parallel else None
    if method is None:
        return None
    try:
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context(method))
        future = pool.submit(_rtp_pass, path)
        pool.shutdown(wait=False)
    except (OSError, RuntimeError):
        return None
    return future


def _calluuid_of(dialog: SipDialogSummary) -> str | None:
    return dialog.target.calluuid if dialog.target is not None else None


def _check_legs_per_call(report: SipReport) -> tuple[list[Finding], set[ExpectedMode]]:
    """ARE-06 leg count, in the mode each call shows (see the module docstring)."""
    calls: dict[str, dict[str, SipDialogSummary]] = {}
    for call_id, dialog in report.dialogs.items():
        uuid = _calluuid_of(dialog)
        if uuid is not None and dialog.invite is not None:
            calls.setdefault(uuid, {})[call_id] = dialog
    findings: list[Finding] = []
    modes: set[ExpectedMode] = set()
    for legs in calls.values():
        if any(d.target is not None and d.target.other_dn is not None for d in legs.values()):
            mode = ExpectedMode.SINGLE_SESSION
        elif len(legs) >= 2:
            mode = ExpectedMode.TWO_SESSIONS
        else:
            continue
        modes.add(mode)
        # The SIP validator's own leg check, on this call's dialogs only (one mode per call).
        sip_validator._check_legs(legs, mode, findings)
    return findings, modes


# ----------------------------------------------------------------------------- grouping


def _endpoint(text: str) -> Endpoint:
    host, _, port = text.rpartition(":")
    return (host, int(port))


class _CallResolver:
    """Ties a finding to its call: SIP evidence by packet index, RTP by address or Call-ID."""

    def __init__(self, sip: SipReport, sip_call_ids: dict[int, str]) -> None:
        self._packet_call = sip_call_ids
        self._dialogs = sip.dialogs
        self._endpoint_call: dict[Endpoint, str] = {}
        for stream in sip.negotiated:
            for ep in (stream.answer_endpoint, stream.offer_endpoint):
                if ep is not None and ep[1] != 0:
                    self._endpoint_call[ep] = stream.call_id

    def call_key(self, call_id: str | None) -> str:
        if call_id is None:
            return NO_CALL
        dialog = self._dialogs.get(call_id)
        uuid = _calluuid_of(dialog) if dialog is not None else None
        return uuid if uuid is not None else f"Call-ID {call_id}"

    def resolve(self, finding: Finding) -> str:
        index = finding.evidence.packet_index
        if index is not None and index in self._packet_call:
            return self.call_key(self._packet_call[index])
        by_text = _CALL_ID_IN_TEXT.search(finding.message)
        if by_text is not None and by_text.group(1) in self._dialogs:
            return self.call_key(by_text.group(1))
        label = _RTP_LABEL.search(finding.message)
        if label is not None:
            try:
                src, dst = _endpoint(label.group(1)), _endpoint(label.group(2))
            except ValueError:
                return NO_CALL
            call_id = self._endpoint_call.get(dst) or self._endpoint_call.get(src)
            return self.call_key(call_id)
        return NO_CALL


def _group(findings: Sequence[tuple[str, Finding]]) -> list[CallFindings]:
    order = {rid: i for i, rid in enumerate(load_catalogue())}
    calls: dict[str, dict[str, list[Finding]]] = {}
    for call, finding in findings:
        calls.setdefault(call, {}).setdefault(finding.requirement_id, []).append(finding)
    out = []
    for call in sorted(calls, key=lambda c: (c == NO_CALL, c)):
        by_req = calls[call]
        ordered = dict(sorted(by_req.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
        out.append(CallFindings(call, ordered))
    return out


def _exercised(sip: SipReport, rtp: RtpReport, modes: set[ExpectedMode], sip_seen: bool,
               recordings: bool, findings: Sequence[Finding], replication: ReplicationReport) -> list[str]:
    """Requirement ids at least one check ran on (a JUnit testcase each)."""
    ids: set[str] = {f.requirement_id for f in findings}
    dialogs = sip.dialogs.values()
    if sip_seen:
        ids |= {"SIP-MESSAGE-WELLFORMED", "SIP-RESP-CODES"}
    if any(d.invite is not None for d in dialogs):
        ids |= {"SIP-DIALOG-ESTABLISHED", "ARE-06-RURI-PARAMS"}
    if sip.negotiated:
        ids |= {"SDP-MLINE-ORDER", "SDP-ANSWER-RECVONLY", "SDP-CODEC-ACCEPTED",
                "RTP-STREAM-RECEIVED", "RTP-PT-MATCHES-SDP", "RTP-NO-MEDIA-ON-RECVONLY"}
        if any(m.kind == "video" for m in sip.negotiated):
            ids.add("SDP-VIDEO-REFUSED-PORT0")
    if sip.options:
        ids.add("SIP-OPTIONS-200")
    if any(d.byes for d in dialogs):
        ids.add("ARE-10-BYE-ENDS-STREAM")
    if ExpectedMode.TWO_SESSIONS in modes:
        ids.add("ARE-06-TWO-INVITES-PER-CALL")
    if ExpectedMode.SINGLE_SESSION in modes:
        ids.add("ARE-06-SINGLE-SESSION")
    if rtp.streams:
        ids.add("RTP-SEQ-CONTINUITY")  # RTP-SSRC-CHANGE (INFO) is listed when it is observed
    if replication.pairs:
        ids.add("REP-PAYLOAD-FIDELITY")  # originals and replicas were both there to compare
    if recordings:
        from harness.validators.recording import EMITTED_REQUIREMENTS as recording_ids

        ids |= set(recording_ids)
    catalogue = list(load_catalogue())
    return [r for r in catalogue if r in ids] + sorted(ids - set(catalogue))


# ----------------------------------------------------------------------------- recordings


@dataclass(slots=True)
class _StreamAudio:
    """Payloads of one received stream, by RTP timestamp (for the time-code decoder)."""

    packets: list[tuple[int, int, bytes]] = field(default_factory=list)  # (ext ts offset, pt, payload)
    base: int | None = None
    highest: int = 0


_G711 = {0: "PCMU", 8: "PCMA"}  # RFC 3551 §6 table 4 static payload types
_MAX_SPAN_SAMPLES = 4 * 3600 * 8000  # a longer timestamp span is a jump, not audio to place


def _collect_audio(path: Path, wanted: set[Endpoint]) -> dict[tuple[Endpoint, int], _StreamAudio]:
    """Second pass, only for `--recordings`: G.711 payloads of the streams to those addresses."""
    from harness.protocol.rtp.packet import RtpParseError, parse_header_fields

    streams: dict[tuple[Endpoint, int], _StreamAudio] = {}
    try:
        for record in iter_capture(path):
            if record[6] is not PayloadKind.RTP or record[3] not in wanted:
                continue
            try:
                fields = parse_header_fields(record[5])
            except RtpParseError:
                continue
            pt, ts, ssrc, start, end = fields[4], fields[6], fields[7], fields[8], fields[9]
            if pt not in _G711:
                continue
            audio = streams.setdefault((record[3], ssrc), _StreamAudio())
            if audio.base is None:
                audio.base = ts
            # Offset from the first packet's timestamp, modulo 2^32 around it (RFC 3550 §5.1 wrap).
            offset = ((ts - audio.base + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            if offset < 0 or offset > _MAX_SPAN_SAMPLES:
                continue  # late first packet / timestamp jump: not placeable
            audio.packets.append((offset, pt, record[5][start:end]))
            audio.highest = max(audio.highest, offset + end - start)
    except PcapReadError:
        pass  # already reported by the first pass
    return streams


def _expected_from_audio(audio: _StreamAudio, dn: str) -> ExpectedStream | None:
    import numpy as np

    from harness.media.timecode import decode_timecode
    from harness.protocol.rtp import g711
    from harness.validators.recording import ExpectedStream, _audible_span

    signal = np.zeros(audio.highest, dtype=np.int16)
    for offset, pt, payload in audio.packets:
        pcm = g711.decode(_G711[pt], payload)
        signal[offset:offset + len(pcm)] = pcm
    track = decode_timecode(signal)
    if not track.segments:
        return None
    counts: dict[int, int] = {}
    for seg in track.segments:
        counts[seg.stream] = counts.get(seg.stream, 0) + 1
    stream = max(counts, key=lambda s: counts[s])
    sent = set(track.counters_of(stream))
    first, last = min(sent), max(sent)
    # The recording validator compares the file's audible span (first to last non-silent
    # sample) with `expected_samples`: measure what was sent the same way, with its function.
    start, end = _audible_span(signal)
    return ExpectedStream(stream=stream, dn=dn, first_segment=first, last_segment=last,
                          paused_segments=frozenset(set(range(first, last + 1)) - sent),
                          expected_samples=end - start)


def _recording_dirs(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for directory in sorted(p for p in root.glob("*/*") if p.is_dir()):
        meta: dict[str, Any] = {}
        try:
            loaded = json.loads((directory / "recording.json").read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                meta = loaded
        except (OSError, ValueError):
            pass
        if meta or any(directory.glob("*.wav")):
            out.append((directory, meta))
    return out


def _legs_of(directory: Path, meta: dict[str, Any], sip: SipReport) -> list[SipDialogSummary]:
    calluuid = str(meta.get("calluuid") or directory.parent.name)
    record_id = str(meta.get("record_id") or directory.name.split("--v", 1)[0])
    call_ids = meta.get("call_ids")
    legs = [d for d in sip.dialogs.values() if _calluuid_of(d) == calluuid]
    if isinstance(call_ids, list) and call_ids:
        listed = [d for d in legs if d.call_id in call_ids]
        if listed:
            return listed
    same_id = [d for d in legs if d.target is not None and d.target.record_id == record_id]
    return same_id if len(same_id) > 1 or len(same_id) == len(legs) else legs


def _validate_recordings(path: Path, root: Path, sip: SipReport,
                         resolver: _CallResolver) -> tuple[list[tuple[str, Finding]], list[str]]:
    from harness.validators.recording import recording_not_found, timecode_absent, validate_recording

    dirs = _recording_dirs(root)
    plans: list[tuple[Path, str, list[tuple[Endpoint, str]]]] = []
    wanted: set[Endpoint] = set()
    recorded_calls: set[str] = set()
    for directory, meta in dirs:
        legs = _legs_of(directory, meta, sip)
        call = resolver.call_key(legs[0].call_id) if legs else str(meta.get("calluuid") or directory.parent.name)
        recorded_calls.add(call)
        streams: list[tuple[Endpoint, str]] = []
        for leg in legs:
            audio = [m for m in leg.media if m.kind == "audio" and m.answer_endpoint and m.answer_endpoint[1] != 0]
            for i, media in enumerate(audio):
                assert media.answer_endpoint is not None
                target = leg.target
                dn = (target.other_dn if i == 1 and target and target.other_dn else target.dn) if target \
                    else leg.call_id
                streams.append((media.answer_endpoint, dn))
                wanted.add(media.answer_endpoint)
        plans.append((directory, call, streams))
    audio_by_stream = _collect_audio(path, wanted) if wanted else {}
    out: list[tuple[str, Finding]] = []
    for directory, call, streams in plans:
        expected: list[ExpectedStream] = []
        for endpoint, dn in streams:
            parts = [a for (ep, _ssrc), a in audio_by_stream.items() if ep == endpoint]
            exp = None
            for part in parts:
                exp = _expected_from_audio(part, dn) or exp
            if exp is None:
                out.append((call, timecode_absent(
                    endpoint, dn, f"recorded audio of {directory.name} not compared with what was sent",
                    where=directory)))
            else:
                expected.append(exp)
        for finding in validate_recording(directory, expected):
            out.append((call, finding))
    # Answered recording sessions whose call has no recording directory at all.
    for call_id, dialog in sip.dialogs.items():
        call = resolver.call_key(call_id)
        if dialog.target is None or dialog.final_status is None or not 200 <= dialog.final_status < 300 \
                or call in recorded_calls:
            continue
        recorded_calls.add(call)
        inv = dialog.invite
        out.append((call, recording_not_found(
            f"no recording of calluuid {dialog.target.calluuid} under {root}", where=root,
            calluuid=dialog.target.calluuid, observed="no directory",
            expected=f"{root}/{dialog.target.calluuid}/<record_id>/",
            packet_index=inv.index if inv else None, timestamp=inv.timestamp if inv else None)))
    return out, [str(d) for d, _ in dirs]


def _runtime_placeholders(template: str) -> set[str]:
    from harness.recorders.locate import placeholders

    return placeholders(template) - {"profile_dir"}


def _validate_profile_recordings(path: Path, root: Path, layout: RecordingsSpec, sip: SipReport,
                                 resolver: _CallResolver) -> tuple[list[tuple[str, Finding]], list[str]]:
    """`--recorder-profile`: each recorded call's files found the profile's way (pattern /
    newest / metadata, `harness.recorders.locate`) and validated like the reference layout's.

    The calls come from the capture: answered recording INVITEs grouped by calluuid + record id
    (their Request-URIs give {calluuid} {record_id} {dn} {record_dn}; Call-ID gives {call_id}).
    A stereo profile names channels by party: arec's time-code alphabet 0 is the customer's
    stream, 1 the agent's (`StreamJob.stream_index`), which is how a side is told offline.
    Offline there is no call start time: `locate = "newest"` picks the newest files overall.
    """
    from harness.recorders.locate import CallKeys, RecordingLocator, StreamKey
    from harness.validators.recording import recording_not_found, timecode_absent, validate_recording

    locator = RecordingLocator(layout, root)
    groups: dict[tuple[str, str], list[SipDialogSummary]] = {}
    for dialog in sip.dialogs.values():
        target = dialog.target
        if target is None or dialog.final_status is None or not 200 <= dialog.final_status < 300:
            continue
        groups.setdefault((target.calluuid, target.record_id), []).append(dialog)
    plans: list[tuple[str, str, str, str, list[tuple[Endpoint, str, str]]]] = []
    wanted: set[Endpoint] = set()
    for (calluuid, record_id), legs in sorted(groups.items()):
        legs.sort(key=lambda d: d.invite.index if d.invite is not None else 0)
        streams: list[tuple[Endpoint, str, str]] = []
        for leg in legs:
            audio = [m for m in leg.media if m.kind == "audio" and m.answer_endpoint and m.answer_endpoint[1] != 0]
            for i, media in enumerate(audio):
                assert media.answer_endpoint is not None and leg.target is not None
                dn = leg.target.other_dn if i == 1 and leg.target.other_dn else leg.target.dn
                streams.append((media.answer_endpoint, dn, leg.call_id))
                wanted.add(media.answer_endpoint)
        first = legs[0]
        assert first.target is not None
        plans.append((calluuid, record_id, first.target.record_dn or "", resolver.call_key(first.call_id), streams))
    audio_by_stream = _collect_audio(path, wanted) if wanted else {}
    out: list[tuple[str, Finding]] = []
    checked: list[str] = []
    for calluuid, record_id, record_dn, call, streams in plans:
        expected: list[ExpectedStream] = []
        keys: list[StreamKey] = []
        for endpoint, dn, call_id in streams:
            exp = None
            for (ep, _ssrc), part in audio_by_stream.items():
                if ep == endpoint:
                    exp = _expected_from_audio(part, dn) or exp
            side = None if exp is None else ("customer", "agent")[exp.stream] if exp.stream in (0, 1) else None
            keys.append(StreamKey(dn, side, call_id, None if exp is None else exp.stream))
            if exp is None:
                out.append((call, timecode_absent(endpoint, dn, "recorded audio not compared with what was sent",
                                                  where=root, calluuid=calluuid)))
            else:
                expected.append(exp)
        located = locator.locate(CallKeys(calluuid, record_id, record_dn, tuple(keys)), since=0.0)
        checked.extend(str(p) for p in located.found)
        if located.missing and not expected:
            out.append((call, recording_not_found(located.missing[0], where=root, calluuid=calluuid)))
        for finding in validate_recording(located.target, expected, require_metadata=isinstance(located.target, Path)):
            out.append((call, finding))
    return out, checked


# ----------------------------------------------------------------------------- entry points


def validate_capture(capture: str | Path, recordings: str | Path | None = None, *,
                     parallel: bool | None = None, sent: str | Path | None = None,
                     layout: RecordingsSpec | None = None) -> ValidationResult:
    """Validate a capture (and the recordings under `recordings`); never raises for bad input.

    `parallel`: analyse the RTP in a second (forked) process while this one validates the SIP;
    None decides by file size and CPU count (`PARALLEL_MIN_BYTES`). The result is the same.
    `layout`: how a recorder profile says its files are named (`--recorder-profile`); None:
    the reference layout `<recordings>/<calluuid>/<record_id>/`.
    `sent`: a capture taken on the sending side (`harness.validators.delivery`): what the Media
    Server sent is compared with what this capture saw reach the recorder's port.
    """
    path = Path(capture)
    analyzer = RtpAnalyzer()
    replication = ReplicationAnalyzer()
    state = _PassState()
    # The pass allocates a few tuples per packet and builds no reference cycles: the cyclic
    # collector would only re-scan young objects (about 8 % of the time), so it is paused for
    # the pass (the forked child inherits the pause) and restored after.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        child = _rtp_in_child(path, parallel)
        sip = validate_sip(_scan(path, analyzer, replication, state, feed_rtp=child is None),
                           mode=ExpectedMode.ANY)
        if child is not None:
            try:
                analyzer.absorb(child.result())
            except (BrokenProcessPool, OSError):
                # The child died (killed, out of memory): do the RTP pass here instead.
                analyzer = _rtp_pass(path, all_streams=True)
    finally:
        if gc_was_enabled:
            gc.enable()
    leg_findings, modes = _check_legs_per_call(sip)
    rtp = analyzer.finish(sip.negotiated)
    rep = replication.finish(sip.negotiated)
    resolver = _CallResolver(sip, state.sip_call_ids)
    tagged = [(resolver.resolve(f), f) for f in [*sip.findings, *leg_findings, *rtp.findings, *rep.findings]]
    checked: list[str] = []
    if recordings is not None and state.read_error is None:
        if layout is not None and layout.layout != "reference":
            rec_findings, checked = _validate_profile_recordings(path, Path(recordings), layout, sip, resolver)
        else:
            rec_findings, checked = _validate_recordings(path, Path(recordings), sip, resolver)
        tagged.extend(rec_findings)
    findings = [f for _, f in tagged]
    exercised = _exercised(sip, rtp, modes, state.sip_seen, recordings is not None and state.read_error is None,
                           findings, rep)
    error = str(state.read_error) if state.read_error is not None else None
    delivery = None
    if sent is not None and error is None:
        try:
            delivery = compare_delivery(sent, path, (s.answer_endpoint for s in sip.negotiated
                                                     if s.answer_endpoint is not None))
        except PcapReadError as exc:
            error = str(exc)
        else:
            from harness.validators.delivery import EMITTED_REQUIREMENTS as delivery_ids

            tagged.extend((resolver.resolve(f), f) for f in delivery.findings)
            exercised += [r for r in delivery_ids if r not in exercised]
    return ValidationResult(str(path), _group(tagged), rtp, sip, exercised, error, checked, rep, delivery)


# ----------------------------------------------------------------------------- rendering


def table_rows(report: RtpReport) -> list[dict[str, object]]:
    """One row per RTP stream, keyed like `harness.report.tables.RTP_COLUMNS` (+ the other
    Wireshark numbers): the `rtp_streams` of the JSON output and the text table."""
    rows: list[dict[str, object]] = []
    for stream in report.streams:
        (src_ip, src_port), (dst_ip, dst_port), ssrc = stream.key
        s = stream.summary
        rows.append({
            "src_addr": src_ip, "src_port": src_port, "dst_addr": dst_ip, "dst_port": dst_port,
            "ssrc": ssrc, "payload": ",".join(str(pt) for pt in s.payload_types),
            "packets": s.packets, "expected": s.expected, "lost": s.lost, "lost_pct": s.lost_percent,
            "seq_errs": s.sequence_errors, "min_delta_ms": s.min_delta_ms, "mean_delta_ms": s.mean_delta_ms,
            "max_delta_ms": s.max_delta_ms, "min_jitter_ms": s.min_jitter_ms,
            "mean_jitter_ms": s.mean_jitter_ms, "max_jitter_ms": s.max_jitter_ms,
            "max_skew_ms": s.max_skew_ms, "duration_s": s.duration_s, "ssrc_changes": s.ssrc_changes,
            "marker_count": s.marker_count, "problem": s.problem,
            "call_id": stream.negotiated.call_id if stream.negotiated else None,
        })
    return rows


def replication_rows(report: ReplicationReport) -> list[dict[str, object]]:
    """One row per original -> replica pair: the `replication` of the JSON output."""
    rows: list[dict[str, object]] = []
    for pair in report.pairs:
        rows.append({
            "original": _stream_label(pair.original), "replica": _stream_label(pair.replica),
            "matched": pair.matched, "lost": pair.lost, "mismatched": pair.mismatched,
            "min_delay_ms": pair.min_delay_ms, "mean_delay_ms": pair.mean_delay_ms,
            "max_delay_ms": pair.max_delay_ms,
        })
    return rows


def delivery_rows(report: DeliveryReport | None) -> list[dict[str, object]]:
    """One row per sent stream judged: the `delivery` of the JSON output and the text table."""
    if report is None:
        return []
    return [{"stream": _stream_label((d.src, d.dst, d.ssrc)),
             "received_at": f"{d.received_dst[0]}:{d.received_dst[1]}" if d.received_dst else None,
             "sent": d.sent, "received": d.received, "missing": d.missing, "not_judged": d.not_judged,
             "altered": d.altered, "duplicated": d.duplicated, "extra": d.extra, "reordered": d.reordered,
             "min_delay_ms": d.min_delay_ms, "mean_delay_ms": d.mean_delay_ms, "max_delay_ms": d.max_delay_ms}
            for d in report.streams]


def _delivery_text(report: DeliveryReport) -> list[str]:
    def ms(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else "-"

    lines = ["", "Delivery (sent capture -> this capture)",
             f"  {'stream':<60} {'sent':>6} {'recv':>6} {'miss':>5} {'n/j':>5} {'alt':>4} {'dup':>4} "
             f"{'extra':>5} {'reord':>5}  delay ms min/mean/max"]
    for row in delivery_rows(report):
        lines.append(f"  {row['stream']!s:<60} {row['sent']:>6} {row['received']:>6} {row['missing']:>5} "
                     f"{row['not_judged']:>5} {row['altered']:>4} {row['duplicated']:>4} {row['extra']:>5} "
                     f"{row['reordered']:>5}  {ms(row['min_delay_ms'])}/{ms(row['mean_delay_ms'])}/"
                     f"{ms(row['max_delay_ms'])}")
    return lines


def _stream_label(key: tuple[Endpoint, Endpoint, int]) -> str:
    (s_ip, s_port), (d_ip, d_port), ssrc = key
    return f"{s_ip}:{s_port} -> {d_ip}:{d_port} SSRC 0x{ssrc:08X}"


def _summary(result: ValidationResult) -> dict[str, object]:
    findings = result.findings
    return {
        "findings": len(findings),
        "must": sum(1 for f in findings if f.severity is Severity.MUST),
        "should": sum(1 for f in findings if f.severity is Severity.SHOULD),
        "info": sum(1 for f in findings if f.severity is Severity.INFO),
        "calls": sum(1 for c in result.calls if c.call != NO_CALL),
        "sip_dialogs": len(result.sip.dialogs),
        "rtp_streams": len(result.rtp.streams),
        "rtp_malformed": result.rtp.malformed,
        "replicated_streams_compared": len(result.replication.pairs),
        "requirements_exercised": len(result.exercised),
        "requirements_failed": result.failed,
        "exit_code": result.exit_code,
    }


def _evidence_text(evidence: Evidence) -> str:
    parts = []
    if evidence.packet_index is not None:
        parts.append(f"packet #{evidence.packet_index}")
    if evidence.timestamp is not None:
        parts.append(f"t={evidence.timestamp:.6f}")
    if evidence.file is not None:
        parts.append(evidence.file + (f" @ {evidence.file_offset}" if evidence.file_offset is not None else ""))
    if evidence.header_line:
        parts.append(repr(evidence.header_line))
    return ", ".join(parts)


def render_text(result: ValidationResult) -> str:
    lines = [f"arec validate {result.capture}"]
    if not result.calls:
        lines.append("No findings.")
    for call in result.calls:
        lines.append("")
        lines.append(f"Call {call.call}")
        for rid, findings in call.by_requirement.items():
            lines.append(f"  {rid} [{findings[0].severity.value}] {len(findings)} finding(s)")
            for f in findings:
                detail = f"    - {f.message}"
                if f.observed is not None or f.expected is not None:
                    detail += f" (observed: {f.observed}; expected: {f.expected})"
                where = _evidence_text(f.evidence)
                lines.append(detail + (f" [{where}]" if where else ""))
    lines.append("")
    lines.append("RTP streams")
    lines.append(rtp_table_text(table_rows(result.rtp)).rstrip("\n"))
    if result.replication.pairs:
        lines.append("")
        lines.append("Replication (original -> replica, by payload)")
        for row in replication_rows(result.replication):
            lines.append(f"  {row['replica']} <- {row['original']}: {row['matched']} equal, {row['lost']} lost, "
                         f"{row['mismatched']} differing, delay ms min/mean/max "
                         f"{row['min_delay_ms']:.3f}/{row['mean_delay_ms']:.3f}/{row['max_delay_ms']:.3f}")
    if result.delivery is not None:
        lines.extend(_delivery_text(result.delivery))
    s = _summary(result)
    lines.append("")
    lines.append(f"{s['findings']} finding(s): {s['must']} MUST, {s['should']} SHOULD, {s['info']} INFO; "
                 f"{len(result.exercised)} requirement(s) exercised, {len(result.failed)} failed"
                 + (f" ({', '.join(result.failed)})" if result.failed else ""))
    if result.read_error is not None:
        lines.append(f"INCOMPLETE: {result.read_error}")
    return "\n".join(lines) + "\n"


def render_json(result: ValidationResult) -> str:
    catalogue = load_catalogue()
    failing = set(result.failed)
    warned = {f.requirement_id for f in result.findings if f.severity is not Severity.MUST}
    doc = {
        "capture": result.capture,
        "error": result.read_error,
        "summary": _summary(result),
        "calls": [{"call": c.call,
                   "requirements": [{"id": rid, "severity": fs[0].severity.value,
                                     "findings": [f.to_json() for f in fs]}
                                    for rid, fs in c.by_requirement.items()]}
                  for c in result.calls],
        "requirements": [{"id": rid,
                          "severity": catalogue[rid].severity.value if rid in catalogue else None,
                          "step": catalogue[rid].step if rid in catalogue else None,
                          "status": "failed" if rid in failing else "warning" if rid in warned else "passed"}
                         for rid in result.exercised],
        "rtp_streams": table_rows(result.rtp),
        "replication": replication_rows(result.replication),
        "delivery": delivery_rows(result.delivery),
        "recordings": result.recordings_checked,
    }
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def render_junit(result: ValidationResult) -> str:
    """One testcase per requirement id exercised; a <failure> per MUST finding (SHOULD/INFO as output)."""
    catalogue = load_catalogue()
    by_req: dict[str, list[tuple[str, Finding]]] = {}
    for call in result.calls:
        for rid, fs in call.by_requirement.items():
            by_req.setdefault(rid, []).extend((call.call, f) for f in fs)
    suite = ElementTree.Element("testsuite", name="arec validate", tests=str(len(result.exercised)),
                                failures=str(len(result.failed)), errors="1" if result.read_error else "0")
    for rid in result.exercised:
        req = catalogue.get(rid)
        case = ElementTree.SubElement(suite, "testcase", name=rid,
                                      classname=f"arec.validate.step{req.step:02d}" if req else "arec.validate")
        entries = by_req.get(rid, [])
        must = [(c, f) for c, f in entries if f.severity is Severity.MUST]
        if must:
            failure = ElementTree.SubElement(case, "failure", message=must[0][1].message[:500],
                                             type="MUST")
            failure.text = "\n".join(f"{c}: {f}" for c, f in must)
        others = [(c, f) for c, f in entries if f.severity is not Severity.MUST]
        if others:
            ElementTree.SubElement(case, "system-out").text = "\n".join(f"{c}: {f}" for c, f in others)
    if result.read_error is not None:
        case = ElementTree.SubElement(suite, "testcase", name="capture-readable", classname="arec.validate.input")
        ElementTree.SubElement(case, "error", message=result.read_error, type="PcapReadError")
    suites = ElementTree.Element("testsuites")
    suites.append(suite)
    ElementTree.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"


def render(result: ValidationResult, fmt: str) -> str:
    if fmt == "json":
        return render_json(result)
    if fmt == "junit":
        return render_junit(result)
    return render_text(result)


def validate_from_cli(args: argparse.Namespace) -> int:
    """`arec validate` (routed from harness.cli): print the result, return the exit code."""
    recordings = getattr(args, "recordings", None)
    layout = None
    if getattr(args, "recorder_profile", None):
        from harness.exitcodes import SetupError
        from harness.recorders.profile import load_profile

        try:
            profile = load_profile(args.recorder_profile, check_directories=False)
            if profile.recordings is None:
                raise SetupError(f"recorder profile {profile.path}: no [recordings] table: nothing to validate")
            layout = profile.recordings
            if recordings is None:
                fixed = profile.recordings_dir({}) if not _runtime_placeholders(layout.directory) else None
                if fixed is None:
                    raise SetupError(f"recorder profile {profile.path}: [recordings] directory depends on the run "
                                     f"({layout.directory}): give --recordings DIR")
                recordings = str(fixed)
        except SetupError as error:
            print(f"arec: {error}", file=sys.stderr)
            return EXIT_SETUP
    if recordings is not None and not Path(recordings).is_dir():
        print(f"arec: --recordings {recordings}: not a directory (give the recorder's recordings root)",
              file=sys.stderr)
        return EXIT_SETUP
    sent = getattr(args, "sent", None)
    if sent is not None and not Path(sent).is_file():
        print(f"arec: --sent {sent}: no such file (give the capture taken on the sending side)", file=sys.stderr)
        return EXIT_SETUP
    result = validate_capture(args.capture, recordings, sent=sent, layout=layout)
    sys.stdout.write(render(result, getattr(args, "format", "text") or "text"))
    sys.stdout.flush()
    if result.read_error is not None:
        print(f"arec: {result.read_error}", file=sys.stderr)
    return result.exit_code

