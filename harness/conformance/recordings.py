"""Where a scenario's recording is and what it must hold: finding the recorder's files (the
reference layout or a profile's own), waiting for them to settle, and the expected streams
the recording validator checks them against."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from harness.conformance.impaired import impaired_expected, is_impaired
from harness.emulators.media_server import ActiveRecording, ReplicatedStream
from harness.emulators.runtime_control import RuntimeControl
from harness.emulators.sip_server import RecordingJob
from harness.media.timecode import SEGMENT_SAMPLES
from harness.recorders.locate import (
    REFERENCE_LAYOUT,
    CallKeys,
    Located,
    RecordingLocator,
    StreamKey,
    snapshot,
)
from harness.recorders.under_test import RecorderUnderTest
from harness.validators.recording import ExpectedStream

__all__ = ["expected_stream", "expected_streams", "locate_recording", "recording_dir", "wait_for_recordings"]


def locate_recording(recorder: RecorderUnderTest, job: RecordingJob | None, active: ActiveRecording | None,
                     since: float) -> Located | None:
    """A recording's files, found the profile's way (`harness.recorders.locate`); `target` is
    what `validate_recording` takes. None: recordings not visible / no recording. `since`: the
    scenario's start (files of this call are written after it)."""
    if job is None or recorder.recordings is None or active is None:
        return None
    locator = recorder.locator or RecordingLocator(REFERENCE_LAYOUT, recorder.recordings)
    streams = tuple(StreamKey(s.job.dn, s.job.side.value, leg.process.leg.call_id, s.job.stream_index)
                    for leg in active.legs for s in leg.streams)
    keys = CallKeys(active.job.call.calluuid, active.job.record_id, active.job.record_dn, streams)
    return locator.locate(keys, since)


def recording_dir(recorder: RecorderUnderTest, job: RecordingJob | None,
                  located: Callable[[], Located | None]) -> Path | None:
    """Reference layout: <root>/<calluuid>/<record_id>/; a profile's own layout: the directory
    the call's files were found in (the recordings root if none)."""
    if job is None or recorder.recordings is None:
        return None
    locator = recorder.locator
    if locator is not None and locator.spec.layout != "reference":
        found = located()
        return locator.root if found is None else found.directory
    return recorder.recordings / job.call.calluuid / job.record_id


def wait_for_recordings(recorder: RecorderUnderTest, located: Callable[[], Located | None],
                        directory: Callable[[], Path | None], timeout: float = 5.0) -> None:
    """A recorder finalises its files after the last BYE; give it a moment, never forever."""
    locator = recorder.locator
    if locator is not None and locator.spec.layout != "reference":
        # A third-party recorder's files may appear late and still grow after the last BYE:
        # wait (at most the profile's settle_s) until all are there and unchanged 0.2 s apart.
        deadline = time.monotonic() + locator.spec.settle_s
        previous: tuple[tuple[str, int, float], ...] | None = None
        while True:
            found = located()
            if found is None:
                return
            current = snapshot(found) if found.complete else None
            if current is not None and current == previous or time.monotonic() >= deadline:
                return
            previous = current
            time.sleep(0.2)
    where = directory()
    if where is None:
        return
    deadline = time.monotonic() + timeout
    metadata = where / "recording.json"
    while time.monotonic() < deadline:
        if metadata.exists() and b'"complete": true' in metadata.read_bytes():
            return
        time.sleep(0.05)


def expected_streams(active: ActiveRecording, control: RuntimeControl | None) -> list[ExpectedStream]:
    if control is not None:
        return [control.expected_stream(s) for s in active.streams]
    return [expected_stream(s) for s in active.streams]


def expected_stream(stream: ReplicatedStream) -> ExpectedStream:
    """What the recording must hold for a stream: the segments whose packets were all sent."""
    if is_impaired(stream):
        return impaired_expected(stream)
    packets = stream.packets_sent
    spp = stream.source.samples_per_packet  # SYMBOL_SAMPLES at the default ptime of 20 ms
    whole_segments = packets * spp // SEGMENT_SAMPLES
    return ExpectedStream(stream=stream.job.stream_index, dn=stream.job.dn, first_segment=0,
                          last_segment=whole_segments - 1, expected_samples=packets * spp)
