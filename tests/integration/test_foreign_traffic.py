"""A scenario judges only its own traffic (issue: verdicts that depend on other traffic on the host).

A profile recorder's capture keeps all loopback UDP (`host H and (port P or udp)`). While the
Gherkin scenarios run in a child pytest against the reference recorder (as a profile), a noise
sender floods loopback with other processes' SIP (well-formed INVITEs with foreign Call-IDs,
`INVITE sip:user@example.com; lr SIP/2.0`, garbage) and RTP, on the recorder's host and on other
ports (to sockets of its own, so nothing reaches the recorder or the scenario's legs). The
conforming recorder must pass, and the evidence must count the foreign datagrams it ignored.
The flood is bounded: at most NOISE_PACKETS packets and NOISE_SECONDS seconds.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.capture.pcap_capture import capture_available

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NOISE_PACKETS = 20_000
NOISE_SECONDS = 120.0
NOISE_PPS = 400

_MALFORMED = (b"INVITE sip:user@example.com; lr SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKn\r\n"
              b"Call-ID: noise-malformed@example.com\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
_GARBAGE = b"SIP/2.0 \x00\x01 not a response\r\n\r\n"


def _invite(n: int) -> bytes:
    return (f"INVITE sip:record=N{n}@127.0.0.1;calluuid=NOISE{n};dn=1;recordDN=1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKnoise{n}\r\nMax-Forwards: 70\r\n"
            f"From: <sip:noise@127.0.0.1>;tag=n{n}\r\nTo: <sip:rec@127.0.0.1>\r\nCall-ID: noise-{n}@example.com\r\n"
            f"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()


def _rtp(n: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, n * 160 & 0xFFFFFFFF, 0xBADC0DE) + b"\xff" * 160


class NoiseSender:
    """Floods loopback from its own sockets to its own sinks, in a thread, bounded."""

    def __init__(self) -> None:
        self.sinks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
        for sink in self.sinks:
            sink.bind(("127.0.0.1", 0))
            sink.setblocking(False)
        self.sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sender.bind(("127.0.0.1", 0))
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="noise", daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + NOISE_SECONDS
        targets = [s.getsockname() for s in self.sinks]
        while not self._stop.is_set() and self.sent < NOISE_PACKETS and time.monotonic() < deadline:
            n = self.sent
            payload = (_invite(n), _MALFORMED, _GARBAGE, _rtp(n), _rtp(n))[n % 5]
            with contextlib.suppress(OSError):
                self.sender.sendto(payload, targets[n % len(targets)])
            self.sent += 1
            for sink in self.sinks:  # drain, so the sinks' buffers never refuse
                try:
                    while sink.recv(65536):
                        pass
                except OSError:
                    pass
            time.sleep(1.0 / NOISE_PPS)

    def __enter__(self) -> NoiseSender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        for s in (*self.sinks, self.sender):
            s.close()


@pytest.mark.skipif(not capture_available()[0], reason="needs a tcpdump capture (CAP_NET_RAW): "
                    "the synthetic capture never holds other processes' traffic")
def test_a_conforming_recorder_passes_while_loopback_is_flooded(tmp_path: Path) -> None:
    profile = tmp_path / "reference-as-profile.toml"
    command = (f"env PYTHONPATH={shlex.quote(str(REPO))} {shlex.quote(sys.executable)} -m reference_recorder "
               "--listen 127.0.0.1:{port} --recordings {work_dir}/rec")
    profile.write_text(f'name = "reference recorder as a profile"\n[sip]\naddress = "sip:127.0.0.1:0"\n'
                       f'[process]\ncommand = {json.dumps(command)}\nready_line = "^ready "\n', encoding="utf-8")
    allure_dir = tmp_path / "allure"
    with NoiseSender() as noise:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "harness/bdd", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
             "-k", "recorder_accepts_the_recording_sessions and two-session-PCMU",
             "--arec-profile", str(profile), "--alluredir", str(allure_dir), "--basetemp", str(tmp_path / "bt")],
            cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        )
    output = result.stdout + result.stderr
    assert noise.sent > 100, f"the noise sender sent only {noise.sent} packets"
    assert result.returncode == 0 and "1 passed" in output, output[-3000:]
    # The evidence names what it ignored: the report's "capture completeness" attachment.
    notes = [p.read_text(encoding="utf-8", errors="replace") for p in allure_dir.glob("*-attachment.txt")]
    completeness = [n for n in notes if "foreign datagram(s) ignored" in n]
    assert completeness, notes[:3]
    assert " SIP" in completeness[0], completeness[0]  # the malformed INVITEs among them
