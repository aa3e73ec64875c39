"""Crash-safe PCM16 WAV writer (RIFF WAVE, WAVE_FORMAT_PCM = 1) and a small reader.

Implements the canonical 44-byte RIFF/WAVE layout of the Microsoft/IBM "Multimedia
Programming Interface and Data Specifications 1.0" (1991), as also described by the
`wave` module: ``RIFF <size> WAVE`` + ``fmt `` chunk (16 bytes, format tag 1) + ``data``
chunk. PCM16 samples are little-endian signed 16-bit, interleaved per frame.

Crash safety (docs/architecture.md §4 "a crash leaves playable files"): the header is written at open
with a valid, *empty* data chunk (data size 0, RIFF size 36). Frames are appended after
it; `checkpoint()` flushes them to the kernel and only *then* patches the two size fields
in place with `os.pwrite`, so at every instant the sizes in the header describe bytes
that are already in the file. A SIGKILL at any point therefore leaves a file that
`wave` / libsndfile read as a valid WAV holding at least everything up to the last
checkpoint (bytes appended after it are trailing data the readers ignore). `fsync=True`
additionally survives power loss, at the cost of one fsync per checkpoint.

The writer never reads the clock: the owner decides when to checkpoint (at least once a
second for the recorder).

The RIFF size field is an unsigned 32-bit integer, so a file cannot hold more than
``0xFFFFFFFF - 36`` data bytes (~74 h of 8 kHz mono). The writer refuses to grow past it
(`WavSizeLimitError`, nothing written) and exposes `remaining_frames` so the caller can
fill the file exactly and roll over to a new one.
"""

from __future__ import annotations

import os
import struct
import wave
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "HEADER_SIZE",
    "MAX_RIFF_DATA_BYTES",
    "WavSizeLimitError",
    "WavWriter",
    "read_wav",
]

HEADER_SIZE: Final = 44
# RIFF chunk size = 4 ("WAVE") + 8 + 16 (fmt chunk) + 8 + data = 36 + data, and it is a
# 32-bit unsigned field: data may be at most 0xFFFFFFFF - 36 bytes.
MAX_RIFF_DATA_BYTES: Final = 0xFFFFFFFF - 36
_WAVE_FORMAT_PCM: Final = 1
_SAMPLE_BYTES: Final = 2


class WavSizeLimitError(Exception):
    """Appending would push the file past the 4 GiB RIFF limit; roll over to a new file."""


def _header(channels: int, sample_rate: int, data_bytes: int) -> bytes:
    block_align = channels * _SAMPLE_BYTES
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", 36 + data_bytes),
            b"WAVE",
            b"fmt ",
            struct.pack(
                "<IHHIIHH",
                16,
                _WAVE_FORMAT_PCM,
                channels,
                sample_rate,
                sample_rate * block_align,
                block_align,
                _SAMPLE_BYTES * 8,
            ),
            b"data",
            struct.pack("<I", data_bytes),
        )
    )


