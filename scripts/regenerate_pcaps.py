#!/usr/bin/env python3
"""Regenerate the golden captures in `pcaps/` from real runs of the suite's own scenarios.

    sudo PYTHONPATH=. .venv/bin/python scripts/regenerate_pcaps.py [NAME ...]

For each capture in `tests/golden.py` it runs the one Gherkin scenario that makes it (pytest
under the suite's bindings, serially, against the reference recorder or a faulty double from
`tests/doubles/faulty_recorder.py`), takes the loopback capture the scenario attached to its
Allure result (tcpdump on `lo`: it needs root or CAP_NET_RAW, the synthetic fallback is refused
here), checks that it opens in tshark without an error, runs `arec validate --format json` on
it and writes `pcaps/<name>.pcap` and `pcaps/<name>.expected.json`. With `--expected-only` it
keeps the captures and rewrites the expected files only (root not needed): after a change of
the validators, review that diff.

A capture that does not show what it is there to show (`tests.golden.refusals`: the number of
dialogs and streams, exactly the intended MUST findings) is not written: a broken regeneration
cannot bless itself. Ports, SSRCs and CallUUIDs differ on every regeneration (the emulation
picks free ports and random identifiers); the expected files do not hold them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.golden import GOLDEN, PCAPS, Golden, reduce, refusals  # noqa: E402

BINDINGS = REPO / "harness" / "bdd"
CAPTURE_ATTACHMENT = "capture.pcap.gz"
MAX_BYTES = 200_000
_ROOT_WARNING = 'Running as user "root"'  # tshark's notice when run as root, not about the file


def _faulty_command(fault: str) -> str:
    return (f"{shlex.quote(sys.executable)} -m tests.doubles.faulty_recorder --fault {fault} "
            "--listen 127.0.0.1:{port} --recordings {dir} --rtp-ports {rtp_low}-{rtp_high}")


def run_scenario(golden: Golden, results: Path) -> Path:
    """Run the scenario; the path of the capture it attached (gzip-compressed)."""
    command = [sys.executable, "-m", "pytest", str(BINDINGS), "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
               "-k", golden.keyword, f"--alluredir={results}", "--clean-alluredir"]
    if golden.fault is not None:
        command += ["--arec-recorder-cmd", _faulty_command(golden.fault)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env.pop("AREC_CAPTURE", None)
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    expected_rc = 1 if golden.must_fail else 0
    if proc.returncode != expected_rc:
        raise SystemExit(f"{golden.name}: pytest exit {proc.returncode} (expected {expected_rc}):\n"
                         + (proc.stdout + proc.stderr)[-3000:])
    scenarios = [json.loads(p.read_text(encoding="utf-8")) for p in results.glob("*-result.json")]
    if len(scenarios) != 1:
        raise SystemExit(f"{golden.name}: -k {golden.keyword!r} selected {len(scenarios)} scenarios, not 1")
    attachments = [a for a in _all_attachments(scenarios[0]) if a.get("name") == CAPTURE_ATTACHMENT]
    if not attachments:
        raise SystemExit(f"{golden.name}: the scenario attached no {CAPTURE_ATTACHMENT}")
    method = [a for a in _all_attachments(scenarios[0]) if a.get("name") == "capture method"]
    if method and "tcpdump" not in (results / method[0]["source"]).read_text(encoding="utf-8"):
        raise SystemExit(f"{golden.name}: not a tcpdump capture (run as root): "
                         + (results / method[0]["source"]).read_text(encoding="utf-8"))
    return results / attachments[0]["source"]


def _all_attachments(node: dict[str, object]) -> list[dict[str, str]]:
    found = list(node.get("attachments") or [])  # type: ignore[call-overload]
    for step in node.get("steps") or []:  # type: ignore[attr-defined]
        found += _all_attachments(step)
    return found


def tshark_errors(pcap: Path) -> str:
    """What tshark says reading the whole file (empty: it opens cleanly)."""
    proc = subprocess.run(["tshark", "-n", "-r", str(pcap), "-q", "-z", "io,stat,0"], capture_output=True,
                          text=True, timeout=60, check=False)
    complaints = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith(_ROOT_WARNING)]
    return "" if proc.returncode == 0 and not complaints else f"exit {proc.returncode}: {' '.join(complaints)}"


def validate(pcap: Path) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "validate", str(pcap), "--format", "json"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"arec validate {pcap}: exit {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return dict(json.loads(proc.stdout))


def regenerate(golden: Golden) -> None:
    with tempfile.TemporaryDirectory(prefix=f"arec-golden-{golden.name}-") as work:
        attached = run_scenario(golden, Path(work) / "allure-results")
        candidate = Path(work) / f"{golden.name}.pcap"
        candidate.write_bytes(gzip.decompress(attached.read_bytes()))
        reduced = judge(golden, candidate)
        PCAPS.mkdir(exist_ok=True)
        (PCAPS / f"{golden.name}.pcap").write_bytes(candidate.read_bytes())
    write_expected(golden, reduced)


def judge(golden: Golden, candidate: Path) -> dict[str, object]:
    """The expected-file content of a capture, or SystemExit when it cannot be a golden one."""
    if candidate.stat().st_size > MAX_BYTES:
        raise SystemExit(f"{golden.name}: {candidate.stat().st_size} bytes, over {MAX_BYTES}")
    problem = tshark_errors(candidate)
    if problem:
        raise SystemExit(f"{golden.name}: tshark cannot read the capture: {problem}")
    reduced = reduce(validate(candidate))
    problems = refusals(golden, reduced)
    if problems:
        raise SystemExit(f"{golden.name}: not written: " + "; ".join(problems) + f"\n{json.dumps(reduced)}")
    return reduced


def write_expected(golden: Golden, reduced: dict[str, object]) -> None:
    target = PCAPS / f"{golden.name}.pcap"
    expected = {"capture": target.name, "scenario_keyword": golden.keyword, "shows": golden.shows,
                "recorder": f"faulty double --fault {golden.fault}" if golden.fault else "reference recorder",
                **reduced}
    (PCAPS / f"{golden.name}.expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")
    print(f"{golden.name}: {target.stat().st_size} bytes, {reduced['summary']}, findings {reduced['findings']}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"only these ({', '.join(g.name for g in GOLDEN)})")
    parser.add_argument("--expected-only", action="store_true",
                        help="keep the captures, rewrite only the expected files (after a change of the validators)")
    args = parser.parse_args(argv)
    unknown = set(args.names) - {g.name for g in GOLDEN}
    if unknown:
        parser.error(f"unknown capture(s): {', '.join(sorted(unknown))}")
    for golden in GOLDEN:
        if args.names and golden.name not in args.names:
            continue
        if args.expected_only:
            write_expected(golden, judge(golden, PCAPS / f"{golden.name}.pcap"))
        else:
            regenerate(golden)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
