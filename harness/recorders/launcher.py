"""Starting, waiting for and stopping a recorder process: the one launcher.

`launch` starts a command, copies its output to a log, waits until it is ready (a line of its
output matches `ready_line`, or without one its SIP port answers OPTIONS) and retries on a
fresh port when it exits first. Two front ends fill the command in:

* `ManagedRecorder` - a command template for one scenario (the reference recorder, or a
  recorder given on the command line with ``--arec-recorder-cmd``): ``{port}``, ``{dir}``,
  ``{rtp_low}``/``{rtp_high}``, ``{transport}``, ``{tlib}``, ``{tlib_config}``;
* `ProfileRecorder` - the recorder a profile describes: ``[process]`` absent, it is already
  running and arec only talks to it; present, its command is started per scenario
  (``scope = "scenario"``) or once per test process (``scope = "run"``), with ``netns = true``
  in a network namespace arec creates (`harness.recorders.netns`).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from harness.exitcodes import SetupError
from harness.netutil import free_port
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.message import SipResponse, StreamFramer, parse_message
from harness.recorders.locate import RecordingLocator, placeholders
from harness.recorders.profile import RecorderProfile, check_recordings_dir, program_found
from harness.recorders.under_test import SIP_ONLY, Capabilities, RecorderUnderTest

if TYPE_CHECKING:
    from harness.recorders.netns import NamespaceHandle

__all__ = ["REFERENCE_COMMAND", "RUN_SCOPED", "LaunchSpec", "ManagedRecorder", "ProfileRecorder", "launch", "rtp_range",
           "recorder_for", "sip_ping", "stop_process", "watch_output"]

REPO_ROOT = Path(__file__).resolve().parents[2]
# The reference recorder's capacity (REFERENCE_CAPABILITIES.capacity): small so the
# SIP-CAPACITY-503 scenario needs few sessions; no other scenario holds more than 2 at once.
REFERENCE_COMMAND = (
    f"{shlex.quote(sys.executable)} -m reference_recorder --listen 127.0.0.1:{{port}} "
    "--recordings {dir} --rtp-ports {rtp_low}-{rtp_high} --transport {transport} "
    "--tlib {tlib} --tlib-config {tlib_config} --capacity 6 --rtp-timeout 3"
)


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


def sip_ping(host: str, port: int, transport: str, timeout_s: float = 1.0) -> int | None:
    """Send one OPTIONS (RFC 3261 §11) and return the final response's status; None: no answer."""
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    deadline = time.monotonic() + timeout_s
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as sock:
            sock.settimeout(timeout_s)
            sock.connect((host, port))
            local_host, local_port = sock.getsockname()[:2]
            tag, branch = secrets.token_hex(4), secrets.token_hex(8)
            request = (
                f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/{transport.upper()} {local_host}:{local_port};branch=z9hG4bK{branch}\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:arec@{local_host}>;tag={tag}\r\n"
                f"To: <sip:{host}:{port}>\r\n"
                f"Call-ID: ping-{branch}@{local_host}\r\n"
                "CSeq: 1 OPTIONS\r\n"
                f"Contact: <sip:arec@{local_host}:{local_port};transport={transport}>\r\n"
                "Accept: application/sdp\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()
            sock.sendall(request)
            framer = StreamFramer()
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                data = sock.recv(65535)
                if not data:
                    return None
                messages = [parse_message(data)] if kind == socket.SOCK_DGRAM else framer.feed(data)
                for message in messages:
                    if isinstance(message, SipResponse) and message.status >= 200:
                        return message.status
    except (OSError, RemoteProtocolError):
        return None  # refused (ICMP port unreachable), timed out, or garbage: not answered
    return None


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """How to start one recorder process and tell that it is ready."""

    name: str
    argv: Callable[[int], list[str]]  # the command line for a SIP port
    host: str  # where its SIP port is (the OPTIONS readiness probe)
    transport: str
    log_path: Path
    cwd: Path
    port: int = 0  # fixed SIP port; 0: a free one per attempt
    ready_line: str | None = None  # regex searched in each output line; None: OPTIONS probe
    ready_timeout_s: float = 10.0
    attempts: int = 3
    env: dict[str, str] | None = None


def launch(spec: LaunchSpec) -> tuple[subprocess.Popen[bytes], int]:
    """Start the recorder and wait until it is ready: (process, SIP port). SetupError after
    `attempts` failed starts (a fixed port is tried once: it will not get free by retrying)."""
    why, argv = "", []
    for _attempt in range(spec.attempts):
        port = spec.port or free_port(kind=socket.SOCK_DGRAM if spec.transport == "udp" else socket.SOCK_STREAM)
        argv = spec.argv(port)
        log = spec.log_path.open("ab")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=spec.cwd,
                                env=spec.env, start_new_session=True)
        if _wait_ready(spec, proc, log, port):
            return proc, port
        code = proc.poll()
        stop_process(proc, grace_s=2.0)
        why = f"exited with code {code}" if code is not None else f"not ready within {spec.ready_timeout_s:g} s"
        if spec.port:
            break
    raise SetupError(f"{spec.name} did not start ({why}); command: {shlex.join(argv)}; see {spec.log_path}")


