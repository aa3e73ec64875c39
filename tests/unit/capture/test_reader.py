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


# ---------------------------------------------------------------------------------------------
# The fast classic-pcap framer (iter_frame_blocks) against dpkt's reader (fast=False): the same
# frames, timestamps, chunk boundaries and errors.


def _raw_pcap(records: list[tuple[int, int, bytes]], *, endian: str = "<", nano: bool = False,
              snaplen: int = 262144) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, 1)]
    for sec, frac, data in records:
        out.append(struct.pack(endian + "IIII", sec, frac, len(data), len(data)) + data)
    return b"".join(out)


def _records(count: int, seed: int = 5) -> list[tuple[int, int, bytes]]:
    """Runs of same-length frames (RTP-like) broken by other lengths (SIP-like), as captures are."""
    import random

    rnd = random.Random(seed)
    out = []
    for n in range(count):
        size = 214 if rnd.random() < 0.95 else rnd.randrange(0, 1500)
        out.append((1_700_000_000 + n // 50, rnd.randrange(0, 1_000_000), bytes([n & 0xFF]) * size))
    return out


def _both(path: Path) -> tuple[list[object], list[object]]:
    def collect(fast: bool) -> list[object]:
        out: list[object] = []
        try:
            for chunk in iter_frame_chunks(path, fast=fast):
                out.append(chunk)
        except PcapReadError as exc:
            out.append(("error", str(exc), exc.offset))
        return out

    return collect(True), collect(False)


@pytest.mark.parametrize("count", [1, 2, 4095, 4096, 4097, 8191, 8192, 12000])
@pytest.mark.parametrize(("endian", "nano"), [("<", False), (">", False), ("<", True)])
def test_fast_framer_equals_dpkt_on_good_files(tmp_path: Path, count: int, endian: str, nano: bool) -> None:
    path = tmp_path / "good.pcap"
    path.write_bytes(_raw_pcap(_records(count), endian=endian, nano=nano))
    fast, reference = _both(path)
    assert fast == reference  # frames, timestamps (same floats), link type and chunk boundaries
    assert sum(len(chunk[2]) for chunk in fast) == count  # type: ignore[index]


@pytest.mark.parametrize("damage", ["cut-body", "cut-header", "header-only", "corrupt-mid", "corrupt-last",
                                    "garbage-short", "garbage-long", "zero-length-tail"])
@pytest.mark.parametrize("count", [3, 4096, 9000])
def test_fast_framer_equals_dpkt_on_damaged_files(tmp_path: Path, damage: str, count: int) -> None:
    records = _records(count)
    data = bytearray(_raw_pcap(records))
    last = len(data) - 16 - len(records[-1][2])
    if damage == "cut-body":
        data = data[:-3]
    elif damage == "cut-header":
        data = data[:last + 7]
    elif damage == "header-only":
        data = data[:last + 16]
    elif damage in ("corrupt-mid", "corrupt-last"):
        at = 24 + sum(16 + len(r[2]) for r in records[:count // 2]) if damage == "corrupt-mid" else last
        data[at + 8:at + 12] = struct.pack("<I", 0x7FFFFFFF)
    elif damage == "garbage-short":
        data += b"\x01\x02\x03"
    elif damage == "garbage-long":
        data += b"\xff" * 40
    else:
        data += struct.pack("<IIII", 1, 2, 0, 0)  # a whole zero-length record: not damage at all
    path = tmp_path / "bad.pcap"
    path.write_bytes(bytes(data))
    fast, reference = _both(path)
    assert fast == reference
    assert damage == "zero-length-tail" or fast[-1][0] == "error"  # type: ignore[index]


def test_fast_framer_across_read_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records straddling the framer's reads, and a record longer than one read."""
    from harness.capture import reader

    monkeypatch.setattr(reader, "_READ_BLOCK", 1000)
    records = _records(5000) + [(1_700_000_999, 1, b"\xab" * 70000)] + _records(100, seed=6)
    path = tmp_path / "blocks.pcap"
    path.write_bytes(_raw_pcap(records, snaplen=65535))
    fast, reference = _both(path)
    assert fast == reference
    frames = [frame for chunk in fast for frame in chunk[2]]  # type: ignore[index]
    assert frames == [r[2] for r in records]


def test_fast_framer_is_what_the_offline_pass_reads(tmp_path: Path) -> None:
    """`iter_frame_blocks` frames classic pcap itself (no dpkt import on that path) and pcapng
    through dpkt; both give FrameBlocks whose frames are the file's."""
    from harness.capture.reader import iter_frame_blocks

    for writer in (write_pcap, write_pcapng):
        path = writer(tmp_path / f"x-{writer.__name__}", FRAMES)
        blocks = list(iter_frame_blocks(path))
        frames = [b.buffer[s:s + n] for b in blocks for s, n in zip(b.starts.tolist(), b.lengths.tolist(), strict=True)]
        assert frames == [data for _ts, data in FRAMES]
        assert [t for b in blocks for t in b.times.tolist()] == pytest.approx([ts for ts, _ in FRAMES])
