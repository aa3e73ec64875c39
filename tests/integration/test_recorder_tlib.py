"""The reference recorder as a T-Lib client, against an in-process SIP Server T-Server.

The recorder runs as a real process (`python -m reference_recorder ... --tlib --tlib-config`);
the T-Server (`TlibServer` around `SipTServer`) runs on an asyncio loop in a thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from harness.emulators.sip_server import RecordingJob
from harness.emulators.sip_tserver import SipTServer
from harness.emulators.tlib_server import TlibServer
from tests.integration.recorder_harness import (
    REPO,
    RunningRecorder,
    UdpLeg,
    in_dialog_bytes,
    invite_bytes,
    reference_recorder,
)

pytestmark = pytest.mark.integration

T = TypeVar("T")
TIMEOUT = 10.0


@dataclass
class TServer:
    loop: asyncio.AbstractEventLoop
    sip: SipTServer
    server: TlibServer
    port: int
    jobs: list[RecordingJob] = field(default_factory=list)

    def on_loop(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the T-Server's loop, then write the events it queued to the clients."""

        async def call() -> T:
            result = fn()
            self.server.flush()
            return result

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(5)

    def registrants(self, dn: str) -> int:
        return self.on_loop(lambda: len(self.sip.core.registrants(dn)))

    def restart(self) -> None:
        """Close the T-Server (every client connection) and listen again on the same port."""
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(5)
        self.server = TlibServer(self.sip.core)
        asyncio.run_coroutine_threadsafe(self.server.start("127.0.0.1", self.port), self.loop).result(5)