def _wait_ready(spec: LaunchSpec, proc: subprocess.Popen[bytes], log: IO[bytes], port: int) -> bool:
    assert proc.stdout is not None
    pattern = re.compile(spec.ready_line.encode()) if spec.ready_line else None
    # The whole output goes to the log (for the report); the first match sets `matched`.
    matched = watch_output(proc.stdout, lambda line: pattern is not None and pattern.search(line) is not None,
                           copy_to=log)
    deadline = time.monotonic() + spec.ready_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if pattern is not None:
            if matched.wait(0.05):
                return True
        elif sip_ping(spec.host, port, spec.transport, timeout_s=0.3) is not None:
            return True
    return False


# Recorder RTP ranges stay below Linux's default ephemeral range (32768-60999,
# /proc/sys/net/ipv4/ip_local_port_range): SIPp, the paced sender and a load generator bind
# ephemeral ports by the hundred, and a recorder range inside that space was found full (every
# port taken, the INVITEs answered 503) while a load test ran beside the suite.
_RTP_BASE, _RTP_TOP = 10000, 30000  # arec load's reference recorder starts at 30000


# The profile examples' recorder double (tests/doubles/profile_recorder.py) binds 20000/20002
# itself: a managed recorder's range over them captured that test's RTP as foreign packets
# (REP-SENT-NO-EXTRA failed in a scenario running beside it).
_RTP_RESERVED = range(20000, 20400)


