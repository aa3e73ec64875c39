"""Starting, waiting for and stopping the recorder a profile describes (docs/architecture.md §4).

`[process]` absent: the recorder is already running; arec only talks to it. Present: its
command is started per scenario (``scope = "scenario"``) or once per test process
(``scope = "run"``), its output goes to ``recorder.log`` in the work directory, and it is
ready when a line matches ``ready_line`` or, without one, when its SIP port answers OPTIONS.
With ``netns = true`` it runs in a network namespace arec creates (`harness.recorders.netns`).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import re
import secrets
import shlex
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from harness.exitcodes import SetupError
from harness.protocol.errors import RemoteProtocolError
from harness.protocol.sip.message import SipResponse, StreamFramer, parse_message
from harness.recorders.base import RecorderUnderTest, free_port, stop_process, watch_output
from harness.recorders.locate import RecordingLocator, placeholders
from harness.recorders.profile import RecorderProfile, check_recordings_dir, program_found

if TYPE_CHECKING:
    from harness.recorders.netns import NamespaceHandle


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
        assert profile.process is not None
        why = ""
        for _attempt in range(self.start_attempts):
            kind = socket.SOCK_DGRAM if profile.transport == "udp" else socket.SOCK_STREAM
            port = profile.port or free_port(kind)
            values["port"] = str(port)
            directory = check_recordings_dir(profile, values)
            if directory is not None:
                values["recordings"] = str(directory)
            argv = [*exec_prefix, *shlex.split(profile.command_text(values))]
            executable = argv[len(exec_prefix)] if len(argv) > len(exec_prefix) else ""
            if not executable or not program_found(profile, executable):
                raise SetupError(f"recorder profile {profile.path}: [process] command: {executable or '(empty)'!r} "
                                 "not found or not executable")
            log = self.log_path.open("ab")
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    cwd=profile.profile_dir, start_new_session=True)
            if self._wait_ready(proc, log, host, port):
                self._process = proc
                return port
            code = proc.poll()
            stop_process(proc, grace_s=2.0)
            why = (f"exited with code {code}" if code is not None
                   else f"not ready within {profile.process.ready_timeout_s:g} s")
            if profile.port:
                break  # a fixed port will not get free by retrying
        raise SetupError(f"{profile.name} did not start ({why}); command: {shlex.join(argv)}; see {self.log_path}")

    def _wait_ready(self, proc: subprocess.Popen[bytes], log: IO[bytes], host: str, port: int) -> bool:
        process = self.profile.process
        assert process is not None and proc.stdout is not None
        pattern = re.compile(process.ready_line.encode()) if process.ready_line else None
        # The whole output goes to the log (for the report); the first match sets `matched`.
        matched = watch_output(proc.stdout, lambda line: pattern is not None and pattern.search(line) is not None,
                               copy_to=log)
        deadline = time.monotonic() + process.ready_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            if pattern is not None:
                if matched.wait(0.05):
                    return True
            elif sip_ping(host, port, self.profile.transport, timeout_s=0.3) is not None:
                return True
        return False

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


__all__ = ["RUN_SCOPED", "ProfileRecorder", "recorder_for", "sip_ping"]
