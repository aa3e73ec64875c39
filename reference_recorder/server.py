"""asyncio adapter of the reference recorder: sockets, RTP port binding, the one timer.

All decisions are in `reference_recorder.core` (sans-IO); this module only moves bytes
between sockets and the core and arms the core's next deadline (the aioquic pattern).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import itertools
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness.protocol.printable import printable
from reference_recorder.core import RecorderConfig, RecorderCore
from reference_recorder.rules import TlibRecorderConfig, load_config
from reference_recorder.storage import CallRecording, RecordingStore
from reference_recorder.storage_work import StorageAddStream, StorageOpen, StorageTick, StorageWork
from reference_recorder.tlib_agent import TlibAgent
from reference_recorder.tlib_link import TlibLink, TlibOptions, parse_tlib_address

log = logging.getLogger("arec.recorder")


class EscapeUntrusted(logging.Filter):
    """Last line of defence against log forging (CWE-117): a message that still holds a line
    break or other control character (a peer value logged without `printable`) is escaped
    as a whole, so one record is always one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.isprintable():
            record.msg, record.args = printable(message, limit=4000), ()
        return True


class PortPool:
    """RTP ports from a range, bound on demand; a port busy elsewhere is skipped.

    RTP SHOULD use an even port and leave the next odd one for RTCP (RFC 3550 §11), so only
    even ports are handed out.
    """

    def __init__(self, host: str, low: int, high: int) -> None:
        self.host = host
        self._low = low + (low % 2)
        self._high = high
        self._cycle = itertools.cycle(range(self._low, high, 2))
        self._sockets: dict[int, socket.socket] = {}
        self.opened: list[tuple[int, socket.socket]] = []  # bound, waiting for the server to attach
        self.released: list[int] = []  # attached, waiting for the server to close

    def allocate(self) -> int:
        for _ in range(self._low, self._high, 2):
            port = next(self._cycle)
            if port in self._sockets:
                continue
            sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((self.host, port))
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            # A bigger receive buffer absorbs scheduling hiccups at high packet rates.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            self._sockets[port] = sock
            self.opened.append((port, sock))
            return port
        raise OSError(f"no free RTP port in {self._low}-{self._high} on {self.host}")

    def release(self, port: int) -> None:
        sock = self._sockets.pop(port, None)
        if sock is None:
            return
        pending = [entry for entry in self.opened if entry[0] == port]
        if pending:
            self.opened.remove(pending[0])
            sock.close()
        else:
            self.released.append(port)


