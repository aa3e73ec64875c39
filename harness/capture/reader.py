"""Capture file framing through dpkt: pcap / pcapng → (timestamp, link type, frame bytes).

dpkt's `pcap.Reader` and `pcapng.Reader` frame the file; this module adds what a validator
needs on top of them:

* the format is chosen by the magic (dpkt's pcap.Reader rejects pcapng): classic libpcap
  (a1b2c3d4 µs / a1b23c4d ns, either byte order) or pcapng (Section Header Block 0a0d0d0a);
* a truncated or corrupt record is *reported*: dpkt stops silently on a short read, so the
  bytes consumed are tracked and compared with what each record header announced and with the
  file size. Every frame read before the bad record is yielded, then `PcapReadError` is raised,
  whose `str()` is one line naming the file and the byte offset of the bad record (libpcap file
  format: 24-byte file header, 16-byte record headers; draft-ietf-opsawg-pcapng §3.1 blocks).

Classic pcap is the format of multi-gigabyte captures, so `iter_frame_blocks` (what the offline
pass reads) frames it without dpkt: a few MB are read at a time, the record headers are walked
with one `struct` read of the captured length each, and the timestamps of a block are decoded
with numpy; the frames stay in the block's buffer (start offset + length, no `bytes` object per
frame). dpkt's `pcap.Reader` costs about 0.8 µs a record (two file reads and a header object
each), the largest single cost of `arec validate` on a 100 MB capture; the fast path does the
same framing, gives the same timestamps (the same float operations as dpkt's
`tv_sec + tv_usec / divisor`), the same errors at the same byte offsets and the same chunk
boundaries (`_PcapChunker`), and `tests/unit/capture/test_reader.py` cross-checks it against
dpkt's reader (`iter_frame_chunks(..., fast=False)`). pcapng stays on dpkt.

pcapng limits (dpkt's reader): the link type and timestamp resolution (`if_tsresol`) are those
of the first Interface Description Block; Simple Packet Blocks are not returned.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO, Literal, cast

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_RECORD_LEN", "Frame", "FrameBlock", "FrameChunk", "PcapReadError", "iter_frame_blocks",
           "iter_frame_chunks", "iter_frames"]

MAX_RECORD_LEN = 256 * 1024 * 1024  # a record claiming more than this is corruption, not data

_PCAP_MAGICS = {  # magic → (record header byte order, nanosecond timestamps)
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\x3c\x4d": (">", True),
    b"\x4d\x3c\xb2\xa1": ("<", True),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_PCAP_FILE_HEADER = 24
_PCAP_RECORD_HEADER = 16

# (timestamp in seconds, link type, frame bytes)
Frame = tuple[float, int, bytes]
# (link type, timestamps, frame bytes) of consecutive records
FrameChunk = tuple[int, tuple[float, ...], tuple[bytes, ...]]


class PcapReadError(Exception):
    """A capture file is unreadable, truncated or corrupt at `offset`.

    `str()` is a single line: "<file>: <what> at byte offset <n>", fit for stderr (exit code 2).
    """

    def __init__(self, path: str, offset: int, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"{path}: {reason} at byte offset {offset}")


class _CorruptRecord(Exception):
    def __init__(self, caplen: int) -> None:
        self.caplen = caplen


class _ShortHeader(Exception):
    def __init__(self, got: int) -> None:
        self.got = got


def _record_header_class(endian: str, max_caplen: int) -> type:
    """A record-header class for dpkt's `pcap.Reader` (same attributes as its `PktHdr`)."""
    unpack = struct.Struct(endian + "IIII").unpack

    class RecordHeader:
        __hdr_len__ = _PCAP_RECORD_HEADER
        __slots__ = ("caplen", "len", "tv_sec", "tv_usec")

        def __init__(self, buf: bytes) -> None:
            if len(buf) < _PCAP_RECORD_HEADER:
                raise _ShortHeader(len(buf))
            self.tv_sec, self.tv_usec, self.caplen, self.len = unpack(buf)
            if self.caplen > max_caplen:
                raise _CorruptRecord(self.caplen)

    return RecordHeader


_first_item, _second_item = itemgetter(0), itemgetter(1)
_CHUNK = 4096  # frames handed on at a time (bounded memory, few generator round trips)


