"""The core does no disk I/O at all: it hands `StorageWork` to the adapter and answers a new
INVITE when the adapter reports the outcome (issue 15, deliverable 5).

`fsync` / `os.replace` used to run from the core's timer path (every checkpoint and the
finalisation after the last BYE), and accepting an INVITE created the recording's directory,
first JSON and WAV files synchronously. Now the core queues StorageOpen / StorageAddStream /
StorageTick / StorageClose, and the adapter runs them with `RecordingStore.run` (on its
storage thread) and reports back with `RecorderCore.storage_done`.
"""

from __future__ import annotations

import builtins
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import reference_recorder.storage.metadata as metadata
import reference_recorder.wavfile as wavfile
from harness.protocol.sip.message import SipResponse
from reference_recorder.storage import RecordingStore
from reference_recorder.storage_work import (
    StorageAddStream,
    StorageClose,
    StorageOpen,
    StorageTick,
    StorageWork,
)
from tests.unit.recorder_core.helpers import MS, Driver, recording_uri, render, rtp_packet

_DISK_CALLS = ("mkdir", "makedirs", "open", "replace", "rename", "fsync", "stat", "lstat", "listdir", "scandir")


@pytest.fixture
def disk_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every file-system call made while the fixture is active (the calls still happen)."""
    calls: list[str] = []
    for name in _DISK_CALLS:
        original = getattr(os, name)
        monkeypatch.setattr(os, name, lambda *a, _n=name, _o=original, **k: (calls.append(_n), _o(*a, **k))[1])
    original_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda *a, **k: (calls.append("builtins.open"), original_open(*a, **k))[1])
    yield calls
    monkeypatch.undo()


def _invite(call_id: str, uri: str) -> bytes:
    return render("invite_pcmu.sip", uri=uri, call_id=call_id, cseq=1, to_tag="")


def _cancel(call_id: str, uri: str) -> bytes:
    """§9.1: the CANCEL's Request-URI, Call-ID, To, From and Via branch are the INVITE's."""
    head = _invite(call_id, uri).partition(b"\r\n\r\n")[0].decode()
    lines = [line for line in head.split("\r\n")
             if not line.lower().startswith(("content-type", "content-length", "contact"))]
    lines[0] = lines[0].replace("INVITE ", "CANCEL ", 1)
    lines = [line.replace("1 INVITE", "1 CANCEL") if line.startswith("CSeq") else line for line in lines]
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def _statuses(responses: list[SipResponse]) -> list[int]:
    return [r.status for r in responses]


def test_accepting_an_invite_touches_no_file_until_the_adapter_runs_the_work(
        tmp_path: Path, disk_calls: list[str]) -> None:
    driver = Driver(tmp_path / "rec")
    driver.auto_storage = False
    disk_calls.clear()  # the driver's store created the root; the core is what is under test
    responses = driver.send(_invite("io-open", recording_uri("5551234")))
    assert disk_calls == []  # no mkdir, no JSON, no WAV, not even a stat: the core only decided
    assert _statuses(responses) == [100]  # §17.2.1 Trying; the final answer waits for the files
    work = driver.core.storage_work()
    assert [type(w) for w in work] == [StorageOpen, StorageAddStream]
    assert not any((tmp_path / "rec").iterdir())
    for item in work:
        driver.store.run(item)
        driver.core.storage_done(item, None, driver.now)
    assert disk_calls != []  # the store did the disk work, when the adapter asked it to
    (ok,) = driver.responses()
    assert ok.status == 200 and b"m=audio" in ok.body
    (json_path,) = (tmp_path / "rec").rglob("recording.json")
    assert sorted(p.name for p in json_path.parent.iterdir()) == [
        "call-stereo.wav", "recording.json", "stream-1-5551234.wav"]


def test_rtp_timers_and_the_end_of_a_call_write_nothing_until_the_adapter_runs_the_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    driver = Driver(tmp_path / "rec")
    leg = driver.open_leg("io-1", recording_uri("5551234"))  # the driver ran the open and add-stream work
    writes: list[str] = []
    for name in ("write", "checkpoint", "close"):
        original = getattr(wavfile.WavWriter, name)
        monkeypatch.setattr(wavfile.WavWriter, name, lambda self, *a, _n=name, _o=original, **k: (
            writes.append(_n), _o(self, *a, **k))[1])
    original_json = metadata.write_json_atomic
    monkeypatch.setattr("reference_recorder.storage.recording.write_json_atomic",
                        lambda *a, **k: (writes.append("json"), original_json(*a, **k))[1])

    now = driver.now
    for seq in range(100):  # 2 s of RTP, the core's timers firing as the adapter would
        driver.core.receive_rtp(leg.ports[0], rtp_packet(seq, 160 * seq), ("127.0.0.1", 40000), now)
        now += 0.02
        while (deadline := driver.core.next_deadline()) is not None and deadline <= now:
            driver.core.on_timer(deadline)
    driver.core.receive_sip(driver.in_dialog("bye.sip", leg), ("127.0.0.1", 5070), now)
    driver.core.on_timer(now + 1.0)  # after-BYE grace: the session ends, the recording is to close
    assert writes == []  # nothing written, flushed, fsynced or renamed by the core itself

    work = driver.core.storage_work()
    assert any(isinstance(w, StorageTick) for w in work) and any(isinstance(w, StorageClose) for w in work)
    for item in work:
        driver.store.run(item)
    assert "checkpoint" in writes and "json" in writes
    (doc,) = driver.documents()
    assert doc["complete"] is True and doc["streams"][0]["packets_written"] == 100


def _failing(kind: type[StorageWork], monkeypatch: pytest.MonkeyPatch) -> list[StorageWork]:
    """Make the store fail work of `kind` as a full disk would; returns what failed."""
    failed: list[StorageWork] = []
    original = RecordingStore.run

    def run(self: RecordingStore, work: StorageWork) -> None:
        if isinstance(work, kind):
            failed.append(work)
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, work)

    monkeypatch.setattr(RecordingStore, "run", run)
    return failed


@pytest.mark.parametrize("kind", [StorageOpen, StorageAddStream])
def test_an_invite_whose_files_cannot_be_created_gets_500_and_leaves_nothing_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: type[StorageWork]) -> None:
    driver = Driver(tmp_path / "rec", capacity=1)
    failed = _failing(kind, monkeypatch)
    final = driver.final(_invite("io-full", recording_uri("5551234")))
    assert failed and final.status == 500 and final.reason == "Server Internal Error"
    assert driver.ports.live == set() and driver.ports.bad_releases == []
    assert driver.core.active_sessions == 0  # the failed INVITE does not hold the only slot
    assert any("No space left on device" in line for line in driver.log_lines)
    monkeypatch.undo()
    driver.open_leg("io-after", recording_uri("5551234", record_id="0A1B2C3E"))  # the disk is back: 200


def test_a_cancel_while_the_files_are_being_created_gets_487_and_no_200(tmp_path: Path) -> None:
    driver = Driver(tmp_path / "rec")
    driver.auto_storage = False
    uri = recording_uri("5551234")
    assert _statuses(driver.send(_invite("io-cancel", uri))) == [100]
    assert sorted(_statuses(driver.send(_cancel("io-cancel", uri)))) == [200, 487]  # §9.2
    driver.run_storage()
    assert driver.responses() == []  # the files were created meanwhile: still no 200 after the 487
    assert driver.ports.live == set() and driver.core.active_sessions == 0
    (doc,) = driver.documents()
    assert doc["complete"] is True  # the recording the CANCEL interrupted is closed, not left open


def test_shutdown_answers_an_invite_still_waiting_for_its_files(tmp_path: Path) -> None:
    driver = Driver(tmp_path / "rec")
    driver.auto_storage = False
    driver.send(_invite("io-stop", recording_uri("5551234")))
    driver.core.close(driver.now)
    (final,) = driver.responses()
    assert final.status == 503 and final.headers.get("Retry-After") is not None
    work: list[Any] = driver.core.storage_work()
    assert isinstance(work[-1], StorageClose)  # and the recording opened for it is closed
    driver.core.receive_sip(_invite("io-late", recording_uri("5551234")), MS, driver.now)