class RecorderServer:
    def __init__(self, config: RecorderConfig, rtp_ports: tuple[int, int],
                 core_factory: type[RecorderCore] = RecorderCore) -> None:
        self.config = config
        self.pool = PortPool(config.media_address, *rtp_ports)
        self.core = core_factory(config, self.pool, log=log.info)
        # The store is the adapter's: the core only asks for storage work (it does no disk I/O).
        self.store = RecordingStore(config.recordings_root, jitter_window=config.jitter_window_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sip_socket: socket.socket | None = None
        self._rtp_transports: dict[int, asyncio.DatagramTransport] = {}
        self._tcp_server: asyncio.Server | None = None
        self._tcp_writers: dict[tuple[str, int], asyncio.StreamWriter] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline: float | None = None
        # Disk work (drain, WAV writes, fsync, recording.json) runs on one worker thread, off
        # the event loop: SIP and RTP keep being served while a checkpoint fsyncs. Only the
        # newest tick waits when the worker is busy (a tick catches up on everything due).
        self._storage = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="arec-storage")
        self._storage_busy = False
        self._storage_queue: collections.deque[StorageWork] = collections.deque()
        self._stopping = False
        self.stopped = asyncio.Event()

    @staticmethod
    def now() -> float:
        # One clock for protocol timers and for the recordings' wall-clock alignment.
        return time.time()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        host, port = self.config.sip_address
        if self.config.transport == "udp":
            # A plain non-blocking socket read in batches (not a DatagramProtocol): one event-loop
            # wake-up, one flush and one timer re-arm per batch instead of per datagram, which is
            # what a flood costs most (measured with py-spy). The receive buffer stays the system
            # default: a deep one (4 MiB measured) queues seconds of flood ahead of Resource
            # Manager's OPTIONS ping, which then misses its timeout although it is answered.
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((host, port))
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
            self._sip_socket = sock
            self._loop.add_reader(sock.fileno(), self._read_sip)
        else:
            self._tcp_server = await asyncio.start_server(self._serve_tcp, host, port)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The UAS core names a TCP connection by its peer address (responses go back on it).
        peer: tuple[str, int] = tuple(writer.get_extra_info("peername")[:2])
        self._tcp_writers[peer] = writer
        try:
            while data := await reader.read(65536):
                keep_open = self.core.receive_sip_stream(peer, data, self.now())
                self.flush()
                if not keep_open:
                    break
        except ConnectionError:
            pass
        finally:
            self._tcp_writers.pop(peer, None)
            self.core.connection_closed(peer)
            writer.close()

    _SIP_BATCH = 64  # datagrams per wake-up: bounds how long RTP and timers wait behind SIP

    def _read_sip(self) -> None:
        sock = self._sip_socket
        if sock is None:
            return
        for _ in range(self._SIP_BATCH):
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue  # e.g. an ICMP error reported on the socket: nothing to read
            try:
                self.core.receive_sip(data, addr[:2], self.now())
            except Exception:  # noqa: BLE001 - the recorder keeps serving other calls whatever one datagram does
                log.exception("unexpected error handling a SIP datagram from %s", printable(addr))
        self.flush()

    def on_sip_datagram(self, data: bytes, source: tuple[str, int]) -> None:
        self.core.receive_sip(data, source, self.now())
        self.flush()

    def on_rtp(self, port: int, data: bytes, source: tuple[str, int]) -> None:
        self.core.receive_rtp(port, data, source, self.now())

    def flush(self) -> None:
        """Send what the core queued, open/close RTP sockets it asked for, re-arm the timer."""
        assert self._loop is not None
        for outgoing in self.core.data_to_send():
            if outgoing.transport == "tcp":
                writer = self._tcp_writers.get(outgoing.destination)
                if writer is not None:  # connection gone: RFC 3261 §18.2.2 would reconnect; we drop
                    writer.write(outgoing.data)
            elif self._sip_socket is not None:
                with contextlib.suppress(OSError):  # UDP: a full send buffer drops, as the network would
                    self._sip_socket.sendto(outgoing.data, outgoing.destination)
        while self.pool.opened:
            port, sock = self.pool.opened.pop()
            self._loop.create_task(self._open_rtp(port, sock))
        while self.pool.released:
            port = self.pool.released.pop()
            transport = self._rtp_transports.pop(port, None)
            if transport is not None:
                transport.close()
        self._drive_storage()
        self._arm_timer()

    def _drive_storage(self) -> None:
        queue = self._storage_queue
        for work in self.core.storage_work():
            if isinstance(work, StorageTick) and queue and isinstance(queue[-1], StorageTick):
                queue[-1] = work  # the newer tick does everything the older one would
            else:
                queue.append(work)
        if not queue or self._storage_busy or self._loop is None or self._stopping:
            return
        self._storage_busy = True
        work = queue.popleft()
        future = self._storage.submit(self._run_storage, work)
        loop = self._loop
        future.add_done_callback(lambda done: loop.call_soon_threadsafe(self._storage_done, work, done))

    def _run_storage(self, work: StorageWork) -> BaseException | None:
        """On the storage thread: do the work; what it raised is the result the core gets."""
        try:
            self.store.run(work)
        except Exception as error:  # noqa: BLE001 - reported to the core, which answers the INVITE
            if not isinstance(work, StorageOpen | StorageAddStream):
                log.error("storage work failed: %s", printable(error), exc_info=error)
            return error
        return None

    def _storage_done(self, work: StorageWork, future: concurrent.futures.Future[BaseException | None]) -> None:
        self._storage_busy = False
        if self._stopping:
            return
        error = future.exception() or future.result()
        self.core.storage_done(work, error, self.now())
        self.flush()  # sends the answer the core may now give, and submits the next work

    def _finish_storage(self) -> None:
        """On the storage thread, at shutdown: everything still queued, in order, then close
        whatever is still open (nothing should be)."""
        while self._storage_queue:
            self._run_storage(self._storage_queue.popleft())
        self.store.close_all(self.now())

    async def _open_rtp(self, port: int, sock: socket.socket) -> None:
        assert self._loop is not None
        transport, _ = await self._loop.create_datagram_endpoint(lambda: _RtpProtocol(self, port), sock=sock)
        self._rtp_transports[port] = transport

    def _arm_timer(self) -> None:
        assert self._loop is not None
        deadline = self.core.next_deadline()
        if self._timer is not None and deadline == self._timer_deadline:
            return  # already armed for it: a flood re-arms nothing per batch
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline = deadline
        if deadline is not None:
            delay = max(0.0, deadline - self.now())
            self._timer = self._loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.core.on_timer(self.now())
        self.flush()

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        if self._sip_socket is not None and self._loop is not None:
            self._loop.remove_reader(self._sip_socket.fileno())  # no new work for a closed core
        self.core.close(self.now())
        self._storage_queue.extend(self.core.storage_work())
        self.flush()  # the answers close() gave to INVITEs still waiting for their files
        if self._timer is not None:
            self._timer.cancel()
        # The single worker runs this after the item it may be running: the order is kept.
        await asyncio.get_running_loop().run_in_executor(self._storage, self._finish_storage)
        self._storage.shutdown(wait=True)
        for transport in self._rtp_transports.values():
            transport.close()
        if self._sip_socket is not None:
            self._sip_socket.close()
            self._sip_socket = None
        if self._tcp_server is not None:
            self._tcp_server.close()
        self.stopped.set()


