"""The recorder under test, as the harness sees it (docs/architecture.md §4 "Recorder profile").

A scenario needs: where to send SIP, which transport, where the recordings appear, what the
capture must include, and what the recorder can do. How the recorder is started (the
reference recorder per scenario, a command, or "already running") is the adapter's business.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from harness.exitcodes import SetupError

if TYPE_CHECKING:
    from harness.recorders.locate import RecordingLocator

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE_COMMAND = (
    f"{shlex.quote(sys.executable)} -m reference_recorder --listen 127.0.0.1:{{port}} "
    "--recordings {dir} --rtp-ports {rtp_low}-{rtp_high} --transport {transport} "
    "--tlib {tlib} --tlib-config {tlib_config} --capacity 6"
)
# The reference recorder's capacity (REFERENCE_CAPABILITIES.capacity): small so the
# SIP-CAPACITY-503 scenario needs few sessions; no other scenario holds more than 2 at once.


ALL_SESSION_MODES = frozenset({"two-session", "single-session"})
ALL_PAUSE_PROFILES = frozenset({"rtp-stops", "silence", "reinvite"})


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the recorder under test can take part in (docs/architecture.md §4): a scenario that needs
    more is reported *not applicable*, never passed."""

    # Connects to the scenario's T-Server (T-Lib emulation), registers DNs, can request
    # recording / pause / resume itself (seed steps 2, 8, 9 by the recorder).
    tlib_client: bool = False
    # The harness can give it recording rules for a scenario (reference recorder: the file
    # passed as --tlib-config, re-read when it changes). Needed by feature 02.
    rules_configurable: bool = False
    # Its recording metadata holds the call's T-Lib attached data (feature 08).
    attached_data_in_metadata: bool = False
    session_modes: frozenset[str] = ALL_SESSION_MODES
    pause_profiles: frozenset[str] = ALL_PAUSE_PROFILES
    # How many recording sessions (SIP dialogs) it accepts at once, when the user knows it;
    # None: unknown, so "at capacity" cannot be reached on purpose (SIP-CAPACITY-503 n/a).
    capacity: int | None = None


REFERENCE_CAPABILITIES = Capabilities(tlib_client=True, rules_configurable=True, attached_data_in_metadata=True,
                                      capacity=6)
SIP_ONLY = Capabilities()


@dataclass(frozen=True, slots=True)
class RecorderUnderTest:
    name: str
    host: str
    port: int
    transport: str
    recordings: Path | None  # None: the recorder's files are not visible to the harness
    rtp_ports: tuple[int, int] | None  # range its RTP ports come from, for the capture filter
    managed: bool = False
    capabilities: Capabilities = SIP_ONLY
    # How to find a call's files when they are not in the reference layout
    # <recordings>/<calluuid>/<record_id>/ (recorder profiles, harness.recorders.locate).
    locator: RecordingLocator | None = None
    # Where the harness's own SIPp legs and RTP sockets bind, and the interface the capture
    # listens on: loopback, or the host end of the veth pair of a recorder in a network
    # namespace (harness.recorders.netns), which cannot reach 127.0.0.1 on the host.
    local_address: str = "127.0.0.1"
    capture_interface: str = "lo"
    # UDP ports of the scenario's own traffic besides the recorder's (the call's original RTP
    # legs, harness.emulators.call_legs): captured whatever host they are on.
    extra_ports: tuple[int, ...] = ()

    @property
    def capture_filter(self) -> str:
        """BPF for this scenario's traffic only, so parallel scenarios do not see each other."""
        sip = f"port {self.port}"
        if self.rtp_ports is None:
            recorder = f"host {self.host} and ({sip} or udp)"
        else:
            low, high = self.rtp_ports
            recorder = f"host {self.host} and ({sip} or (udp and portrange {low}-{high}))"
        if not self.extra_ports:
            return recorder
        # pcap-filter(7): `and` and `or` have the same precedence (left to right): parenthesise.
        extra = " or ".join(f"port {p}" for p in self.extra_ports)
        return f"({recorder}) or (udp and ({extra}))"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rtp_range(worker_slot: int, width: int = 200) -> tuple[int, int]:
    # Even-aligned ranges that differ per xdist worker and per scenario, so parallel recorders
    # rarely compete for the same RTP ports (the reference recorder skips busy ones anyway).
    base = 20000 + ((worker_slot * 7919) % 200) * width
    return base, base + width - 2


