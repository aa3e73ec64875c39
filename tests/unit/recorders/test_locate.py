"""Finding one call's files: pattern (glob-escaped values), newest after the call, metadata."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import soundfile

from harness.media.timecode import SEGMENT_SAMPLES, timecode_samples
from harness.recorders.locate import (
    REFERENCE_LAYOUT,
    CallKeys,
    FileEntry,
    RecordingLocator,
    RecordingsSpec,
    StreamKey,
    after,
    expand_pattern,
    files_from_metadata,
    select_newest_mono,
    timecode_streams_in,
    wav_format,
)
from harness.validators.recording import RecordingFiles

T0 = 1_700_000_000.0
KEYS = CallKeys("UUID1", "REC1", "7001", (StreamKey("5551234", "customer", "c1@x"), StreamKey("7001", "agent", "c2@x")))


def touch(path: Path, mtime: float, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def wav(path: Path, mtime: float, subtype: str = "PCM_16", channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.zeros((80, channels), dtype=np.int16), 8000, subtype=subtype, format="WAV")
    os.utime(path, (mtime, mtime))
    return path


def test_placeholder_values_are_glob_escaped() -> None:
    assert expand_pattern("{calluuid}/{dn}-*.wav", {"calluuid": "a[1]", "dn": "7*"}) == "a[[]1]/7[*]-*.wav"


def test_pattern_value_with_glob_characters_matches_only_itself(tmp_path: Path) -> None:
    keys = CallKeys("U", "R", "7", (StreamKey("70[1]"),))
    own = touch(tmp_path / "U" / "70[1]-a.wav", T0)
    touch(tmp_path / "U" / "701-a.wav", T0)  # what "70[1]" would match as a glob
    spec = RecordingsSpec("d", pattern="{calluuid}/{dn}-*.wav")
    located = RecordingLocator(spec, tmp_path).locate(keys, since=0)
    assert isinstance(located.target, RecordingFiles)
    assert located.target.mono == {"70[1]": own}
    assert located.complete


def test_pattern_picks_the_newest_file_written_after_the_call_started(tmp_path: Path) -> None:
    touch(tmp_path / "UUID1_5551234_1.wav", T0 - 100)  # an older call's file: ignored
    newer = touch(tmp_path / "UUID1_5551234_2.wav", T0 + 2)
    touch(tmp_path / "UUID1_5551234_3.wav", T0 + 1)
    agent = touch(tmp_path / "UUID1_7001_1.wav", T0 + 1)
    spec = RecordingsSpec("d", pattern="{calluuid}_{dn}_*.wav")
    located = RecordingLocator(spec, tmp_path).locate(KEYS, since=T0)
    assert isinstance(located.target, RecordingFiles)
    assert located.target.mono == {"5551234": newer, "7001": agent}


def test_pattern_missing_stream_is_named(tmp_path: Path) -> None:
    touch(tmp_path / "UUID1_5551234_1.wav", T0 + 1)
    touch(tmp_path / "UUID1_7001_1.wav", T0 - 1)  # before the call: not this call's
    located = RecordingLocator(RecordingsSpec("d", pattern="{calluuid}_{dn}_*.wav"), tmp_path).locate(KEYS, since=T0)
    assert not located.complete
    assert len(located.missing) == 1 and "DN 7001" in located.missing[0] and "UUID1_7001_*.wav" in located.missing[0]


def test_after_orders_newest_first_and_drops_older() -> None:
    entries = [FileEntry(Path("a"), T0 + 1, 1), FileEntry(Path("b"), T0 + 3, 1), FileEntry(Path("c"), T0 - 1, 1)]
    assert [e.path.name for e in after(entries, T0)] == ["b", "a"]


def test_newest_mono_assigns_by_dn_in_name_then_by_creation_order() -> None:
    entries = [FileEntry(Path("x-7001.wav"), T0 + 1, 1), FileEntry(Path("y.wav"), T0 + 2, 1),
               FileEntry(Path("old.wav"), T0 - 5, 1)]
    chosen = select_newest_mono(entries, KEYS.streams, since=T0)
    assert chosen["7001"].path.name == "x-7001.wav"
    assert chosen["5551234"].path.name == "y.wav"
    unnamed = [FileEntry(Path("second.wav"), T0 + 2, 1), FileEntry(Path("first.wav"), T0 + 1, 1)]
    chosen = select_newest_mono(unnamed, KEYS.streams, since=T0)
    assert (chosen["5551234"].path.name, chosen["7001"].path.name) == ("first.wav", "second.wav")


def test_newest_mono_unnamed_file_goes_to_the_stream_whose_time_code_it_holds(tmp_path: Path) -> None:
    # One file for two streams (linphonec's single record file): it must be judged as the stream
    # really in it (the agent's, alphabet 1) even though it was written first, and the customer's
    # stream is then the one without a file.
    streams = (StreamKey("5551234", "customer", "c1@x", timecode=0), StreamKey("7001", "agent", "c2@x", timecode=1))
    only = tmp_path / "linphone.wav"
    soundfile.write(str(only), timecode_samples(1, 0, 8 * SEGMENT_SAMPLES), 8000, subtype="PCM_16", format="WAV")
    os.utime(only, (T0 + 1, T0 + 1))
    assert timecode_streams_in(only) == [1]
    chosen = select_newest_mono([FileEntry(only, T0 + 1, 1)], streams, since=T0, content=timecode_streams_in)
    assert {dn: e.path.name for dn, e in chosen.items()} == {"7001": "linphone.wav"}
    # Without a decodable time code the creation-order rule still applies.
    silent = wav(tmp_path / "silent.wav", T0 + 1)
    chosen = select_newest_mono([FileEntry(silent, T0 + 1, 1)], streams, since=T0, content=timecode_streams_in)
    assert {dn: e.path.name for dn, e in chosen.items()} == {"5551234": "silent.wav"}


def test_newest_stereo_maps_channels_by_side(tmp_path: Path) -> None:
    touch(tmp_path / "old.wav", T0 - 10)
    new = touch(tmp_path / "sub" / "new.wav", T0 + 1)
    spec = RecordingsSpec("d", locate="newest", glob="**/*.wav", layout="stereo", channels=("agent", "customer"))
    located = RecordingLocator(spec, tmp_path).locate(KEYS, since=T0)
    assert isinstance(located.target, RecordingFiles)
    assert located.target.multichannel == new
    assert located.target.channel_dns == ("7001", "5551234")


def test_stereo_pattern_nothing_after_call_start(tmp_path: Path) -> None:
    touch(tmp_path / "UUID1.wav", T0 - 10)
    spec = RecordingsSpec("d", pattern="{calluuid}.wav", layout="stereo", channels=("customer", "agent"))
    located = RecordingLocator(spec, tmp_path).locate(KEYS, since=T0)
    assert located.missing and "UUID1.wav" in located.missing[0]
    assert isinstance(located.target, RecordingFiles) and located.target.multichannel is None


def test_metadata_lists_the_files(tmp_path: Path) -> None:
    stereo = touch(tmp_path / "UUID1" / "mix.wav", T0 + 1)
    touch(tmp_path / "UUID1" / "meta.json", T0 + 1, json.dumps({"files": [
        {"path": "mix.wav", "dn": "7001", "channel": 1}, {"path": "mix.wav", "dn": "5551234", "channel": 0}]}).encode())
    spec = RecordingsSpec("d", locate="metadata", metadata="{calluuid}/meta.json", layout="stereo",
                          channels=("metadata",))
    located = RecordingLocator(spec, tmp_path).locate(KEYS, since=T0)
    assert located.complete
    assert isinstance(located.target, RecordingFiles)
    assert (located.target.multichannel, located.target.channel_dns) == (stereo, ("5551234", "7001"))


def test_metadata_problems_are_one_line() -> None:
    assert files_from_metadata({"recording": []}, Path(".")) == 'no "files" list'
    assert "lacks" in str(files_from_metadata({"files": [{"dn": "1"}]}, Path(".")))
    assert "channel number" in str(files_from_metadata({"files": [{"path": "a", "dn": "1", "channel": "L"}]},
                                                       Path(".")))
    parsed = files_from_metadata({"files": [{"path": "a.wav", "dn": "1"}]}, Path("/r"))
    assert parsed == ({"1": Path("/r/a.wav")}, None, ())


def test_metadata_missing_file_is_reported(tmp_path: Path) -> None:
    touch(tmp_path / "UUID1.json", T0 + 1, b"{not json")
    spec = RecordingsSpec("d", locate="metadata", metadata="{calluuid}.json")
    located = RecordingLocator(spec, tmp_path).locate(KEYS, since=T0)
    assert located.missing and "unreadable" in located.missing[0]


def test_wav_format_and_format_note(tmp_path: Path) -> None:
    assert wav_format(wav(tmp_path / "p.wav", T0)) == "pcm16"
    assert wav_format(wav(tmp_path / "u.wav", T0, "ULAW")) == "mulaw"
    assert wav_format(wav(tmp_path / "a.wav", T0, "ALAW")) == "alaw"
    assert wav_format(touch(tmp_path / "junk.wav", T0)) is None
    keys = CallKeys("U", "R", "1", (StreamKey("1"),))
    wav(tmp_path / "U-1.wav", T0 + 1, "ULAW")
    located = RecordingLocator(RecordingsSpec("d", pattern="{calluuid}-{dn}.wav", format="pcm16"),
                               tmp_path).locate(keys, since=T0)
    assert located.notes == ("U-1.wav is mulaw, the profile says format = 'pcm16'",)


def test_reference_layout_is_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "UUID1" / "REC1"
    touch(directory / "recording.json", T0, b'{"complete": true}')
    located = RecordingLocator(RecordingsSpec("d", layout="reference"), tmp_path).locate(KEYS, since=T0)
    assert located.target == directory and located.complete
    touch(directory / "recording.json", T0, b'{"complete": false}')
    assert not RecordingLocator(RecordingsSpec("d", layout="reference"), tmp_path).locate(KEYS, since=T0).complete


def test_which_layouts_can_tell_two_recordings_of_one_call_apart() -> None:
    # Stop then start gives a new record id for the same CallUUID (seed step 9): only names that
    # carry the record id (or the session's Call-ID) can be matched to each recording.
    assert REFERENCE_LAYOUT.separates_recordings
    assert RecordingsSpec("d", pattern="{calluuid}/call-{record_id}.wav", layout="stereo").separates_recordings
    assert RecordingsSpec("d", pattern="{call_id}.wav").separates_recordings
    assert not RecordingsSpec("d", pattern="{calluuid}_{dn}_*.wav").separates_recordings
    assert not RecordingsSpec("d", locate="newest", glob="*.wav").separates_recordings
    assert RecordingsSpec("d", locate="metadata", metadata="{record_id}.json").separates_recordings
