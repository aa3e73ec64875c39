"""A load worker's media process (JSON lines over a pipe): the RTP of each call comes from the
port it opened, every packet of the plan is sent and accounted for, a bad request is answered."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.load.media import Played, StreamPlan
from harness.protocol.rtp.packet import fixed_header

pytestmark = pytest.mark.integration  # starts the media process, sends UDP

REPO = Path(__file__).resolve().parents[2]


def _ask(proc: subprocess.Popen[str], message: dict[str, Any]) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(message) + "\n")
    proc.stdin.flush()
    reply: dict[str, Any] = json.loads(proc.stdout.readline())
    return reply


def test_plan_and_played_round_trip() -> None:
    plan = StreamPlan(40000, ("127.0.0.1", 5004), 1, "PCMA", 50)
    assert StreamPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    played = Played((0.001, -0.0005), 1, 49)
    assert Played.from_json(json.loads(json.dumps(played.to_json()))) == played


def test_media_process_sends_each_stream_from_its_opened_port() -> None:
    sinks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.load.media_process", "0.2"], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        for sink in sinks:
            sink.bind(("127.0.0.1", 0))
            sink.settimeout(5)
        ports = [_ask(proc, {"id": i, "op": "open", "host": "127.0.0.1"})["port"] for i in range(2)]
        plans = [StreamPlan(port, sink.getsockname()[:2], index, "PCMU", 10).to_json()
                 for index, (port, sink) in enumerate(zip(ports, sinks, strict=True))]
        reply = _ask(proc, {"id": 7, "op": "play", "plans": plans})
        assert reply["id"] == 7
        played = [Played.from_json(p) for p in reply["played"]]
        assert [(p.sent, p.errors, len(p.lateness_s)) for p in played] == [(10, 0, 10), (10, 0, 10)]
        for port, sink in zip(ports, sinks, strict=True):
            seqs = []
            for _ in range(10):
                data, source = sink.recvfrom(2048)
                assert source[1] == port  # the port the SDP offer named
                seqs.append(fixed_header(data)[2])
            assert seqs == [(seqs[0] + k) % 65536 for k in range(10)]
        # Refused: not loopback (the sender's safety rule); unknown op. Both answered, the process lives on.
        bad = _ask(proc, {"id": 8, "op": "play", "plans": [StreamPlan(ports[0], ("192.0.2.1", 5004), 0, "PCMU", 1)
                                                            .to_json()]})
        assert bad["id"] == 8 and "DestinationNotAllowed" in bad["error"]
        assert "unknown op" in _ask(proc, {"id": 9, "op": "dance"})["error"]
        assert "port" in _ask(proc, {"id": 10, "op": "open", "host": "127.0.0.1"})
    finally:
        for sink in sinks:
            sink.close()
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(10) == 0
