"""The reference recorder's own command line: `python -m reference_recorder` / `arec recorder`.

The recorder depends on the protocol core only, so it parses its flags here; `arec recorder`
(harness.cli) hands its arguments over unchanged. Exit codes: 0 after a clean stop (SIGINT /
SIGTERM), 2 for a set-up problem (one line on stderr saying what and how to fix it).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from reference_recorder.core import RecorderCore

__all__ = ["add_arguments", "build_parser", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default="127.0.0.1:5060", metavar="HOST:PORT")
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    parser.add_argument("--recordings", default="recordings", metavar="DIR")
    parser.add_argument("--capacity", type=int, default=100, metavar="N", help="max concurrent sessions")
    parser.add_argument("--tlib", metavar="HOST:PORT", help="T-Lib emulation server to register with")
    parser.add_argument("--tlib-config", metavar="FILE",
                        help="TOML: DNs to register, recording rules, pause key (re-read when it changes)")
    parser.add_argument("--rtp-ports", default="20000-29999", metavar="LOW-HIGH")
    parser.add_argument("--rtp-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="end (BYE) a session with no RTP for this long; 0: never")
    parser.add_argument("--metadata-wait", type=float, default=3.0, metavar="SECONDS",
                        help="SIPREC: ask for a metadata snapshot (RFC 7866 §9.2) when none came this long "
                             "after the ACK; 0: never")


def build_parser(prog: str = "arec recorder") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="run the reference recorder")
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None, core_factory: type[RecorderCore] = RecorderCore) -> int:
    args = build_parser().parse_args(argv)
    from reference_recorder.server import run_from_cli  # the asyncio adapter, only when run

    try:
        return run_from_cli(args, core_factory=core_factory)
    except KeyboardInterrupt:
        return 130
