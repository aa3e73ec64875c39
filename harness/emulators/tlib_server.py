"""asyncio TCP adapter of the T-Lib emulation's T-Server (docs/tlib-emulation.md §2; docs/architecture.md §2).

All protocol logic is in `harness.protocol.tlib.server_core.TServerCore`; this module moves
bytes between sockets and the core. One connection = one core client. A client that sends
garbage gets `EventError` lines (or, for an over-long line, `EventError` then a close); a client
that disconnects mid-line is forgotten (its registrations end). Neither affects other clients.

`BlockingTlibClient` is a small synchronous client for tests and scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from harness.protocol.tlib.client_core import TlibClientCore
from harness.protocol.tlib.messages import Event, PrivateMsgMap, Request
from harness.protocol.tlib.server_core import ClientId, TServerCore, TServerHandler

__all__ = ["BlockingTlibClient", "TlibServer"]

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024


class TlibServer:
    """The emulated T-Server on a TCP port. Use from the event loop thread only."""

    def __init__(self, core: TServerCore | None = None, *, handler: TServerHandler | None = None) -> None:
        if core is not None and handler is not None:
            raise ValueError("pass a core or a handler, not both")
        self.core = core if core is not None else TServerCore(handler)
        self._server: asyncio.Server | None = None
        self._writers: dict[ClientId, asyncio.StreamWriter] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port: int | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the bound port (pass 0 for a free one)."""
        if self._server is not None:
            raise RuntimeError("already started")
        self._server = await asyncio.start_server(self._serve, host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers.values()):
            writer.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    def notify(self, event: Event) -> int:
        """Deliver an unsolicited event to the registrants of its ThisDN, now."""
        count = self.core.notify(event)
        self.flush()
        return count

    def flush(self) -> None:
        """Write every client's queued events to its socket (requests can cause broadcasts)."""
        for client in self.core.clients_with_output():
            data = self.core.data_to_send(client)
            writer = self._writers.get(client)
            if writer is not None and not writer.is_closing():
                writer.write(data)

    @staticmethod
    async def _lingering_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Half-close, then read and drop what the peer still sends, for a bounded time.

        Closing a TCP socket with unread input makes the kernel send RST, and an RST can make
        the peer lose the EventError we just wrote (RFC 1122 §4.2.2.13: a host closing with
        pending received data SHOULD send a RST). Lingering lets the error arrive first.
        """
        if writer.can_write_eof():
            writer.write_eof()
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            await asyncio.wait_for(_discard_until_eof(reader), LINGER_SECONDS)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        client = self.core.connect()
        self._writers[client] = writer
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    if pending := self.core.pending_bytes(client):
                        log.info("T-Lib client %s left %d bytes of an unfinished request", client, pending)
                    break
                self.core.receive_data(client, data)
                self.flush()
                await writer.drain()
                if self.core.should_close(client):
                    await self._lingering_close(reader, writer)
                    break
        except (ConnectionError, OSError):
            pass  # the peer went away; the finally block forgets it
        except Exception:  # a handler bug must not take the other clients down with it
            log.exception("T-Lib client %s: closing the connection after an internal error", client)
        finally:
            self.core.disconnect(client)
            self._writers.pop(client, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)


LINGER_SECONDS = 1.0
LINGER_BYTES = 1024 * 1024


async def _discard_until_eof(reader: asyncio.StreamReader) -> None:
    discarded = 0
    while discarded < LINGER_BYTES:
        data = await reader.read(READ_SIZE)
        if not data:
            return
        discarded += len(data)


class BlockingTlibClient:
    """A synchronous T-Lib emulation client over TCP, for tests and scripts.

    Build requests with `client.core.<request>(...)`, then `wait_answer(request)` sends what
    is queued and reads until the answer arrives.
    """

    def __init__(
        self, host: str, port: int, *, timeout: float = 5.0, private_msgs: PrivateMsgMap | None = None
    ) -> None:
        self.timeout = timeout
        self.core = TlibClientCore(private_msgs=private_msgs)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.eof = False

    def __enter__(self) -> BlockingTlibClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def flush(self) -> None:
        data = self.core.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_raw(self, data: bytes) -> None:
        """Bytes as they are, bypassing the codec (for robustness tests)."""
        self.sock.sendall(data)

    def _read_once(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer from the T-Server in time")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(READ_SIZE)
        except TimeoutError:
            raise TimeoutError("no answer from the T-Server in time") from None
        if not data:
            self.eof = True
            raise ConnectionError("the T-Server closed the connection")
        self.core.receive_data(data)

    def wait_answer(self, request: Request) -> Event:
        self.flush()
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self.core.take_answer(request.reference_id)
            if answer is not None:
                return answer
            self._read_once(deadline)

    def wait_event(self, predicate: Callable[[Event], bool] = lambda _e: True) -> Event:
        """The first unsolicited event matching `predicate` (events before it are dropped)."""
        self.flush()
        deadline = time.monotonic() + self.timeout
        while True:
            while (event := self.core.next_event()) is not None:
                if predicate(event):
                    return event
            self._read_once(deadline)

    def wait_closed(self) -> bool:
        """True once the server has closed the connection (events read meanwhile are kept)."""
        deadline = time.monotonic() + self.timeout
        while not self.eof:
            try:
                self._read_once(deadline)
            except ConnectionError:
                return True
        return True
