"""Benchmark: the default conformance run (`arec run` against the reference recorder) with
different worker counts, back to back, and the size of the report each writes.

The run waits on real-time calls more than it computes, so more workers than cores can pay;
on a shared machine the other load changes the numbers from one minute to the next, so the
worker counts are compared within one invocation (alternating when `--rounds` > 1). Per run:
wall time, CPU time (user + system of the whole process tree), the per-scenario wall times from
the JUnit file, failures, and the single-file HTML report's size.

Writes bench/results/run_time.json and prints it. Not a test: numbers are for trend-watching.
Run: .venv/bin/python bench/bench_run_time.py [--workers 2 4] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(workers: str, report_dir: Path) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "-n", workers, "--report-dir", str(report_dir)],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    cases = list(ElementTree.parse(report_dir / "junit.xml").iter("testcase"))
    times = sorted((float(c.get("time") or 0) for c in cases), reverse=True)
    failed = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None]
    html = report_dir / "html" / "index.html"
    return {"workers": workers, "exit_code": proc.returncode, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "cpu_cores_used": round(cpu / wall, 2), "scenarios": len(cases), "failed": failed,
            "scenario_wall_sum_s": round(sum(times), 1), "scenario_wall_max_s": round(times[0], 2) if times else 0,
            "report_html_bytes": html.stat().st_size if html.exists() else None,
            "load_average_after": os.getloadavg()[0]}


def main(argv: list[str]) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", nargs="+", default=["2", "4"])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory(prefix="arec-bench-run-") as work:
        for round_no in range(args.rounds):
            order = args.workers if round_no % 2 == 0 else list(reversed(args.workers))
            for workers in order:
                started = datetime.now(UTC).isoformat(timespec="seconds")
                result = one_run(workers, Path(work) / f"r{round_no}-n{workers}")
                runs.append({"started": started, **result})
                print(json.dumps(runs[-1]), flush=True)
    results: dict[str, object] = {"benchmark": "run_time", "python": platform.python_version(),
                                  "cpus": len(os.sched_getaffinity(0)), "runs": runs}
    out = REPO / "bench" / "results" / "run_time.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
