"""Running a third-party SIP endpoint (baresip, linphonec) in a network namespace for a test."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from harness.media.pacer import PacedSender
from harness.media.rtp_source import PacketKind, RtpStreamSource, Run
from harness.netutil import free_port
from harness.recorders.launcher import stop_process, watch_output
from harness.recorders.netns import NamespaceHandle
from harness.sipp.leg import SippLeg
from harness.sipp.process import SippProcess
from harness.sipp.twin import AnsweredLeg


def start_in_namespace(ns: NamespaceHandle, argv: list[str], log: Path, ready_marker: bytes,
                       timeout_s: float = 10.0) -> subprocess.Popen[bytes]:
    """Start `argv` inside `ns`, copy its output to `log` (evidence when a test fails) and wait
    for the line that says it is ready; fails the test, with the log's tail, if it never comes."""
    proc = subprocess.Popen(ns.command(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    ready = watch_output(proc.stdout, lambda line: ready_marker in line, copy_to=log.open("wb"))
    if not ready.wait(timeout_s):
        proc.kill()
        proc.wait()
        pytest.fail(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} did not print {ready_marker!r}: "
                    f"{log.read_text(errors='replace')[-2000:]}")
    return proc


def stop_endpoint(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM (both start scripts end the calls and close their WAV files), then SIGKILL."""
    stop_process(proc, grace_s)


def free_udp_port(host: str) -> int:
    return free_port(host, kind=socket.SOCK_DGRAM)


def record_one_leg(ns: NamespaceHandle, leg: SippLeg, work: Path, packets: int) -> AnsweredLeg:
    """One Media Server leg to the endpoint: INVITE, `packets` x 20 ms of time-coded PCMU RTP
    (stream 0) to the port it answered, then BYE. Returns its answer."""
    with SippProcess(leg, work) as proc:
        answer = proc.control.wait_answer(8)
        assert answer.connection_ip is not None, "no c= line in the answer"
        source = RtpStreamSource.create(0, "PCMU", rng=7)
        with PacedSender(allowed_destinations=[ns.recorder_address]) as sender:
            sender.add_stream(source.timed([Run(PacketKind.MEDIA, packets)]),
                              (answer.connection_ip, answer.audio_ports[0]),
                              local=(leg.media_ip, leg.media_ports[0]))
            sender.start()
            assert sender.join(10)
        proc.control.bye()
        proc.control.wait_finished(5)
        result = proc.wait(5)
    assert result.ok, result.summary()
    return answer
