"""Steps of mid-call changes: a transfer kept in path or ending the recording (sticky side),
hold / retrieve of a party, a codec change by re-INVITE (features/11_midcall_changes.feature;
docs/genesys-flow.md §3.5). The re-INVITE answers are judged by the step of feature 09
("every re-INVITE of the recording sessions was answered as RFC 3264 asks")."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from pytest_bdd import parsers, then, when

from harness.bdd.helpers import not_applicable_unless, recording_findings, sessions_of_call
from harness.bdd.stepdefs import step_fixtures
from harness.bdd.steps_call import SIDES
from harness.checks import midcall as midcall_checks
from harness.checks.midcall import ChangeFact
from harness.conformance.recordings import wait_for_recordings
from harness.conformance.run import ScenarioRun
from harness.conformance.segment_levels import TIMECODE_RMS, segment_levels
from harness.conformance.verdict import judge
from harness.emulators.media_server import CODECS, ActiveRecording
from harness.emulators.midcall import ChangeKind, MediaChange, TransferOutcome
from harness.emulators.sip_server import Side
from harness.protocol.tlib import RequestPrivateService
from harness.protocol.tlib.messages import CallEvent
from harness.recorders.locate import Located
from harness.spec.findings import Finding
from harness.validators.recording import RecordingFiles, validate_recording

_RECORDING_IDS = ["REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL", "REC-FILES-PRESENT"]
_STREAMS = {"the agent stream": (Side.AGENT,), "the customer stream": (Side.CUSTOMER,),
            "both streams": (Side.CUSTOMER, Side.AGENT)}


def _media_change(text: str) -> MediaChange:
    """"a new SSRC, a new source port and PCMA" -> what the re-INVITE renegotiates."""
    codec = text.rsplit(" ", 1)[-1].upper()
    return MediaChange(new_ssrc="new SSRC" in text, new_port="new source port" in text,
                       codec=codec if codec in CODECS else None)


@when(parsers.parse('"{who}" transfers the call to "{target}" and Media Server re-INVITEs {streams} with {change}'))
def _transfer(run: ScenarioRun, who: str, target: str, streams: str, change: str) -> None:
    run.transfer(who, target, _media_change(change), _STREAMS[streams])


@when(parsers.parse("the {side} party is put on hold"))
def _hold(run: ScenarioRun, side: str) -> None:
    run.hold(SIDES[side])


@when(parsers.parse("the call goes on for {ms:d} milliseconds"))
def _call_goes_on_ms(run: ScenarioRun, ms: int) -> None:
    run.keep_talking(ms / 1000)


@when(parsers.parse("the {side} party is retrieved"))
def _retrieve(run: ScenarioRun, side: str) -> None:
    run.retrieve(SIDES[side])


@when(parsers.parse("Media Server re-INVITEs every recording session to change the codec to {codec}"))
def _codec(run: ScenarioRun, codec: str) -> None:
    run.change_codec(codec)


# SIP Server's decision is the emulation's own, not the recorder's: a wrong one is a harness
# bug, asserted as such (the verdicts come from the steps after it).
@then("SIP Server kept the recording in path")
def _kept(run: ScenarioRun) -> None:
    assert run.transfers == [TransferOutcome.KEPT], f"SIP Server emulation decided {run.transfers}"


@then("SIP Server ended the recording")
def _ended(run: ScenarioRun) -> None:
    assert run.transfers == [TransferOutcome.ENDED], f"SIP Server emulation decided {run.transfers}"


def _facts(run: ScenarioRun, *kinds: ChangeKind) -> list[ChangeFact]:
    """The changes of `kinds` the Media Server emulation made, as the checks take them."""
    if run.midcall is None or run.active is None:
        return []
    active = run.active
    return [ChangeFact(active.stream(r.side).job.dn, r.kind.value, r.answered)
            for r in run.midcall.log if r.kind in kinds]


def _levels(run: ScenarioRun) -> dict[str, list[tuple[int, float]]]:
    """Each stream's decoded segment levels, where the layout has a file or channel per stream."""
    located = run.located_recording()
    if located is None or run.active is None:
        return {}
    out = {}
    for stream in run.active.streams:
        levels = segment_levels(located.target, stream.job.dn, stream.job.stream_index)
        if levels is not None:
            out[stream.job.dn] = levels
    return out


