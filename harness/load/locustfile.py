"""Locust side of `arec load`: a User per recorded call, the ramp shape, verdicts to the master.

Runs only inside the Locust processes `arec load` starts (`locust -f <this file>`): Locust
monkey-patches the standard library with gevent, which must not leak into the rest of `arec`.

* `RecordedCall` (one Locust user = one concurrent call slot) places two-stream recorded
  calls back to back (`harness.load.call.place_call`) and reports each: Locust request events
  for INVITE→200 latency and failures (request type "SIP") and for the recording verdict
  ("REC"), and the full verdict as the custom message `arec_verdict`, which a worker sends to
  the master (Locust's `runner.send_message`; a local runner delivers it to itself).
* `ArecRamp` holds the steps of `harness.load.plan` (Locust's `LoadTestShape`).
* The master (or local runner) writes every verdict, as it arrives, to the JSON-lines file
  `--arec-verdicts`, and prints a progress line every few seconds (calls up, RTP sent, errors).

Each worker starts two helper processes, free of gevent: a judge (`harness.load.judge`), and a
media process (`harness.load.media_process`) whose one `PacedSender` (an OS thread, no spin
phase, 2 ms batching tick) sends every call's RTP; in the worker that sender was a greenlet that
any signalling or statistics work delayed, sharing the worker's GIL and core.
"""

# Locust's decorators and LoadTestShape methods carry no type hints.
# mypy: disable-error-code="untyped-decorator,no-untyped-call"
from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gevent
import gevent.lock
from gevent.event import AsyncResult
from locust import LoadTestShape, User, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from harness.load.call import CallConfig, Judgement, JudgeRequest, PlacedCall, dial_call
from harness.load.media import Played, StreamPlan
from harness.load.plan import plan_ramp, step_at
from harness.load.verdict import CallOutcome

VERDICT_MESSAGE = "arec_verdict"
DIALED_MESSAGE = "arec_dialed"  # a call's BYEs are done, its verdict will follow
PROGRESS_EVERY_S = 2.0
DRAIN_SLACK_S = 15.0  # beyond the call length: BYE, file finalisation, judgement
JUDGE_BACKLOG_S = 120.0  # at most this much longer while verdicts of dialled calls are still arriving
QUIET_SLACK_S = 6.0  # no verdict for a call length and this long: no call is in progress


def _worker_name() -> str:
    # At call time: --processes forks the workers after this module is imported.
    return f"{socket.gethostname()}:{os.getpid()}"


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("arec load")
    group.add_argument("--arec-recorder", default="127.0.0.1:5060", help="recorder HOST:PORT (UDP)")
    group.add_argument("--arec-recordings", default="", help="recordings directory seen by the workers")
    group.add_argument("--arec-profile", default="", help="recorder profile (its [recordings] locator)")
    group.add_argument("--arec-call-length", type=float, default=2.0)
    group.add_argument("--arec-calls", type=int, default=4, help="concurrent calls at the top of the ramp")
    group.add_argument("--arec-rate", type=float, default=5.0, help="new calls per second at most")
    group.add_argument("--arec-duration", type=float, default=20.0)
    group.add_argument("--arec-steps", type=int, default=4)
    group.add_argument("--arec-jitter-window-ms", type=float, default=500.0)
    group.add_argument("--arec-verdicts", default="", help="(master) JSON-lines file the verdicts go to")


def _config(options: Any) -> CallConfig:
    host, _, port = str(options.arec_recorder).rpartition(":")
    locator = None
    recordings = Path(options.arec_recordings) if options.arec_recordings else None
    if options.arec_profile:
        from harness.load.profiles import profile_locator

        locator, recordings = profile_locator(Path(options.arec_profile), recordings)
    return CallConfig(host, int(port), recordings, call_length_s=float(options.arec_call_length),
                      jitter_window_ms=float(options.arec_jitter_window_ms), locator=locator,
                      profile=Path(options.arec_profile) if options.arec_profile else None)


