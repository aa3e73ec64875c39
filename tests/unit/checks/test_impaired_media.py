"""harness/checks/impaired_media.py: each requirement fails on the recording its fault leaves and
passes on a truthful one."""

from __future__ import annotations

import pytest

from harness.checks.impaired_media import SEGMENT_SAMPLES, ImpairedStream, impaired_recording

OFFSET = 4321  # wall-clock alignment silence before the stream's first packet


def _decoded(segments: range | list[int], shift_from: int | None = None, by: int = 0) -> list[tuple[int, int]]:
    return [(s, OFFSET + s * SEGMENT_SAMPLES + (by if shift_from is not None and s >= shift_from else 0))
            for s in segments]


@pytest.mark.parametrize("rid", ["REC-LOSS-SILENCE", "REC-REORDER-RESTORED", "REC-DUPLICATE-ONCE",
                                 "RTP-JUMP-RECORDED", "RTP-SSRC-CHANGE-RECORDED"])
def test_timeline_requirements(rid: str) -> None:
    sent = ImpairedStream("7001", frozenset(set(range(10)) - {4}), {rid: 4}, spec="seed=1")
    assert impaired_recording(rid, sent, _decoded([0, 1, 2, 3, 5, 6, 7, 8, 9]), []) == []
    # Concatenated after segment 4: everything later moved 20 ms earlier.
    moved = impaired_recording(rid, sent, _decoded([0, 1, 2, 3, 5, 6, 7, 8, 9], 5, -160 * 2), [], calluuid="c")
    assert [f.requirement_id for f in moved] == [rid] and "off their sent position" in moved[0].message
    assert moved[0].calluuid == "c" and moved[0].stream == "7001"
    missing = impaired_recording(rid, sent, _decoded([0, 1, 2, 3, 5, 9]), [])
    assert "missing segments 6-8" in missing[0].message
    doubled = impaired_recording(rid, sent, [*_decoded(range(10)), (6, OFFSET + 6 * SEGMENT_SAMPLES + 1600)], [])
    assert "recorded twice 6" in doubled[0].message
    # Within the catalogue's tolerance (160 samples) is in place.
    assert impaired_recording(rid, sent, _decoded([0, 1, 2, 3, 5, 6, 7, 8, 9], 5, 150), []) == []


def test_nothing_recorded_and_not_exercised() -> None:
    sent = ImpairedStream("7001", frozenset(range(10)), {"REC-LOSS-SILENCE": 4})
    assert "none of the 10 segments" in impaired_recording("REC-LOSS-SILENCE", sent, [], [])[0].message
    assert not sent.exercised("REC-DUPLICATE-ONCE")
    assert impaired_recording("REC-DUPLICATE-ONCE", sent, [], []) == []


@pytest.mark.parametrize("rid", ["REC-DTMF-NOT-AUDIO", "REC-CN-NOT-AUDIO"])
def test_quiet_requirements(rid: str) -> None:
    span = (8000, 11200)  # segments 5 and 6 replaced by events
    sent = ImpairedStream("7001", frozenset(set(range(10)) - {5, 6}), {}, {rid: (span,)})
    decoded = _decoded([0, 1, 2, 3, 4, 7, 8, 9])
    audio = [(OFFSET, OFFSET + 8000), (OFFSET + 11200, OFFSET + 16000)]
    assert sent.exercised(rid)
    assert impaired_recording(rid, sent, decoded, audio) == []
    # The block straddling the last audio sample, and audio placed a packet early after the gap, pass.
    assert impaired_recording(rid, sent, decoded, [(OFFSET, OFFSET + 8008), (OFFSET + 11040, OFFSET + 16000)]) == []
    noisy = impaired_recording(rid, sent, decoded, [*audio, (OFFSET + 8000, OFFSET + 8064)])
    assert [f.requirement_id for f in noisy] == [rid] and "48 audible sample(s)" in noisy[0].message


def test_g729_accepted_alone_or_refused_with_488() -> None:
    from harness.checks.edge_cases import codec_accepted_or_488

    g729 = frozenset({18})
    assert codec_accepted_or_488(488, [], "G.729", 18) == []
    assert codec_accepted_or_488(200, [(40000, g729)], "G.729", 18) == []
    assert codec_accepted_or_488(200, [(0, frozenset())], "G.729", 18) == []  # stream rejected, RFC 3264 §6
    pcmu = codec_accepted_or_488(200, [(40000, frozenset({0}))], "G.729", 18, call_id="c")
    assert [f.requirement_id for f in pcmu] == ["SDP-CODEC-ACCEPT-OR-488"] and pcmu[0].call_id == "c"
    assert "got no final response" in codec_accepted_or_488(None, [], "G.729", 18)[0].message
    assert "got 415" in codec_accepted_or_488(415, [], "G.729", 18)[0].message


def test_dtmf_noted_in_the_metadata() -> None:
    from harness.checks.impaired_media import dtmf_in_metadata

    sent = ImpairedStream("7001", frozenset(), dtmf_sent=(("5", 2400),), spec="dtmf=1.3+0.3+5")
    assert dtmf_in_metadata(sent, [{"event": "5", "duration": 2400, "ended": True}]) == []
    assert dtmf_in_metadata(sent, [{"event": "5", "duration": 2300}]) == []  # within one packet
    missing = dtmf_in_metadata(sent, [], calluuid="c")
    assert [f.requirement_id for f in missing] == ["REC-DTMF-METADATA"] and "5 (2400 ts)" in missing[0].message
    assert dtmf_in_metadata(sent, None)[0].observed == "no telephone events"
    assert dtmf_in_metadata(sent, [{"event": "6", "duration": 2400}])
    assert dtmf_in_metadata(ImpairedStream("7001", frozenset()), None) == []