@pytest.fixture
def tserver() -> Iterator[TServer]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    jobs: list[RecordingJob] = []
    sip = SipTServer(on_recording=jobs.append)
    server = TlibServer(sip.core)
    port = asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", 0), loop).result(5)
    running = TServer(loop, sip, server, port, jobs)
    try:
        yield running
    finally:
        asyncio.run_coroutine_threadsafe(running.server.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def write_config(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # the recorder never sees a half-written file


CONFIG = """
register = ["7001", "7003", "7501", "8001"]

[[rules]]
name = "excluded"
dns = ["75*"]
share = 0.0

[[rules]]
name = "agents"
dns = ["70*"]
record = "source"
"""


def tlib_recorder(tmp_path: Path, tserver: TServer, config: Path) -> Any:
    return reference_recorder(tmp_path / "rec", extra=("--tlib", f"127.0.0.1:{tserver.port}",
                                                        "--tlib-config", str(config)))


def recording_doc(recorder: RunningRecorder) -> dict[str, Any]:
    dirs = recorder.recording_dirs()
    assert len(dirs) == 1, dirs
    doc: dict[str, Any] = json.loads((dirs[0] / "recording.json").read_text())
    return doc


def test_rules_decide_starts_errors_are_survived_and_recording_json_is_annotated(
    tmp_path: Path, tserver: TServer
) -> None:
    config = tmp_path / "tlib.toml"
    write_config(config, CONFIG)
    tserver.sip.sip.configure_dn("7003", record=True)  # SIP Server records 7003 by DN option
    with tlib_recorder(tmp_path, tserver, config) as recorder:
        wait_for(lambda: all(tserver.registrants(dn) == 1 for dn in ("7001", "7003", "7501", "8001")),
                 "the DNs of the file to be registered")
        tserver.on_loop(lambda: tserver.sip.place_call("1001", "8001"))  # no rule
        tserver.on_loop(lambda: tserver.sip.place_call("1001", "7501"))  # share 0
        tserver.on_loop(lambda: tserver.sip.place_call("1001", "7003"))  # already recorded: EventError
        call = tserver.on_loop(lambda: tserver.sip.place_call("1001", "7001", user_data={"Segment": "gold"}))
        wait_for(lambda: any(j.call.conn_id == call.conn_id for j in tserver.jobs), "GSIP_RECORD_START for 7001")
        # Events and requests are handled in order on one connection: by now any start for the
        # earlier calls would have reached the T-Server.
        assert [j.trigger for j in tserver.jobs] == [
            "DN 7003 record=true",
            "TRequestPrivateService GSIP_RECORD_START by 7001 record=source",
        ]
        wait_for(lambda: bool(recorder.stderr.matching("TERR_INVALID_STATE")), "the EventError log line")
        assert recorder.process.poll() is None

        # The recording session of the 7001 call: recording.json gets the T-Lib annotations.
        job = next(j for j in tserver.jobs if j.call.conn_id == call.conn_id)
        target = job.targets()[0]
        uri = (f"sip:record={target.record_id}@127.0.0.1:{recorder.port};calluuid={target.calluuid};"
               f"dn={target.dn};recordDN={target.record_dn}")
        leg = UdpLeg((recorder.host, recorder.port))
        try:
            leg.send(invite_bytes(call_id="tlib-1", uri=uri, local=leg.local, media_port=40000))
            ok = leg.final_response()
            assert ok.status == 200 and ok.to.tag
            leg.send(in_dialog_bytes("ACK", call_id="tlib-1", uri=uri, local=leg.local, to_tag=ok.to.tag, cseq=1))
            wait_for(lambda: len(recorder.recording_dirs()) == 1, "the recording directory")
            wait_for(lambda: recording_doc(recorder)["attached_data"] == {"Segment": "gold"}, "attached data")
            tserver.on_loop(lambda: tserver.sip.core.update_user_data(call.conn_id, {"Order": 42}))
            wait_for(lambda: recording_doc(recorder)["attached_data"] == {"Segment": "gold", "Order": 42},
                     "the attached data update")
            doc = recording_doc(recorder)
            requests = doc["tlib"]["requests"]
            assert [(r["op"], r["this_dn"], r["conn_id"], r["answer"]) for r in requests] == [
                ("start", "7001", call.conn_id, "EventACK")]
            assert requests[0]["t"] <= 0  # the request came before the recording session
            assert [(e["event"], e["state"]) for e in doc["tlib"]["events"]] == [("EventPrivateInfo", "started")]
            assert doc["tlib"]["errors"] == []
            leg.send(in_dialog_bytes("BYE", call_id="tlib-1", uri=uri, local=leg.local, to_tag=ok.to.tag, cseq=2))
            assert leg.final_response("BYE").status == 200
            recorder.wait_complete(1)
        finally:
            leg.close()

        # Reload: 7002 added, everything else removed.
        write_config(tmp_path / "tlib.toml", 'register = ["7002"]\n')
        wait_for(lambda: tserver.registrants("7002") == 1 and tserver.registrants("7001") == 0,
                 "registrations to follow the reloaded file")
        # An invalid file is reported and the previous configuration stays.
        write_config(tmp_path / "tlib.toml", '[[rules]]\nshare = 2\n')
        wait_for(lambda: bool(recorder.stderr.matching("share must be a number in 0..1")), "the bad-file line")
        assert tserver.registrants("7002") == 1 and recorder.process.poll() is None


def test_recorder_survives_the_tserver_closing_and_registers_again(tmp_path: Path, tserver: TServer) -> None:
    config = tmp_path / "tlib.toml"
    write_config(config, 'register = ["7001"]\n[[rules]]\ndns = ["7001"]\n')
    with tlib_recorder(tmp_path, tserver, config) as recorder:
        wait_for(lambda: tserver.registrants("7001") == 1, "registration")
        tserver.restart()
        wait_for(lambda: bool(recorder.stderr.matching("connection to 127.0.0.1")), "the lost-connection line")
        wait_for(lambda: tserver.registrants("7001") == 1, "registration after the reconnect")
        call = tserver.on_loop(lambda: tserver.sip.place_call("1001", "7001"))
        wait_for(lambda: any(j.call.conn_id == call.conn_id for j in tserver.jobs), "GSIP_RECORD_START")
        assert recorder.process.poll() is None


def test_recorder_waits_for_a_tserver_that_is_not_there_yet(tmp_path: Path, tserver: TServer) -> None:
    config = tmp_path / "missing-at-start.toml"  # may be missing at start (contract)
    asyncio.run_coroutine_threadsafe(tserver.server.stop(), tserver.loop).result(5)
    with tlib_recorder(tmp_path, tserver, config) as recorder:
        wait_for(lambda: bool(recorder.stderr.matching("cannot connect")), "the unreachable line")
        write_config(config, 'register = ["7001"]\n')
        tserver.server = TlibServer(tserver.sip.core)
        asyncio.run_coroutine_threadsafe(tserver.server.start("127.0.0.1", tserver.port), tserver.loop).result(5)
        wait_for(lambda: tserver.registrants("7001") == 1, "registration once the T-Server is up")
        assert len(recorder.stderr.matching("cannot connect")) == 1  # logged once per outage


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tlib-config", "x.toml"], "--tlib-config needs --tlib HOST:PORT"),
        (["--tlib", "nohost"], "--tlib must be HOST:PORT"),
        (["--tlib", "127.0.0.1:1", "--tlib-config", "{bad}"], "rules[0].record must be one of source|destination"),
    ],
)
def test_bad_tlib_options_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nrecord = "both"\n')
    args = [str(bad) if a == "{bad}" else a for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "reference_recorder", "--listen", "127.0.0.1:0", "--recordings",
         str(tmp_path / "rec"), *args],
        capture_output=True, text=True, cwd=REPO, timeout=30,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
