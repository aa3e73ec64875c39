"""The core's timer and RTP paths do no disk I/O: they hand `StorageWork` to the adapter.

Issue 15: `fsync` / `os.replace` used to run from the core's timer path (every checkpoint and
the finalisation after the last BYE). Now the core queues a StorageTick / StorageClose and the
adapter runs it with `RecordingStore.run` (on its storage thread).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import reference_recorder.storage.metadata as metadata
import reference_recorder.wavfile as wavfile
from reference_recorder.storage import StorageClose, StorageTick
from tests.unit.recorder_core.helpers import Driver, recording_uri, rtp_packet


def test_rtp_timers_and_the_end_of_a_call_write_nothing_until_the_adapter_runs_the_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    driver = Driver(tmp_path / "rec")
    leg = driver.open_leg("io-1", recording_uri("5551234"))  # opening the recording creates its files
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
        driver.core.store.run(item)
    assert "checkpoint" in writes and "json" in writes
    (doc,) = driver.documents()
    assert doc["complete"] is True and doc["streams"][0]["packets_written"] == 100
