"""`arec validate`: findings grouped by call, RTP table, text/JSON/JUnit, exit codes 0/1/2, recordings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import soundfile

from harness.cli import main
from harness.media.timecode import SEGMENT_SAMPLES, SYMBOL_SAMPLES, timecode_samples
from harness.protocol.rtp import g711
from harness.spec.catalogue import load_catalogue
from harness.validate_cli import EMITTED_REQUIREMENTS, NO_CALL, validate_capture
from tests.unit.validators.builders import (
    Frame,
    ether,
    rtp,
    rtp_stream,
    sip_flow,
    udp,
    write_pcap,
)

CALLUUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"
MS_A, REC_A = ("127.0.0.1", 20000), ("127.0.0.2", 30000)
MS_B, REC_B = ("127.0.0.1", 20002), ("127.0.0.2", 30002)

Flow = list[tuple[tuple[str, int], tuple[str, int], bytes]]


def _fix_length(message: bytes) -> bytes:
    head, _, body = message.partition(b"\r\n\r\n")
    head = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % len(body), head)
    return head + b"\r\n\r\n" + body


def _frames(flow: Flow, rtp_frames: list[Frame] = (), bye_at: float = 1005.0) -> list[Frame]:  # type: ignore[assignment]
    """INVITE/200/ACK at t=1000, the RTP, then BYE/200 at `bye_at`, in capture-time order."""
    setup = [m for m in flow if b"BYE" not in m[2].split(b"\r\n", 1)[0] and b"CSeq: 2 BYE" not in m[2]]
    teardown = [m for m in flow if m not in setup]
    frames = [(1000.0 + i * 0.01, ether(udp(s, d, m))) for i, (s, d, m) in enumerate(setup)]
    frames += list(rtp_frames)
    frames += [(bye_at + i * 0.01, ether(udp(s, d, m))) for i, (s, d, m) in enumerate(teardown)]
    return sorted(frames, key=lambda f: f[0])


def _good_rtp(packets: int = 50) -> list[Frame]:
    return rtp_stream(MS_A, REC_A, range(1000, 1000 + packets), ssrc=0xA) + \
        rtp_stream(MS_B, REC_B, range(5000, 5000 + packets), ssrc=0xB)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- verdicts


def test_good_two_session_call_passes_in_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pcap = write_pcap(tmp_path / "good.pcap", _frames(sip_flow(), _good_rtp()))
    code, out, err = _run(capsys, str(pcap), "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["error"] is None and doc["calls"] == []
    assert doc["summary"]["must"] == 0 and doc["summary"]["exit_code"] == 0
    assert {r["dst_port"] for r in doc["rtp_streams"]} == {REC_A[1], REC_B[1]}
    assert all(r["packets"] == 50 and r["lost"] == 0 for r in doc["rtp_streams"])
    statuses = {r["id"]: r["status"] for r in doc["requirements"]}
    assert statuses["ARE-06-TWO-INVITES-PER-CALL"] == "passed"  # two INVITEs: two-session mode judged
    assert statuses["SDP-ANSWER-RECVONLY"] == statuses["RTP-STREAM-RECEIVED"] == "passed"

    code, out, _ = _run(capsys, str(pcap))
    assert code == 0 and "No findings." in out and "Destination Port" in out and "30002" in out

    code, out, _ = _run(capsys, str(pcap), "--format", "junit")
    suite = ElementTree.fromstring(out).find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    names = {case.get("name") for case in suite.iter("testcase")}
    assert {"SIP-DIALOG-ESTABLISHED", "RTP-SEQ-CONTINUITY", "ARE-06-TWO-INVITES-PER-CALL"} <= names
    assert all(name in load_catalogue() for name in names)


def test_must_failure_exits_1_and_is_a_junit_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = [(s, d, _fix_length(m.replace(b"a=recvonly", b"a=sendrecv")) if b"a=recvonly" in m else m)
            for s, d, m in sip_flow()]
    pcap = write_pcap(tmp_path / "sendrecv.pcap", _frames(flow, _good_rtp()))
    code, out, _ = _run(capsys, str(pcap), "--format", "junit")
    assert code == 1
    cases = {c.get("name"): c for c in ElementTree.fromstring(out).iter("testcase")}
    failure = cases["SDP-ANSWER-RECVONLY"].find("failure")
    assert failure is not None and CALLUUID in (failure.text or "")
    assert cases["SIP-DIALOG-ESTABLISHED"].find("failure") is None

    code, out, _ = _run(capsys, str(pcap), "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["summary"]["requirements_failed"] == ["SDP-ANSWER-RECVONLY"]
    (call,) = doc["calls"]
    assert call["call"] == CALLUUID  # grouped by the R-URI calluuid, not the Call-ID
    assert [r["id"] for r in call["requirements"]] == ["SDP-ANSWER-RECVONLY"]
    assert len(call["requirements"][0]["findings"]) == 2  # one per leg


def test_should_only_findings_exit_0_with_rtp_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lossy = rtp_stream(MS_A, REC_A, [*range(1, 20), *range(22, 50)], ssrc=0xA) + \
        rtp_stream(MS_B, REC_B, range(1, 50), ssrc=0xB)
    pcap = write_pcap(tmp_path / "loss.pcap", _frames(sip_flow(), lossy))
    result = validate_capture(pcap)
    assert result.exit_code == 0
    (call,) = result.calls
    assert call.call == CALLUUID and list(call.by_requirement) == ["RTP-SEQ-CONTINUITY"]
    code, out, _ = _run(capsys, str(pcap), "--format", "junit")
    case = next(c for c in ElementTree.fromstring(out).iter("testcase") if c.get("name") == "RTP-SEQ-CONTINUITY")
    assert code == 0 and case.find("failure") is None and "2 lost" in (case.findtext("system-out") or "")
    row = next(r for r in json.loads(_run(capsys, str(pcap), "--format", "json")[1])["rtp_streams"]
               if r["dst_port"] == REC_A[1])
    assert (row["packets"], row["lost"], row["seq_errs"]) == (47, 2, 1)


def test_missing_bye_and_unanswered_leg(tmp_path: Path) -> None:
    flow = sip_flow(parts=("invite", "ok", "ack", "bye"))  # BYE of both legs never answered
    result = validate_capture(write_pcap(tmp_path / "nobye.pcap", _frames(flow, _good_rtp())))
    (call,) = result.calls
    assert list(call.by_requirement) == ["ARE-10-BYE-ENDS-STREAM"]
    assert result.exit_code == 1


def test_capture_not_made_by_arec_still_reports_sip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A plain SIP call (no record=/calluuid in the R-URI): findings grouped by Call-ID."""
    flow = [(s, d, m.replace(b"sip:record=REC7001@127.0.0.2:5060;calluuid=" + CALLUUID.encode()
                             + b";dn=7001;recordDN=7001", b"sip:bob@127.0.0.2:5060"))
            for s, d, m in sip_flow(legs=("leg_a",))]
    frames = _frames(flow, rtp_stream(MS_A, REC_A, range(1, 30), ssrc=0xA))
    code, out, _ = _run(capsys, str(write_pcap(tmp_path / "plain.pcap", frames)), "--format", "json")
    doc = json.loads(out)
    assert code == 1
    (call,) = doc["calls"]
    assert call["call"] == "Call-ID call-a@127.0.0.1"
    assert [r["id"] for r in call["requirements"]] == ["ARE-06-RURI-PARAMS"]
    assert doc["rtp_streams"][0]["packets"] == 29


