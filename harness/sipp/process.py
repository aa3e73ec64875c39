"""Running one SIPp leg process: ports, start, wait, terminate, results; the OPTIONS ping."""

from __future__ import annotations

import contextlib
import random
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from harness.netutil import free_port, port_free
from harness.sipp.command import TracePaths, build_command, sipp_available
from harness.sipp.leg import OFFER_FILE, Scenario, SippLeg, Transport
from harness.sipp.results import SippResult, parse_error_log, parse_stat_csv, significant_errors
from harness.sipp.twin import SippControl


class SippStartError(RuntimeError):
    """SIPp could not be started (missing binary, port in use, ...)."""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _port_free(ip: str, port: int, transport: Transport) -> bool:
    return port_free(ip, port, socket.SOCK_DGRAM if transport is Transport.UDP else socket.SOCK_STREAM)


# SIPp binds RTP sockets of its own at -mp P (audio) and P+2 (video), with RTCP next to each,
# although arec never lets it send media. A kernel-chosen port P says nothing about P+2, and
# parallel runs grab ephemeral ports all the time (exit 254 seen under `pytest -n 2`), so the
# block is taken below the ephemeral range (Linux default 32768-60999) and checked whole.
_SIPP_MEDIA_RANGE = (10000, 19990)


def sipp_media_port(ip: str = "127.0.0.1", rng: random.Random | None = None) -> int:
    """An even port P with P..P+3 free (UDP), for SIPp's unused RTP/RTCP sockets."""
    pick = rng or random.Random()
    for _ in range(200):
        port = pick.randrange(*_SIPP_MEDIA_RANGE, 4)
        if all(_port_free(ip, p, Transport.UDP) for p in range(port, port + 4)):
            return port
    raise SippStartError(f"no free block of 4 UDP ports in {_SIPP_MEDIA_RANGE} on {ip}")


@dataclass
class SippProcess:
    """One SIPp leg process; for INVITE scenarios ``control`` steers it.

    Usage::

        with SippProcess(leg, work_dir) as proc:
            answer = proc.control.wait_answer(5)
            proc.control.reinvite(Direction.INACTIVE)
            proc.control.bye()
            result = proc.wait(10)
    """

    leg: SippLeg
    work_dir: Path
    sipp: str = "sipp"
    scenario_path: Path | None = None  # override (tests)
    check_port: bool = True
    calls: int = 1  # simultaneous calls of the scenario (build_command)
    _control: SippControl | None = field(default=None, init=False, repr=False)
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _command: list[str] = field(default_factory=list, init=False, repr=False)
    _terminated: bool = field(default=False, init=False, repr=False)
    local_port: int = field(default=0, init=False)

    @property
    def traces(self) -> TracePaths:
        return TracePaths(self.work_dir)

    @property
    def control(self) -> SippControl:
        if self._control is None:
            raise RuntimeError(f"{self.leg.scenario.value} has no twin control (or start() not called)")
        return self._control

    @property
    def command(self) -> list[str]:
        return list(self._command)

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> None:
        if self._popen is not None:
            raise RuntimeError("already started")
        if (missing := sipp_available(self.sipp)) is not None:
            raise SippStartError(missing)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            # Free for UDP and TCP alike (the kernel picks it; a small race remains).
            port = self.leg.local_port or free_port(self.leg.local_ip)
        except OSError as error:
            raise SippStartError(str(error)) from None
        if self.check_port and self.leg.local_port and not _port_free(self.leg.local_ip, port, self.leg.transport):
            raise SippStartError(f"local SIP port {self.leg.local_ip}:{port}/{self.leg.transport.value} is in use; "
                                 "pick another local_port or 0 for a free one")
        self.local_port = port
        twin: tuple[str, int] | None = None
        if self.leg.scenario.uses_twin:
            # SIPp appends one CRLF after the last line of a message (here the inserted file),
            # so the file must not end with CRLF, or the body would end with an empty line.
            (self.work_dir / OFFER_FILE).write_bytes(self.leg.initial_body().removesuffix(b"\r\n"))
            self._control = SippControl(
                offer=self.leg.offer_sdp,
                host="127.0.0.1",
                is_alive=self.running,
            )
            twin = self._control.address
        self._command = build_command(self.leg, self.traces, local_port=port, media_port=sipp_media_port(self.leg.local_ip),
                                      twin=twin, sipp=self.sipp, scenario_path=self.scenario_path,
                                      calls=self.calls)
        stderr = self.traces.stderr_file.open("wb")
        try:
            self._popen = subprocess.Popen(
                self._command, cwd=self.work_dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=stderr, start_new_session=True,
            )
        except OSError as exc:
            if self._control is not None:
                self._control.close()
            raise SippStartError(f"cannot run {self.sipp}: {exc}") from exc
        finally:
            stderr.close()

    def wait(self, timeout: float) -> SippResult:
        """Wait for SIPp to exit; TimeoutError if it does not (it keeps running)."""
        if self._popen is None:
            raise RuntimeError("not started")
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"SIPp still running after {timeout} s: {' '.join(self._command)}") from exc
        return self.result()

    def terminate(self, grace: float = 2.0) -> SippResult:
        """Stop SIPp (SIGTERM, then SIGKILL after ``grace`` seconds) and collect the result."""
        if self._popen is None:
            raise RuntimeError("not started")
        if self._popen.poll() is None:
            self._terminated = True
            self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(grace)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()
        return self.result()

    def kill(self) -> SippResult:
        """SIGKILL at once: the Media Server dies mid-call and sends nothing more (no BYE)."""
        if self._popen is None:
            raise RuntimeError("not started")
        if self._popen.poll() is None:
            self._terminated = True
            self._popen.kill()
            self._popen.wait()
        return self.result()

    def result(self) -> SippResult:
        code = self._popen.poll() if self._popen else None
        if self._control is not None and code is not None:
            self._control.close()
        t = self.traces
        return SippResult(
            exit_code=code,
            stats=parse_stat_csv(_read(t.stat_file)),
            errors=significant_errors(parse_error_log(_read(t.error_log))),
            message_log=t.message_log,
            error_log=t.error_log,
            stat_file=t.stat_file,
            command=list(self._command),
            stderr=_read(t.stderr_file).strip(),
            terminated=self._terminated,
        )

    def __enter__(self) -> SippProcess:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._popen is not None and self._popen.poll() is None:
            self.terminate()
        if self._control is not None:
            self._control.close()


def run_options(leg: SippLeg, work_dir: Path, *, timeout: float = 10.0, sipp: str = "sipp",
                scenario_path: Path | None = None, calls: int = 1) -> SippResult:
    """OPTIONS ping of the recorder (the Resource Manager keeps only live recorders, GVP-Scale); with
    `scenario_path`, another scenario without twin commands (e.g. the edge_*_uac.xml probes),
    `calls` times at once."""
    if leg.scenario is not Scenario.OPTIONS:
        raise ValueError("run_options needs Scenario.OPTIONS")
    proc = SippProcess(leg, work_dir, sipp=sipp, scenario_path=scenario_path, calls=calls)
    proc.start()
    deadline = time.monotonic() + timeout
    with contextlib.suppress(TimeoutError):
        return proc.wait(max(0.0, deadline - time.monotonic()))
    return proc.terminate()