def _judge_change(run: ScenarioRun, check: Callable[..., list[Finding]], kinds: Sequence[ChangeKind],
                  requirement_id: str, what: str, *, levels: bool = False) -> None:
    findings = list(recording_findings(run))
    extra = {"levels": _levels(run), "expected_rms": TIMECODE_RMS} if levels else {}
    findings += check(findings, _facts(run, *kinds), calluuid=run.call.calluuid if run.call else None, **extra)
    judge(findings, [requirement_id, *_RECORDING_IDS], what)


@then("the recording goes on in the same recording across the transfer, on wall-clock time")
def _goes_on(run: ScenarioRun) -> None:
    _judge_change(run, midcall_checks.transfer_kept_recording, [ChangeKind.TRANSFER], "ARE-07-XFER-KEEPS-RECORDING",
                  "recording across the transfer", levels=True)


@then("the recording survives the transfer as SIP Server decided")
def _survives(run: ScenarioRun) -> None:
    _goes_on(run)


@then("the recording ends at the transfer as SIP Server decided")
def _ends(run: ScenarioRun) -> None:
    findings = list(recording_findings(run))
    up = [d.call_id for d in sessions_of_call(run) if d.bye_status is None or not 200 <= d.bye_status < 300]
    findings += midcall_checks.sticky_side_followed(findings, up, calluuid=run.call.calluuid if run.call else None)
    judge(findings, ["ARE-10-XFER-STICKY-SIDE", "ARE-10-FILES-FINALISED", *_RECORDING_IDS],
          "recording ended by the transfer")


@then("the held party's recording stays on wall-clock time and holds every segment sent outside the hold")
def _hold_timeline(run: ScenarioRun) -> None:
    _judge_change(run, midcall_checks.hold_kept_timeline, [ChangeKind.HOLD, ChangeKind.RETRIEVE],
                  "ARE-07-HOLD-WALL-CLOCK", "recording across the hold")


@then("each part of the recording is decoded with the codec negotiated for it, on wall-clock time")
def _codec_parts(run: ScenarioRun) -> None:
    _judge_change(run, midcall_checks.codec_change_decoded, [ChangeKind.CODEC], "ARE-07-CODEC-CHANGE",
                  "recording across the codec change", levels=True)


@when(parsers.parse('the agent consults "{dn}" with record-consult-calls {option}'))
def _consult(run: ScenarioRun, dn: str, option: str) -> None:
    run.consult(dn, record_consult={"on": True, "off": False}[option])


@when("the consultation call ends")
def _consult_ends(run: ScenarioRun) -> None:
    run.end_consultation()


def _settled(run: ScenarioRun, active: ActiveRecording) -> Located | None:
    """A consultation's recording once settled: its files are finalised after its own BYEs,
    and get the same moment the call's recording gets (`wait_for_recordings`)."""
    root = run.recorder.recordings
    directory = None if root is None else root / active.job.call.calluuid / active.job.record_id
    wait_for_recordings(run.recorder, partial(run.located_recording, active), lambda: directory)
    return run.located_recording(active)


def _consultation(run: ScenarioRun, record_consult: bool) -> None:
    main = list(recording_findings(run))
    consult: list[Finding] | None = None
    consult_calluuid = None
    for active in run.consultations:
        consult_calluuid = active.job.call.calluuid
        located = _settled(run, active)
        if located is not None:
            consult = validate_recording(located.target, run.expected_streams(active),
                                         require_metadata=isinstance(located.target, Path))
    findings = main + (consult or [])
    findings += midcall_checks.consultation_recorded(main, consult, record_consult=record_consult,
                                                     consult_calluuid=consult_calluuid,
                                                     calluuid=run.call.calluuid if run.call else None)
    judge(findings, ["ARE-07-CONSULT-SEPARATE", *_RECORDING_IDS], "consultation recording")


@then("the consultation has a complete recording of its own CallUUID and the call's stays complete")
def _consult_recorded(run: ScenarioRun) -> None:
    _consultation(run, record_consult=True)


@then("the consultation is not recorded and the call's recording stays complete")
def _consult_not_recorded(run: ScenarioRun) -> None:
    _consultation(run, record_consult=False)


def _own_file(target: Path | RecordingFiles, dn: str) -> RecordingFiles:
    """DN `dn`'s own file (or labelled channel) of a recording layout."""
    if isinstance(target, Path):
        files = sorted(target.glob(f"stream-*-{dn}.wav"))
        return RecordingFiles(mono={dn: files[0]} if files else {})
    if dn in target.mono:
        return RecordingFiles(mono={dn: target.mono[dn]})
    return RecordingFiles(multichannel=target.multichannel, channel_dns=target.channel_dns)


