"""`arec validate CAPTURE [--recordings DIR] [--format text|json|junit]`: the command line.

Offline judgement of a capture — one `arec` made, or one from a lab where the recording client
was a real Genesys Media Server — and, optionally, of the recordings the recorder wrote. The
pipeline is `harness.offline` (scan, calls, judge, recordings, renderers); this module parses
the options into it and prints the result. The old names stay importable from here.

Exit codes (`harness.exitcodes`): 0 no MUST requirement failed, 1 a MUST requirement failed,
2 unusable input: one line on stderr naming the file and byte offset, after the findings read
up to that point have been printed in the chosen format (never as a clean "0 finding(s)").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.exitcodes import EXIT_SETUP
from harness.offline import (
    EMITTED_REQUIREMENTS,
    FORMATS,
    NO_CALL,
    CallFindings,
    ValidationResult,
    delivery_rows,
    render,
    render_json,
    render_junit,
    render_text,
    replication_rows,
    table_rows,
    validate_capture,
)
from harness.offline.recordings import runtime_placeholders

__all__ = [
    "EMITTED_REQUIREMENTS",
    "FORMATS",
    "NO_CALL",
    "CallFindings",
    "ValidationResult",
    "delivery_rows",
    "render",
    "render_json",
    "render_junit",
    "render_text",
    "replication_rows",
    "table_rows",
    "validate_capture",
    "validate_from_cli",
]


def validate_from_cli(args: argparse.Namespace) -> int:
    """`arec validate` (routed from harness.cli): print the result, return the exit code."""
    recordings = getattr(args, "recordings", None)
    layout = None
    if getattr(args, "recorder_profile", None):
        from harness.exitcodes import SetupError
        from harness.recorders.profile import load_profile

        try:
            profile = load_profile(args.recorder_profile, check_directories=False)
            if profile.recordings is None:
                raise SetupError(f"recorder profile {profile.path}: no [recordings] table: nothing to validate")
            layout = profile.recordings
            if recordings is None:
                fixed = profile.recordings_dir({}) if not runtime_placeholders(layout.directory) else None
                if fixed is None:
                    raise SetupError(f"recorder profile {profile.path}: [recordings] directory depends on the run "
                                     f"({layout.directory}): give --recordings DIR")
                recordings = str(fixed)
        except SetupError as error:
            print(f"arec: {error}", file=sys.stderr)
            return EXIT_SETUP
    if recordings is not None and not Path(recordings).is_dir():
        print(f"arec: --recordings {recordings}: not a directory (give the recorder's recordings root)",
              file=sys.stderr)
        return EXIT_SETUP
    sent = getattr(args, "sent", None)
    if sent is not None and not Path(sent).is_file():
        print(f"arec: --sent {sent}: no such file (give the capture taken on the sending side)", file=sys.stderr)
        return EXIT_SETUP
    result = validate_capture(args.capture, recordings, sent=sent, layout=layout)
    output = render(result, getattr(args, "format", "text") or "text")
    if getattr(args, "impairments", False):
        output = _with_impairments(output, args.capture, result, getattr(args, "format", "text") or "text")
    sys.stdout.write(output)
    sys.stdout.flush()
    if result.read_error is not None:
        print(f"arec: {result.read_error}", file=sys.stderr)
    return result.exit_code



def _with_impairments(output: str, capture: str, result: ValidationResult, fmt: str) -> str:
    """`--impairments`: the RTP impairments section (text) or `rtp_impairments` key (JSON)."""
    import json

    from harness.offline.impairments import impairment_rows, impairments_text

    rows = impairment_rows(capture, result)
    if fmt == "json":
        document = json.loads(output)
        document["rtp_impairments"] = rows
        return json.dumps(document, indent=2) + "\n"
    if fmt == "text":
        return output + "\n" + impairments_text(rows)
    return output  # JUnit: findings only
