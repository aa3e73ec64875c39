"""`PacedSender(tick_seconds=...)`: batching per tick sends at most half a tick early, never
earlier; without a tick nothing is sent before its deadline."""

from __future__ import annotations

import socket
import time

import pytest

from harness.media.pacer import PacedSender

pytestmark = pytest.mark.integration  # real sockets and real time


def _stream(phase: float, count: int = 10) -> list[tuple[float, bytes]]:
    return [(phase + 0.02 * k, b"\x80\x00" + k.to_bytes(2, "big") + bytes(8)) for k in range(count)]


@pytest.mark.parametrize(("tick", "spin"), [(0.0, 0.0), (0.0, 0.0015), (0.01, 0.0)])
def test_never_earlier_than_half_a_tick(tick: float, spin: float) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        with PacedSender(tick_seconds=tick, spin_seconds=spin) as pacer:
            ids = [pacer.add_stream(_stream(phase), sink.getsockname()) for phase in (0.0, 0.002, 0.004)]
            pacer.start()
            assert pacer.join(timeout=10)
            logs = [r for i in ids for r in pacer.log(i)]
    assert len(logs) == 30 and all(r.error is None for r in logs)
    assert min(r.lateness for r in logs) >= -tick / 2 - 1e-9


def test_discard_forgets_a_stream_and_returns_its_log() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        with PacedSender(spin_seconds=0.0) as pacer:
            pacer.start()
            done = pacer.add_stream(_stream(0.0, 3), sink.getsockname())
            endless = pacer.add_stream(((0.02 * k, b"x") for k in range(10**6)), sink.getsockname())
            while not pacer.is_done(done):
                time.sleep(0.01)
            assert len(pacer.discard(done)) == 3
            pacer.discard(endless)  # still queued in the heap: dropped without error
            later = pacer.add_stream(_stream(0.0, 2), sink.getsockname())
            assert pacer.join(timeout=5)
            assert len(pacer.log(later)) == 2
            with pytest.raises(KeyError):
                pacer.log(done)
