"""Recordings judged offline (`arec validate --recordings DIR` / `--recorder-profile`).

Reference layout `<DIR>/<calluuid>/<record_id>/recording.json` + WAVs. What each stream *sent*
cannot be read from packet headers, so the G.711 payload of each accepted audio stream is
decoded (`harness.protocol.rtp.g711`), placed by RTP timestamp, and its audio time-code decoded
(`harness.media.timecode.decode_timecode`): that gives the stream's time-code alphabet and the
first/last segment sent; segments in that range that the RTP did not carry whole (pause, loss
before the capture point) must not be in the file. Streams without a decodable time-code (real
speech) only get the file and metadata checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.capture.model import Endpoint, PayloadKind
from harness.offline.calls import CallResolver, calluuid_of
from harness.protocol.rtp.seqnum import ts_distance
from harness.spec.findings import Finding
from harness.validators.pcap import PcapReadError, iter_capture
from harness.validators.sip import SipDialogSummary, SipReport

if TYPE_CHECKING:
    from harness.recorders.locate import RecordingsSpec
    from harness.validators.recording import ExpectedStream

__all__ = ["runtime_placeholders", "validate_profile_recordings", "validate_recordings"]


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
            offset = ts_distance(audio.base, ts)
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
    legs = [d for d in sip.dialogs.values() if calluuid_of(d) == calluuid]
    if isinstance(call_ids, list) and call_ids:
        listed = [d for d in legs if d.call_id in call_ids]
        if listed:
            return listed
    same_id = [d for d in legs if d.target is not None and d.target.record_id == record_id]
    return same_id if len(same_id) > 1 or len(same_id) == len(legs) else legs


def validate_recordings(path: Path, root: Path, sip: SipReport,
                         resolver: CallResolver) -> tuple[list[tuple[str, Finding]], list[str]]:
    from harness.validators.recording import recording_not_found, timecode_absent, validate_recording

    dirs = _recording_dirs(root)
    plans: list[tuple[Path, str, list[tuple[Endpoint, str]], list[SipDialogSummary]]] = []
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
        plans.append((directory, call, streams, legs))
    audio_by_stream = _collect_audio(path, wanted) if wanted else {}
    out: list[tuple[str, Finding]] = []
    for directory, call, streams, legs in plans:
        expected: list[ExpectedStream] = []
        for endpoint, dn in streams:
            parts = [a for (ep, _ssrc), a in audio_by_stream.items() if ep == endpoint]
            exp = None
            for part in parts:
                exp = _expected_from_audio(part, dn) or exp
            if exp is None:
                out.append((call, timecode_absent(
                    endpoint, dn, f"recorded audio of {directory.name} not compared with what was sent",
                    where=directory, calluuid=directory.parent.name)))
            else:
                expected.append(exp)
        for finding in validate_recording(directory, expected):
            out.append((call, finding))
        for finding in _siprec_map_findings(directory, legs, audio_by_stream):
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
            calluuid=dialog.target.calluuid, call_id=call_id, observed="no directory",
            expected=f"{root}/{dialog.target.calluuid}/<record_id>/",
            packet_index=inv.index if inv else None, timestamp=inv.timestamp if inv else None)))
    return out, [str(d) for d, _ in dirs]


def _siprec_map_findings(directory: Path, legs: list[SipDialogSummary],
                         audio_by_stream: dict[tuple[Endpoint, int], _StreamAudio]) -> list[Finding]:
    """SRS-METADATA-KEPT / SRS-PARTICIPANT-AUDIO for a SIPREC session's reference-layout recording:
    the map the SRS kept against the metadata model the capture's offers ended with (updates
    applied, `SipDialogSummary.siprec_metadata`), and each label's file against the time-code the
    capture shows on the m-line of that label (whose it is, the metadata says)."""
    from harness.protocol.errors import RemoteProtocolError
    from harness.protocol.sdp import parse_sdp
    from harness.protocol.siprec.session import split_body
    from harness.validators.siprec import expected_mapping, judge_siprec_recording

    findings: list[Finding] = []
    for leg in legs:
        meta = leg.siprec_metadata
        if not leg.siprec or meta is None or leg.invite is None:
            continue
        request = leg.invite.message
        try:
            offer = parse_sdp(split_body(request.content_type_full, request.body).sdp or b"")
        except RemoteProtocolError:
            continue  # an unusable offer is the SIP validator's finding
        stream_of_label: dict[str, int] = {}
        for media in leg.media:
            if media.answer_endpoint is None or media.media_index >= len(offer.media):
                continue
            label = offer.media[media.media_index].label
            for (endpoint, _ssrc), part in audio_by_stream.items():
                exp = _expected_from_audio(part, label or "") if endpoint == media.answer_endpoint else None
                if label is not None and exp is not None:
                    stream_of_label[label] = exp.stream
        stream_of_aor = {aor: stream_of_label[label] for label, aors in expected_mapping(meta).items()
                         for aor in aors if label in stream_of_label}
        calluuid = leg.target.calluuid if leg.target is not None else None
        findings += judge_siprec_recording(directory, meta, stream_of_aor, calluuid=calluuid)
    return findings


def runtime_placeholders(template: str) -> set[str]:
    from harness.recorders.locate import placeholders

    return placeholders(template) - {"profile_dir"}


def validate_profile_recordings(path: Path, root: Path, layout: RecordingsSpec, sip: SipReport,
                                 resolver: CallResolver) -> tuple[list[tuple[str, Finding]], list[str]]:
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
                                                  where=root, calluuid=calluuid, call_id=call_id)))
            else:
                expected.append(exp)
        located = locator.locate(CallKeys(calluuid, record_id, record_dn, tuple(keys)), since=0.0)
        checked.extend(str(p) for p in located.found)
        if located.missing and not expected:
            out.append((call, recording_not_found(located.missing[0], where=root, calluuid=calluuid)))
        for finding in validate_recording(located.target, expected, require_metadata=isinstance(located.target, Path)):
            out.append((call, finding))
    return out, checked
