"""ITU-T G.711 µ-law / A-law codec (RTP payload types 0 "PCMU" and 8 "PCMA", RFC 3551 §4.5.14).

Bit-exact with CPython's `audioop.lin2ulaw / ulaw2lin / lin2alaw / alaw2lin` at width 2, so
recordings decoded here match what the deprecated stdlib module (gone in Python 3.13) produced.
audioop does *not* use the textbook 16-bit "BIAS 0x84 / CLIP 32635" encoder: it first drops the
input to 14 bits (µ-law, `pcm >> 2`) or 13 bits (A-law, `pcm >> 3`) and then quantises
(Sun's g711.c `linear2ulaw`/`linear2alaw`). The 16-bit formula differs on 381 of 65536 µ-law inputs.

Everything is table based: the 65536-entry encode tables and 256-entry decode tables are built
once, vectorised, at import; encoding/decoding an array is one `numpy.take`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "SILENCE_BYTE",
    "SUPPORTED_CODECS",
    "alaw_decode",
    "alaw_encode",
    "decode",
    "encode",
    "ulaw_decode",
    "ulaw_encode",
]

#: Codec silence (positive zero) per RTP encoding name; used to pad gaps in recordings.
SILENCE_BYTE: Final[dict[str, int]] = {"PCMU": 0xFF, "PCMA": 0xD5}
SUPPORTED_CODECS: Final[frozenset[str]] = frozenset(SILENCE_BYTE)

_QUANT_MASK: Final = 0x0F
_SEG_MASK: Final = 0x70
_SEG_SHIFT: Final = 4
_SIGN_BIT: Final = 0x80
# µ-law bias for 14-bit input is 0x84 >> 2 == 33 (Sun g711.c: "pcm_val += (BIAS >> 2)").
_ULAW_BIAS_16: Final = 0x84
# Upper end of each of the 8 segments (Sun g711.c `seg_uend` / `seg_aend`).
_SEG_UEND: Final = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND: Final = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _all_int16() -> npt.NDArray[np.int32]:
    """Every int16 value, ordered by its uint16 bit pattern (so a table is indexed by `pcm.view(uint16)`)."""
    return np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int32)


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    x = _all_int16() >> 2  # 14-bit two's complement, arithmetic shift like audioop
    negative = x < 0
    mask = np.where(negative, 0x7F, 0xFF)
    mag = np.where(negative, -x, x) + (_ULAW_BIAS_16 >> 2)
    # `search()` in g711.c returns the first segment whose end is >= the value: searchsorted 'left'.
    seg = np.searchsorted(_SEG_UEND, mag, side="left")
    in_range = seg < 8
    seg_c = np.minimum(seg, 7)
    uval = (seg_c << 4) | ((mag >> (seg_c + 1)) & _QUANT_MASK)
    # Out of range: "return maximum value" (0x7F ^ mask).
    out = np.where(in_range, uval ^ mask, 0x7F ^ mask)
    return out.astype(np.uint8)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    x = _all_int16() >> 3  # 13-bit two's complement
    negative = x < 0
    # "A-law using even bit inversion": sign bit set for non-negative, then XOR 0x55.
    mask = np.where(negative, 0x55, 0xD5)
    mag = np.where(negative, -x - 1, x)
    seg = np.searchsorted(_SEG_AEND, mag, side="left")
    in_range = seg < 8
    seg_c = np.minimum(seg, 7)
    quant = np.where(seg_c < 2, mag >> 1, mag >> np.maximum(seg_c, 1)) & _QUANT_MASK
    aval = (seg_c << _SEG_SHIFT) | quant
    out = np.where(in_range, aval ^ mask, 0x7F ^ mask)
    return out.astype(np.uint8)


def _build_ulaw_decode() -> npt.NDArray[np.int16]:
    u = (~np.arange(256, dtype=np.int32)) & 0xFF
    t = (((u & _QUANT_MASK) << 3) + _ULAW_BIAS_16) << ((u & _SEG_MASK) >> _SEG_SHIFT)
    out = np.where(u & _SIGN_BIT, _ULAW_BIAS_16 - t, t - _ULAW_BIAS_16)
    return out.astype(np.int16)


def _build_alaw_decode() -> npt.NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & _QUANT_MASK) << 4
    seg = (a & _SEG_MASK) >> _SEG_SHIFT
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    out = np.where(a & _SIGN_BIT, t, -t)
    return out.astype(np.int16)


_ULAW_ENC: Final = _build_ulaw_encode()
_ALAW_ENC: Final = _build_alaw_encode()
_ULAW_DEC: Final = _build_ulaw_decode()
_ALAW_DEC: Final = _build_alaw_decode()
for _table in (_ULAW_ENC, _ALAW_ENC, _ULAW_DEC, _ALAW_DEC):
    _table.setflags(write=False)


def _as_pcm_index(pcm: npt.ArrayLike) -> npt.NDArray[np.uint16]:
    arr = np.asarray(pcm)
    if arr.dtype != np.int16:
        # Refuse silent wrap-around of wider ints / floats: the caller must decide how to scale.
        raise TypeError(f"G.711 encode expects int16 samples, got dtype {arr.dtype}")
    return arr.view(np.uint16)


def _as_codes(codes: npt.ArrayLike | bytes | bytearray | memoryview) -> npt.NDArray[np.uint8]:
    if isinstance(codes, bytes | bytearray | memoryview):
        return np.frombuffer(codes, dtype=np.uint8)
    arr = np.asarray(codes)
    if arr.dtype != np.uint8:
        raise TypeError(f"G.711 decode expects uint8 codes or bytes, got dtype {arr.dtype}")
    return arr


def ulaw_encode(pcm: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """16-bit linear PCM (int16 array) -> µ-law codes; equals `audioop.lin2ulaw(pcm, 2)`."""
    return np.take(_ULAW_ENC, _as_pcm_index(pcm))


def ulaw_decode(codes: npt.ArrayLike | bytes | bytearray | memoryview) -> npt.NDArray[np.int16]:
    """µ-law codes (uint8 array or bytes) -> int16 PCM; equals `audioop.ulaw2lin(codes, 2)`."""
    return np.take(_ULAW_DEC, _as_codes(codes))


def alaw_encode(pcm: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """16-bit linear PCM (int16 array) -> A-law codes; equals `audioop.lin2alaw(pcm, 2)`."""
    return np.take(_ALAW_ENC, _as_pcm_index(pcm))


def alaw_decode(codes: npt.ArrayLike | bytes | bytearray | memoryview) -> npt.NDArray[np.int16]:
    """A-law codes (uint8 array or bytes) -> int16 PCM; equals `audioop.alaw2lin(codes, 2)`."""
    return np.take(_ALAW_DEC, _as_codes(codes))


def _codec_name(codec: str) -> str:
    name = codec.upper()
    if name not in SUPPORTED_CODECS:
        raise ValueError(f"unsupported G.711 codec {codec!r}; expected one of {sorted(SUPPORTED_CODECS)}")
    return name


def encode(codec: str, pcm: npt.ArrayLike) -> bytes:
    """Encode int16 PCM as an RTP payload for encoding name "PCMU" or "PCMA" (case-insensitive)."""
    name = _codec_name(codec)
    table = _ULAW_ENC if name == "PCMU" else _ALAW_ENC
    return np.take(table, _as_pcm_index(pcm)).tobytes()


def decode(codec: str, payload: bytes | bytearray | memoryview) -> npt.NDArray[np.int16]:
    """Decode an RTP payload of encoding name "PCMU" or "PCMA" (case-insensitive) to int16 PCM."""
    name = _codec_name(codec)
    table = _ULAW_DEC if name == "PCMU" else _ALAW_DEC
    return np.take(table, _as_codes(payload))
