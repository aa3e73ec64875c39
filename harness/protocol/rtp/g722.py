"""G.722 for the RTP audio path (ITU-T G.722 64 kbit/s; RFC 3551 §4.5.2), sans-IO.

RFC 3551 §4.5.2: "Even though the actual sampling rate for G.722 audio is 16,000 Hz, the RTP
clock rate for the G722 payload format is 8,000 Hz because that value was erroneously assigned
in RFC 1890": the SDP says G722/8000 and the timestamp advances 160 per 20 ms, while a 20 ms
packet carries 320 wideband samples in 160 octets.

arec's audio timeline (the audio time code, the reference recorder's files) runs at 8 kHz, the
RTP clock: the encoder takes 8 kHz PCM and doubles its rate (linear interpolation: the time
code's tones are <= 3.1 kHz, inside the lower sub-band), the decoder halves the rate back
(average of sample pairs). Both are stateful like the ADPCM inside: one object per stream, fed
in order. The codec itself is the PyPI `g722` wheel (bit-exact ITU-T implementation).
"""

from __future__ import annotations

from array import array
from typing import Final

import G722
import numpy as np
import numpy.typing as npt

__all__ = ["BIT_RATE", "RTP_CLOCK", "G722Decoder", "G722Encoder"]

RTP_CLOCK: Final = 8000
BIT_RATE: Final = 64000
_WIDEBAND: Final = 16000


class G722Encoder:
    """8 kHz PCM in (any length, in order), G.722 octets out: one octet per 8 kHz sample."""

    def __init__(self) -> None:
        self._codec = G722.G722(_WIDEBAND, BIT_RATE)
        self._last = 0.0

    def encode(self, pcm: npt.ArrayLike) -> bytes:
        x = np.asarray(pcm, dtype=np.float64)
        if x.size == 0:
            return b""
        previous = np.concatenate(([self._last], x[:-1]))
        wide = np.empty(2 * x.size, dtype=np.float64)
        wide[0::2] = (previous + x) / 2  # half a sample late, but continuous across packets
        wide[1::2] = x
        self._last = float(x[-1])
        samples = array("h", np.clip(np.rint(wide), -32768, 32767).astype(np.int16).tobytes())
        return bytes(self._codec.encode(samples))


class G722Decoder:
    """G.722 octets in (one packet's payload, in order), 8 kHz int16 PCM out."""

    def __init__(self) -> None:
        self._codec = G722.G722(_WIDEBAND, BIT_RATE)

    def decode(self, payload: bytes | bytearray | memoryview) -> npt.NDArray[np.int16]:
        if not payload:
            return np.zeros(0, dtype=np.int16)
        wide = np.asarray(self._codec.decode(bytes(payload)), dtype=np.int32)
        wide = wide[: wide.size // 2 * 2]
        return ((wide[0::2] + wide[1::2]) // 2).astype(np.int16)
