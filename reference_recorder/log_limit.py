"""Rate-limited log lines, sans-IO (the clock is passed in): a flood must not become a log flood.

Per kind of line, a token bucket: `burst` lines at once, then `per_second`. What is held back is
counted and said in the next line of that kind that gets through ("N similar lines suppressed"),
so the log keeps its meaning (something happened N times) without one line per datagram.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimitedLog"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    suppressed: int = 0


class RateLimitedLog:
    def __init__(self, sink: Callable[[str], None], *, burst: int = 20, per_second: float = 5.0) -> None:
        self._sink = sink
        self._burst = float(burst)
        self._rate = per_second
        self._buckets: dict[str, _Bucket] = {}

    def __call__(self, kind: str, message: str, now: float) -> None:
        bucket = self._buckets.get(kind)
        if bucket is None:
            bucket = self._buckets[kind] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + max(0.0, now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            bucket.suppressed += 1
            return
        bucket.tokens -= 1.0
        if bucket.suppressed:
            message = f"{message} ({bucket.suppressed} similar lines suppressed)"
            bucket.suppressed = 0
        self._sink(message)

    def suppressed(self) -> dict[str, int]:
        """Lines held back and not yet reported, by kind."""
        return {kind: b.suppressed for kind, b in self._buckets.items() if b.suppressed}
