"""Loopback packet capture to a pcap file with tcpdump (docs/architecture.md §2 "capture").

The capture is the evidence every validator reads, so it must hold the whole call, up to and
including the last BYE/200. Measured on these machines (docs/tooling.md "Capture"):
``tcpdump -i lo -n --immediate-mode -U -w file <filter>`` loses nothing at 10k pps, while
without ``--immediate-mode -U`` the last second (the BYE) can be missing when tcpdump is
stopped. We stop it with SIGINT (tcpdump's clean stop: it flushes and closes the savefile)
and wait for it to exit before anyone reads the file.

``-i lo`` gives LINKTYPE_ETHERNET with zeroed MACs; validators read it with dpkt like the
unprivileged fallback in :mod:`harness.capture.synthetic`. Capturing needs CAP_NET_RAW
(root, or file capabilities on tcpdump); :func:`capture_available` says which applies.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

TCPDUMP_MISSING = "tcpdump not found: apt-get install tcpdump"
NO_PRIVILEGE = ("no CAP_NET_RAW to capture on lo: run as root, or "
                "`setcap cap_net_raw,cap_net_admin=eip $(command -v tcpdump)`")


class CaptureError(RuntimeError):
    """tcpdump could not start (bad filter, no privilege) or did not stop cleanly."""


def _has_net_raw() -> bool:
    """Can this process open a packet socket? (What tcpdump needs, unless it has file caps.)"""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return True
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    except (PermissionError, OSError, AttributeError):
        return False
    s.close()
    return True


def _file_caps(path: str) -> str:
    getcap = shutil.which("getcap")
    if getcap is None:
        return ""
    try:
        return subprocess.run([getcap, path], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def capture_available(tcpdump: str = "tcpdump") -> tuple[bool, str]:
    """(ok, why): whether a privileged loopback capture can run here, and why not."""
    path = shutil.which(tcpdump)
    if path is None:
        return False, TCPDUMP_MISSING
    if _has_net_raw():
        return True, "root or CAP_NET_RAW"
    if "cap_net_raw" in _file_caps(path):
        return True, f"file capabilities on {path}"
    return False, NO_PRIVILEGE


@dataclass(frozen=True, slots=True)
class CaptureStats:
    """tcpdump's own counters, printed on stderr when it exits."""

    captured: int | None
    received_by_filter: int | None
    dropped_by_kernel: int | None


_COUNTERS = {
    "captured": re.compile(r"(\d+) packets? captured"),
    "received_by_filter": re.compile(r"(\d+) packets? received by filter"),
    "dropped_by_kernel": re.compile(r"(\d+) packets? dropped by kernel"),
}


def parse_tcpdump_stats(stderr: str) -> CaptureStats:
    found: dict[str, int | None] = {}
    for name, pattern in _COUNTERS.items():
        m = pattern.search(stderr)
        found[name] = int(m.group(1)) if m else None
    return CaptureStats(found["captured"], found["received_by_filter"], found["dropped_by_kernel"])


class LoopbackCapture:
    """Context manager: tcpdump writing ``path`` while the block runs.

    ``__enter__`` returns once tcpdump reports "listening on" (packets sent before that
    would be missed); ``__exit__`` sends SIGINT and waits, so the savefile is complete.
    """

    method = "tcpdump"

    def __init__(
        self,
        path: Path,
        bpf_filter: str = "",
        *,
        interface: str = "lo",
        tcpdump: str = "tcpdump",
        start_timeout: float = 5.0,
        stop_timeout: float = 5.0,
        buffer_kib: int | None = 16384,
        snaplen: int = 65535,
    ) -> None:
        self.path = Path(path)
        self.bpf_filter = bpf_filter
        self.interface = interface
        self.tcpdump = tcpdump
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.buffer_kib = buffer_kib
        self.snaplen = snaplen
        self.stats: CaptureStats | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: list[str] = []
        self._listening = threading.Event()
        self._started = False
        self._reader: threading.Thread | None = None

    @property
    def command(self) -> list[str]:
        cmd = [self.tcpdump, "-i", self.interface, "-n", "--immediate-mode", "-U", "-s", str(self.snaplen)]
        if self.buffer_kib:
            # The kernel ring holds buffer/snaplen frames: tcpdump's default 2 MiB with a
            # 256 KiB snaplen is only 8 frames, so a burst while tcpdump is descheduled is
            # "dropped by kernel". 64 KiB covers any SIP/RTP datagram on lo.
            cmd += ["-B", str(self.buffer_kib)]
        cmd += ["-w", str(self.path)]
        if self.bpf_filter:
            cmd.append(self.bpf_filter)  # tcpdump joins its remaining arguments into one filter
        return cmd

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode("utf-8", "replace")
            self._stderr.append(line)
            if "listening on" in line:
                self._started = True
                self._listening.set()
        self._listening.set()  # EOF: tcpdump exited; start() checks why

    def start(self) -> None:
        if self._proc is not None:
            raise CaptureError("capture already started")
        ok, why = capture_available(self.tcpdump)
        if not ok:
            raise CaptureError(why)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, start_new_session=True)
        self._reader = threading.Thread(target=self._read_stderr, name="tcpdump-stderr", daemon=True)
        self._reader.start()
        # The event is also set when tcpdump's stderr closes (it exited: bad filter, no
        # privilege...), so "started" is only the "listening on" line.
        if not self._listening.wait(self.start_timeout) or not self._started or self._proc.poll() is not None:
            self._kill()
            raise CaptureError(f"tcpdump did not start listening on {self.interface}: "
                               f"{self.stderr.strip() or 'no output'} (command: {' '.join(self.command)})")

    def stop(self) -> CaptureStats:
        """SIGINT, wait for tcpdump to flush and exit; returns its counters."""
        if self._proc is None:
            raise CaptureError("capture not started")
        if self._proc.poll() is None:
            # A tiny settle time: packets the kernel has queued for the capture socket
            # right now are still written (tcpdump drains its buffer on SIGINT anyway).
            time.sleep(0.05)
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._kill()
                raise CaptureError(f"tcpdump did not stop within {self.stop_timeout} s after SIGINT") from None
        if self._reader is not None:
            self._reader.join(timeout=2.0)
        self.stats = parse_tcpdump_stats(self.stderr)
        return self.stats

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(2.0)

    def __enter__(self) -> LoopbackCapture:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self.stop()
