"""SIPREC verdicts on the reference recorder and its faulty doubles, through the sans-IO core:
a whole recording session (corpus INVITE, ACK, time-coded RTP per labelled stream, BYE), judged
by the SIPREC checks on the recorder's answers and files. The reference recorder passes every
check; each double fails exactly the requirement it breaks. Deterministic: a manual clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.checks.sdp_answers import AnswerContext, check_answer_direction
from harness.checks.siprec import check_rs_answer, check_rs_offer, extension_refused, not_a_recording_session
from harness.media.timecode import timecode_samples
from harness.protocol.rtp import g711
from harness.protocol.sdp import parse_sdp
from harness.protocol.sip.message import SipRequest, parse_message
from harness.protocol.siprec.session import split_body
from harness.spec.findings import Evidence, Finding
from harness.validators.siprec import judge_participant_map, judge_siprec_recording
from reference_recorder.core import RecorderCore
from tests.doubles.faulty_recorder import (
    AcceptHalfSiprec,
    IgnoreMetadata,
    IgnoreRequire,
    NoSrsTag,
    RejectWithoutMetadata,
    SendrecvAnswer,
    SwapParticipants,
)
from tests.unit.recorder_core.helpers import Driver, Leg, rtp_packet
from tests.unit.recorder_core.test_siprec_corpus import offer

# The SRC emulation's truth for the corpus metadata: the agent's audio is time-code stream 0,
# the customer's stream 1 (label order of the corpus offers).
AGENT, CUSTOMER = "sip:7001@agents.example.com", "sip:+15551230000@pstn.example.net"
STREAM_OF_AOR = {AGENT: 0, CUSTOMER: 1}
PACKETS = 60  # 1.2 s of talk: six time-code segments per stream


def _driver(tmp_path: Path, core: type[RecorderCore]) -> Driver:
    driver = Driver(tmp_path)
    driver.core = core(driver.core.config, driver.ports, log=driver.log_lines.append)
    return driver


def _record(driver: Driver, name: str) -> tuple[list[Finding], SipRequest]:
    """One recording session of `name`; the findings of every SIPREC check on it."""
    data = offer(name)
    request = parse_message(data)
    assert isinstance(request, SipRequest)
    final = driver.final(data)
    verdict = check_rs_offer(request)
    assert verdict.findings == [], "the corpus offer itself is good"
    findings = check_rs_answer(request, final, had_metadata=verdict.had_metadata, extensions=verdict.extensions)
    findings += not_a_recording_session(request, final)
    if final.status != 200:
        return findings, request
    offered = parse_sdp(split_body(request.content_type_full, request.body).sdp or b"")
    answered = parse_sdp(final.body)
    context = AnswerContext(request.call_id, Evidence())
    for index, (om, am) in enumerate(zip(offered.media, answered.media, strict=True)):
        findings += check_answer_direction(om.direction(offered), am.direction(answered), index, context)
    leg = Leg(request.call_id, "sip:srs@127.0.0.1:5060", final.to.tag or "", [m.port for m in answered.media])
    codecs = [(m.payload_types[0], m.rtpmap[m.payload_types[0]].encoding) for m in answered.media]
    driver.send(driver.in_dialog("ack.sip", leg, cseq=1))
    for n in range(PACKETS):
        for stream, port in enumerate(leg.ports):
            pt, encoding = codecs[stream]
            pcm = timecode_samples(stream, n * 160, 160)
            packet = rtp_packet(n, n * 160, pt=pt, ssrc=0x1000 + stream, payload=g711.encode(encoding, pcm))
            driver.core.receive_rtp(port, packet, ("127.0.0.1", 40000 + 2 * stream), driver.now)
        driver.advance(0.02)
    driver.bye(leg)
    driver.core.close(driver.now)
    driver.run_storage()
    directory = next(driver.root.rglob("recording.json")).parent
    assert verdict.metadata is not None
    return findings + judge_siprec_recording(directory, verdict.metadata, STREAM_OF_AOR), request


def _ids(findings: list[Finding]) -> set[str]:
    return {f.requirement_id for f in findings}


@pytest.mark.parametrize("name", ["rfc7866_basic.sip", "sbc_rs_metadata_genesys_ext.sip",
                                  "metadata_first_extra_namespaces.sip", "lf_only_body.sip"])
def test_reference_recorder_passes_every_siprec_check(tmp_path: Path, name: str) -> None:
    findings, _ = _record(_driver(tmp_path, RecorderCore), name)
    assert findings == []


@pytest.mark.parametrize(("fault", "expected"), [
    (IgnoreMetadata, {"SRS-METADATA-KEPT"}),
    (SwapParticipants, {"SRS-PARTICIPANT-AUDIO"}),
    (SendrecvAnswer, {"SDP-ANSWER-RECVONLY"}),
    (NoSrsTag, {"SRS-FEATURE-TAG"}),
])
def test_each_double_fails_its_requirement(tmp_path: Path, fault: type[RecorderCore], expected: set[str]) -> None:
    findings, _ = _record(_driver(tmp_path, fault), "rfc7866_basic.sip")
    assert _ids(findings) == expected


def test_reference_accepts_a_session_without_initial_metadata_and_the_double_does_not(tmp_path: Path) -> None:
    for core, expected in ((RecorderCore, set()), (RejectWithoutMetadata, {"SRS-NO-INITIAL-METADATA"})):
        driver = _driver(tmp_path / core.__name__, core)
        request = parse_message(offer("no_initial_metadata.sip"))
        assert isinstance(request, SipRequest)
        final = driver.final(offer("no_initial_metadata.sip"))
        assert _ids(check_rs_answer(request, final, had_metadata=False)) == expected, core


def test_reference_refuses_what_is_not_a_recording_session_and_unknown_extensions(tmp_path: Path) -> None:
    driver = _driver(tmp_path, RecorderCore)
    half = offer("missing_src_feature_tag.sip", call_id="half-1")
    half_request = parse_message(half)
    assert isinstance(half_request, SipRequest)
    assert not_a_recording_session(half_request, driver.final(half)) == []
    unknown = driver.final(offer("require_unknown_extension.sip", call_id="ext-1"))
    assert extension_refused("x-vendor-magic", unknown) == []


def test_the_half_siprec_double_fails_not_rs_and_the_require_double_fails_420(tmp_path: Path) -> None:
    half = offer("missing_src_feature_tag.sip", call_id="half-1")
    half_request = parse_message(half)
    assert isinstance(half_request, SipRequest)
    answered = _driver(tmp_path / "half", AcceptHalfSiprec).final(half)
    assert _ids(not_a_recording_session(half_request, answered)) == {"SRS-NOT-RS"}
    unknown = _driver(tmp_path / "require", IgnoreRequire).final(offer("require_unknown_extension.sip"))
    assert unknown.status == 200
    assert _ids(extension_refused("x-vendor-magic", unknown)) == {"SRS-REQUIRE-420"}


def test_a_profiles_own_participant_map_is_judged_the_same_way(tmp_path: Path) -> None:
    """A third-party SRS names its map file in the profile (`participant_map`): the format of
    docs/recorder-profiles.md, here written from the reference recording's files."""
    driver = _driver(tmp_path, RecorderCore)
    findings, request = _record(driver, "rfc7866_basic.sip")
    assert findings == []
    directory = next(driver.root.rglob("recording.json")).parent
    document = json.loads((directory / "recording.json").read_text())
    files = {s["dn"]: s["files"][0] for s in document["streams"]}
    meta = check_rs_offer(request).metadata
    assert meta is not None
    truth = {"1": AGENT, "2": CUSTOMER}

    def write(mapping: dict[str, str]) -> Path:
        path = directory / "map.json"
        path.write_text(json.dumps({"streams": [{"label": label, "participants": [aor], "file": files[label]}
                                                for label, aor in mapping.items()]}))
        return path

    assert judge_participant_map(write(truth), meta, STREAM_OF_AOR) == []
    swapped = judge_participant_map(write({"1": CUSTOMER, "2": AGENT}), meta, STREAM_OF_AOR)
    assert _ids(swapped) == {"SRS-METADATA-KEPT"}  # the files are right: only the map is wrong
    assert _ids(judge_participant_map(directory / "absent.json", meta, STREAM_OF_AOR)) == {"SRS-METADATA-KEPT"}
