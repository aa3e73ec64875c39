"""A plain-Python Media Server stand-in for driving the reference recorder over real sockets.

Used by the reference-recorder integration tests (issue: protocol core + reference recorder);
the SIPp-driven Media Server emulation lives in harness/emulators.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.netutil import free_port
from harness.protocol.sdp import parse_sdp
from harness.protocol.sip.message import SipResponse, parse_message
from harness.recorders.launcher import stop_process

REPO = Path(__file__).resolve().parents[2]


def free_udp_port() -> int:
    return free_port(kind=socket.SOCK_DGRAM)


class StderrDrain:
    """Reads a subprocess's stderr on a thread and keeps the lines (so the pipe never fills)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._stream = process.stderr
        self._thread = threading.Thread(target=self._run, name="recorder-stderr", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._stream is None:
            return
        with contextlib.suppress(ValueError, OSError):  # closed when the process ends
            for line in self._stream:
                self.lines.append(line.rstrip("\n"))

    def matching(self, needle: str) -> list[str]:
        return [line for line in self.lines if needle in line]


@dataclass
class RunningRecorder:
    process: subprocess.Popen[str]
    host: str
    port: int
    root: Path
    transport: str
    stderr: StderrDrain

    def recording_dirs(self) -> list[Path]:
        return sorted(p.parent for p in self.root.rglob("recording.json"))

    def wait_complete(self, count: int, timeout: float = 10.0) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        docs: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            docs = []
            for d in self.recording_dirs():
                with contextlib.suppress(ValueError, OSError):
                    docs.append(json.loads((d / "recording.json").read_text()))
            if len(docs) >= count and all(doc.get("complete") for doc in docs):
                return docs
            time.sleep(0.05)
        raise AssertionError(f"recordings not complete after {timeout}s: {docs}")


@contextlib.contextmanager
def reference_recorder(root: Path, *, transport: str = "udp", capacity: int = 100,
                       extra: tuple[str, ...] = ()) -> Iterator[RunningRecorder]:
    """Start `python -m reference_recorder` on a free port; stop it (SIGTERM) afterwards."""
    for _attempt in range(5):
        port = free_udp_port()
        low = random.randrange(10000, 29600, 2)  # below the ephemeral range (harness.recorders.launcher)
        cmd = [sys.executable, "-m", "reference_recorder", "--listen", f"127.0.0.1:{port}",
               "--transport", transport, "--recordings", str(root), "--capacity", str(capacity),
               "--rtp-ports", f"{low}-{low + 400}", *extra]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.startswith("ready"):
            break
        proc.wait(5)
    else:
        raise AssertionError(f"recorder did not start: {proc.stderr.read() if proc.stderr else ''}")
    try:
        # A chatty recorder must never block on a full stderr pipe: drain it for the whole run.
        yield RunningRecorder(proc, "127.0.0.1", port, root, transport, StderrDrain(proc))
    finally:
        stop_process(proc)


def invite_bytes(*, call_id: str, uri: str, local: tuple[str, int], media_port: int, codec: str = "PCMU",
                 extra_media: str = "", direction: str = "sendonly", cseq: int = 1, to_tag: str | None = None,
                 transport: str = "UDP", version: int = 1) -> bytes:
    pt = {"PCMU": 0, "PCMA": 8, "G729": 18}[codec]
    sdp = (f"v=0\r\no=MCP 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"m=audio {media_port} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {codec}/8000\r\n"
           f"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na={direction}\r\n"
           + extra_media).encode()
    to = f"<{uri.split(';')[0]}>" + (f";tag={to_tag}" if to_tag else "")
    head = (f"INVITE {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {local[0]}:{local[1]};branch=z9hG4bK-{call_id}-{cseq};rport\r\n"
            f"From: <sip:mcp@{local[0]}>;tag=ms-{call_id}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
            f"CSeq: {cseq} INVITE\r\nContact: <sip:mcp@{local[0]}:{local[1]}>\r\nMax-Forwards: 70\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n")
    return head.encode() + sdp


def in_dialog_bytes(method: str, *, call_id: str, uri: str, local: tuple[str, int], to_tag: str, cseq: int,
                    transport: str = "UDP") -> bytes:
    branch = f"z9hG4bK-{call_id}-{method.lower()}-{cseq}"
    if method == "ACK":
        branch = f"z9hG4bK-{call_id}-ack-{cseq}"
    return (f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/{transport} {local[0]}:{local[1]};branch={branch};rport\r\n"
            f"From: <sip:mcp@{local[0]}>;tag=ms-{call_id}\r\nTo: <{uri.split(';')[0]}>;tag={to_tag}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


@dataclass
class UdpLeg:
    """One recording session driven by hand over UDP."""

    recorder: tuple[str, int]
    sock: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))

    def __post_init__(self) -> None:
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.local: tuple[str, int] = self.sock.getsockname()

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.recorder)

    def final_response(self, method: str = "INVITE") -> SipResponse:
        """Skip provisional responses; the final one to `method`."""
        while True:
            data, _ = self.sock.recvfrom(65535)
            msg = parse_message(data)
            assert isinstance(msg, SipResponse), msg
            if msg.status >= 200 and msg.cseq.method == method:
                return msg

    def close(self) -> None:
        self.sock.close()


def answered_port(response: SipResponse, index: int = 0) -> int:
    return parse_sdp(response.body).media[index].port
