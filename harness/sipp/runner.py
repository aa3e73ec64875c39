"""Run one Media Server -> recorder leg as a real SIPp process (docs/architecture.md §2, docs/genesys-flow.md §4.2-4.8).

Genesys GVP Media Server opens one recording session per replicated RTP stream (or one
session with two ``m=audio`` lines in single-session mode) towards the recorder, with the
call context in the Request-URI (GVP-MSRec)::

    sip:record=<id>@<recorder>;calluuid=<CallUUID>;dn=<DN>;recordDN=<DN>
    sip:record=<id>@<recorder>;calluuid=<CallUUID>;dn=DN1;otherDN=DN2;recordDN=DN1

Each leg here is a SIPp 3.6 UAC running a scenario kept in ``scenarios/`` and filled in per
call with ``-key`` values and an ``offer.sdp`` file in the leg's work directory. SIPp carries
the signalling only; RTP comes from arec's own sender. Run-time control (re-INVITE for
pause/resume, BYE at a moment chosen by the test) goes through SIPp's 3PCC twin socket,
driven by :class:`harness.sipp.twin.SippControl`.

SIPp's exit code is EVIDENCE for the report, never the verdict: validators judge the capture.
"""

from __future__ import annotations

import contextlib
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType

from harness.sipp.twin import Direction, SippControl

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

SIPP_MISSING = "SIPp not found: apt-get install sip-tester"

# Name of the file the leg scenarios insert with SIPp's [file name="..."] keyword.
OFFER_FILE = "offer.sdp"


class Scenario(StrEnum):
    """Scenario files in ``scenarios/`` (stem = value)."""

    LEG = "are_leg_uac"  # one stream per session (two-session mode)
    SINGLE = "are_single_uac"  # one session, two m=audio lines (single-session mode)
    OPTIONS = "options_uac"  # OPTIONS ping, expects 200 (RM liveness check, docs/genesys-flow.md §4.5)

    @property
    def path(self) -> Path:
        return SCENARIO_DIR / f"{self.value}.xml"

    @property
    def uses_twin(self) -> bool:
        """The INVITE scenarios are steered through the 3PCC twin socket."""
        return self is not Scenario.OPTIONS

    @property
    def stream_count(self) -> int:
        return 2 if self is Scenario.SINGLE else 1


class Transport(StrEnum):
    UDP = "udp"
    TCP = "tcp"

    @property
    def sipp_mode(self) -> str:
        # u1/t1: one socket for the single call (SIPp's -t modes).
        return "u1" if self is Transport.UDP else "t1"


@dataclass(frozen=True, slots=True)
class Codec:
    """One negotiated audio codec (docs/genesys-flow.md §4.3: Media Server offers the codec the parties chose)."""

    name: str
    payload_type: int
    clock_rate: int = 8000

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"RTP payload type {self.payload_type} outside 0..127 (RFC 3550 §5.1)")
        if not re.fullmatch(r"[A-Za-z0-9._-]+", self.name):
            raise ValueError(f"codec name {self.name!r} is not an rtpmap encoding name")


PCMU = Codec("PCMU", 0)
PCMA = Codec("PCMA", 8)

# SIPp exit codes (SIPp reference "Exit codes"; docs/tooling.md measured 0, 1, 97, 254, 255).
EXIT_CODES: dict[int, str] = {
    0: "all calls succeeded",
    1: "at least one call failed (see the error log)",
    97: "SIPp stopped on an internal command or global timeout; calls may have been processed",
    99: "normal exit without any call processed",
    253: "RTP validation failure",
    254: "fatal error binding a socket: local port in use?",
    255: "fatal error (bad scenario/options) or hard timeout; see stderr",
}

# A value substituted into a SIP URI / header by SIPp: keep it a plain token so it can
# neither break the Request-URI (';', '@', '>') nor inject a header (CR/LF).
_TOKEN = re.compile(r"[A-Za-z0-9._~!*'()+%-]+")
_HOST = re.compile(r"[A-Za-z0-9.:\[\]-]+")


def _check_token(name: str, value: str) -> None:
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"{name}={value!r} must be a non-empty URI token (no ';', '@', spaces or CR/LF)")