@when(parsers.parse('supervisor "{dn}" joins the call'))
def _supervisor_joins(run: ScenarioRun, dn: str) -> None:
    run.supervisor_joins(dn)


@then("the supervisor's stream is recorded in the call's recording from its join on")
def _supervisor_recorded(run: ScenarioRun) -> None:
    findings = list(recording_findings(run))
    (leg,) = run.joined
    dn = leg.streams[0].job.dn
    located = run.located_recording()
    if located is not None:
        # The supervisor's stream in a file or channel of its own (the parties' stereo file
        # may keep to the two parties), the parties' time code not in it.
        findings += validate_recording(_own_file(located.target, dn), run.joined_streams(), require_metadata=False,
                                       other_streams=[e.stream for e in run.expected_streams()])
    findings += midcall_checks.supervisor_stream_recorded(findings, dn, leg.answer is not None and not leg.refused,
                                                          calluuid=run.call.calluuid if run.call else None)
    judge(findings, ["ARE-07-CONFERENCE-SUPERVISOR", *_RECORDING_IDS], "supervisor stream recorded")


@when(parsers.parse('"{who}" transfers the call to "{target}" at another site and Media Server re-INVITEs '
                    '{streams} with {change}'))
def _site_transfer(run: ScenarioRun, who: str, target: str, streams: str, change: str) -> None:
    run.transfer_to_site(who, target, _media_change(change), _STREAMS[streams])


# The emulation's own doing (a harness bug if wrong), asserted as such.
@then("the call has a new ConnID and the same CallUUID")
def _new_conn_id(run: ScenarioRun) -> None:
    assert len(run.site_transfers) == 1 and run.call is not None, run.site_transfers
    ((old, new),) = run.site_transfers
    assert old != new == run.call.conn_id, run.site_transfers
    assert run.job is not None and run.job.call.calluuid == run.call.calluuid


def _record_ids(run: ScenarioRun) -> list[str]:
    """The recordings the recorder keeps under the call's CallUUID (`<root>/<calluuid>/<record id>`)."""
    root = run.recorder.recordings
    not_applicable_unless(root is not None, "the recorder's recordings are not visible to the harness")
    assert root is not None and run.call is not None
    directory = root / run.call.calluuid
    return sorted(p.name for p in directory.iterdir() if p.is_dir()) if directory.is_dir() else []


@then(parsers.parse('the recorder keeps one interaction across the multi-site transfer with "{key}"="{value}" in '
                    "its metadata"))
def _one_interaction(run: ScenarioRun, key: str, value: str) -> None:
    findings = list(recording_findings(run))  # collects the evidence (recordings settled) first
    assert run.call is not None
    new = run.call.conn_id
    start = run.tserver.private_msgs.start
    second = [r.conn_id for r, _ in run.recorder_requests()
              if isinstance(r, RequestPrivateService) and r.private_msg_id == start and r.conn_id == new]
    evidence = run.evidence()
    metadata = None if evidence.recording_dir is None else evidence.recording_dir / "recording.json"
    attached = None
    if metadata is not None:
        data = json.loads(metadata.read_text()).get("attached_data") if metadata.exists() else None
        attached = data if isinstance(data, dict) else {}
    findings += midcall_checks.multisite_one_interaction(findings, _record_ids(run), second, attached, key, value,
                                                         calluuid=run.call.calluuid, conn_id=new)
    judge(findings, ["ARE-17-MULTISITE-ONE-INTERACTION", *_RECORDING_IDS], "one interaction across the sites")


# The emulation's own events (a harness bug if wrong): what a T-Lib client on the DNs was sent.
@then(parsers.parse('the T-Server reported the transfer to "{target}" with EventEstablished to it and EventReleased '
                    'to "{transferring}"'))
def _transfer_events(run: ScenarioRun, target: str, transferring: str) -> None:
    assert run.call is not None and run.call.agent_dn == target, run.call
    conn_id = run.call.conn_id
    sent = [(type(x.message).__name__, x.message.this_dn) for x in run.tlib_endpoint.exchanges()
            if x.direction == "event" and isinstance(x.message, CallEvent) and x.message.conn_id == conn_id]
    assert ("EventEstablished", target) in sent and ("EventReleased", transferring) in sent, sent
    assert sent.index(("EventEstablished", target)) < sent.index(("EventReleased", transferring)), sent


# The step fixtures pytest-bdd generated above: what conftest star-imports (harness/bdd/stepdefs.py).
__all__ = step_fixtures(globals())