class _RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: RecorderServer, port: int) -> None:
        self.server = server
        self.port = port

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self.server.on_rtp(self.port, data, addr[:2])
        except Exception:  # noqa: BLE001
            log.exception("unexpected error handling RTP on port %d", self.port)


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host:
        return text, default_port
    return host.strip("[]"), int(port)


async def serve(config: RecorderConfig, rtp_ports: tuple[int, int], ready: asyncio.Event | None = None,
                core_factory: type[RecorderCore] = RecorderCore, tlib: TlibOptions | None = None) -> None:
    server = RecorderServer(config, rtp_ports, core_factory)
    await server.start()
    loop = asyncio.get_running_loop()
    # With --tlib the recorder is also a T-Lib client (seed steps 2, 8, 9); without it, SIP-only.
    link_task = None
    if tlib is not None:
        link = TlibLink(tlib, server.store, agent=core_factory.TLIB_AGENT or TlibAgent)
        # The store opens recordings on the storage thread; the T-Lib client lives on the loop.
        opened = server.store.on_open
        if opened is not None:
            def on_open(rec: CallRecording, now: float, hook: Callable[[CallRecording, float], None] = opened) -> None:
                loop.call_soon_threadsafe(hook, rec, now)

            server.store.on_open = on_open
        link_task = loop.create_task(link.run())
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, lambda: loop.create_task(server.stop()))
    log.info("reference recorder listening on %s:%d/%s, recordings in %s",
             *config.sip_address, config.transport, config.recordings_root)
    print(f"ready sip={config.sip_address[0]}:{config.sip_address[1]}/{config.transport}", flush=True)
    if ready is not None:
        ready.set()
    await server.stopped.wait()
    if link_task is not None:
        link_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await link_task


def run_from_cli(args: argparse.Namespace, core_factory: type[RecorderCore] = RecorderCore) -> int:
    """`arec recorder ...`; set-up problems are one line on stderr and exit code 2 (DESIGN §4)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(EscapeUntrusted())
    host, port = parse_host_port(args.listen, 5060)
    low, _, high = args.rtp_ports.partition("-")
    root = Path(args.recordings)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return _setup_error(f"cannot create recordings directory {root}: {error.strerror}")
    config = RecorderConfig(recordings_root=root, sip_address=(host, port), media_address=host,
                            transport=args.transport, capacity=args.capacity,
                            rtp_timeout_s=getattr(args, "rtp_timeout", 30.0) or None,
                            metadata_wait_s=getattr(args, "metadata_wait", 3.0) or None)
    try:
        tlib = _tlib_options(getattr(args, "tlib", None), getattr(args, "tlib_config", None))
    except ValueError as error:
        return _setup_error(str(error))
    try:
        asyncio.run(serve(config, (int(low), int(high)), core_factory=core_factory, tlib=tlib))
    except OSError as error:
        return _setup_error(f"cannot listen on {host}:{port}/{args.transport}: {error.strerror} "
                            "(is another process using the port?)")
    return 0


def _tlib_options(address: str | None, config_file: str | None) -> TlibOptions | None:
    """`--tlib` / `--tlib-config`; ValueError (one line) when unusable. The file may be missing
    or empty at start (the harness writes it per scenario) but not invalid."""
    if address is None:
        if config_file is not None:
            raise ValueError("--tlib-config needs --tlib HOST:PORT")
        return None
    path = Path(config_file) if config_file is not None else None
    # TlibConfigError is a ValueError: "FILE: what is wrong", one line.
    config = load_config(path) if path is not None else TlibRecorderConfig()
    return TlibOptions(parse_tlib_address(address), path, config)


def _setup_error(message: str) -> int:
    print(f"arec recorder: {message}", file=sys.stderr)
    return 2