def rtp_range(worker_slot: int, width: int = 200) -> tuple[int, int]:
    # Even-aligned ranges that differ per xdist worker and per scenario, so parallel recorders
    # rarely compete for the same RTP ports (the reference recorder skips busy ones anyway).
    bases = [b for b in range(_RTP_BASE, _RTP_TOP - width + 1, width)
             if b + width <= _RTP_RESERVED.start or b >= _RTP_RESERVED.stop]
    base = bases[(worker_slot * 7919) % len(bases)]
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
        low, high = rtp_range(self.slot)
        if ("{tlib}" in self.command and self.tlib is None) or ("{tlib_config}" in self.command
                                                                and self.tlib_config is None):
            raise SetupError(f"{self.name}: the command needs a T-Server address and T-Lib configuration "
                             f"file ({{tlib}}, {{tlib_config}}) and none was given")
        tlib_config = shlex.quote(str(self.tlib_config)) if self.tlib_config is not None else ""

        def argv(port: int) -> list[str]:
            return shlex.split(self.command.format(port=port, dir=shlex.quote(str(self.recordings)), rtp_low=low,
                                                   rtp_high=high, transport=self.transport, tlib=self.tlib or "",
                                                   tlib_config=tlib_config))

        # The reference recorder (and a command-line recorder) prints a line starting with
        # "ready" once it listens.
        spec = LaunchSpec(self.name, argv, "127.0.0.1", self.transport,
                          self.log_path or self.recordings.parent / "recorder.log", REPO_ROOT,
                          ready_line="^ready", ready_timeout_s=self.start_timeout_s,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._process, port = launch(spec)
        try:
            yield RecorderUnderTest(self.name, "127.0.0.1", port, self.transport, self.recordings,
                                    (low, high + 1), managed=True, capabilities=self.capabilities)
        finally:
            self.stop()

    def stop(self) -> None:
        proc, self._process = self._process, None
        if proc is not None:
            stop_process(proc)

    def kill(self) -> None:
        """SIGKILL at once: the recorder crashes mid-call (GVP-HA); what it wrote so far stays."""
        proc = self._process
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def _namespace() -> contextlib.AbstractContextManager[NamespaceHandle]:
    try:
        from harness.recorders import netns
    except ImportError:
        raise SetupError("netns profiles need harness/recorders/netns.py, which this version lacks") from None
    return netns.namespace_for_recorder()


@dataclass(slots=True)
class ProfileRecorder:
    """The recorder of one profile, started (or just addressed) for one scenario or run."""

    profile: RecorderProfile
    work_dir: Path
    start_attempts: int = 3
    # The scenario's T-Server (HOST:PORT) and the recorder's T-Lib configuration file, for
    # {tlib} / {tlib_config} in the command of a T-Lib-capable recorder.
    tlib: str | None = None
    tlib_config: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def log_path(self) -> Path:
        return self.work_dir / "recorder.log"

    @contextlib.contextmanager
    def running(self) -> Iterator[RecorderUnderTest]:
        profile = self.profile
        if profile.process is None:
            yield self._under_test(profile.host, profile.port, {})
            return
        with contextlib.ExitStack() as stack:
            host = profile.host
            values = {"work_dir": str(self.work_dir), "ns_address": host, "tlib": self.tlib or "",
                      "tlib_config": str(self.tlib_config or "")}
            exec_prefix: list[str] = []
            ns: NamespaceHandle | None = None
            if profile.process.netns:
                ns = stack.enter_context(_namespace())
                host = ns.recorder_address
                values["ns_address"] = host
                exec_prefix = ns.command([])
            wanted = placeholders(profile.process.command)
            if ("tlib" in wanted and self.tlib is None) or ("tlib_config" in wanted and self.tlib_config is None):
                raise SetupError(f"recorder profile {profile.path}: [process] command: {{tlib}}/{{tlib_config}} are "
                                 "only available per scenario (scope = \"scenario\") and outside a network namespace")
            if ns is not None and "tlib" in wanted:
                # The scenario's T-Server listens on loopback, which a namespace cannot reach.
                raise SetupError(f"recorder profile {profile.path}: [process] command: {{tlib}} cannot be used "
                                 "with netns = true (the scenario's T-Server listens on loopback)")
            self.work_dir.mkdir(parents=True, exist_ok=True)
            port = self._start(values, exec_prefix, host)
            stack.callback(self.stop)
            yield self._under_test(host, port, values, ns)

    def kill(self) -> None:
        """SIGKILL at once: the recorder crashes mid-call (GVP-HA); what it wrote so far stays."""
        proc = self._process
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def _under_test(self, host: str, port: int, values: dict[str, str],
                    ns: NamespaceHandle | None = None) -> RecorderUnderTest:
        profile = self.profile
        directory = profile.recordings_dir({**values, "port": str(port)})
        locator = None
        if profile.recordings is not None and directory is not None:
            locator = RecordingLocator(profile.recordings, directory)
        # In a namespace the recorder reaches only our end of its veth pair: the harness's
        # SIPp legs and RTP sockets bind there, and the capture listens on that interface.
        recorder = RecorderUnderTest(profile.name, host, port, profile.transport, directory, None,
                                     managed=profile.process is not None, capabilities=profile.capabilities,
                                     locator=locator)
        if ns is None:
            return recorder
        return dataclasses.replace(recorder, local_address=ns.host_address, capture_interface=ns.host_ifname)

    def _start(self, values: dict[str, str], exec_prefix: list[str], host: str) -> int:
        profile = self.profile
        process = profile.process
        assert process is not None

        def argv(port: int) -> list[str]:
            values["port"] = str(port)
            directory = check_recordings_dir(profile, values)
            if directory is not None:
                values["recordings"] = str(directory)
            command = [*exec_prefix, *shlex.split(profile.command_text(values))]
            executable = command[len(exec_prefix)] if len(command) > len(exec_prefix) else ""
            if not executable or not program_found(profile, executable):
                raise SetupError(f"recorder profile {profile.path}: [process] command: {executable or '(empty)'!r} "
                                 "not found or not executable")
            return command

        spec = LaunchSpec(profile.name, argv, host, profile.transport, self.log_path, profile.profile_dir,
                          port=profile.port, ready_line=process.ready_line, ready_timeout_s=process.ready_timeout_s,
                          attempts=self.start_attempts)
        self._process, port = launch(spec)
        return port

    def stop(self) -> None:
        proc, self._process = self._process, None
        if proc is not None:
            stop_process(proc)


class _RunScoped:
    """Recorders with ``scope = "run"``: started on first use, stopped when the process ends."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._recorders: dict[Path, RecorderUnderTest] = {}
        self._lock = threading.Lock()

    def get(self, profile: RecorderProfile, work_dir: Path) -> RecorderUnderTest:
        with self._lock:
            if profile.path not in self._recorders:
                if not self._recorders:
                    atexit.register(self.close)
                recorder = ProfileRecorder(profile, work_dir)
                self._recorders[profile.path] = self._stack.enter_context(recorder.running())
            return self._recorders[profile.path]

    def close(self) -> None:
        with self._lock:
            self._recorders.clear()
            self._stack.close()


RUN_SCOPED = _RunScoped()


@contextlib.contextmanager
def recorder_for(profile: RecorderProfile, work_dir: Path, run_work_dir: Path | None = None, *,
                 tlib: str | None = None, tlib_config: Path | None = None) -> Iterator[RecorderUnderTest]:
    """The recorder under test for one scenario: a fresh process, the run's shared one, or an
    already running recorder (no [process]). `tlib`/`tlib_config` fill {tlib}/{tlib_config}
    for a per-scenario recorder (the T-Server is the scenario's)."""
    if profile.process is not None and profile.process.scope == "run":
        yield RUN_SCOPED.get(profile, run_work_dir or Path(tempfile.mkdtemp(prefix="arec-recorder-")))
        return
    with ProfileRecorder(profile, work_dir, tlib=tlib, tlib_config=tlib_config).running() as recorder:
        yield recorder