@dataclass(frozen=True, slots=True)
class SippLeg:
    """Everything one SIPp leg needs; validated when built."""

    recorder_host: str
    recorder_port: int
    record_id: str
    calluuid: str
    dn: str
    record_dn: str
    scenario: Scenario = Scenario.LEG
    other_dn: str | None = None
    transport: Transport = Transport.UDP
    local_ip: str = "127.0.0.1"
    local_port: int = 0  # 0: pick a free port at start
    codec: Codec = PCMU
    telephone_event_pt: int | None = 101
    ptime_ms: int = 20
    media_ip: str = "127.0.0.1"
    media_ports: tuple[int, ...] = (40000,)
    call_id: str | None = None  # None: SIPp's default "<n>-<pid>@<ip>"
    recv_timeout_ms: int = 5000
    uri_host: str | None = None  # host[:port] written in the URI; default recorder_host:port

    def __post_init__(self) -> None:
        for name in ("record_id", "calluuid", "dn", "record_dn"):
            _check_token(name, getattr(self, name))
        if self.other_dn is not None:
            _check_token("other_dn", self.other_dn)
        if self.call_id is not None and ("%" in self.call_id or not _TOKEN.fullmatch(self.call_id.replace("@", ""))):
            raise ValueError(f"call_id {self.call_id!r}: word[@host] without '%' (it becomes SIPp's -cid_str)")
        for host in (self.recorder_host, self.local_ip, self.media_ip, self.uri_host or "x"):
            if not _HOST.fullmatch(host):
                raise ValueError(f"{host!r} is not a host name or IP address")
        if not 0 < self.recorder_port < 65536 or not 0 <= self.local_port < 65536:
            raise ValueError("ports must be within 1..65535 (local_port 0 = pick a free one)")
        if self.scenario is Scenario.SINGLE and self.other_dn is None:
            raise ValueError("single-session mode needs other_dn (GVP-MSRec: dn=DN1;otherDN=DN2)")
        if self.scenario is not Scenario.SINGLE and self.other_dn is not None:
            raise ValueError("other_dn only exists in single-session mode")
        if self.scenario.uses_twin and len(self.media_ports) != self.scenario.stream_count:
            raise ValueError(f"{self.scenario.value} offers {self.scenario.stream_count} m=audio line(s), "
                             f"got {len(self.media_ports)} media port(s)")
        if any(not 0 < p < 65536 for p in self.media_ports):
            raise ValueError("media ports must be within 1..65535")
        if self.telephone_event_pt is not None and (
            not 96 <= self.telephone_event_pt <= 127 or self.telephone_event_pt == self.codec.payload_type
        ):
            raise ValueError("telephone-event needs a distinct dynamic payload type 96..127 (RFC 4733 §7.1)")
        if self.recv_timeout_ms <= 0 or self.ptime_ms <= 0:
            raise ValueError("recv_timeout_ms and ptime_ms must be positive")

    @property
    def uri_hostport(self) -> str:
        return self.uri_host or f"{self.recorder_host}:{self.recorder_port}"

    @property
    def request_uri(self) -> str:
        """The Genesys recording URI the scenario sends (GVP-MSRec, docs/genesys-flow.md §4.2)."""
        if self.scenario is Scenario.OPTIONS:
            return f"sip:{self.uri_hostport}"
        other = f";otherDN={self.other_dn}" if self.other_dn is not None else ""
        return (f"sip:record={self.record_id}@{self.uri_hostport};calluuid={self.calluuid};"
                f"dn={self.dn}{other};recordDN={self.record_dn}")

    def offer_sdp(self, version: int = 1, direction: Direction = Direction.SENDONLY) -> bytes:
        """The Media Server's offer (docs/genesys-flow.md §4.8), one ``m=audio`` per stream.

        RFC 4566 §5.2: the o= version must grow with every modified offer, so re-INVITEs pass
        a larger ``version``. ``a=sendonly`` because Media Server only sends replicated media;
        ``a=inactive`` is the pause (RFC 3264 §8.4, docs/genesys-flow.md §4.6 option 3).
        """
        if version < 1:
            raise ValueError("o= version starts at 1")
        ip_ver = "IP6" if ":" in self.media_ip else "IP4"
        pts = [str(self.codec.payload_type)]
        if self.telephone_event_pt is not None:
            pts.append(str(self.telephone_event_pt))
        # The session id only has to be unique per session (RFC 4566 §5.2): derive it from
        # the record id and the dn so the two legs of one call differ.
        session_id = int.from_bytes(f"{self.record_id}/{self.dn}".encode(), "big") % 10**10
        lines = [
            "v=0",
            f"o=MCP {session_id} {version} IN {ip_ver} {self.media_ip}",
            "s=-",
            f"c=IN {ip_ver} {self.media_ip}",
            "t=0 0",
        ]
        for port in self.media_ports:
            lines.append(f"m=audio {port} RTP/AVP {' '.join(pts)}")
            lines.append(f"a=rtpmap:{self.codec.payload_type} {self.codec.name}/{self.codec.clock_rate}")
            if self.telephone_event_pt is not None:
                lines.append(f"a=rtpmap:{self.telephone_event_pt} telephone-event/8000")
                lines.append(f"a=fmtp:{self.telephone_event_pt} 0-15")
            lines.append(f"a=ptime:{self.ptime_ms}")
            lines.append(f"a={direction.value}")
        return "\r\n".join(lines).encode("ascii") + b"\r\n"

    def sipp_keys(self) -> list[tuple[str, str]]:
        """The ``-key`` values the scenario reads (none collides with a SIPp keyword)."""
        if self.scenario is Scenario.OPTIONS:
            return [("rec_host", self.uri_hostport)]
        keys = [
            ("record_id", self.record_id),
            ("rec_host", self.uri_hostport),
            ("calluuid", self.calluuid),
            ("dn", self.dn),
            ("record_dn", self.record_dn),
        ]
        if self.other_dn is not None:
            keys.append(("other_dn", self.other_dn))
        return keys


