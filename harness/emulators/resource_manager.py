"""Resource Manager emulation on a real UDP port: the thin asyncio adapter of the proxy core.

`ResourceManagerEmulation` binds one loopback UDP socket (RM's address, what the Media Server
emulation sends its recording INVITEs to), runs `harness.protocol.sip.resource_manager` on an
asyncio loop in a daemon thread, and arms one timer at the core's next deadline (OPTIONS pings,
INVITE timeouts). Everything the core decides is in the core; this module moves datagrams and
keeps the core's events, time-stamped, as evidence for the checks (`events`).

Threading rule: the core is touched from the loop thread only; `events`, `live_members` and
`session_member` copy under a lock for the scenario thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field

from harness.protocol.sip.resource_manager import (
    Policy,
    ResourceManagerConfig,
    ResourceManagerCore,
    RmEvent,
)

__all__ = ["ResourceManagerEmulation"]

Address = tuple[str, int]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: ResourceManagerEmulation) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._owner._on_datagram(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a killed recorder: the core learns it from the missing
        # answer (timeout), like RM does; nothing to do here.
        return


@dataclass(slots=True)
class ResourceManagerEmulation:
    members: tuple[Address, ...]
    host: str = "127.0.0.1"
    policy: Policy = Policy.ROUND_ROBIN
    options_interval_s: float = 0.5
    options_timeout_s: float = 0.4
    invite_timeout_s: float = 2.0
    port: int = 0  # 0: a free port, chosen by the kernel at bind
    _core: ResourceManagerCore | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _transport: asyncio.DatagramTransport | None = None
    _timer: asyncio.TimerHandle | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _events: list[RmEvent] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)

    @property
    def address(self) -> Address:
        return (self.host, self.port)

    def start(self) -> ResourceManagerEmulation:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="arec-resource-manager", daemon=True)
        self._thread.start()
        if not self._ready.wait(5.0) or self._transport is None:
            raise RuntimeError("Resource Manager emulation did not start")
        return self

    def _run(self) -> None:
        assert self._loop is not None
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            transport, _ = loop.run_until_complete(loop.create_datagram_endpoint(
                lambda: _Protocol(self), local_addr=(self.host, self.port)))
        except OSError:
            self._ready.set()
            return
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        config = ResourceManagerConfig(self.address, self.members, policy=self.policy,
                                       options_interval_s=self.options_interval_s,
                                       options_timeout_s=self.options_timeout_s,
                                       invite_timeout_s=self.invite_timeout_s)
        self._core = ResourceManagerCore(config, time.monotonic())
        self._ready.set()
        self._fire()
        loop.run_forever()
        transport.close()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    def _on_datagram(self, data: bytes, source: Address) -> None:
        assert self._core is not None
        self._keep(self._core.receive(data, source, time.monotonic()))
        self._flush()

    def _fire(self) -> None:
        assert self._core is not None
        self._keep(self._core.on_timer(time.monotonic()))
        self._flush()

    def _flush(self) -> None:
        assert self._core is not None and self._transport is not None and self._loop is not None
        for out in self._core.data_to_send():
            self._transport.sendto(out.data, out.destination)
        if self._timer is not None:
            self._timer.cancel()
        deadline = self._core.next_deadline()
        if deadline is not None:
            self._timer = self._loop.call_later(max(deadline - time.monotonic(), 0.0), self._fire)

    def _keep(self, events: list[RmEvent]) -> None:
        if events:
            with self._lock:
                self._events.extend(events)

    # -- for the scenario thread ---------------------------------------------------------------
    @property
    def events(self) -> list[RmEvent]:
        with self._lock:
            return list(self._events)

    def _on_loop(self, fn: object) -> object:
        assert self._loop is not None

        async def call() -> object:
            return fn() if callable(fn) else None

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(5.0)

    def live_members(self) -> list[Address]:
        core = self._core
        assert core is not None
        result = self._on_loop(lambda: core.live_members)
        assert isinstance(result, list)
        return result

    def session_member(self, call_id: str) -> Address | None:
        core = self._core
        assert core is not None
        result = self._on_loop(lambda: core.member_of(call_id))
        assert result is None or isinstance(result, tuple)
        return result

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(5.0)
        self._loop = self._thread = None

    def __enter__(self) -> ResourceManagerEmulation:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
