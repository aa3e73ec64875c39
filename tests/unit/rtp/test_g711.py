"""G.711 codec: bit-exact with CPython's audioop (width 2) on every input."""

from __future__ import annotations

import sys
import warnings
from types import ModuleType

import numpy as np
import pytest

from harness.protocol.rtp import g711

ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


def _audioop() -> ModuleType:
    """audioop is the oracle. It must exist on 3.11/3.12; only on >= 3.13 (removed) may we skip."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioop
    except ImportError as exc:
        if sys.version_info >= (3, 13):
            pytest.skip("audioop was removed in Python 3.13; oracle comparison runs on 3.11/3.12")
        raise AssertionError("audioop must be importable on Python < 3.13: the G.711 oracle is missing") from exc
    return audioop


def test_ulaw_encode_matches_audioop_for_all_65536_inputs() -> None:
    audioop = _audioop()
    ours = g711.ulaw_encode(ALL_PCM)
    assert ours.dtype == np.uint8 and ours.shape == (65536,)
    assert ours.tobytes() == audioop.lin2ulaw(ALL_PCM.tobytes(), 2)


def test_alaw_encode_matches_audioop_for_all_65536_inputs() -> None:
    audioop = _audioop()
    ours = g711.alaw_encode(ALL_PCM)
    assert ours.dtype == np.uint8
    assert ours.tobytes() == audioop.lin2alaw(ALL_PCM.tobytes(), 2)


def test_ulaw_decode_matches_audioop_for_all_256_codes() -> None:
    audioop = _audioop()
    ours = g711.ulaw_decode(ALL_CODES)
    assert ours.dtype == np.int16
    assert ours.tobytes() == audioop.ulaw2lin(ALL_CODES, 2)


def test_alaw_decode_matches_audioop_for_all_256_codes() -> None:
    audioop = _audioop()
    ours = g711.alaw_decode(ALL_CODES)
    assert ours.dtype == np.int16
    assert ours.tobytes() == audioop.alaw2lin(ALL_CODES, 2)


def test_textbook_16bit_ulaw_formula_is_not_what_audioop_does() -> None:
    """Guards the note in the module docstring: a BIAS/CLIP 16-bit encoder would differ on 381 inputs."""
    bias, clip = 0x84, 32635
    x = ALL_PCM.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0x00)
    mag = np.minimum(np.abs(x), clip) + bias
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    textbook = (~(sign | (exponent << 4) | mantissa)) & 0xFF
    assert int(np.count_nonzero(textbook != g711.ulaw_encode(ALL_PCM))) == 381


@pytest.mark.parametrize(("codec", "silence"), [("PCMU", 0xFF), ("PCMA", 0xD5)])
def test_silence_byte_is_encoded_zero_and_decodes_to_zero(codec: str, silence: int) -> None:
    assert g711.SILENCE_BYTE[codec] == silence
    assert g711.encode(codec, np.zeros(160, dtype=np.int16)) == bytes([silence]) * 160
    # A-law has no zero level: its smallest magnitude decodes to +8 (µ-law 0xFF decodes to 0).
    assert g711.decode(codec, bytes([silence]) * 4).tolist() == [0 if codec == "PCMU" else 8] * 4


@pytest.mark.parametrize("codec", ["PCMU", "PCMA", "pcmu"])
def test_encode_decode_round_trip_is_idempotent_on_decoded_values(codec: str) -> None:
    """decode(encode(decode(c))) == decode(c): decoded levels are fixed points of the quantiser."""
    levels = g711.decode(codec, ALL_CODES)
    assert g711.decode(codec, g711.encode(codec, levels)).tolist() == levels.tolist()


def test_generic_functions_dispatch_to_the_right_law() -> None:
    pcm = np.array([0, 1000, -1000, 32767, -32768], dtype=np.int16)
    assert g711.encode("PCMU", pcm) == g711.ulaw_encode(pcm).tobytes()
    assert g711.encode("PCMA", pcm) == g711.alaw_encode(pcm).tobytes()
    assert g711.decode("PCMA", b"\x2a\xaa").tolist() == g711.alaw_decode(b"\x2a\xaa").tolist()
    assert g711.ulaw_decode(np.frombuffer(b"\x00\x80", dtype=np.uint8)).tolist() == [-32124, 32124]


def test_decode_accepts_bytearray_and_memoryview() -> None:
    data = bytearray(b"\x01\x02\x03")
    assert g711.decode("PCMU", memoryview(data)).tolist() == g711.decode("PCMU", bytes(data)).tolist()
    assert g711.decode("PCMU", data).tolist() == g711.decode("PCMU", bytes(data)).tolist()


def test_unknown_codec_and_wrong_dtype_are_rejected() -> None:
    with pytest.raises(ValueError, match="G722"):
        g711.encode("G722", np.zeros(1, dtype=np.int16))
    with pytest.raises(ValueError, match="unsupported"):
        g711.decode("opus", b"\x00")
    with pytest.raises(TypeError, match="int16"):
        g711.ulaw_encode(np.zeros(4, dtype=np.int32))
    with pytest.raises(TypeError, match="uint8"):
        g711.alaw_decode(np.zeros(4, dtype=np.int16))