def test_single_session_mode_is_inferred_from_other_dn(tmp_path: Path) -> None:
    """An INVITE with otherDN but one audio m-line: the single-session leg check fails."""
    flow = [(s, d, m.replace(b";dn=7001;", b";dn=7001;otherDN=7002;")) for s, d, m in sip_flow(legs=("leg_a",))]
    result = validate_capture(write_pcap(tmp_path / "single.pcap", _frames(flow, _good_rtp()[:50])))
    assert "ARE-06-SINGLE-SESSION" in result.failed
    assert "ARE-06-TWO-INVITES-PER-CALL" not in result.exercised


def test_lone_leg_without_other_dn_is_not_judged_for_leg_count(tmp_path: Path) -> None:
    result = validate_capture(write_pcap(tmp_path / "lone.pcap", _frames(sip_flow(legs=("leg_a",)), _good_rtp()[:50])))
    assert result.exit_code == 0 and result.calls == []
    assert "ARE-06-TWO-INVITES-PER-CALL" not in result.exercised


def test_rtp_without_any_sip_is_grouped_under_no_call(tmp_path: Path) -> None:
    frames = rtp_stream(MS_A, REC_A, [1, 2, 3, 5, 6], ssrc=0xA)
    result = validate_capture(write_pcap(tmp_path / "rtponly.pcap", frames))
    (call,) = result.calls
    assert call.call == NO_CALL and list(call.by_requirement) == ["RTP-SEQ-CONTINUITY"]
    assert result.exercised == ["RTP-SEQ-CONTINUITY"]