@dataclass(slots=True)
class ManagedRecorder:
    """A recorder process started from a command template for one scenario."""

    command: str
    recordings: Path
    transport: str = "udp"
    slot: int = 0
    name: str = "reference recorder"
    start_timeout_s: float = 8.0
    log_path: Path | None = None
    capabilities: Capabilities = SIP_ONLY
    # The scenario's T-Server (HOST:PORT) and the recorder's T-Lib configuration file, for
    # the {tlib} / {tlib_config} placeholders (reference recorder: --tlib, --tlib-config).
    tlib: str | None = None
    tlib_config: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @contextlib.contextmanager
    def running(self) -> Iterator[RecorderUnderTest]:
        self.recordings.mkdir(parents=True, exist_ok=True)
        low, high = _rtp_range(self.slot)
        if ("{tlib}" in self.command and self.tlib is None) or ("{tlib_config}" in self.command
                                                                and self.tlib_config is None):
            raise SetupError(f"{self.name}: the command needs a T-Server address and T-Lib configuration "
                             f"file ({{tlib}}, {{tlib_config}}) and none was given")
        tlib_config = shlex.quote(str(self.tlib_config)) if self.tlib_config is not None else ""
        last_error = ""
        for _attempt in range(3):
            port = free_port(socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM)
            cmd = self.command.format(port=port, dir=shlex.quote(str(self.recordings)), rtp_low=low,
                                      rtp_high=high, transport=self.transport, tlib=self.tlib or "",
                                      tlib_config=tlib_config)
            log = (self.log_path or self.recordings.parent / "recorder.log").open("wb")
            proc = subprocess.Popen(shlex.split(cmd), stdout=subprocess.PIPE, stderr=log, cwd=REPO_ROOT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
            log.close()
            if self._wait_ready(proc):
                self._process = proc
                break
            proc.kill()
            proc.wait()
            last_error = f"exit code {proc.returncode}"
        else:
            raise SetupError(f"{self.name} did not start ({last_error}); command: {cmd}; "
                             f"see {self.log_path or self.recordings.parent / 'recorder.log'}")
        try:
            yield RecorderUnderTest(self.name, "127.0.0.1", port, self.transport, self.recordings,
                                    (low, high + 1), managed=True, capabilities=self.capabilities)
        finally:
            self.stop()

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> bool:
        """The reference recorder prints a line starting with 'ready' once it listens."""
        assert proc.stdout is not None
        ready = watch_output(proc.stdout, lambda line: line.startswith(b"ready"))
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if ready.wait(0.05):
                return True
            if proc.poll() is not None:
                return False
        return False

    def stop(self) -> None:
        proc, self._process = self._process, None
        if proc is not None:
            stop_process(proc)


def watch_output(stream: IO[bytes], is_ready: Callable[[bytes], bool], copy_to: IO[bytes] | None = None
                 ) -> threading.Event:
    """Read a child's output on a daemon thread until it ends, so the child never blocks on a
    full pipe; the returned event is set at the first line `is_ready` accepts. Every line is
    copied (and flushed) to `copy_to` when given, which is closed at the end."""
    ready = threading.Event()

    def pump() -> None:
        try:
            for line in stream:
                if copy_to is not None:
                    copy_to.write(line)
                    copy_to.flush()
                if not ready.is_set() and is_ready(line):
                    ready.set()
        finally:
            if copy_to is not None:
                copy_to.close()

    threading.Thread(target=pump, daemon=True, name="child-output").start()
    return ready


def stop_process(proc: subprocess.Popen[Any], grace_s: float = 10.0) -> None:
    """SIGTERM (the recorder finalises its files), then SIGKILL if it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def parse_sip_target(text: str) -> tuple[str, int, str]:
    """'sip:HOST:PORT[;transport=tcp]' -> (host, port, transport); SetupError when malformed."""
    value = text.strip()
    transport = "udp"
    if ";transport=" in value.lower():
        value, _, transport = value.partition(";transport=")
        transport = transport.lower()
    if value.lower().startswith("sip:"):
        value = value[4:]
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or transport not in ("udp", "tcp"):
        raise SetupError(f"--recorder {text!r}: expected sip:HOST:PORT[;transport=udp|tcp]")
    return host.strip("[]"), int(port), transport
