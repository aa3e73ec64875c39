"""`arec profile check FILE`: one short call through the profile, and what worked (docs/architecture.md §4).

The call is the suite's simplest (two-session mode, PCMU, 2 s, agent DN recorded by SIP
Server), played by `ScenarioRun` exactly as a Gherkin scenario plays it. Each line says one
thing that worked or the first that did not, in plain words; the last line is the verdict:

    exit 0  "profile works"
    exit 1  "profile does not work: <first problem>"
    exit 2  the profile cannot be used at all (unreadable, wrong key, command missing...)
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import soundfile

from harness.conformance.evidence import Evidence
from harness.conformance.run import ScenarioRun
from harness.emulators.sip_server import SessionMode
from harness.exitcodes import EXIT_MUST_FAILED, EXIT_OK, SetupError
from harness.media.timecode import SAMPLE_RATE, decode_timecode
from harness.recorders.launcher import ProfileRecorder, sip_ping
from harness.recorders.locate import Located
from harness.recorders.profile import RecorderProfile, load_profile
from harness.recorders.under_test import RecorderUnderTest
from harness.spec.findings import Severity
from harness.validators.recording import ExpectedStream, RecordingFiles

CUSTOMER_DN, AGENT_DN, CODEC, CALL_SECONDS = "5551234", "7001", "PCMU", 2.0
OPTIONS_TIMEOUT_S = 2.0


class _Problem(Exception):
    """The first thing that did not work: ends the check with "profile does not work"."""


def check_from_cli(args: argparse.Namespace) -> int:
    return check_profile(load_profile(args.file))


def check_profile(profile: RecorderProfile, say: Callable[[str], None] | None = None) -> int:
    """Run the check and print its lines; SetupError when the profile cannot be used at all."""
    out = say or (lambda line: print(f"arec: {line}", flush=True))
    out(f"profile {profile.path}: {profile.name}")
    work = Path(tempfile.mkdtemp(prefix="arec-profile-check-"))
    try:
        with ProfileRecorder(profile, work / "recorder").running() as recorder:
            if profile.process is not None:
                out(f"started the recorder: {shlex.split(profile.process.command)[0]} ... "
                    f"(output in {work / 'recorder' / 'recorder.log'})")
            check_call(recorder, work, out)
    except _Problem as problem:
        out(f"profile does not work: {problem}")
        out(f"capture, SIPp logs, recorder output and recordings kept in {work}")
        return EXIT_MUST_FAILED
    except BaseException:
        out(f"capture, SIPp logs, recorder output and recordings kept in {work}")
        raise
    shutil.rmtree(work, ignore_errors=True)
    out("profile works")
    return EXIT_OK


def check_call(recorder: RecorderUnderTest, work: Path, out: Callable[[str], None]) -> None:
    where = f"sip:{recorder.host}:{recorder.port};transport={recorder.transport}"
    status = sip_ping(recorder.host, recorder.port, recorder.transport, OPTIONS_TIMEOUT_S)
    if status is None:
        raise _Problem(f"recorder not reachable: no answer to OPTIONS at {where} within {OPTIONS_TIMEOUT_S:g} s")
    out(f"recorder reachable: OPTIONS to {where} answered {status}")
    run = ScenarioRun(recorder, work / "scenario")
    run.start_capture()
    try:
        run.sip_server.configure_dn(AGENT_DN, record=True)
        run.set_mode(_mode(recorder))
        run.place_call(CUSTOMER_DN, AGENT_DN, CODEC)
        try:
            run.establish(CALL_SECONDS)
            run.release()
        except SetupError:
            raise
        except Exception as error:  # the recorder refused or ignored a recording INVITE
            raise _Problem(f"the recording sessions could not be set up: {error}") from None
        evidence = run.evidence()
        _check_sessions(run, evidence, out)
        _check_rtp(run, evidence, out)
        _check_recording(run, evidence, out)
    finally:
        run.close()


def _mode(recorder: RecorderUnderTest) -> SessionMode:
    """Two sessions when the recorder takes them; one single / SIPREC session otherwise."""
    modes = recorder.capabilities.session_modes
    for mode in (SessionMode.TWO_SESSIONS, SessionMode.SINGLE_SESSION, SessionMode.SIPREC):
        if mode.value in modes:
            return mode
    return SessionMode.TWO_SESSIONS


def _check_sessions(run: ScenarioRun, evidence: Evidence, out: Callable[[str], None]) -> None:
    assert run.call is not None
    dialogs = [d for d in evidence.sip.dialogs.values()
               if d.target is not None and d.target.calluuid == run.call.calluuid]
    statuses = [d.final_status for d in dialogs]
    shown = ", ".join("no answer" if s is None else str(s) for s in statuses) or "none seen"
    answered = [s for s in statuses if s is not None and 200 <= s < 300]
    expected = 2 if run.sip_server.mode is SessionMode.TWO_SESSIONS else 1
    if run.active is None or len(answered) < expected:
        raise _Problem(f"the recorder answered {len(answered)} of {expected} recording INVITEs with 2xx ({shown})")
    out(f"answered {'both recording INVITEs' if expected == 2 else 'the recording INVITE'} "
        f"({run.sip_server.mode.value}): {shown}")


def _check_rtp(run: ScenarioRun, evidence: Evidence, out: Callable[[str], None]) -> None:
    assert run.active is not None
    parts = []
    for stream in run.active.streams:
        rows = [r for r in evidence.rtp.streams
                if r.key[1] == stream.destination and r.key[0][1] == stream.local_port]
        received, sent = sum(r.summary.packets for r in rows), stream.packets_sent
        if stream.destination is None or received < sent or sent == 0:
            raise _Problem(f"RTP of the {stream.job.side.value} stream did not reach the recorder: {sent} packets "
                           f"sent, {received} seen arriving at {stream.destination}")
        parts.append(f"{stream.job.side.value} {received}/{sent} packets to {stream.destination[1]}")
    out(f"RTP reached it ({evidence.capture_method} capture): {'; '.join(parts)}")


def _check_recording(run: ScenarioRun, evidence: Evidence, out: Callable[[str], None]) -> None:
    if run.recorder.recordings is None:
        out("recording: not checked (the profile has no [recordings] table)")
        return
    located = run.located_recording()
    if located is None:
        raise _Problem("no recording to look for (SIP Server did not record the call)")
    if located.missing:
        raise _Problem(f"recording not found: {located.missing[0]}")
    out(f"recording found: {', '.join(str(p) for p in located.found)}")
    if located.notes:
        raise _Problem(f"recording format: {located.notes[0]}")
    expected = run.expected_streams()
    for line in decode_summary(located, expected, {s.job.dn: s.job.side.value for s in run.active.streams}
                               if run.active else {}):
        out(line)
    must = [f for f in evidence.recording_findings if f.severity is Severity.MUST]
    if must:
        raise _Problem(f"{must[0].requirement_id}: {must[0].message}")
    out("recording holds both streams, each in its place, complete")


def decode_summary(located: Located, expected: Sequence[ExpectedStream], sides: dict[str, str]) -> list[str]:
    """One line per stream: which file/channel holds it, whose time-code is there, how much."""
    target = located.target
    if isinstance(target, Path):  # reference layout: one mono file per stream
        files = RecordingFiles({e.dn: p for e in expected for p in sorted(target.glob(f"stream-*-{e.dn}.wav"))[:1]})
    else:
        files = target
    alphabets = sorted({e.stream for e in expected})
    lines = []
    for exp in expected:
        who = f"{sides.get(exp.dn, 'stream')} DN {exp.dn}"
        places: list[tuple[Path, int]] = []
        if exp.dn in files.mono:
            places.append((files.mono[exp.dn], 0))
        if files.multichannel is not None and exp.dn in files.channel_dns:
            places.append((files.multichannel, files.channel_dns.index(exp.dn)))
        if not places:
            lines.append(f"decoded {who}: no file or channel is labelled with this DN")
        for path, channel in places:
            try:
                audio, _rate = soundfile.read(str(path), dtype="int16", always_2d=True)
            except (RuntimeError, soundfile.LibsndfileError) as error:
                lines.append(f"decoded {who}: {path.name} unreadable ({error})")
                continue
            label = f"{path.name}" + (f" channel {channel}" if files.multichannel == path else "")
            if audio.shape[1] <= channel:
                lines.append(f"decoded {who}: {label} missing ({audio.shape[1]} channel(s))")
                continue
            track = decode_timecode(audio[:, channel].copy(), SAMPLE_RATE, streams=alphabets)
            present = ", ".join(_side_of(s, expected, sides) for s in track.streams_present()) or "no time-code"
            own = len(track.segments_of(exp.stream))
            lines.append(f"decoded {who} from {label}: holds {present}; {own} of {len(exp.wanted)} "
                         "time-code segments sent")
    return lines


def _side_of(stream: int, expected: Sequence[ExpectedStream], sides: dict[str, str]) -> str:
    dn = next((e.dn for e in expected if e.stream == stream), None)
    return f"the {sides.get(dn, 'stream')} stream's time-code" if dn else f"time-code of stream {stream}"


__all__ = ["check_call", "check_from_cli", "check_profile", "decode_summary"]
