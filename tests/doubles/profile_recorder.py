"""A third-party-shaped recorder for the example profiles: the reference recorder, re-filed.

It runs the reference recorder (private recordings under ``--work``) and, as soon as a
recording is complete, writes it the way another vendor's recorder would:

  --shape stereo   one stereo PCM16 WAV per call: <out>/<calluuid>/call-<record_id>.wav,
                   channel 0 = the stream of the first recording INVITE (the customer's with
                   Media Server's default order), channel 1 = the other
  --shape mono     one µ-law WAV per stream, flat: <out>/<calluuid>_<dn>_<epoch ms>.wav
  --shape mixed    a faulty one for the per-stream layout: both streams mixed into ONE µ-law
                   WAV named after the last stream's DN (the agent's), no file for the other
                   (REC-FILES-PRESENT, REC-STREAM-CHANNEL)

None of the shapes writes metadata: it is also the recorder "with no metadata" (REC-METADATA is
not applicable to it, never passed).

Files are written under a temporary name and renamed, like a recorder that finalises on BYE.
It prints the reference recorder's own output (so its "ready ..." line), stops on SIGTERM.

    python -m tests.doubles.profile_recorder --shape mono --listen 127.0.0.1:5080 \\
        --recordings /tmp/out --work /tmp/work
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import numpy as np
import soundfile


def _complete(metadata: Path) -> dict[str, object] | None:
    try:
        doc = json.loads(metadata.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("complete") is True else None


def _write_atomically(target: Path, write: object) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    assert callable(write)
    write(partial)
    os.replace(partial, target)


def export(recording: Path, doc: dict[str, object], out: Path, shape: str) -> None:
    calluuid, record_id = str(doc["calluuid"]), str(doc["record_id"])
    channels = sorted(doc.get("channels") or [], key=lambda c: int(c["index"]))  # type: ignore[arg-type,index]
    if shape == "stereo":
        stereo = recording / "call-stereo.wav"
        data, rate = soundfile.read(str(stereo), dtype="int16", always_2d=True)
        _write_atomically(out / calluuid / f"call-{record_id}.wav",
                          lambda p: soundfile.write(str(p), data, rate, subtype="PCM_16", format="WAV"))
        return
    stamp = int(time.time() * 1000)
    if shape == "mixed":
        parts = [soundfile.read(str(p), dtype="int16")[0] for c in channels
                 for p in [next(recording.glob(f"stream-*-{c['dn']}.wav"), None)] if p is not None]
        if not parts or not channels:
            return
        length = max(len(p) for p in parts)
        mixed = np.zeros(length, dtype=np.int32)
        for part in parts:
            mixed[:len(part)] += part
        clipped = np.clip(mixed, -32768, 32767).astype(np.int16)
        dn = str(channels[-1]["dn"])
        _write_atomically(out / f"{calluuid}_{dn}_{stamp}.wav",
                          lambda p: soundfile.write(str(p), clipped, 8000, subtype="ULAW", format="WAV"))
        return
    # Every stream, not only the two of the stereo channels (a supervisor joining the call has a
    # third, features/11_midcall_changes.feature).
    streams: list[dict[str, object]] = list(doc.get("streams") or channels)  # type: ignore[arg-type]
    for dn in dict.fromkeys(str(s["dn"]) for s in streams):
        mono = next(recording.glob(f"stream-*-{dn}.wav"), None)
        if mono is None:
            continue
        data, rate = soundfile.read(str(mono), dtype="int16")
        _write_atomically(out / f"{calluuid}_{dn}_{stamp}.wav",
                          lambda p, d=data, r=rate: soundfile.write(str(p), d, r, subtype="ULAW", format="WAV"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="profile_recorder")
    parser.add_argument("--shape", choices=("stereo", "mono", "mixed"), required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--transport", default="udp")
    parser.add_argument("--recordings", required=True, type=Path)
    parser.add_argument("--work", required=True, type=Path)
    args = parser.parse_args(argv)
    private = args.work / "reference-recordings"
    args.recordings.mkdir(parents=True, exist_ok=True)
    child = subprocess.Popen([sys.executable, "-m", "reference_recorder", "--listen", args.listen,
                              "--transport", args.transport, "--recordings", str(private)],
                             stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    stopping = threading.Event()

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_term)

    def forward() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            sys.stdout.buffer.write(line)
            sys.stdout.flush()

    threading.Thread(target=forward, daemon=True).start()
    exported: set[Path] = set()

    def sweep() -> None:
        for metadata in sorted(private.glob("*/*/recording.json")):
            if metadata in exported:
                continue
            doc = _complete(metadata)
            if doc is not None:
                export(metadata.parent, doc, args.recordings, args.shape)
                exported.add(metadata)

    while not stopping.is_set() and child.poll() is None:
        sweep()
        stopping.wait(0.05)
    child.terminate()
    child.wait(10)
    sweep()  # what the reference recorder finalised on its way out
    return 0 if stopping.is_set() else (child.returncode or 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
