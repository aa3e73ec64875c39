"""Child process for test_recorder_crash.py: records two streams in real time until SIGKILLed.

Prints ``READY`` once, then ``CKPT <samples>`` after every completed checkpoint (the
number of samples per file the WAV headers then cover). Acts as the recorder's adapter,
so it is the one place that reads the wall clock.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from reference_recorder.storage import RecordingStore


def main() -> None:
    root = Path(sys.argv[1])
    store = RecordingStore(root, checkpoint_interval=0.2, fsync=False)
    t0 = time.time()
    rec = store.open_recording("CRASH-CALL", "rec-1", t0, dn="7001")
    rec.add_stream("A", dn="7001", codec="PCMU", now=t0)
    rec.add_stream("B", dn="7002", codec="PCMU", now=t0)
    print("READY", flush=True)
    i = 0
    while time.time() - t0 < 30:  # safety net: the parent kills us long before
        now = time.time()
        while 0.02 * i <= now - t0:
            rec.add_audio("A", 160 * i, np.full(160, 1000, np.int16), now)
            rec.add_audio("B", 77 + 160 * i, np.full(160, -1000, np.int16), now)
            i += 1
        if rec.tick(now):
            print(f"CKPT {rec.checkpointed_samples}", flush=True)
        time.sleep(0.005)


if __name__ == "__main__":
    main()