class FrameBlock:
    """Consecutive records of one link type: frame i is `buffer[starts[i]:starts[i] + lengths[i]]`,
    captured at `times[i]` (seconds). The frames are not copied out of the buffer the file was
    read into: the vector path reads their headers with numpy straight from it. `file_offset`:
    where `buffer[0]` is in the file, when the buffer is a span of it (the fast classic-pcap
    framer), else None; a second process can then read a part of it from the file itself
    instead of being sent it."""

    __slots__ = ("buffer", "file_offset", "lengths", "linktype", "starts", "times")

    def __init__(self, linktype: int, times: npt.NDArray[np.float64], buffer: bytes,
                 starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64],
                 file_offset: int | None = None) -> None:
        self.linktype = linktype
        self.times = times
        self.buffer = buffer
        self.starts = starts
        self.lengths = lengths
        self.file_offset = file_offset

    def __len__(self) -> int:
        return len(self.starts)

    @classmethod
    def of_frames(cls, linktype: int, times: tuple[float, ...], frames: tuple[bytes, ...]) -> FrameBlock:
        lengths = np.fromiter(map(len, frames), dtype=np.int64, count=len(frames))
        starts = np.zeros(len(frames), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        return cls(linktype, np.asarray(times, dtype=np.float64), b"".join(frames), starts, lengths)

    def as_chunk(self) -> FrameChunk:
        buffer = self.buffer
        frames = tuple(buffer[s:s + n] for s, n in zip(self.starts.tolist(), self.lengths.tolist(), strict=True))
        return self.linktype, tuple(self.times.tolist()), frames


def _read_errors() -> tuple[type[BaseException], ...]:
    """What dpkt's pcap reader raises on a bad record (ours from the record header class, its own)."""
    import dpkt

    return (_CorruptRecord, _ShortHeader, struct.error, dpkt.dpkt.NeedData, dpkt.dpkt.UnpackError)


_READ_BLOCK = 1024 * 1024  # bytes read at a time by the fast pcap framer (a few blocks in memory at once)


def _walk(data: bytes, pos: int, append: Callable[[int], None], order: Literal["little", "big"],
          max_record: int) -> int:
    """Append the offset of every whole record from `pos` on; return where the walk stopped (a
    record cut by the end of `data`, or one longer than `max_record`). The one per-record Python
    step of the fast framer (int.from_bytes of a 4-byte slice: the cheapest read of a captured
    length here)."""
    from_bytes = int.from_bytes
    n = len(data)
    limit = n - _PCAP_RECORD_HEADER
    while pos <= limit:
        end = pos + _PCAP_RECORD_HEADER + from_bytes(data[pos + 8:pos + 12], order)
        if end > n or end - pos > max_record:
            break
        append(pos)
        pos = end
    return pos


def _iter_pcap_fast(f: BinaryIO, name: str, magic: bytes, size: int) -> Iterator[FrameBlock]:
    """Classic pcap framed without dpkt (see the module docstring); same frames, timestamps,
    chunk boundaries and errors as `_iter_pcap`."""
    endian, nano = _PCAP_MAGICS[magic]
    header = f.read(_PCAP_FILE_HEADER)
    snaplen, linktype = struct.unpack(endian + "II", header[16:24])
    linktype &= 0x0FFFFFFF  # upper bits carry FCS info (pcap-linktype(7))
    max_caplen = min(max(snaplen, 262144), MAX_RECORD_LEN)
    divisor = 1e9 if nano else 1e6
    caplen_at = struct.Struct(endian + "I").unpack_from
    order: Literal["little", "big"] = "little" if endian == "<" else "big"
    max_record = _PCAP_RECORD_HEADER + max_caplen
    words = np.dtype(endian + "u4")
    data = b""
    base = _PCAP_FILE_HEADER  # file offset of data[0]
    pos = 0  # next record header in data
    heads: list[int] = []  # record headers in data not handed on yet
    handed = 0  # records handed on so far
    error: PcapReadError | None = None
    singleton_last = True  # the dpkt path hands its last record on alone, unless it was cut short

    def block(count: int) -> FrameBlock:
        at = np.array(heads[:count], dtype=np.int64)
        fields = np.frombuffer(data, dtype=np.uint8)[at[:, None] + np.arange(12)]
        values = np.ascontiguousarray(fields).view(words).reshape(-1, 3).astype(np.int64)
        times = values[:, 0].astype(np.float64) + values[:, 1].astype(np.float64) / divisor
        del heads[:count]
        return FrameBlock(linktype, times, data, at + _PCAP_RECORD_HEADER, values[:, 2], base)

    while True:
        more = f.read(_READ_BLOCK)
        if more:
            keep = heads[0] if heads else pos
            data = data[keep:] + more
            base += keep
            pos -= keep
            heads = [h - keep for h in heads]
        pos = _walk(data, pos, heads.append, order, max_record)
        limit = len(data) - _PCAP_RECORD_HEADER
        if pos <= limit:
            caplen = caplen_at(data, pos + 8)[0]
            if caplen > max_caplen:
                error = PcapReadError(name, base + pos, f"corrupt record header (captured length {caplen})")
        # Hand on the chunks whose last record is known (the dpkt path's boundaries).
        while heads:
            # dpkt's reader is drained 4096 records at a time, the last one held back until the
            # next: chunks end after record 4095, then every 4096 records.
            cut = handed + _CHUNK if handed else _CHUNK - 1
            if handed + len(heads) <= cut:
                break
            count = cut - handed
            handed = cut
            yield block(count)
        if error is not None or not more:
            break
    if error is None and pos < len(data):
        got = len(data) - pos
        if got < _PCAP_RECORD_HEADER:
            error = PcapReadError(name, base + pos, f"truncated record header ({got} of 16 bytes)")
        else:
            caplen = caplen_at(data, pos + 8)[0]
            error = PcapReadError(name, base + pos, f"truncated record ({got - 16} of {caplen} bytes)")
            singleton_last = False
    if len(heads) > 1 and singleton_last:
        yield block(len(heads) - 1)
    if heads:
        yield block(len(heads))
    if error is not None:
        raise error


def _iter_pcap(f: BinaryIO, name: str, magic: bytes, size: int) -> Iterator[FrameChunk]:
    import dpkt

    endian, nano = _PCAP_MAGICS[magic]
    read_errors = _read_errors()
    try:
        reader = dpkt.pcap.Reader(f)
    except (ValueError, dpkt.dpkt.UnpackError):
        raise PcapReadError(name, 0, "truncated pcap file header") from None
    linktype = reader.datalink() & 0x0FFFFFFF  # upper bits carry FCS info (pcap-linktype(7))
    max_caplen = min(max(reader.snaplen, 262144), MAX_RECORD_LEN)
    # dpkt divides nanoseconds by a Decimal: a float divisor keeps timestamps floats.
    reader._divisor = 1e9 if nano else 1e6
    if hasattr(reader, "_Reader__ph"):
        reader._Reader__ph = _record_header_class(endian, max_caplen)
    errors: list[BaseException] = []
    records: Iterator[tuple[float, bytes]] = iter(reader)
    held: tuple[float, bytes] | None = None  # the last frame, until the file is known to hold it whole
    while True:
        chunk: list[tuple[float, bytes]] = []
        try:
            # list.extend keeps the records appended before dpkt raises (no generator layer
            # per record to guard them); dpkt's generator is then finished: the next chunk is empty.
            chunk.extend(islice(records, _CHUNK))
        except read_errors as failure:
            errors.append(failure)
        if not chunk:
            break
        if held is not None:
            chunk.insert(0, held)
        held = chunk.pop()
        if chunk:
            # Two column tuples (zip(*chunk) of 4096 pairs costs more than dpkt's framing of them).
            yield linktype, tuple(map(_first_item, chunk)), tuple(map(_second_item, chunk))
    error: PcapReadError | None = None
    if errors:
        first = errors[0]
        if isinstance(first, _CorruptRecord):
            error = PcapReadError(name, f.tell() - _PCAP_RECORD_HEADER,
                                  f"corrupt record header (captured length {first.caplen})")
        else:
            got = first.got if isinstance(first, _ShortHeader) else 0
            error = PcapReadError(name, size - got, f"truncated record header ({got} of 16 bytes)")
    elif held is not None:
        # dpkt returns a last record cut short by the end of the file as it is: compare its
        # length with what its record header announced (read again: no cost per record).
        start = size - _PCAP_RECORD_HEADER - len(held[1])
        f.seek(start)
        caplen = struct.unpack(endian + "IIII", f.read(_PCAP_RECORD_HEADER))[2]
        if caplen > len(held[1]):
            error = PcapReadError(name, start, f"truncated record ({len(held[1])} of {caplen} bytes)")
            held = None
    if held is not None:
        yield linktype, (held[0],), (held[1],)
    if error is not None:
        raise error


class _CountingFile:
    """File wrapper for dpkt's pcapng reader: where each block starts, and short reads."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.position = 0
        self.block_start = 0
        self.short: tuple[int, int, int] | None = None  # (block start, wanted, got)
        self.name = getattr(f, "name", "<file>")

    def read(self, n: int = -1) -> bytes:
        if n == 8:  # dpkt reads every block's type + length with one 8-byte read
            self.block_start = self.position
        data = self._f.read(n)
        self.position += len(data)
        if 0 <= n != len(data) and self.short is None and (data or self.position != self.block_start):
            self.short = (self.block_start, n, len(data))
        return data


def _iter_pcapng(f: BinaryIO, name: str, size: int) -> Iterator[FrameChunk]:
    import dpkt

    counting = _CountingFile(f)
    try:
        reader = dpkt.pcapng.Reader(cast(BinaryIO, counting))
    except (ValueError, struct.error, dpkt.dpkt.NeedData, dpkt.dpkt.UnpackError) as exc:
        raise PcapReadError(name, counting.block_start, f"corrupt pcapng header ({exc})") from None
    linktype = reader.datalink()
    times: list[float] = []
    frames: list[bytes] = []
    error: PcapReadError | None = None
    try:
        for ts, buf in reader:
            if counting.short is not None:
                break
            times.append(float(ts))
            frames.append(bytes(buf))
            if len(frames) >= 1024:
                yield linktype, tuple(times), tuple(frames)
                times, frames = [], []
    except (ValueError, struct.error, dpkt.dpkt.NeedData, dpkt.dpkt.UnpackError):
        if counting.short is None:
            error = PcapReadError(name, counting.block_start, "corrupt block")
    if counting.short is not None:
        start, wanted, got = counting.short
        what = "block header" if wanted == 8 else "block"
        error = PcapReadError(name, start, f"truncated {what} ({got} of {wanted} bytes)")
    elif error is None and counting.position != size:
        error = PcapReadError(name, counting.position, "unreadable data after the last block")
    if frames:
        yield linktype, tuple(times), tuple(frames)
    if error is not None:
        raise error


def _iter_file(path: str | Path, fast: bool) -> Iterator[FrameChunk | FrameBlock]:
    name = str(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in the finally below, generator-scoped
    except OSError as exc:
        raise PcapReadError(name, 0, f"cannot open ({exc.strerror})") from None
    try:
        size = Path(path).stat().st_size
        magic = f.read(4)
        f.seek(0)
        if magic in _PCAP_MAGICS:
            if size < _PCAP_FILE_HEADER:
                raise PcapReadError(name, size, "truncated pcap file header")
            if fast:
                yield from _iter_pcap_fast(f, name, magic, size)
            else:
                yield from _iter_pcap(f, name, magic, size)
        elif magic == _PCAPNG_SHB:
            yield from _iter_pcapng(f, name, size)
        else:
            raise PcapReadError(name, 0, f"not a pcap or pcapng file (magic {magic.hex() or 'empty'})")
    finally:
        f.close()


def iter_frame_blocks(path: str | Path, *, fast: bool = True) -> Iterator[FrameBlock]:
    """The frames of a capture in file order, in `FrameBlock`s; errors as `iter_frame_chunks`.

    `fast`: classic pcap framed by `_iter_pcap_fast` (False: by dpkt's reader, the reference the
    tests compare it with)."""
    for item in _iter_file(path, fast):
        yield item if isinstance(item, FrameBlock) else FrameBlock.of_frames(*item)


def iter_frame_chunks(path: str | Path, *, fast: bool = True) -> Iterator[FrameChunk]:
    """The frames of a capture in file order, in chunks (link type, timestamps, frame bytes).

    Yields every frame read, then raises `PcapReadError` for a missing, unknown, truncated or
    corrupt file (one line: file + byte offset). `fast`: as in `iter_frame_blocks`."""
    for item in _iter_file(path, fast):
        yield item.as_chunk() if isinstance(item, FrameBlock) else item


def iter_frames(path: str | Path, *, fast: bool = True) -> Iterator[Frame]:
    """(timestamp, link type, frame bytes) of every record, in file order (see `iter_frame_chunks`)."""
    for linktype, times, frames in iter_frame_chunks(path, fast=fast):
        for ts, data in zip(times, frames, strict=True):
            yield ts, linktype, data
