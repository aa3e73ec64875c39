"""`arec` command line (docs/architecture.md §4 "Command line").

Exit codes: 0 no MUST requirement failed, 1 a MUST requirement failed, 2 unusable input or
set-up (one line on stderr saying what and how to fix it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.exitcodes import EXIT_SETUP, SetupError


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arec", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the conformance suite and write the HTML report")
    target = run.add_mutually_exclusive_group()
    target.add_argument("--recorder-profile", metavar="FILE", help="TOML profile of a third-party recorder")
    target.add_argument("--recorder", metavar="sip:HOST:PORT", help="an already running recorder")
    run.add_argument("--recordings", metavar="DIR", help="where --recorder writes its recordings")
    run.add_argument("--features", metavar="PATH", help="feature files to run (default: all)")
    run.add_argument("-k", dest="keyword", metavar="EXPR", help="only scenarios matching EXPR (pytest -k)")
    run.add_argument("-n", dest="workers", metavar="WORKERS", default="auto",
                     help="parallel workers (pytest-xdist); auto (default): two per usable CPU, at most 4, "
                          "one with --recorder (a single running recorder is shared)")
    run.add_argument("--report-dir", metavar="DIR", default="reports", help="where results and html go")
    run.add_argument("--pool-size", type=int, default=2, metavar="N",
                     help="instances of the recorder under test behind the Resource Manager in the pool scenarios "
                          "(default 2)")
    run.add_argument("--impair", metavar="KNOBS", help="impair every replicated RTP stream, e.g. "
                     "'loss=0.02,jitter=20,seed=7' (docs/impaired-media.md; overrides the profile's [media])")

    validate = sub.add_parser("validate", help="validate a capture (and recordings) offline")
    validate.add_argument("capture", metavar="CAPTURE.pcap")
    validate.add_argument("--recordings", metavar="DIR")
    validate.add_argument("--recorder-profile", metavar="FILE")
    validate.add_argument("--sent", metavar="SENT.pcap",
                          help="capture taken on the sending side: compare what was sent with what reached the recorder")
    validate.add_argument("--format", choices=("text", "json", "junit"), default="text")
    validate.add_argument("--impairments", action="store_true",
                          help="also report the RTP impairments seen per flow: loss, reorder, duplicates, "
                               "jitter, SSRCs, comfort noise, DTMF events (a second pass over the capture)")

    # `arec recorder ...` is handed to the reference recorder's own parser (reference_recorder.cli):
    # the recorder does not depend on the harness, and its flags are defined once, there.
    sub.add_parser("recorder", help="run the reference recorder (arec recorder --help for its flags)",
                   add_help=False)

    profile = sub.add_parser("profile", help="recorder profile tools")
    profile_sub = profile.add_subparsers(dest="profile_command", required=True)
    check = profile_sub.add_parser("check", help="send one short call and say whether the profile works")
    check.add_argument("file", metavar="FILE")

    load = sub.add_parser("load", help="recorder capacity: a ramp of recorded calls on Locust, a verdict on each")
    from harness.load.arguments import add_arguments as add_load_arguments

    add_load_arguments(load)

    report = sub.add_parser("report", help="(re)generate the HTML report from the last results")
    report.add_argument("--open", action="store_true", help="print a file:// URL to open")
    report.add_argument("--report-dir", metavar="DIR", default="reports")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["recorder"]:
        from reference_recorder.cli import main as recorder_main

        return recorder_main(argv[1:])
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "run":
            from harness.runner import run_suite

            return run_suite(args)
        if args.command == "report":
            from harness.report.build import report_from_cli

            return report_from_cli(args)
        if args.command == "validate":
            from harness.validate_cli import validate_from_cli

            return validate_from_cli(args)
        if args.command == "load":
            from harness.load.runner import load_from_cli

            return load_from_cli(args)
        if args.command == "profile" and args.profile_command == "check":
            from harness.profile_check import check_from_cli

            return check_from_cli(args)
        raise SetupError(f"'arec {args.command}' is not available in this version yet")
    except SetupError as error:
        print(f"arec: {error}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        print("arec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
