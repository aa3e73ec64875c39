"""WAV output of a recording: a file that rolls over at the RIFF size limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from reference_recorder.wavfile import WavWriter

__all__ = ["RollingWav"]


class RollingWav:
    """A WAV file that continues in ``<stem>--part<k>.wav`` when the RIFF limit is reached."""

    def __init__(
        self, directory: Path, stem: str, channels: int, sample_rate: int, fsync: bool, max_data_bytes: int
    ) -> None:
        self._dir = directory
        self._stem = stem
        self._channels = channels
        self._rate = sample_rate
        self._fsync = fsync
        self._max = max_data_bytes
        self.files: list[str] = []
        self.frames = 0
        self._writer = self._open_next()

    def _open_next(self) -> WavWriter:
        k = len(self.files) + 1
        name = f"{self._stem}.wav" if k == 1 else f"{self._stem}--part{k}.wav"
        writer = WavWriter(
            self._dir / name,
            channels=self._channels,
            sample_rate=self._rate,
            fsync=self._fsync,
            max_data_bytes=self._max,
        )
        self.files.append(name)
        return writer

    def write(self, frames: npt.NDArray[np.int16]) -> None:
        while frames.shape[0] > 0:
            room = self._writer.remaining_frames
            if room == 0:
                self._writer.close()
                self._writer = self._open_next()
                continue
            part = frames[:room]
            self._writer.write(part)
            self.frames += part.shape[0]
            frames = frames[room:]

    def checkpoint(self, provisional: npt.NDArray[np.int16] | None = None) -> None:
        """Header covers the data (+ `provisional` frames, overwritten by the next write)."""
        self._writer.checkpoint(provisional)

    def close(self) -> None:
        self._writer.close()

    @property
    def closed(self) -> bool:
        return self._writer.closed