@dataclass(frozen=True, slots=True)
class TracePaths:
    """Where SIPp writes its traces for one leg."""

    work_dir: Path

    @property
    def message_log(self) -> Path:
        return self.work_dir / "messages.log"

    @property
    def error_log(self) -> Path:
        return self.work_dir / "errors.log"

    @property
    def stat_file(self) -> Path:
        return self.work_dir / "stats.csv"

    @property
    def screen_file(self) -> Path:
        return self.work_dir / "screen.log"

    @property
    def stderr_file(self) -> Path:
        return self.work_dir / "stderr.log"


def build_command(
    leg: SippLeg,
    traces: TracePaths,
    *,
    local_port: int,
    media_port: int,
    twin: tuple[str, int] | None = None,
    sipp: str = "sipp",
    scenario_path: Path | None = None,
    calls: int = 1,
) -> list[str]:
    """The SIPp command line for one leg (pure; no process started); `calls` > 1 places that
    many calls of the scenario at once (all open together: the capacity probe)."""
    if calls < 1:
        raise ValueError("calls must be at least 1")
    if leg.scenario.uses_twin and twin is None:
        raise ValueError(f"{leg.scenario.value} needs the 3PCC twin address")
    if not leg.scenario.uses_twin and twin is not None:
        raise ValueError(f"{leg.scenario.value} has no twin commands; SIPp refuses -3pcc without them")
    cmd = [
        sipp,
        f"{leg.recorder_host}:{leg.recorder_port}",
        "-sf", str(scenario_path or leg.scenario.path),
        "-t", leg.transport.sipp_mode,
        "-i", leg.local_ip,
        "-p", str(local_port),
        # SIPp's UDP control socket would otherwise listen on 0.0.0.0:8888+ (tests stay on lo).
        "-ci", leg.local_ip,
        # SIPp always opens its own (unused here) RTP echo sockets, from 6000 up by default:
        # move them to a kernel-chosen port so they cannot take a port a recorder wants.
        "-mi", leg.local_ip,
        "-mp", str(media_port),
        "-m", str(calls),
        "-l", str(calls),
        "-nostdin",
        # Bounds every SIP wait (the 200 to INVITE/re-INVITE/BYE): without it an unanswered
        # INVITE waits for timer B, 64*T1 = 32 s (RFC 3261 §17.1.1.2; docs/tooling.md).
        "-recv_timeout", str(leg.recv_timeout_ms),
        "-trace_msg", "-message_file", str(traces.message_log),
        "-trace_err", "-error_file", str(traces.error_log),
        "-trace_stat", "-stf", str(traces.stat_file),
        "-trace_screen", "-screen_file", str(traces.screen_file),
    ]
    if calls > 1:
        # -r: new calls per second; far above `calls`, so they all start within milliseconds.
        cmd += ["-r", str(max(1000, calls))]
    if leg.call_id is not None:
        cmd += ["-cid_str", leg.call_id]
    if leg.scenario is Scenario.OPTIONS:
        # SIPp's default abort behaviour sends a BYE, which for an OPTIONS answered non-2xx is
        # a request outside any dialog (the recorder rightly answers 481): not our traffic.
        cmd += ["-default_behaviors", "all,-bye"]
    if twin is not None:
        cmd += ["-3pcc", f"{twin[0]}:{twin[1]}"]
    for key, value in leg.sipp_keys():
        cmd += ["-key", key, value]
    return cmd


