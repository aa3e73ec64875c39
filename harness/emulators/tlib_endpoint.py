"""The scenario's T-Server on a real TCP port (docs/tlib-emulation.md §2).

`TlibEndpoint` runs a `TlibServer` on an asyncio loop in a daemon thread and owns the
`SipTServer` behind it, so the recorder under test and the scenario's own T-Lib clients (agent
desktop, supervisor, routing strategy) all talk to the SIP Server emulation over TCP.

Threading rule: the T-Server core, the SIP Server emulation and everything its callbacks touch
(the Media Server emulation, run-time control) are used **from the loop thread only**. Another
thread (the pytest thread placing or releasing a call) goes through `call(fn)`: `fn` runs on the
loop (`run_coroutine_threadsafe`), the events it produced are flushed to the sockets at once,
and the caller waits for the result. Why not one lock around the core: the SipTServer callbacks
run synchronously inside request handling and drive SIPp legs, the pacer and the run-time
control, which have locks of their own; one owning thread serialises all of it the way a
T-Server's single event loop does, without lock ordering to get wrong, and `TlibServer` is
loop-thread-only by design. The cost: while a callback sets up recording sessions (SIPp, well
under a second normally) T-Lib traffic waits - queued, never lost.

Every request received and every event sent is kept in `traffic`, with the client's address,
so a scenario can tell what the recorder under test asked for and what it was answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from harness.emulators.sip_server import SipServerEmulation
from harness.emulators.sip_tserver import SipTServer
from harness.emulators.tlib_server import TlibServer
from harness.protocol.tlib.messages import Event, Message, Request
from harness.protocol.tlib.server_core import ClientId, TServerCore, TServerHandler

__all__ = ["Address", "TlibEndpoint", "TlibExchange"]

T = TypeVar("T")
Address = tuple[str, int]
DEFAULT_CALL_TIMEOUT = 120.0  # a callback may set up or tear down SIPp legs (answer timeouts 5 s each)


@dataclass(frozen=True, slots=True)
class TlibExchange:
    """One message on the T-Lib link: a request a client sent or an event it was sent."""

    wall_time: float
    client: ClientId
    peer: Address | None  # the client's address (ip, port) as the server sees it
    direction: Literal["request", "event"]
    message: Message


class _LoggedCore(TServerCore):
    """The T-Server core, keeping every decoded request and every event handed to a socket."""

    def __init__(self, handler: TServerHandler, on_message: Callable[[ClientId, Literal["request", "event"], Message],
                                                                      None]) -> None:
        super().__init__(handler)
        self._on_message = on_message

    def handle(self, client: ClientId, request: Request) -> None:
        self._on_message(client, "request", request)
        super().handle(client, request)

    def take_messages(self, client: ClientId) -> list[Event]:
        events = super().take_messages(client)
        for event in events:
            self._on_message(client, "event", event)
        return events


class _EndpointServer(TlibServer):
    def peer(self, client: ClientId) -> Address | None:
        writer = self._writers.get(client)
        if writer is None:
            return None
        name = writer.get_extra_info("peername")
        return (str(name[0]), int(name[1])) if name else None


class TlibEndpoint:
    """The SIP Server emulation as a T-Server on 127.0.0.1:<free port>. Use as a context manager
    (or `start()` / `stop()`)."""

    def __init__(self, sip: SipServerEmulation | None = None, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.tserver = SipTServer(sip)
        # Replaced before any client exists: the SipTServer's own core has no state yet.
        self.tserver.core = _LoggedCore(self.tserver, self._log)
        self.traffic: list[TlibExchange] = []
        self._traffic_lock = threading.Lock()  # read by other threads while the loop appends
        self._peers: dict[ClientId, Address] = {}
        self._server = _EndpointServer(self.tserver.core)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="arec-tlib-endpoint", daemon=True)
        self.port = 0

    # --- life cycle -------------------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self) -> TlibEndpoint:
        if self._thread.is_alive():
            raise RuntimeError("T-Lib endpoint already started")
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._server.start(self.host, 0), self._loop)
        self.port = future.result(10.0)
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket, then end the loop thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(10.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> TlibEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """HOST:PORT, as a recorder's `--tlib` takes it."""
        return f"{self.host}:{self.port}"

    # --- the loop thread owns the core --------------------------------------------------------

    def on_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def call(self, fn: Callable[[], T], timeout: float = DEFAULT_CALL_TIMEOUT) -> T:
        """Run `fn` on the loop thread, flush the events it caused to the sockets, return its
        result (its exception is raised here). From the loop thread itself it runs at once."""
        if self.on_loop_thread():
            try:
                return fn()
            finally:
                self._server.flush()
        if not self._thread.is_alive():
            raise RuntimeError("T-Lib endpoint is not running")

        async def job() -> T:
            try:
                return fn()
            finally:
                self._server.flush()

        return asyncio.run_coroutine_threadsafe(job(), self._loop).result(timeout)

    def flush(self) -> None:
        """Write the events queued so far to their sockets now (e.g. EventEstablished before
        the recording sessions are set up, as SIP Server reports the call before recording)."""
        self.call(lambda: None)

    # --- what the clients did -----------------------------------------------------------------

    def _log(self, client: ClientId, direction: Literal["request", "event"], message: Message) -> None:
        peer = self._peers.get(client)
        if peer is None:
            peer = self._server.peer(client)
            if peer is not None:
                self._peers[client] = peer
        with self._traffic_lock:
            self.traffic.append(TlibExchange(time.time(), client, peer, direction, message))

    def exchanges(self) -> list[TlibExchange]:
        with self._traffic_lock:
            return list(self.traffic)

    def registrants(self, dn: str, *, excluding: frozenset[Address] = frozenset()) -> list[Address]:
        """Addresses of the clients that registered `dn` now, less those in `excluding`."""
        def look() -> list[Address]:
            found = []
            for client in self.tserver.core.registrants(dn):
                peer = self._server.peer(client)
                if peer is not None and peer not in excluding:
                    found.append(peer)
            return found

        return self.call(look)

    def answers_to(self, peer_filter: Callable[[Address | None], bool]) -> list[tuple[Request, Event | None]]:
        """The requests of the clients whose address passes `peer_filter`, each with its answer
        (None while unanswered), in order."""
        pairs: list[tuple[Request, Event | None]] = []
        open_requests: dict[tuple[ClientId, int], int] = {}
        for exchange in self.exchanges():
            if not peer_filter(exchange.peer):
                continue
            message = exchange.message
            if exchange.direction == "request" and isinstance(message, Request):
                open_requests[(exchange.client, message.reference_id)] = len(pairs)
                pairs.append((message, None))
            elif isinstance(message, Event) and message.reference_id:
                index = open_requests.pop((exchange.client, message.reference_id), None)
                if index is not None:
                    pairs[index] = (pairs[index][0], message)
        return pairs
