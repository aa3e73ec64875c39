"""Recording picture: the time-code marks a reader sees match what the recording holds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

from harness.media.timecode import SAMPLE_RATE, SEGMENT_SAMPLES, timecode_samples
from harness.report.recording_picture import (
    MARK_COLOURS,
    Mark,
    MarkKind,
    captions_by_file,
    channel_view,
    drop_flat_runs,
    recording_views,
    render_recording_svg,
)
from harness.validators.recording import ExpectedStream

SEGMENTS = 10
LEAD = 800  # 100 ms of silence before the first segment: the recorder's wall-clock alignment


def _signal(stream: int, silenced: range = range(0)) -> npt.NDArray[np.int16]:
    audio = np.concatenate([np.zeros(LEAD, dtype=np.int16), timecode_samples(stream, 0, SEGMENTS * SEGMENT_SAMPLES)])
    for segment in silenced:
        audio[LEAD + segment * SEGMENT_SAMPLES: LEAD + (segment + 1) * SEGMENT_SAMPLES] = 0
    return audio


def _segments(view_marks: tuple[Mark, ...], kind: MarkKind) -> list[int | None]:
    return [m.segment for m in view_marks if m.kind is kind]


def test_missing_range_is_marked_where_it_should_have_been() -> None:
    expected = ExpectedStream(stream=0, dn="7001", first_segment=0, last_segment=SEGMENTS - 1)
    view = channel_view(_signal(0, silenced=range(4, 6)), "DN 7001", "stream-2-7001.wav", expected, [0])
    assert _segments(view.marks, MarkKind.MISSING) == [4, 5]
    assert _segments(view.marks, MarkKind.PRESENT) == [0, 1, 2, 3, 6, 7, 8, 9]
    missing = [m for m in view.marks if m.kind is MarkKind.MISSING]
    assert [m.start_sample for m in missing] == [LEAD + 4 * SEGMENT_SAMPLES, LEAD + 5 * SEGMENT_SAMPLES]
    svg = render_recording_svg([view], title="t")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert svg.count(f'fill="{MARK_COLOURS[MarkKind.MISSING]}"><title>segment missing (segment') == 2
    assert svg.count(f'fill="{MARK_COLOURS[MarkKind.PRESENT]}"><title>segment recorded') == 8
    assert "DN 7001" in svg and "8 present, 2 missing" in svg


def test_paused_segments_are_paused_not_missing_and_recorded_pauses_stand_out() -> None:
    paused = ExpectedStream(stream=0, dn="7001", first_segment=0, last_segment=SEGMENTS - 1,
                            paused_segments=frozenset({4, 5}))
    clean = channel_view(_signal(0, silenced=range(4, 6)), "DN 7001", "a.wav", paused, [0])
    assert _segments(clean.marks, MarkKind.PAUSED) == [4, 5]
    assert not _segments(clean.marks, MarkKind.MISSING)
    leaked = channel_view(_signal(0), "DN 7001", "a.wav", paused, [0])
    assert _segments(leaked.marks, MarkKind.RECORDED_WHILE_PAUSED) == [4, 5]


def test_another_streams_audio_is_marked_as_such() -> None:
    expected = ExpectedStream(stream=0, dn="5551234", first_segment=0, last_segment=SEGMENTS - 1)
    view = channel_view(_signal(1), "DN 5551234", "swapped.wav", expected, [0, 1])
    assert len(_segments(view.marks, MarkKind.OTHER_STREAM)) == SEGMENTS
    assert len(_segments(view.marks, MarkKind.MISSING)) == SEGMENTS


def test_reference_layout_rows_are_labelled_with_their_dn(tmp_path: Path) -> None:
    soundfile.write(tmp_path / "stream-1-5551234.wav", _signal(0), SAMPLE_RATE, subtype="PCM_16")
    soundfile.write(tmp_path / "call-stereo.wav", np.stack([_signal(0), _signal(1, silenced=range(2, 3))], axis=1),
                    SAMPLE_RATE, subtype="PCM_16")
    (tmp_path / "recording.json").write_text(json.dumps({"channels": [
        {"index": 1, "stream": 1, "dn": "7001"}, {"index": 0, "stream": 0, "dn": "5551234"}]}))
    expected = [ExpectedStream(0, "5551234", 0, SEGMENTS - 1), ExpectedStream(1, "7001", 0, SEGMENTS - 1)]
    views = recording_views(tmp_path, expected)
    assert [(v.label, v.detail) for v in views] == [("DN 5551234", "call-stereo.wav ch 0"),
                                                    ("DN 7001", "call-stereo.wav ch 1"),
                                                    ("DN 5551234", "stream-1-5551234.wav")]
    assert _segments(views[1].marks, MarkKind.MISSING) == [2]
    assert captions_by_file(views) == {"call-stereo.wav": "channel 0: DN 5551234, channel 1: DN 7001",
                                       "stream-1-5551234.wav": "DN 5551234"}


def test_unreadable_file_is_a_row_not_an_exception(tmp_path: Path) -> None:
    (tmp_path / "stream-1-1.wav").write_bytes(b"RIFF....WAVEjunk")
    views = recording_views(tmp_path, [])
    assert len(views) == 1 and views[0].label == "unreadable"
    assert "unreadable" in render_recording_svg(views)


def test_flat_runs_lose_their_inner_points_only() -> None:
    points = [("1", "5"), ("2", "5"), ("3", "5"), ("4", "7"), ("5", "5"), ("6", "5")]
    assert drop_flat_runs(points) == [("1", "5"), ("3", "5"), ("4", "7"), ("5", "5"), ("6", "5")]
    assert drop_flat_runs(points[:1]) == points[:1] and drop_flat_runs([]) == []


def test_a_steady_envelope_draws_a_few_points(tmp_path: Path) -> None:
    view = channel_view(_signal(0), "DN 7001", "a.wav", None, [0])
    svg = render_recording_svg([view])
    [points] = re.findall(r'<polygon points="([^"]+)"', svg)
    assert len(points.split()) < len(view.envelope)  # was 2 points per envelope bin
