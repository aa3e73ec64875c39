"""RTP sequence-number and timestamp wrap arithmetic (RFC 3550 §5.1, Appendix A.1).

Every modular comparison of 16-bit sequence numbers and 32-bit timestamps in the project goes
through this module (docs/architecture.md §5), so "which packet is newer" has exactly one definition.

RFC 3550 §5.1: the sequence number "increments by one for each RTP data packet sent" and wraps
at 2**16; the timestamp is a 32-bit counter that wraps at 2**32. Distances are taken as the
shortest signed way round the circle (serial-number arithmetic): the result lies in
[-2**(n-1), 2**(n-1) - 1]. Exactly half a circle apart is reported as -2**(n-1), so neither
number counts as newer than the other.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "SEQ_MOD",
    "TS_MOD",
    "ExtendedSequence",
    "ExtendedTimestamp",
    "seq_add",
    "seq_distance",
    "seq_newer",
    "seq_wrapped",
    "seq_distance_array",
    "seq_forward",
    "seq_forward_array",
    "ts_add",
    "ts_distance",
    "ts_distance_array",
    "ts_forward",
    "ts_forward_array",
    "ts_unwrap",
    "ts_newer",
    "ts_wrapped",
]

SEQ_MOD: Final = 1 << 16
TS_MOD: Final = 1 << 32
TS_HALF: Final = 1 << 31  # half the timestamp circle: "below 1/2 of timestamp range" (in time sequence)
_SEQ_HALF: Final = SEQ_MOD >> 1
_TS_HALF: Final = TS_MOD >> 1


def _check(value: int, modulus: int, what: str) -> None:
    if not 0 <= value < modulus:
        raise ValueError(f"{what} {value} out of range 0..{modulus - 1}")


def seq_distance(a: int, b: int) -> int:
    """Signed 16-bit distance `b - a`: positive when `b` comes after `a` (65535 -> 0 is +1)."""
    return ((b - a + _SEQ_HALF) & 0xFFFF) - _SEQ_HALF


def seq_newer(a: int, b: int) -> bool:
    """True when sequence number `a` is strictly newer (later) than `b`, e.g. seq_newer(0, 65535)."""
    return seq_distance(b, a) > 0


def seq_add(seq: int, n: int) -> int:
    """`seq + n` modulo 2**16 (n may be negative)."""
    return (seq + n) & 0xFFFF


def ts_distance(a: int, b: int) -> int:
    """Signed 32-bit distance `b - a`: positive when `b` comes after `a` (2**32-1 -> 0 is +1)."""
    return ((b - a + _TS_HALF) & 0xFFFFFFFF) - _TS_HALF


def seq_forward(a: int, b: int) -> int:
    """Unsigned 16-bit distance from `a` forward to `b` (RFC 3550 A.1 `udelta = seq - max_seq`)."""
    return (b - a) & 0xFFFF


def ts_forward(a: int, b: int) -> int:
    """Unsigned 32-bit distance from `a` forward to `b` (Wireshark's guint32_wraparound_diff)."""
    return (b - a) & 0xFFFFFFFF


def ts_unwrap(highest: int, ts: int) -> int:
    """The extended timestamp of 32-bit `ts` nearest to the extended value `highest` (the
    `ExtendedTimestamp` rule, as one function for hot loops)."""
    return highest + ts_distance(highest & 0xFFFFFFFF, ts)


def seq_forward_array(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """`seq_forward` element by element."""
    return (b - a) & 0xFFFF


def ts_forward_array(a: npt.NDArray[np.int64] | int, b: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """`ts_forward` element by element."""
    return (b - a) & 0xFFFFFFFF


def ts_distance_array(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """`ts_distance` element by element (int64 arrays of 32-bit timestamps)."""
    return ((b - a + _TS_HALF) & 0xFFFFFFFF) - _TS_HALF


def seq_distance_array(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """`seq_distance` element by element (int64 arrays of 16-bit sequence numbers)."""
    return ((b - a + _SEQ_HALF) & 0xFFFF) - _SEQ_HALF


def ts_newer(a: int, b: int) -> bool:
    """True when timestamp `a` is strictly newer (later) than `b`."""
    return ts_distance(b, a) > 0


def ts_add(ts: int, n: int) -> int:
    """`ts + n` modulo 2**32 (n may be negative)."""
    return (ts + n) & 0xFFFFFFFF


def seq_wrapped(previous: int, value: int) -> bool:
    """True when sequence number `value` follows `previous` across the wrap point: newer by
    serial arithmetic, numerically smaller (65535 -> 0; RFC 3550 §5.1 "wraps around")."""
    return value < previous and seq_distance(previous, value) > 0


def ts_wrapped(previous: int, value: int) -> bool:
    """True when timestamp `value` follows `previous` across the 2**32 wrap point."""
    return value < previous and ts_distance(previous, value) > 0


class _Unwrapper:
    """Maps an n-bit wrapping counter onto an unbounded integer line.

    Each value is placed at the position nearest to the highest value seen so far (serial
    arithmetic), so a late packet from before a wrap gets a smaller extended value and a packet
    after the wrap gets a larger one. The first value is its own extended value; packets older
    than the first one can therefore map below zero (e.g. first 0, then 65535 -> -1).
    """

    __slots__ = ("_bits", "_half", "_highest", "_mask", "_what")

    def __init__(self, bits: int, what: str) -> None:
        self._bits = bits
        self._mask = (1 << bits) - 1
        self._half = 1 << (bits - 1)
        self._highest: int | None = None
        self._what = what

    def update(self, value: int) -> int:
        """Extended value for `value`; advances the highest value seen when it is newer."""
        _check(value, 1 << self._bits, self._what)
        if self._highest is None:
            self._highest = value
            return value
        highest_raw = self._highest & self._mask
        distance = ((value - highest_raw + self._half) & self._mask) - self._half
        extended = self._highest + distance
        if extended > self._highest:
            self._highest = extended
        return extended

    @property
    def highest(self) -> int | None:
        """Highest extended value seen, or None before the first update."""
        return self._highest

    @property
    def cycles(self) -> int:
        """Number of completed wraps of the highest value (RFC 3550 A.1 `cycles`, in units of 1)."""
        return 0 if self._highest is None else self._highest >> self._bits


class ExtendedSequence(_Unwrapper):
    """16-bit RTP sequence number -> extended (cycles * 2**16 + seq) number."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(16, "sequence number")


class ExtendedTimestamp(_Unwrapper):
    """32-bit RTP timestamp -> extended (cycles * 2**32 + ts) timestamp."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(32, "timestamp")