class WavWriter:
    """Append-only PCM16 WAV file whose header is valid after every `checkpoint()`.

    `frames` passed to `write` are int16 arrays: shape ``(n,)`` for mono, ``(n, channels)``
    for interleaved multi-channel audio. The file is created exclusively (an existing file,
    or a symlink planted at the path, is never overwritten or followed) unless
    ``overwrite=True``. ``max_data_bytes`` lowers the RIFF limit (tests of the roll-over).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        channels: int = 1,
        sample_rate: int = 8000,
        fsync: bool = False,
        overwrite: bool = False,
        max_data_bytes: int = MAX_RIFF_DATA_BYTES,
    ) -> None:
        if channels < 1 or channels > 0xFFFF:
            raise ValueError(f"channels must be 1..65535, got {channels}")
        if sample_rate < 1 or sample_rate * channels * _SAMPLE_BYTES > 0xFFFFFFFF:
            raise ValueError(f"invalid sample rate {sample_rate}")
        self.path = Path(path)
        self.channels = channels
        self.sample_rate = sample_rate
        self._fsync = fsync
        self._block_align = channels * _SAMPLE_BYTES
        limit = min(max_data_bytes, MAX_RIFF_DATA_BYTES)
        # Whole frames only: a data chunk ending mid-frame is not a valid PCM stream.
        self._max_data_bytes = limit - limit % self._block_align
        self._data_bytes = 0
        self._checkpointed_bytes = 0
        self._closed = False
        self._file: BinaryIO = open(self.path, "wb" if overwrite else "xb")  # noqa: SIM115 - owned until close()
        try:
            self._file.write(_header(channels, sample_rate, 0))
            self._file.flush()
            if fsync:
                os.fsync(self._file.fileno())
        except BaseException:
            self._file.close()
            raise

    # -- state -----------------------------------------------------------------------------
    @property
    def frames_written(self) -> int:
        """Frames appended so far (some may not be covered by the header yet)."""
        return self._data_bytes // self._block_align

    @property
    def checkpointed_frames(self) -> int:
        """Frames a reader is guaranteed to see if the process dies now."""
        return self._checkpointed_bytes // self._block_align

    @property
    def remaining_frames(self) -> int:
        """Frames that still fit under the RIFF size limit."""
        return (self._max_data_bytes - self._data_bytes) // self._block_align

    @property
    def closed(self) -> bool:
        return self._closed

    # -- writing ---------------------------------------------------------------------------
    def write(self, frames: npt.NDArray[np.int16]) -> None:
        """Append frames. Raises `WavSizeLimitError` (writing nothing) past the RIFF limit."""
        if self._closed:
            raise ValueError(f"{self.path}: write after close")
        arr = np.asarray(frames)
        if arr.dtype != np.int16:
            raise TypeError(f"frames must be int16, got {arr.dtype}")
        shape_ok = (arr.ndim == 1 and self.channels == 1) or (arr.ndim == 2 and arr.shape[1] == self.channels)
        if not shape_ok:
            raise ValueError(f"frames shape {arr.shape} does not match {self.channels} channel(s)")
        nbytes = arr.shape[0] * self._block_align
        if nbytes == 0:
            return
        if self._data_bytes + nbytes > self._max_data_bytes:
            raise WavSizeLimitError(
                f"{self.path}: {arr.shape[0]} more frames exceed the RIFF size limit "
                f"({self.remaining_frames} frames left); roll over to a new file"
            )
        # WAV PCM is little-endian whatever the host byte order.
        self._file.write(np.ascontiguousarray(arr, dtype="<i2").tobytes())
        self._data_bytes += nbytes

    def checkpoint(self, provisional: npt.NDArray[np.int16] | None = None) -> None:
        """Make everything written so far visible to a reader of the file, even after SIGKILL.

        `provisional` frames (audio received but not final yet, e.g. still inside a jitter
        window) are written after the data and covered by the header too, then the write
        position goes back to the end of the data: the next `write` overwrites them in place.
        A crash before that leaves them in the file as the best audio known at the checkpoint.
        """
        if self._closed:
            return
        extra = 0
        if provisional is not None:
            arr = np.asarray(provisional, dtype="<i2")[: self.remaining_frames]
            if arr.shape[0]:
                self._file.write(np.ascontiguousarray(arr).tobytes())
                extra = arr.shape[0] * self._block_align
        self._file.flush()
        if self._fsync:
            # Data must be durable before the header claims it.
            os.fsync(self._file.fileno())
        fd = self._file.fileno()
        # RIFF size first, then data size: the data size never claims more than the
        # RIFF size covers, whichever of the two writes a crash interrupts.
        os.pwrite(fd, struct.pack("<I", 36 + self._data_bytes + extra), 4)
        os.pwrite(fd, struct.pack("<I", self._data_bytes + extra), 40)
        if self._fsync:
            os.fsync(fd)
        if extra:
            self._file.seek(HEADER_SIZE + self._data_bytes)
        self._checkpointed_bytes = self._data_bytes + extra

    def close(self) -> None:
        """Final checkpoint and close; idempotent."""
        if self._closed:
            return
        try:
            self.checkpoint()
            # A provisional tail longer than the final data would linger as trailing bytes.
            self._file.truncate(HEADER_SIZE + self._data_bytes)
        finally:
            self._closed = True
            self._file.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_wav(path: str | os.PathLike[str]) -> tuple[int, int, npt.NDArray[np.int16]]:
    """Read a PCM16 WAV: ``(sample_rate, channels, samples)``.

    ``samples`` has shape ``(n,)`` for mono and ``(n, channels)`` otherwise. Only the
    frames the header's data size covers are returned (trailing bytes appended after the
    last checkpoint are ignored, as every WAV reader does).
    """
    with wave.open(os.fspath(path), "rb") as wf:
        if wf.getsampwidth() != _SAMPLE_BYTES:
            raise ValueError(f"{path}: sample width {wf.getsampwidth()} bytes, expected 2 (PCM16)")
        channels = wf.getnchannels()
        rate = wf.getframerate()
        raw = wf.readframes(wf.getnframes())
    data = np.frombuffer(raw, dtype="<i2").astype(np.int16)
    if channels > 1:
        data = data.reshape(-1, channels)
    return rate, channels, data