# ----------------------------------------------------------------------------- unusable input


def test_truncated_capture_prints_findings_so_far_and_one_line(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    pcap = write_pcap(tmp_path / "cut.pcap", _frames(sip_flow(), _good_rtp()))
    data = pcap.read_bytes()
    pcap.write_bytes(data[:len(data) * 2 // 3])
    for fmt in ("json", "text", "junit"):
        code, out, err = _run(capsys, str(pcap), "--format", fmt)
        assert code == 2
        assert err.count("\n") == 1 and str(pcap) in err and "byte offset" in err
        assert "Traceback" not in err
        if fmt == "json":
            doc = json.loads(out)
            assert doc["error"] and doc["summary"]["rtp_streams"] == 2  # what was read is reported
            # The BYEs were cut off: the dialog-level checks still ran on what was there.
            assert doc["summary"]["sip_dialogs"] == 2
        elif fmt == "junit":
            errors = [c for c in ElementTree.fromstring(out).iter("testcase") if c.find("error") is not None]
            assert [c.get("name") for c in errors] == ["capture-readable"]
        else:
            assert "INCOMPLETE" in out


def test_missing_or_foreign_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, str(tmp_path / "nope.pcap"), "--format", "json")
    assert code == 2 and err.count("\n") == 1 and "nope.pcap" in err and "offset 0" in err
    assert json.loads(out)["error"]
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    code, _, err = _run(capsys, str(text))
    assert code == 2 and "not a pcap" in err and err.count("\n") == 1


def test_recorder_profile_and_bad_recordings_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pcap = write_pcap(tmp_path / "good.pcap", _frames(sip_flow(), _good_rtp()))
    code, out, err = _run(capsys, str(pcap), "--recorder-profile", "x.toml")
    assert (code, out) == (2, "") and "x.toml: no such file" in err and err.count("\n") == 1
    code, out, err = _run(capsys, str(pcap), "--recordings", str(tmp_path / "missing"))
    assert (code, out) == (2, "") and "not a directory" in err


# ----------------------------------------------------------------------------- recordings

SEGMENTS = 6  # whole time-code segments each stream sends
PACKETS = SEGMENTS * SEGMENT_SAMPLES // SYMBOL_SAMPLES


def _timecode_rtp(src: tuple[str, int], dst: tuple[str, int], stream: int, ssrc: int,
                  skip: frozenset[int] = frozenset()) -> list[Frame]:
    frames = []
    for n in range(PACKETS):
        if n in skip:
            continue
        payload = g711.encode("PCMU", timecode_samples(stream, n * SYMBOL_SAMPLES, SYMBOL_SAMPLES))
        frames.append((1001.0 + n * 0.02, ether(udp(src, dst, rtp(100 + n, n * SYMBOL_SAMPLES, ssrc, 0, payload)))))
    return frames


def _recorded(stream: int) -> np.ndarray:
    """What a recorder writes for a whole stream: the µ-law audio decoded, from sample 0."""
    codes = g711.encode("PCMU", timecode_samples(stream, 0, PACKETS * SYMBOL_SAMPLES))
    return g711.decode("PCMU", codes)


def _write_recording(root: Path, a: np.ndarray, b: np.ndarray, channels: tuple[str, str] = ("7001", "7002")) -> Path:
    directory = root / CALLUUID / "REC7001"
    directory.mkdir(parents=True)
    soundfile.write(directory / "stream-1-7001.wav", a, 8000, subtype="PCM_16")
    soundfile.write(directory / "stream-2-7002.wav", b, 8000, subtype="PCM_16")
    soundfile.write(directory / "call-stereo.wav", np.stack([a, b], axis=1), 8000, subtype="PCM_16")
    (directory / "recording.json").write_text(json.dumps({
        "calluuid": CALLUUID, "record_id": "REC7001", "complete": True,
        "call_ids": ["call-a@127.0.0.1", "call-b@127.0.0.1"],
        "channels": [{"index": 0, "stream": "a", "dn": channels[0]}, {"index": 1, "stream": "b", "dn": channels[1]}],
    }))
    return root


def _timecode_capture(tmp_path: Path, skip_b: frozenset[int] = frozenset()) -> Path:
    rtp_frames = _timecode_rtp(MS_A, REC_A, 0, 0xA) + _timecode_rtp(MS_B, REC_B, 1, 0xB, skip_b)
    return write_pcap(tmp_path / "tc.pcap", _frames(sip_flow(), rtp_frames, bye_at=1010.0))


def _recording_ids(result) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted({f.requirement_id for f in result.findings if f.requirement_id.startswith("REC-")})


def test_recordings_match_what_the_capture_sent(tmp_path: Path) -> None:
    root = _write_recording(tmp_path / "recs", _recorded(0), _recorded(1))
    result = validate_capture(_timecode_capture(tmp_path), root)
    assert result.findings == [] and result.exit_code == 0
    assert {"REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL", "REC-FILES-PRESENT"} <= set(result.exercised)
    assert result.recordings_checked == [str(root / CALLUUID / "REC7001")]


def test_recordings_with_swapped_labels_and_missing_audio(tmp_path: Path) -> None:
    a, b = _recorded(0), _recorded(1)
    b[2 * SEGMENT_SAMPLES:3 * SEGMENT_SAMPLES] = 0  # segment 2 of stream 1 lost by the recorder
    root = _write_recording(tmp_path / "recs", a, b, channels=("7002", "7001"))
    result = validate_capture(_timecode_capture(tmp_path), root)
    assert _recording_ids(result) == ["REC-AUDIO-COMPLETE", "REC-STREAM-CHANNEL"]
    assert all(call.call == CALLUUID for call in result.calls)
    assert result.exit_code == 1


def test_segment_not_carried_by_rtp_must_not_be_recorded(tmp_path: Path) -> None:
    """Packets of segment 3 of stream 1 never sent (pause): the file must not hold it."""
    paused = frozenset(range(3 * 10, 4 * 10))
    root = _write_recording(tmp_path / "recs", _recorded(0), _recorded(1))  # recorder has it anyway
    result = validate_capture(_timecode_capture(tmp_path, skip_b=paused), root)
    assert _recording_ids(result) == ["REC-PAUSE-NO-AUDIO"]


def test_call_without_recording_and_speech_without_timecode(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    pcap = write_pcap(tmp_path / "good.pcap", _frames(sip_flow(), _good_rtp()))
    result = validate_capture(pcap, empty)
    assert _recording_ids(result) == ["REC-FILES-PRESENT"] and result.exit_code == 1
    # Recordings exist, but the RTP (0xFF µ-law silence) carries no time-code: INFO, not a failure.
    root = _write_recording(tmp_path / "recs", _recorded(0), _recorded(1))
    result = validate_capture(pcap, root)
    assert _recording_ids(result) == ["REC-TIMECODE-ABSENT"]
    assert result.exit_code == 0


def test_emitted_requirements_are_in_the_catalogue() -> None:
    catalogue = load_catalogue()
    assert all(rid in catalogue for rid in EMITTED_REQUIREMENTS)
    assert catalogue["REC-TIMECODE-ABSENT"].severity.value == "INFO"


# ----------------------------------------------------------------------------- replication, parallel pass


def _original_and_replica(lost: tuple[int, ...] = ()) -> list[Frame]:
    """Party -> Media Server (original leg) and Media Server -> recorder (replica, 4 ms later)."""
    import random

    rnd = random.Random(3)
    party, ms_in = ("127.0.0.3", 16000), ("127.0.0.1", 24000)
    frames: list[Frame] = []
    for n in range(50):
        payload = bytes(rnd.getrandbits(8) for _ in range(160))
        frames.append((1001.0 + n * 0.02, ether(udp(party, ms_in, rtp(300 + n, 160 * n, 0x77, 0, payload)))))
        if n not in lost:
            frames.append((1001.004 + n * 0.02, ether(udp(MS_A, REC_A, rtp(1000 + n, 160 * n, 0xA, 0, payload)))))
    return frames + rtp_stream(MS_B, REC_B, range(5000, 5050), ssrc=0xB)


def test_replication_fidelity_in_validate_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_pcap(tmp_path / "rep.pcap", _frames(sip_flow(), _original_and_replica()))
    code, out, _err = _run(capsys, str(good), "--format", "json")
    doc = json.loads(out)
    assert code == 0
    assert [(r["replica"], r["matched"], r["lost"]) for r in doc["replication"]] == [
        ("127.0.0.1:20000 -> 127.0.0.2:30000 SSRC 0x0000000A", 50, 0)]
    assert doc["replication"][0]["mean_delay_ms"] == pytest.approx(4.0, abs=0.01)
    assert {"id": "REP-PAYLOAD-FIDELITY", "severity": "MUST", "step": 6, "status": "passed"} in doc["requirements"]

    bad = write_pcap(tmp_path / "rep_lost.pcap", _frames(sip_flow(), _original_and_replica(lost=(7, 8))))
    result = validate_capture(bad)
    assert result.failed == ["REP-PAYLOAD-FIDELITY"] or "REP-PAYLOAD-FIDELITY" in result.failed
    (call,) = [c for c in result.calls if "REP-PAYLOAD-FIDELITY" in c.by_requirement]
    assert call.call == CALLUUID  # tied to the call by the replica's address
    code, out, _err = _run(capsys, str(bad))
    assert code == 1 and "Replication (original -> replica, by payload)" in out and "2 lost" in out


def test_only_replicated_legs_compare_nothing(tmp_path: Path) -> None:
    result = validate_capture(write_pcap(tmp_path / "good.pcap", _frames(sip_flow(), _good_rtp())))
    assert result.replication.pairs == [] and "REP-PAYLOAD-FIDELITY" not in result.exercised


@pytest.mark.parametrize("garbage", [b"\x00" * 5, b"\xde\xad\xbe\xef" * 16])
def test_garbage_after_valid_records_judges_them_then_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              garbage: bytes) -> None:
    """Issue 14 item 7: every record read is judged, the corrupt tail is the one-line error."""
    lossy = rtp_stream(MS_A, REC_A, [*range(1, 20), *range(22, 50)], ssrc=0xA) + \
        rtp_stream(MS_B, REC_B, range(1, 50), ssrc=0xB)
    pcap = write_pcap(tmp_path / "tail.pcap", _frames(sip_flow(), lossy))
    size = pcap.stat().st_size
    clean = validate_capture(pcap)
    pcap.write_bytes(pcap.read_bytes() + garbage)
    code, out, err = _run(capsys, str(pcap), "--format", "json")
    assert code == 2
    assert err.count("\n") == 1 and str(pcap) in err and f"byte offset {size}" in err
    doc = json.loads(out)
    assert doc["summary"]["complete"] is False and doc["summary"]["rtp_streams"] == 2
    assert doc["summary"]["findings"] == len(clean.findings) > 0  # the same findings as without the tail
    code, out, _err = _run(capsys, str(pcap), "--format", "text")
    assert code == 2 and "RTP-SEQ-CONTINUITY" in out and "INCOMPLETE" in out
    assert "finding(s):" not in out  # no summary line that reads like a clean verdict


def test_unreadable_capture_without_findings_is_not_reported_clean(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pcap = write_pcap(tmp_path / "good.pcap", _frames(sip_flow(), _good_rtp()))
    pcap.write_bytes(pcap.read_bytes() + b"\x01\x02\x03")
    code, out, err = _run(capsys, str(pcap), "--format", "text")
    assert code == 2 and err.count("\n") == 1
    assert "0 finding(s)" not in out and "No findings." not in out
    assert "No findings in the records read." in out and "INCOMPLETE" in out
