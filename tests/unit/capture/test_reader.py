"""dpkt frames the capture; truncated, corrupt or trailing bytes are one `PcapReadError` line."""

from __future__ import annotations

import struct
from pathlib import Path

import dpkt
import pytest

from harness.capture.reader import PcapReadError, iter_frame_chunks, iter_frames
from tests.unit.validators.builders import MS_SIP, REC_SIP, ether, fixture, rtp, udp, write_pcap, write_pcapng

FRAMES = [(1.0 + 0.02 * i, ether(udp(("127.0.0.1", 20000), ("127.0.0.2", 30000), rtp(i, 160 * i))))
          for i in range(40)] + [(2.0, ether(udp(MS_SIP, REC_SIP, fixture("leg_a_invite.sip"))))]


def _read(path: Path) -> tuple[list[tuple[float, int, bytes]], PcapReadError | None]:
    frames: list[tuple[float, int, bytes]] = []
    try:
        for frame in iter_frames(path):
            frames.append(frame)
    except PcapReadError as exc:
        return frames, exc
    return frames, None


@pytest.mark.parametrize("writer", [write_pcap, write_pcapng])
def test_good_capture_reads_every_frame_without_error(tmp_path: Path, writer) -> None:  # type: ignore[no-untyped-def]
    frames, error = _read(writer(tmp_path / "good", FRAMES))
    assert error is None
    assert [data for _ts, _lt, data in frames] == [data for _ts, data in FRAMES]
    assert [ts for ts, _lt, _data in frames] == pytest.approx([ts for ts, _ in FRAMES])
    assert all(lt == dpkt.pcap.DLT_EN10MB for _ts, lt, _data in frames)


@pytest.mark.parametrize("garbage", [b"\x00" * 7, b"\xde\xad\xbe\xef" * 10, b"\xff" * 16 + b"x" * 100])
@pytest.mark.parametrize("writer", [write_pcap, write_pcapng])
def test_garbage_after_the_last_record_keeps_every_record(tmp_path: Path, writer, garbage: bytes) -> None:  # type: ignore[no-untyped-def]
    path = writer(tmp_path / "tail", FRAMES)
    size = path.stat().st_size
    path.write_bytes(path.read_bytes() + garbage)
    frames, error = _read(path)
    assert len(frames) == len(FRAMES)  # every valid record was read
    assert error is not None and error.offset == size
    assert "\n" not in str(error) and str(path) in str(error) and f"byte offset {size}" in str(error)


def test_corrupt_record_length_mid_file(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "c.pcap", FRAMES)
    data = bytearray(path.read_bytes())
    offset = 24 + 3 * (16 + len(FRAMES[0][1]))  # the 4th record header
    data[offset + 8:offset + 12] = struct.pack("<I", 0x7FFFFFFF)
    path.write_bytes(bytes(data))
    frames, error = _read(path)
    assert len(frames) == 3
    assert error is not None and error.offset == offset and "corrupt record header" in error.reason


def test_truncated_last_record_is_not_a_frame(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "t.pcap", FRAMES)
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    frames, error = _read(path)
    assert len(frames) == len(FRAMES) - 1
    assert error is not None and "truncated record" in error.reason
    assert error.offset == len(data) - 16 - len(FRAMES[-1][1])


def test_nanosecond_pcap_timestamps_are_floats(tmp_path: Path) -> None:
    path = tmp_path / "ns.pcap"
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f, nano=True)
        writer.writepkt(FRAMES[0][1], ts=1.5)
    (ts, _lt, _data), = list(iter_frames(path))
    assert isinstance(ts, float) and ts == pytest.approx(1.5)


def test_chunks_carry_the_link_type(tmp_path: Path) -> None:
    chunks = list(iter_frame_chunks(write_pcap(tmp_path / "c.pcap", FRAMES)))
    assert sum(len(frames) for _lt, _times, frames in chunks) == len(FRAMES)
    assert {lt for lt, _t, _f in chunks} == {dpkt.pcap.DLT_EN10MB}


@pytest.mark.parametrize(("content", "reason"), [(b"", "not a pcap"), (b"hello world", "not a pcap"),
                                                 (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated pcap file header")])
def test_unusable_files(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    frames, error = _read(path)
    assert frames == [] and error is not None and reason in str(error)


def test_missing_file(tmp_path: Path) -> None:
    frames, error = _read(tmp_path / "nope.pcap")
    assert frames == [] and error is not None and error.offset == 0 and "cannot open" in error.reason
