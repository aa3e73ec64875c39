"""The media process of a load worker: every call's RTP paced by one `PacedSender`, out of gevent.

In the Locust worker the sender would be a greenlet: any CPU the worker spends on signalling,
Locust's statistics or JSON delays every packet behind it (measured: p99 23 ms late at 5 calls),
and it shares one GIL with them. Here it is an OS thread in its own interpreter, on whatever
core is idle, without its spin phase (a spinning sender would hold a core for ever) and with a
2 ms batching tick. The worker asks for sockets and streams by pipe (JSON lines), answers
matched by id, so many calls wait at once:

    {"id": N, "op": "open", "host": H}        -> {"id": N, "port": P}   (bound UDP socket)
    {"id": N, "op": "play", "plans": [...]}   -> {"id": N, "played": [...]}  (when all are sent)
    {"id": N, "op": "close", "port": P}       (no answer)
    any failure                               -> {"id": N, "error": "..."}

    python -m harness.load.media_process CALL_LENGTH_S
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from typing import Any

from harness.load.media import LocalMedia, StreamPlan, warm_up
from harness.media.pacer import PacedSender

__all__ = ["main"]

POLL_S = 0.01  # how often finished calls are looked for (their answers wait at most this long)


class _Server:
    def __init__(self, media: LocalMedia) -> None:
        self.media = media
        self.out_lock = threading.Lock()
        self.pending: dict[int, list[int]] = {}
        self.pending_lock = threading.Lock()
        self.stopped = threading.Event()

    def reply(self, message: dict[str, Any]) -> None:
        with self.out_lock:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    def handle(self, message: dict[str, Any]) -> None:
        n = message.get("id")
        try:
            op = message["op"]
            if op == "open":
                self.reply({"id": n, "port": self.media.open(str(message["host"]))})
            elif op == "play":
                sids = self.media.start([StreamPlan.from_json(p) for p in message["plans"]])
                with self.pending_lock:
                    self.pending[int(message["id"])] = sids
            elif op == "close":
                self.media.close(int(message["port"]))
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as exc:  # a failed request must still answer, or the call waits for ever
            self.reply({"id": n, "error": repr(exc)})

    def watch(self) -> None:
        while not self.stopped.wait(POLL_S):
            with self.pending_lock:
                ready = [(n, sids) for n, sids in self.pending.items() if self.media.done(sids)]
                for n, _ in ready:
                    del self.pending[n]
            for n, sids in ready:
                self.reply({"id": n, "played": [p.to_json() for p in self.media.collect(sids)]})


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    warm_up(float(args[0]) if args else 4.0)
    pacer = PacedSender(spin_seconds=0.0, tick_seconds=0.002)
    pacer.start()
    server = _Server(LocalMedia(pacer))
    watcher = threading.Thread(target=server.watch, name="arec-media-watch", daemon=True)
    watcher.start()
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        server.handle(message)
    server.stopped.set()
    watcher.join(1.0)
    pacer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
