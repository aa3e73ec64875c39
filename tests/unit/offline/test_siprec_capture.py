"""`arec validate` on a capture of SIPREC recording sessions: the sessions are recognised (no
Genesys Request-URI is asked of them), judged by the SRS-* checks and grouped under the call
the SRC named. The SRS side of the capture is the reference recorder core's real answer (or a
faulty double's) to corpus offers, written as a pcap."""

from __future__ import annotations

from pathlib import Path

from harness.offline.pipeline import validate_capture
from harness.protocol.sdp import parse_sdp
from reference_recorder.core import RecorderCore
from tests.doubles.faulty_recorder import AcceptHalfSiprec, NoSrsTag
from tests.unit.recorder_core.helpers import MS, Driver, render
from tests.unit.recorder_core.test_siprec_corpus import offer
from tests.unit.validators.builders import ether, rtp, udp, write_pcap

SRS = ("127.0.0.1", 5060)


def _capture(tmp_path: Path, core: type[RecorderCore], name: str, call_id: str = "rs-1") -> Path:
    driver = Driver(tmp_path / "rec")
    driver.core = core(driver.core.config, driver.ports, log=driver.log_lines.append)
    frames: list[tuple[float, bytes]] = []
    invite = offer(name, call_id=call_id)
    frames.append((driver.now, ether(udp(MS, SRS, invite))))
    driver.core.receive_sip(invite, MS, driver.now)
    driver.run_storage()
    answers = [o.data for o in driver.core.data_to_send()]
    frames += [(driver.now + 0.001 * (i + 1), ether(udp(SRS, MS, a))) for i, a in enumerate(answers)]
    final = answers[-1]
    if final.startswith(b"SIP/2.0 200"):
        tag = final.split(b"\r\nTo: ", 1)[1].split(b"\r\n", 1)[0].split(b";tag=", 1)[1].decode()
        ack = render("ack.sip", call_id=call_id, cseq=1, to_tag=tag)
        frames.append((driver.now + 0.01, ether(udp(MS, SRS, ack))))
        # A little RTP per accepted stream (the offer's ports are 40000, 40002), so the capture
        # is a whole recording session, not only its signalling.
        answer = parse_sdp(final.split(b"\r\n\r\n", 1)[1])
        for index, m in enumerate(answer.media):
            pt = m.payload_types[0]
            frames += [(driver.now + 0.02 * (n + 1), ether(udp(("127.0.0.1", 40000 + 2 * index), ("127.0.0.1", m.port),
                                                              rtp(n, n * 160, ssrc=0x100 + index, pt=pt))))
                       for n in range(5)]
        frames.sort(key=lambda f: f[0])
    return write_pcap(tmp_path / "siprec.pcap", frames)


def test_a_siprec_session_is_recognised_and_passes(tmp_path: Path) -> None:
    result = validate_capture(_capture(tmp_path, RecorderCore, "sbc_rs_metadata_genesys_ext.sip"))
    assert result.findings == []
    assert {"SRS-RS-ACCEPTED", "SRS-FEATURE-TAG", "SRS-OFFER-SIPREC", "SRS-OFFER-LABELS", "SRS-METADATA-WELLFORMED",
            "SRS-METADATA-LABELS-ASSOCIATED", "SRS-EXTENSIONS-IGNORED", "SDP-ANSWER-RECVONLY"} <= set(result.exercised)
    assert "ARE-06-RURI-PARAMS" not in result.exercised and "ARE-06-SINGLE-SESSION" not in result.exercised
    # Grouped under the communication session's Session-ID the metadata names.
    assert [c.call for c in result.calls] == [] or all(c.call == "4b0c11aa3f6e4c3b8d1e2f0a9c8b7d6e" for c in result.calls)
    dialog = result.sip.dialogs["rs-1"]
    assert dialog.siprec and dialog.target is not None and dialog.target.calluuid == "4b0c11aa3f6e4c3b8d1e2f0a9c8b7d6e"


def test_a_session_without_initial_metadata_is_judged_as_such(tmp_path: Path) -> None:
    result = validate_capture(_capture(tmp_path, RecorderCore, "no_initial_metadata.sip"))
    assert result.findings == []
    assert "SRS-NO-INITIAL-METADATA" in result.exercised and "SRS-METADATA-LABELS-ASSOCIATED" not in result.exercised


def test_an_srs_answer_without_srs_tag_fails_offline(tmp_path: Path) -> None:
    result = validate_capture(_capture(tmp_path, NoSrsTag, "rfc7866_basic.sip"))
    assert {f.requirement_id for f in result.findings} == {"SRS-FEATURE-TAG"}
    assert result.findings[0].calluuid == "4b0c11aa3f6e4c3b8d1e2f0a9c8b7d6e"


def test_half_siprec_offline(tmp_path: Path) -> None:
    good = validate_capture(_capture(tmp_path / "ref", RecorderCore, "missing_src_feature_tag.sip"))
    assert {f.requirement_id for f in good.findings} == {"SRS-OFFER-SIPREC"}  # the SRC's fault, not the SRS's
    assert "SRS-NOT-RS" in good.exercised
    bad = validate_capture(_capture(tmp_path / "bad", AcceptHalfSiprec, "missing_src_feature_tag.sip"))
    assert {f.requirement_id for f in bad.findings} == {"SRS-OFFER-SIPREC", "SRS-NOT-RS"}


def test_validate_recordings_judges_the_participant_map_offline(tmp_path: Path) -> None:
    """`arec validate --recordings`: the reference layout's recording.json map against the
    metadata the capture's offers carried (SRS-METADATA-KEPT); the reference core keeps it."""
    pcap = _capture(tmp_path, RecorderCore, "rfc7866_basic.sip")
    result = validate_capture(pcap, recordings=tmp_path / "rec")
    assert [f for f in result.findings if f.requirement_id.startswith("SRS-")] == []
    assert {"SRS-METADATA-KEPT", "SRS-PARTICIPANT-AUDIO"} <= set(result.exercised)


def test_validate_recordings_finds_a_map_that_was_not_kept(tmp_path: Path) -> None:
    from tests.doubles.faulty_recorder import IgnoreMetadata

    pcap = _capture(tmp_path, IgnoreMetadata, "rfc7866_basic.sip")
    result = validate_capture(pcap, recordings=tmp_path / "rec")
    assert "SRS-METADATA-KEPT" in {f.requirement_id for f in result.findings}
