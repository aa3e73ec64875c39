"""SIGKILL mid-call leaves playable WAVs up to the last checkpoint and a valid recording.json."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from reference_recorder.wavfile import read_wav

# Sockets, processes or real time: the integration tier (tests/unit/conftest.py guards the unit tier).
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "child did not report in time"
    return proc.stdout.readline()


@pytest.mark.integration
def test_sigkill_mid_call_leaves_valid_files(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.recorder_crash_child", str(root)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _readline(proc, 20).strip() == "READY"
        time.sleep(2.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout is not None and proc.stderr is not None
    lines = proc.stdout.read().split()
    ckpts = [int(v) for k, v in zip(lines[::2], lines[1::2], strict=True) if k == "CKPT"]
    assert len(ckpts) >= 8, (ckpts, proc.stderr.read())  # ~every 0.2 s for 2.5 s
    last = ckpts[-1]

    (rec_dir,) = (root / "CRASH-CALL").iterdir()
    doc = json.loads((rec_dir / "recording.json").read_text())  # valid JSON, not torn
    assert doc["complete"] is False and doc["calluuid"] == "CRASH-CALL"
    # The JSON is rewritten inside every checkpoint, before the child reports it.
    assert doc["samples_checkpointed"] >= last
    assert [c["stream"] for c in doc["channels"]] == ["A", "B"]

    for name, channels in (("stream-1-7001.wav", 1), ("stream-2-7002.wav", 1), ("call-stereo.wav", 2)):
        rate, ch, data = read_wav(rec_dir / name)
        assert (rate, ch) == (8000, channels)
        assert len(data) >= last
        sdata, srate = sf.read(rec_dir / name, dtype="int16", always_2d=True)
        assert srate == 8000 and len(sdata) == len(data)
        # Audio (not just a header): the streams were flowing before the last checkpoint.
        assert np.count_nonzero(sdata[: last - 800]) > 0
    _, _, stereo = read_wav(rec_dir / "call-stereo.wav")
    assert set(np.unique(stereo[:, 0])) <= {0, 1000} and set(np.unique(stereo[:, 1])) <= {0, -1000}
    assert [p.name for p in tmp_path.iterdir()] == ["rec"]
