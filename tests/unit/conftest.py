"""The unit tier stays a unit tier: a test here that binds or connects a socket, starts a
process or sleeps fails, and belongs in tests/integration (marked `integration`).

Why a run-time guard rather than a static scan of the test files: what makes a test slow or
flaky is what the code under test does (a helper that spawns tshark, an emulator that binds a
port, a pacer that sleeps), and only the call itself shows that; importing `socket` or
`subprocess` is harmless. The guard patches the few entry points every such action goes
through, for the duration of each test under tests/unit:
- `socket.socket.bind / connect / connect_ex / listen / sendto`: an in-memory
  `socket.socketpair()` (asyncio's self-pipe) is still allowed, it touches no network;
- `subprocess.Popen` (also behind `subprocess.run` and asyncio's subprocesses) and `os.fork`
  (multiprocessing);
- `time.sleep` with a positive delay (`sleep(0)`, a bare yield, is allowed).
A violation in any thread is recorded and fails the test at teardown, so a background thread
of the code under test cannot hide it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest


class TierViolation(RuntimeError):
    """A unit test did something only the integration tier may do."""


_SOCKET_METHODS = ("bind", "connect", "connect_ex", "listen", "sendto")


@pytest.fixture(autouse=True)
def _unit_tier_guard(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[None]:
    violations: list[str] = []

    def refuse(what: str) -> None:
        violations.append(what)
        raise TierViolation(f"unit test {request.node.nodeid} {what}: move it to tests/integration")

    def socket_method(name: str) -> Callable[..., Any]:
        def guarded(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
            refuse(f"called socket.{name}{args!r}")
        return guarded

    for name in _SOCKET_METHODS:
        monkeypatch.setattr(socket.socket, name, socket_method(name))

    real_sleep = time.sleep

    def guarded_sleep(seconds: float) -> None:
        if seconds > 0:
            refuse(f"slept {seconds} s")
        real_sleep(0)

    def guarded_popen(self: subprocess.Popen[Any], args: Any, *more: Any, **kwargs: Any) -> None:
        refuse(f"started a process {args!r}")

    def guarded_fork() -> int:
        refuse("forked a process")
        return -1  # not reached

    monkeypatch.setattr(time, "sleep", guarded_sleep)
    monkeypatch.setattr(subprocess.Popen, "__init__", guarded_popen)
    monkeypatch.setattr(os, "fork", guarded_fork)
    yield
    if violations:
        pytest.fail(f"unit test did what only tests/integration may: {'; '.join(violations)}", pytrace=False)