def sipp_available(sipp: str = "sipp") -> str | None:
    """None when SIPp can be run, else a one-line fix for the user."""
    return None if shutil.which(sipp) else SIPP_MISSING


def explain_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"killed by signal {-code}"
    return EXIT_CODES.get(code, f"unknown SIPp exit code {code}")


def parse_stat_csv(text: str) -> dict[str, str]:
    """Last row of SIPp's ``-trace_stat`` CSV (';'-separated, header first) as name -> value."""
    rows = [line for line in text.splitlines() if line.strip()]
    if len(rows) < 2:
        return {}
    header = rows[0].split(";")
    values = rows[-1].split(";")
    return {name: value for name, value in zip(header, values, strict=False) if name}


# SIPp's error log is "The following events occurred:" then entries that are NOT newline
# separated, each starting with "YYYY-MM-DD<TAB>HH:MM:SS.ffffff<TAB>epoch: ".
_ERR_ENTRY = re.compile(r"\d{4}-\d{2}-\d{2}\t\d{2}:\d{2}:\d{2}\.\d+\t\d+\.\d+: ")
# Entries that are not failures: the epoll warning SIPp prints when a descriptor is a plain
# file (stdout to /dev/null), and the idle-wait timeout that only loops in the leg scenarios.
_BENIGN = (
    re.compile(r"Failed to delete FD from epoll"),
    re.compile(r"receive timeout on message .*, jumping to label"),
)


def parse_error_log(text: str) -> list[str]:
    """All entries of SIPp's ``-trace_err`` file, stripped."""
    starts = [m.start() for m in _ERR_ENTRY.finditer(text)]
    entries = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        entries.append(text[start:end].strip())
    return entries


def significant_errors(entries: list[str]) -> list[str]:
    return [e for e in entries if not any(p.search(e) for p in _BENIGN)]


def _stat_int(stats: dict[str, str], name: str) -> int:
    try:
        return int(stats.get(name, "0") or 0)
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class SippResult:
    """What one SIPp run left behind: evidence, not a verdict."""

    exit_code: int | None
    stats: dict[str, str]
    errors: list[str]
    message_log: Path
    error_log: Path
    stat_file: Path
    command: list[str]
    stderr: str = ""
    terminated: bool = False  # we had to stop it

    @property
    def explanation(self) -> str:
        return explain_exit(self.exit_code)

    @property
    def successful_calls(self) -> int:
        return _stat_int(self.stats, "SuccessfulCall(C)")

    @property
    def failed_calls(self) -> int:
        return _stat_int(self.stats, "FailedCall(C)")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.successful_calls == 1 and self.failed_calls == 0

    def summary(self) -> str:
        first = f"; first error: {self.errors[0][:200]}" if self.errors else ""
        return (f"SIPp exit {self.exit_code} ({self.explanation}); successful={self.successful_calls} "
                f"failed={self.failed_calls}{first}")


class SippStartError(RuntimeError):
    """SIPp could not be started (missing binary, port in use, ...)."""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _port_free(ip: str, port: int, transport: Transport) -> bool:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if transport is Transport.UDP else socket.SOCK_STREAM
    with socket.socket(family, kind) as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def free_port(ip: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP right now (the kernel picks it; a small race remains)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.bind((ip, 0))
            port = int(udp.getsockname()[1])
            if _port_free(ip, port, Transport.TCP):
                return port
    raise SippStartError(f"no free port found on {ip}")


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
        port = self.leg.local_port or free_port(self.leg.local_ip)
        if self.check_port and self.leg.local_port and not _port_free(self.leg.local_ip, port, self.leg.transport):
            raise SippStartError(f"local SIP port {self.leg.local_ip}:{port}/{self.leg.transport.value} is in use; "
                                 "pick another local_port or 0 for a free one")
        self.local_port = port
        twin: tuple[str, int] | None = None
        if self.leg.scenario.uses_twin:
            # SIPp appends one CRLF after the last line of a message (here the inserted file),
            # so the file must not end with CRLF, or the body would end with an empty line.
            (self.work_dir / OFFER_FILE).write_bytes(self.leg.offer_sdp().removesuffix(b"\r\n"))
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
    """OPTIONS ping of the recorder (RM keeps only live recorders, docs/genesys-flow.md §4.5); with
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