class _PipeClient:
    """A helper process of this worker (judge, media): requests by pipe as JSON lines, answers
    matched by id, so many calls wait for theirs at once without blocking the event loop."""

    def __init__(self, argv: list[str], on_exit: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.pending: dict[int, AsyncResult] = {}
        self.ids = itertools.count()
        self.lock = gevent.lock.Semaphore()
        self.on_exit = on_exit  # the answer every waiting request gets if the process ends
        gevent.spawn(self._read)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            reply = json.loads(line)
            result = self.pending.pop(reply["id"], None)
            if result is not None:
                result.set(reply)
        for result in self.pending.values():  # the process ended: no call waits for ever
            result.set(self.on_exit)

    def post(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        with self.lock:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        n = next(self.ids)
        result = AsyncResult()
        self.pending[n] = result
        self.post({**message, "id": n})
        reply: dict[str, Any] = result.get()
        return reply

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class _JudgeClient:
    """This worker's judge process (`harness.load.judge`)."""

    def __init__(self) -> None:
        self.pipe = _PipeClient([sys.executable, "-m", "harness.load.judge"], {
            "requirement_ids": ["REC-FILES-PRESENT"], "reasons": ["the judge process ended before judging this call"]})

    def __call__(self, request: JudgeRequest) -> Judgement:
        reply = self.pipe.request({"request": request.to_json()})
        return tuple(reply["requirement_ids"]), tuple(reply["reasons"])

    def close(self) -> None:
        self.pipe.close()


class _MediaClient:
    """This worker's media process (`harness.load.media_process`): the `CallMedia` of its calls."""

    def __init__(self, call_length_s: float) -> None:
        self.pipe = _PipeClient([sys.executable, "-m", "harness.load.media_process", str(call_length_s)],
                                {"error": "the media process ended"})

    def open(self, host: str) -> int:
        reply = self.pipe.request({"op": "open", "host": host})
        if "error" in reply:
            raise OSError(f"media process: {reply['error']}")
        return int(reply["port"])

    def play(self, plans: Sequence[StreamPlan]) -> list[Played]:
        reply = self.pipe.request({"op": "play", "plans": [p.to_json() for p in plans]})
        if "error" in reply:
            raise OSError(f"media process: {reply['error']}")
        return [Played.from_json(p) for p in reply["played"]]

    def close(self, port: int) -> None:
        self.pipe.post({"op": "close", "port": port})

    def stop(self) -> None:
        self.pipe.close()


_judge: _JudgeClient | None = None
_media: _MediaClient | None = None
_helpers_lock = gevent.lock.Semaphore()


def _helpers(config: CallConfig) -> tuple[_JudgeClient, _MediaClient]:
    """Once per process, before the first call: start the judge and the media process (which
    encodes a whole call's payloads before it answers), so the first calls do not wait for them."""
    global _judge, _media
    with _helpers_lock:  # starting a process yields to other greenlets: start each once
        if _judge is None:
            _judge = _JudgeClient()
        if _media is None:
            _media = _MediaClient(config.call_length_s)
        return _judge, _media


class RecordedCall(User):
    """One concurrent call slot: places recorded calls back to back."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.config = _config(self.environment.parsed_options)
        _helpers(self.config)

    @task
    def call(self) -> None:
        judge, media = _helpers(self.config)
        placed = dial_call(self.config, media, worker=_worker_name())
        # The next call goes out at once; the judgement and the report follow in their own greenlet.
        self.environment.runner.send_message(DIALED_MESSAGE, placed.calluuid)
        gevent.spawn(_finish, self.environment, placed, judge)


def _finish(environment: Any, placed: PlacedCall, judge: _JudgeClient) -> None:
    result = placed.finish(judge)
    verdict = result.verdict
    fire = environment.events.request.fire
    for event, status in zip(result.invite_events, verdict.invite_status, strict=False):
        latency = getattr(event, "latency", None) or 0.0
        failed = status is None or not 200 <= status < 300
        fire(request_type="SIP", name="INVITE", response_time=latency * 1000, response_length=0,
             exception=RuntimeError(f"INVITE {status or 'timeout'}") if failed else None, context={})
    if verdict.outcome not in (CallOutcome.REFUSED, CallOutcome.SETUP_FAILED):
        ok = verdict.outcome is CallOutcome.COMPLETE
        fire(request_type="REC", name="recording", response_time=(verdict.ended_at - verdict.started_at) * 1000,
             response_length=result.rtp_packets,
             exception=None if ok else RuntimeError(f"recording {verdict.outcome.value}"), context={})
    environment.runner.send_message(VERDICT_MESSAGE, verdict.to_json())


class ArecRamp(LoadTestShape):
    """The steps of `plan_ramp`, then a drain: zero users, so the calls in progress end and are
    judged (Locust stops a user after its task within --stop-timeout), then stop. Stopping at
    once would make the master quit and its workers kill the calls in progress unreported."""

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        options: Any = self.runner.environment.parsed_options
        plan = plan_ramp(options.arec_calls, options.arec_duration, options.arec_steps)
        elapsed = self.get_run_time()
        step = step_at(plan, elapsed)
        if step is not None:
            return step.calls, float(options.arec_rate)
        call_length = float(options.arec_call_length)
        since_end = elapsed - plan[-1].end_s
        # Done when no user is left and every dialled call's verdict is in, when no verdict came
        # for longer than a call takes (Locust may keep idle users it is stopping), or at the
        # latest after a whole call and slack (longer while judgements are still arriving).
        quiet = _collector is not None and time.monotonic() - max(
            _collector.last_verdict_at, time.monotonic() - since_end) > call_length + QUIET_SLACK_S
        outstanding = _collector is not None and _collector.calls < _collector.dialled
        cap = call_length + DRAIN_SLACK_S + (JUDGE_BACKLOG_S if outstanding else 0.0)
        if since_end > cap or quiet or (since_end > 1.0 and self.get_current_user_count() == 0
                                        and not outstanding):
            return None
        return 0, float(options.arec_rate)


class _Collector:
    """Master side: every verdict to the JSON-lines file, and the progress line."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("a", encoding="utf-8")
        self.calls = 0
        self.complete = 0
        self.errors = 0
        self.rtp = 0
        self.dialled = 0  # calls whose verdict is on its way
        self.last_verdict_at = 0.0  # time.monotonic() of the last verdict

    def start(self, t0: float) -> None:
        self.file.write(json.dumps({"type": "start", "t0": t0}) + "\n")
        self.file.flush()

    def on_dialled(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        self.dialled += 1

    def on_verdict(self, environment: Any, msg: Any, **_kwargs: Any) -> None:
        data = msg.data
        self.file.write(json.dumps({"type": "verdict", "verdict": data}) + "\n")
        self.file.flush()
        self.last_verdict_at = time.monotonic()
        self.calls += 1
        self.complete += data["outcome"] == CallOutcome.COMPLETE.value
        self.errors += data["outcome"] != CallOutcome.COMPLETE.value
        self.rtp += int(data["pacing"]["packets"]) - int(data["pacing"]["send_errors"])


_collector: _Collector | None = None


@events.init.add_listener
def _on_init(environment: Any, **_kwargs: Any) -> None:
    global _collector
    runner = environment.runner
    if isinstance(runner, WorkerRunner) or runner is None:
        return
    path = environment.parsed_options.arec_verdicts if environment.parsed_options else ""
    if not path:
        return
    _collector = _Collector(Path(path))
    runner.register_message(VERDICT_MESSAGE, _collector.on_verdict)
    runner.register_message(DIALED_MESSAGE, _collector.on_dialled)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kwargs: Any) -> None:
    if _collector is None or isinstance(environment.runner, WorkerRunner):
        return
    _collector.start(time.time())
    gevent.spawn(_progress, environment, _collector)


def _progress(environment: Any, collector: _Collector) -> None:
    t0 = time.monotonic()
    while True:
        gevent.sleep(PROGRESS_EVERY_S)
        runner = environment.runner
        up = runner.user_count if runner is not None else 0
        workers = f" workers={len(runner.clients.ready) + len(runner.clients.running)}" if isinstance(
            runner, MasterRunner) else ""
        print(f"arec load t={time.monotonic() - t0:5.0f}s calls_up={up} calls_done={collector.calls} "
              f"complete={collector.complete} errors={collector.errors} rtp_sent={collector.rtp}{workers}",
              flush=True)


@events.quitting.add_listener
def _on_quit(environment: Any, **_kwargs: Any) -> None:
    if _collector is not None:
        _collector.file.close()
    if _media is not None:
        _media.stop()
    if _judge is not None:
        _judge.close()
