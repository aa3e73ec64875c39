"""Wrap arithmetic for 16-bit sequence numbers and 32-bit timestamps (RFC 3550 §5.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.protocol.rtp.seqnum import (
    ExtendedSequence,
    ExtendedTimestamp,
    seq_add,
    seq_distance,
    seq_newer,
    ts_add,
    ts_distance,
    ts_newer,
)

TS_MAX = 2**32 - 1


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (65535, 0, 1),
        (0, 65535, -1),
        (65530, 5, 11),
        (5, 65530, -11),
        (100, 100, 0),
        (0, 32767, 32767),
        (0, 32768, -32768),  # exactly half way: reported negative, neither is newer
        (1, 0, -1),
    ],
)
def test_seq_distance_around_the_wrap(a: int, b: int, expected: int) -> None:
    assert seq_distance(a, b) == expected


def test_seq_distance_exhaustive_around_65535_to_0() -> None:
    for a in range(65536 - 200, 65536 + 200):
        for step in range(-150, 151):
            assert seq_distance(a % 65536, (a + step) % 65536) == step


def test_seq_newer() -> None:
    assert seq_newer(0, 65535)
    assert not seq_newer(65535, 0)
    assert not seq_newer(7, 7)
    assert not seq_newer(0, 32768) and not seq_newer(32768, 0)
    assert seq_add(65535, 1) == 0 and seq_add(0, -1) == 65535


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(TS_MAX, 0, 1), (0, TS_MAX, -1), (TS_MAX - 159, 0, 160), (0, 2**31, -(2**31)), (5, 2**31 + 4, 2**31 - 1)],
)
def test_ts_distance_around_the_wrap(a: int, b: int, expected: int) -> None:
    assert ts_distance(a, b) == expected


def test_ts_newer_and_add() -> None:
    assert ts_newer(0, TS_MAX)
    assert not ts_newer(TS_MAX, 0)
    assert ts_add(TS_MAX, 160) == 159
    assert ts_add(0, -160) == 2**32 - 160


@given(st.integers(0, 65535), st.integers(-32768, 32767))
def test_seq_distance_inverts_seq_add(a: int, n: int) -> None:
    assert seq_distance(a, seq_add(a, n)) == n


@given(st.integers(0, TS_MAX), st.integers(-(2**31), 2**31 - 1))
def test_ts_distance_inverts_ts_add(a: int, n: int) -> None:
    assert ts_distance(a, ts_add(a, n)) == n


def test_extended_sequence_counts_cycles_across_wrap() -> None:
    ext = ExtendedSequence()
    seqs = [(65530 + i) % 65536 for i in range(20)]
    out = [ext.update(s) for s in seqs]
    assert out == list(range(65530, 65550))
    assert ext.cycles == 1 and ext.highest == 65549


def test_extended_sequence_late_packet_from_before_the_wrap() -> None:
    ext = ExtendedSequence()
    assert [ext.update(s) for s in (65534, 65535, 0, 1)] == [65534, 65535, 65536, 65537]
    assert ext.update(65533) == 65533  # late: stays in the previous cycle
    assert ext.update(2) == 65538
    assert ext.highest == 65538


def test_extended_sequence_many_cycles() -> None:
    ext = ExtendedSequence()
    last = 0
    for i in range(3 * 65536 + 10):
        last = ext.update(i % 65536)
    assert last == 3 * 65536 + 9 and ext.cycles == 3


def test_extended_sequence_packet_older_than_first_goes_negative() -> None:
    ext = ExtendedSequence()
    assert ext.update(0) == 0
    assert ext.update(65535) == -1
    assert ext.highest == 0


def test_extended_timestamp_wrap() -> None:
    ext = ExtendedTimestamp()
    start = TS_MAX - 319
    vals = [ext.update(ts_add(start, 160 * i)) for i in range(5)]
    assert vals == [start + 160 * i for i in range(5)]
    assert ext.cycles == 1
    assert ext.update(TS_MAX - 100) == TS_MAX - 100  # reordered from before the wrap


def test_unwrapper_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="sequence number"):
        ExtendedSequence().update(65536)
    with pytest.raises(ValueError, match="timestamp"):
        ExtendedTimestamp().update(-1)


def test_wrapped_is_a_forward_step_across_zero_only() -> None:
    from harness.protocol.rtp.seqnum import seq_wrapped, ts_wrapped

    assert seq_wrapped(65535, 0) and seq_wrapped(65530, 3)
    assert not seq_wrapped(0, 65535) and not seq_wrapped(5, 6) and not seq_wrapped(7, 7)
    assert ts_wrapped(2**32 - 160, 0) and not ts_wrapped(0, 2**32 - 160) and not ts_wrapped(100, 260)
