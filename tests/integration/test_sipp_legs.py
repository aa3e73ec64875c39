"""Real SIPp legs against a SIPp test-double recorder on loopback (free ports, own temp dirs)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.netutil import free_port
from harness.sipp.command import sipp_available
from harness.sipp.leg import Scenario, SippLeg, Transport
from harness.sipp.process import SippProcess, SippStartError, run_options, sipp_media_port
from harness.sipp.twin import Direction, LegState, SippLegError, TwinEvent

pytestmark = pytest.mark.integration

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "sipp"
CALLUUID = "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"


@pytest.fixture(autouse=True)
def _need_sipp() -> None:
    if (why := sipp_available()) is not None:
        pytest.fail(why)


def answer_sdp(ports: tuple[int, ...], direction: str) -> bytes:
    lines = ["v=0", "o=rec 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"]
    for p in ports:
        lines += [f"m=audio {p} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", f"a={direction}"]
    return "\r\n".join(lines).encode()  # no final CRLF: SIPp appends one


def _bound(port: int, transport: Transport) -> bool:
    kind = socket.SOCK_DGRAM if transport is Transport.UDP else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class FakeRecorder:
    """A SIPp UAS from tests/fixtures/sipp/ playing the recorder under test."""

    def __init__(self, work: Path, xml: str, transport: Transport, answer_ports: tuple[int, ...]) -> None:
        work.mkdir(parents=True)
        (work / "answer_recvonly.sdp").write_bytes(answer_sdp(answer_ports, "recvonly"))
        (work / "answer_inactive.sdp").write_bytes(answer_sdp(answer_ports, "inactive"))
        self.port = free_port()
        self.messages = work / "messages.log"
        self.proc = subprocess.Popen(
            ["sipp", "-sf", str(FIX / xml), "-t", transport.sipp_mode, "-i", "127.0.0.1", "-ci", "127.0.0.1",
             "-mi", "127.0.0.1", "-mp", str(sipp_media_port()), "-p", str(self.port), "-m", "1", "-nostdin",
             "-trace_msg", "-message_file", str(self.messages), "-trace_err", "-error_file", str(work / "errors.log")],
            cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=(work / "stderr.log").open("wb"))
        deadline = time.monotonic() + 5
        while not _bound(self.port, transport):
            assert self.proc.poll() is None, (work / "stderr.log").read_text()
            assert time.monotonic() < deadline, "test recorder did not bind its port"
            time.sleep(0.01)

    def wait(self, timeout: float = 10) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Callable[..., FakeRecorder]]:
    started: list[FakeRecorder] = []

    def start(xml: str = "uas_recorder.xml", transport: Transport = Transport.UDP,
              answer_ports: tuple[int, ...] = (41000,)) -> FakeRecorder:
        rec = FakeRecorder(tmp_path / f"recorder{len(started)}", xml, transport, answer_ports)
        started.append(rec)
        return rec

    yield start
    for rec in started:
        rec.stop()


def make_leg(port: int, **kw: object) -> SippLeg:
    args: dict[str, object] = dict(recorder_host="127.0.0.1", recorder_port=port, record_id="0A1B2C3D4E5F",
                                   calluuid=CALLUUID, dn="7001", record_dn="7001", recv_timeout_ms=3000)
    args.update(kw)
    return SippLeg(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", list(Transport))
def test_leg_pause_resume_bye_driven_from_python(tmp_path: Path, recorder: Callable[..., FakeRecorder],
                                                 transport: Transport) -> None:
    rec = recorder(transport=transport)
    leg = make_leg(rec.port, transport=transport, call_id=f"arec-{transport.value}@127.0.0.1")
    with SippProcess(leg, tmp_path / "leg") as proc:
        answer = proc.control.wait_answer(5)
        assert answer.call_id == f"arec-{transport.value}@127.0.0.1"
        assert (answer.connection_ip, answer.audio_ports, answer.directions) == ("127.0.0.1", (41000,), ("recvonly",))
        time.sleep(0.2)  # moments chosen at run time
        paused = proc.control.reinvite(Direction.INACTIVE)
        assert paused.directions == ("inactive",)
        time.sleep(0.2)
        resumed = proc.control.reinvite(Direction.SENDONLY)
        assert resumed.directions == ("recvonly",)
        proc.control.bye()
        assert proc.control.wait_finished(5) is TwinEvent.ENDED
        result = proc.wait(5)
    assert result.exit_code == 0, result.summary()
    assert result.successful_calls == 1 and result.failed_calls == 0 and result.ok
    assert result.errors == []
    log = result.message_log.read_text()
    assert f"INVITE {leg.request_uri} SIP/2.0" in log
    assert log.count("a=inactive") >= 1 and "CSeq: 3 INVITE" in log and "CSeq: 4 BYE" in log
    assert rec.wait() == 0
    # What the recorder received: our offers, with growing o= versions (RFC 4566 §5.2).
    got = rec.messages.read_text()
    assert " 1 IN IP4 127.0.0.1" in got and " 2 IN IP4 127.0.0.1" in got and " 3 IN IP4 127.0.0.1" in got


def test_single_session_two_streams(tmp_path: Path, recorder: Callable[..., FakeRecorder]) -> None:
    rec = recorder(answer_ports=(41000, 41002))
    leg = make_leg(rec.port, scenario=Scenario.SINGLE, other_dn="7002", media_ports=(40000, 40002))
    with SippProcess(leg, tmp_path / "leg") as proc:
        answer = proc.control.wait_answer(5)
        assert answer.audio_ports == (41000, 41002)
        assert proc.control.reinvite(Direction.INACTIVE).directions == ("inactive", "inactive")
        proc.control.bye()
        proc.control.wait_finished(5)
        result = proc.wait(5)
    assert result.ok, result.summary()
    got = rec.messages.read_text()
    assert ";dn=7001;otherDN=7002;recordDN=7001 SIP/2.0" in got
    assert "m=audio 40000 RTP/AVP 0 101" in got and "m=audio 40002 RTP/AVP 0 101" in got


def test_recorder_hangs_up(tmp_path: Path, recorder: Callable[..., FakeRecorder]) -> None:
    rec = recorder(xml="uas_recorder_hangup.xml")
    with SippProcess(make_leg(rec.port), tmp_path / "leg") as proc:
        proc.control.wait_answer(5)
        assert proc.control.wait_finished(5) is TwinEvent.PEER_BYE
        result = proc.wait(5)
        assert proc.control.state is LegState.FINISHED
    assert result.exit_code == 0, result.summary()
    assert rec.wait() == 0  # our 200 OK to its BYE arrived


def test_recorder_rejecting_the_reinvite_is_reported_at_once(tmp_path: Path,
                                                             recorder: Callable[..., FakeRecorder]) -> None:
    rec = recorder(xml="uas_recorder_rejects_reinvite.xml")
    with SippProcess(make_leg(rec.port), tmp_path / "leg") as proc:
        proc.control.wait_answer(5)
        t0 = time.monotonic()
        with pytest.raises(SippLegError, match="aborted the call before answer to the re-INVITE"):
            proc.control.reinvite(Direction.INACTIVE, timeout=30)
        assert time.monotonic() - t0 < 5
        result = proc.wait(5)
    assert result.exit_code == 1 and result.failed_calls == 1
    assert any("488" in e for e in result.errors)


def test_recorder_not_answering_fails_in_seconds(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        leg = make_leg(silent.getsockname()[1], recv_timeout_ms=1000)
        t0 = time.monotonic()
        with SippProcess(leg, tmp_path / "leg") as proc:
            with pytest.raises(SippLegError, match="before answer"):
                proc.control.wait_answer(30)
            result = proc.wait(5)
        elapsed = time.monotonic() - t0
        assert silent.recv(4096).startswith(b"INVITE sip:record=0A1B2C3D4E5F@")
    assert elapsed < 8, f"took {elapsed:.1f} s: recv_timeout did not bound the wait (timer B is 32 s)"
    assert result.exit_code == 1 and result.failed_calls == 1
    assert any("receive timeout" in e for e in result.errors)


def test_local_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        leg = make_leg(5999, local_port=port)
        with pytest.raises(SippStartError, match=f"127.0.0.1:{port}/udp is in use"):
            SippProcess(leg, tmp_path / "checked").start()
        # Without our pre-check, SIPp itself exits 254 and the result explains it.
        with SippProcess(leg, tmp_path / "unchecked", check_port=False) as proc:
            with pytest.raises(SippLegError):
                proc.control.wait_answer(10)
            result = proc.wait(5)
    assert result.exit_code == 254
    assert "port in use" in result.explanation
    assert "Address already in use" in result.stderr


def test_options_ping(tmp_path: Path, recorder: Callable[..., FakeRecorder]) -> None:
    rec = recorder(xml="uas_options.xml")
    leg = make_leg(rec.port, scenario=Scenario.OPTIONS, media_ports=())
    result = run_options(leg, tmp_path / "options")
    assert result.ok, result.summary()
    assert f"OPTIONS sip:127.0.0.1:{rec.port} SIP/2.0" in result.message_log.read_text()
    assert rec.wait() == 0


def test_options_unanswered(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        leg = make_leg(silent.getsockname()[1], scenario=Scenario.OPTIONS, media_ports=(), recv_timeout_ms=500)
        result = run_options(leg, tmp_path / "options", timeout=10)
    assert result.exit_code == 1 and not result.ok and not result.terminated
