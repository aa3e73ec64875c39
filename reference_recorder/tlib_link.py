"""asyncio adapter of the reference recorder's T-Lib client (`reference_recorder.tlib_agent`).

Moves bytes between the T-Server's TCP connection and the sans-IO agent, applies the agent's
annotations to the recording store, and re-reads the configuration file when it changes. What
it owns, and why:

- Reconnects with exponential backoff when the T-Server goes away or cannot be reached: closing
  the connection ends every registration (docs/tlib-emulation.md §2), so the agent registers
  its DNs again on each new connection. The outage is logged once, not at every attempt.
- Polls the configuration file every 0.2 s (mtime, size, inode): a test harness writes the
  rules of each scenario after the recorder started (contract). A file that became invalid is
  reported once and the previous configuration stays in force.
- A storage failure while annotating (disk full, ...) is logged; recording goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reference_recorder.rules import TlibConfigError, TlibRecorderConfig, load_config
from reference_recorder.storage import CallRecording, RecordingStore
from reference_recorder.tlib_agent import (
    Annotation,
    AttachedData,
    CallEnded,
    LogLine,
    RecordingPaused,
    RecordingResumed,
    TlibAgent,
    TlibLog,
)

__all__ = ["TlibLink", "TlibOptions", "parse_tlib_address"]

log = logging.getLogger("arec.recorder.tlib")

READ_SIZE = 64 * 1024
_FileSignature = tuple[int, int, int] | None


@dataclass(frozen=True, slots=True)
class TlibOptions:
    """`--tlib HOST:PORT` and `--tlib-config FILE`, with the configuration as read at start."""

    address: tuple[str, int]
    config_path: Path | None
    config: TlibRecorderConfig


def parse_tlib_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--tlib must be HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def file_signature(path: Path) -> _FileSignature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class TlibLink:
    def __init__(
        self,
        options: TlibOptions,
        store: RecordingStore,
        *,
        now: Callable[[], float] = time.time,
        poll_interval: float = 0.2,
        backoff: tuple[float, float] = (0.1, 1.0),
        agent: type[TlibAgent] = TlibAgent,
    ) -> None:
        self.options = options
        self.store = store
        self.agent = agent(options.config)
        self._now = now
        self._poll_interval = poll_interval
        self._backoff = backoff
        self._writer: asyncio.StreamWriter | None = None
        self._signature: _FileSignature = (
            file_signature(options.config_path) if options.config_path is not None else None
        )
        self._bad_signature: _FileSignature = None
        self.connections = 0  # successful connections so far
        store.on_open = self._on_recording_opened

    # --- main loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, serve, reconnect - until cancelled."""
        poller = asyncio.create_task(self._poll_config()) if self.options.config_path is not None else None
        try:
            await self._connection_loop()
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            if self._writer is not None:
                self._writer.close()

    async def _connection_loop(self) -> None:
        host, port = self.options.address
        low, high = self._backoff
        delay = low
        down_logged = False
        while True:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as error:
                if not down_logged:
                    log.warning("T-Lib: cannot connect to %s:%d (%s); retrying", host, port,
                                error.strerror or error)
                    down_logged = True
                await asyncio.sleep(delay)
                delay = min(high, delay * 2)
                continue
            delay, down_logged = low, False
            self.connections += 1
            log.info("T-Lib: connected to %s:%d, registering %s", host, port,
                     ", ".join(self.agent.config.register) or "no DN")
            await self._serve(reader, writer)
            log.warning("T-Lib: connection to %s:%d lost; reconnecting", host, port)
            await asyncio.sleep(delay)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        try:
            self._apply(self.agent.connection_made(self._now()))
            self._flush()
            while data := await reader.read(READ_SIZE):
                self._apply(self.agent.receive_data(data, self._now()))
                self._flush()
                if self.agent.must_disconnect:
                    break
                await writer.drain()
        except (ConnectionError, OSError):
            pass  # the T-Server went away: reconnect
        finally:
            self._writer = None
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._apply(self.agent.connection_lost(self._now()))

    def _flush(self) -> None:
        data = self.agent.data_to_send()
        if data and self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    # --- configuration -------------------------------------------------------------------------

    async def _poll_config(self) -> None:
        path = self.options.config_path
        assert path is not None
        while True:
            await asyncio.sleep(self._poll_interval)
            self.check_config(path)

    def check_config(self, path: Path) -> None:
        signature = file_signature(path)
        if signature == self._signature:
            return
        try:
            config = load_config(path)
        except TlibConfigError as error:
            if signature != self._bad_signature:
                log.warning("T-Lib: %s; keeping the previous configuration", error)
                self._bad_signature = signature
            return
        # Take the signature only once the file parsed: a half-written file is read again.
        self._signature = signature
        self._bad_signature = None
        log.info("T-Lib: configuration %s: register %s, %d rule(s)", path,
                 ", ".join(config.register) or "no DN", len(config.rules))
        self._apply(self.agent.set_config(config, self._now()))
        self._flush()

    # --- store ---------------------------------------------------------------------------------

    def _on_recording_opened(self, recording: CallRecording, now: float) -> None:
        self._apply(self.agent.recording_opened(recording.calluuid, now))
        self._flush()

    def _apply(self, annotations: list[Annotation]) -> None:
        now = self._now()
        for item in annotations:
            try:
                self._apply_one(item, now)
            except Exception:  # noqa: BLE001 - an annotation must never stop the recorder
                log.exception("T-Lib: cannot store %s", type(item).__name__)

    def _apply_one(self, item: Annotation, now: float) -> None:
        if isinstance(item, LogLine):
            (log.warning if item.problem else log.info)("%s", item.text)
        elif isinstance(item, AttachedData):
            self.store.annotate_attached_data(item.call_uuid, item.data, now)
        elif isinstance(item, TlibLog):
            self.store.annotate_tlib(item.call_uuid, item.section, item.entry, now)
        elif isinstance(item, RecordingPaused):
            self.store.annotate_pause(item.call_uuid, item.t)
        elif isinstance(item, RecordingResumed):
            self.store.annotate_resume(item.call_uuid, item.t)
        elif isinstance(item, CallEnded):
            self.store.call_ended(item.call_uuid)
