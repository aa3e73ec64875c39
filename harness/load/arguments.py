"""`arec load`'s command-line flags, apart from the runner: building the `arec` parser (every
subcommand, `arec validate` too) must not import the runner's recorder launcher, numpy and scapy."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments"]


def add_arguments(load: argparse.ArgumentParser) -> None:
    target = load.add_mutually_exclusive_group()
    target.add_argument("--recorder-profile", metavar="FILE", help="TOML profile of a third-party recorder")
    target.add_argument("--recorder", metavar="sip:HOST:PORT", help="an already running recorder")
    load.add_argument("--recordings", metavar="DIR", help="where --recorder writes its recordings (as the workers see them)")
    load.add_argument("--report-dir", metavar="DIR", default="reports/load", help="where load.json/html go")
    load.add_argument("--calls", type=int, default=20, metavar="N", help="concurrent two-stream calls at the top")
    load.add_argument("--rate", type=float, default=5.0, metavar="R", help="new calls per second at most")
    load.add_argument("--duration", type=float, default=40.0, metavar="S", help="length of the ramp (seconds)")
    load.add_argument("--steps", type=int, default=4, metavar="K", help="steps of the ramp")
    load.add_argument("--call-length", type=float, default=4.0, metavar="S", help="seconds of audio per call")
    load.add_argument("--jitter-window-ms", type=float, default=500.0, metavar="MS",
                      help="lateness beyond which a lost packet is the generator's fault (recorder's window)")
    load.add_argument("--processes", type=int, default=1, metavar="P",
                      help="Locust worker processes on this host (-1: one per core)")
    mode = load.add_mutually_exclusive_group()
    mode.add_argument("--master", action="store_true", help="Locust master: wait for --expect-workers workers")
    mode.add_argument("--worker", action="store_true", help="Locust worker of the master at --master-host")
    load.add_argument("--master-host", default="127.0.0.1", metavar="H")
    load.add_argument("--master-port", type=int, default=5557, metavar="PORT")
    load.add_argument("--expect-workers", type=int, default=1, metavar="W")
    load.add_argument("--web", action="store_true", help="Locust's web UI (127.0.0.1:8089) instead of headless")
    load.add_argument("--gate-complete", type=float, default=None, metavar="PCT",
                      help="exit 1 when fewer than PCT %% of the recordings are complete")
