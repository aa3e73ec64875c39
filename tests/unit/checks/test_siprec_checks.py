"""Every SIPREC check (harness.checks.siprec) on a bad input (the right finding) and a good one
(no finding). Offers come from the corpus in tests/fixtures/siprec, edited where a test needs a
fault the corpus does not carry."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checks.siprec import (
    check_rs_answer,
    check_rs_offer,
    extension_refused,
    looks_like_siprec,
    metadata_kept,
    new_stream_accepted,
    not_a_recording_session,
    participant_audio,
    snapshot_requested,
)
from harness.protocol.sip.message import SipRequest, SipResponse, build_response, parse_message
from harness.spec.findings import Severity

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "siprec"


def request(name: str, *, edit: tuple[bytes, bytes] | None = None, body_edit: tuple[bytes, bytes] | None = None,
            to_tag: str = "") -> SipRequest:
    raw = (CORPUS / name).read_bytes()
    raw = raw.replace(b"{{URI}}", b"sip:srs@127.0.0.1:5060").replace(b"{{CALL_ID}}", b"rs-1")
    raw = raw.replace(b"{{CSEQ}}", b"1").replace(b"{{TO_TAG}}", to_tag.encode())
    if edit is not None:
        raw = raw.replace(*edit)
    if body_edit is not None:
        head, _, body = raw.partition(b"\r\n\r\n")
        old, new = body_edit
        assert old in body
        body = body.replace(old, new)
        head = b"\r\n".join(b"Content-Length: %d" % len(body) if line.startswith(b"Content-Length") else line
                            for line in head.split(b"\r\n"))
        raw = head + b"\r\n\r\n" + body
    message = parse_message(raw)
    assert isinstance(message, SipRequest)
    return message


def answer(req: SipRequest, status: int, contact: str | None = "<sip:recorder@127.0.0.1:5060>;+sip.srs",
           extra: tuple[tuple[str, str], ...] = ()) -> SipResponse:
    headers = list(extra) + ([("Contact", contact)] if contact else [])
    return build_response(req, status, headers=headers, to_tag="srs1")


def ids(findings: object) -> list[str]:
    return [f.requirement_id for f in findings]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["rfc7866_basic.sip", "sbc_rs_metadata_genesys_ext.sip",
                                  "metadata_first_extra_namespaces.sip", "lf_only_body.sip", "no_initial_metadata.sip"])
def test_corpus_offers_are_good_offers(name: str) -> None:
    verdict = check_rs_offer(request(name))
    assert verdict.findings == []
    assert verdict.had_metadata is (name != "no_initial_metadata.sip")


def test_offer_without_src_feature_tag() -> None:
    assert ids(check_rs_offer(request("missing_src_feature_tag.sip")).findings) == ["SRS-OFFER-SIPREC"]


def test_offer_with_duplicate_or_missing_label_or_sendrecv() -> None:
    dup = request("rfc7866_basic.sip", body_edit=(b"a=label:2", b"a=label:1"))
    assert "SRS-OFFER-LABELS" in ids(check_rs_offer(dup).findings)
    missing = request("rfc7866_basic.sip", body_edit=(b"a=label:2\r\n", b""))
    assert "SRS-OFFER-LABELS" in ids(check_rs_offer(missing).findings)
    sendrecv = request("no_initial_metadata.sip", body_edit=(b"a=sendonly\r\na=label:1", b"a=sendrecv\r\na=label:1"))
    assert ids(check_rs_offer(sendrecv).findings) == ["SRS-OFFER-LABELS"]


def test_metadata_in_wrong_namespace_or_broken() -> None:
    wrong = request("rfc7866_basic.sip", body_edit=(b"urn:ietf:params:xml:ns:recording:1", b"urn:example:recording:1"))
    assert ids(check_rs_offer(wrong).findings) == ["SRS-METADATA-WELLFORMED"]
    broken = request("rfc7866_basic.sip", body_edit=(b"</recording>", b"</recordin>"))
    assert ids(check_rs_offer(broken).findings) == ["SRS-METADATA-WELLFORMED"]


def test_label_without_metadata_stream_or_participant() -> None:
    relabel = request("rfc7866_basic.sip", body_edit=(b"<label>2</label>", b"<label>9</label>"))
    assert ids(check_rs_offer(relabel).findings) == ["SRS-METADATA-LABELS-ASSOCIATED"]
    orphan = request("rfc7866_basic.sip", body_edit=(b'stream_id="i1Pz3to5hGk8fuXl+PbwCw=="', b'stream_id="orphan=="'))
    assert ids(check_rs_offer(orphan).findings) == ["SRS-METADATA-LABELS-ASSOCIATED"]


def test_metadata_later_is_checked_against_the_model() -> None:
    first = check_rs_offer(request("no_initial_metadata.sip"))
    later = check_rs_offer(request("rfc7866_basic.sip", to_tag=";tag=srs1"), first.metadata, reinvite=True)
    assert later.findings == [] and later.metadata is not None
    assert later.metadata.label_senders() == {"1": ("srfBElmCRp2QB23b7Mpk0w==",), "2": ("zSfPoSvdSDCmU3A3TRDxAw==",)}


def test_answer_accepted_with_srs_tag_is_good() -> None:
    req = request("rfc7866_basic.sip")
    assert check_rs_answer(req, answer(req, 200), had_metadata=True) == []


def test_answer_without_srs_tag() -> None:
    req = request("rfc7866_basic.sip")
    assert ids(check_rs_answer(req, answer(req, 200, contact="<sip:r@127.0.0.1>"), had_metadata=True)) == \
        ["SRS-FEATURE-TAG"]


@pytest.mark.parametrize(("had", "ext", "rid"), [(True, (), "SRS-RS-ACCEPTED"), (False, (), "SRS-NO-INITIAL-METADATA"),
                                                 (True, ("{urn:x}y",), "SRS-EXTENSIONS-IGNORED")])
def test_refused_recording_session_names_why(had: bool, ext: tuple[str, ...], rid: str) -> None:
    req = request("rfc7866_basic.sip")
    assert ids(check_rs_answer(req, answer(req, 488, contact=None), had_metadata=had, extensions=ext)) == [rid]
    assert ids(check_rs_answer(req, None, had_metadata=had, extensions=ext)) == [rid]


def test_half_siprec_invite_must_not_become_a_recording_session() -> None:
    req = request("missing_src_feature_tag.sip")
    assert looks_like_siprec(req)
    assert ids(not_a_recording_session(req, answer(req, 200))) == ["SRS-NOT-RS"]
    assert not_a_recording_session(req, answer(req, 403, contact=None)) == []
    assert not_a_recording_session(req, answer(req, 200, contact="<sip:r@127.0.0.1>")) == []
    good = request("rfc7866_basic.sip")
    assert not_a_recording_session(good, answer(good, 200)) == []


def test_unknown_extension_420() -> None:
    req = request("require_unknown_extension.sip")
    assert extension_refused("x-vendor-magic", answer(req, 420, contact=None,
                                                      extra=(("Unsupported", "x-vendor-magic"),))) == []
    assert ids(extension_refused("x-vendor-magic", answer(req, 420, contact=None))) == ["SRS-REQUIRE-420"]
    assert ids(extension_refused("x-vendor-magic", answer(req, 200))) == ["SRS-REQUIRE-420"]
    assert ids(extension_refused("x-vendor-magic", None)) == ["SRS-REQUIRE-420"]


def test_metadata_kept() -> None:
    expected = {"1": frozenset({"sip:7001@a"}), "2": frozenset({"sip:cust@b"})}
    assert metadata_kept(expected, dict(expected)) == []
    assert ids(metadata_kept(expected, None)) == ["SRS-METADATA-KEPT"]
    swapped = {"1": frozenset({"sip:cust@b"}), "2": frozenset({"sip:7001@a"})}
    assert ids(metadata_kept(expected, swapped)) == ["SRS-METADATA-KEPT", "SRS-METADATA-KEPT"]


def test_participant_audio() -> None:
    expected = {"1": "stream-0", "2": "stream-1"}
    assert participant_audio(expected, {"1": ["stream-0"], "2": ["stream-1"]}) == []
    swapped = participant_audio(expected, {"1": ["stream-1"], "2": ["stream-0"]})
    assert ids(swapped) == ["SRS-PARTICIPANT-AUDIO"] * 2 and swapped[0].stream == "1"
    assert ids(participant_audio(expected, {"1": ["stream-0"]})) == ["SRS-PARTICIPANT-AUDIO"]
    assert ids(participant_audio(expected, {"1": ["stream-0", "stream-1"], "2": ["stream-1"]})) == \
        ["SRS-PARTICIPANT-AUDIO"]


def _srs_request(method: str, content_type: str | None, body: bytes, disposition: str | None) -> SipRequest:
    head = (f"{method} sip:src@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-s1\r\n"
            "From: <sip:srs@127.0.0.1:5060>;tag=srs1\r\nTo: <sip:src@127.0.0.1:5070>;tag=src1\r\n"
            f"Call-ID: rs-1\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n")
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    if disposition is not None:
        head += f"Content-Disposition: {disposition}\r\n"
    message = parse_message(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    assert isinstance(message, SipRequest)
    return message


def test_a_snapshot_request_by_update_or_in_a_multipart_body_passes() -> None:
    bare = _srs_request("UPDATE", "application/rs-metadata-request", b"lost state", "recording-session")
    multipart = _srs_request("INVITE", "multipart/mixed;boundary=b1",
                             b"--b1\r\nContent-Type: application/rs-metadata-request\r\n"
                             b"Content-Disposition: recording-session\r\n\r\nlost state\r\n--b1--\r\n", None)
    assert snapshot_requested([bare]) == []
    assert snapshot_requested([multipart]) == []


def test_no_snapshot_request_or_a_wrong_one_is_a_finding() -> None:
    assert ids(snapshot_requested([], call_id="rs-1")) == ["SRS-SNAPSHOT-REQUEST"]
    no_disposition = _srs_request("UPDATE", "application/rs-metadata-request", b"lost state", None)
    refresh = _srs_request("UPDATE", None, b"", None)  # a session refresh is no snapshot request
    findings = snapshot_requested([refresh, no_disposition], call_id="rs-1")
    assert ids(findings) == ["SRS-SNAPSHOT-REQUEST"] and findings[0].call_id == "rs-1"
    assert findings[0].severity is Severity.SHOULD  # RFC 7866 §9.2 is a MAY for the SRS: a warning here


def _reoffer_and_answer(new_port: int) -> tuple[SipRequest, SipResponse]:
    m = "m=audio {p} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na={d}\r\na=label:{label}\r\n"
    head = "v=0\r\no=X 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    offer = head + "".join(m.format(p=40000 + 2 * i, d="sendonly", label=lab) for i, lab in enumerate("123"))
    answer = head + "".join(m.format(p=p, d="recvonly", label=lab) for p, lab in ((20000, "1"), (20002, "2"),
                                                                                (new_port, "3")))
    req = _srs_request("INVITE", "application/sdp", offer.encode(), None)
    return req, build_response(req, 200, body=answer.encode(), content_type="application/sdp", to_tag="srs1")


def test_a_new_stream_answered_with_a_port_passes() -> None:
    req, ok = _reoffer_and_answer(20004)
    assert new_stream_accepted(req, ok, previous_labels={"1", "2"}) == []
    # Nothing new in the re-offer: nothing to judge, whatever the answer.
    req, refused = _reoffer_and_answer(0)
    assert new_stream_accepted(req, refused, previous_labels={"1", "2", "3"}) == []


def test_a_new_stream_refused_with_port_0_is_a_finding() -> None:
    req, refused = _reoffer_and_answer(0)
    findings = new_stream_accepted(req, refused, previous_labels={"1", "2"})
    assert ids(findings) == ["SRS-NEW-STREAM-ACCEPTED"] and findings[0].stream == "3"
